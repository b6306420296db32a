//! The statistics CloudSim's overload detectors use, with the exact conventions of
//! `org.cloudbus.cloudsim.util.MathUtil` and Apache commons-math 3 (`Percentile`, default
//! LEGACY estimation; `SimpleRegression`), down to the order of the floating-point operations
//! where that is cheap, so that threshold decisions agree with the peer.

/// `MathUtil.countNonZeroBeginning`: the length of `data` without its trailing zeros, except
/// that an all-zero (or empty) array counts as 1, as in CloudSim.
pub fn count_non_zero_beginning(data: &[f64]) -> usize {
    match data.iter().rposition(|&x| x != 0.0) {
        Some(i) => i + 1,
        None => 1,
    }
}

/// commons-math `Percentile.evaluate(p)` with the default LEGACY estimation: position
/// `p/100 · (n + 1)`, linear between the neighbouring order statistics, clamped to the
/// extremes. NaN for no data; `p` in (0, 100].
pub fn percentile(data: &[f64], p: f64) -> f64 {
    let n = data.len();
    if n == 0 {
        return f64::NAN;
    }
    if n == 1 {
        return data[0];
    }
    let mut buf = [0.0; 64];
    let mut heap;
    let sorted: &mut [f64] = if n <= buf.len() {
        buf[..n].copy_from_slice(data);
        &mut buf[..n]
    } else {
        heap = data.to_vec();
        &mut heap
    };
    sorted.sort_unstable_by(f64::total_cmp);
    let q = p / 100.0;
    let pos = if q == 1.0 {
        n as f64
    } else {
        q * (n as f64 + 1.0)
    };
    let fpos = pos.floor();
    let int_pos = fpos as usize;
    let dif = pos - fpos;
    if pos < 1.0 {
        return sorted[0];
    }
    if pos >= n as f64 {
        return sorted[n - 1];
    }
    let lower = sorted[int_pos - 1];
    let upper = sorted[int_pos];
    lower + dif * (upper - lower)
}

/// The median as CloudSim computes it (`MathUtil.median`, i.e. the 50th [`percentile`]).
pub fn median(data: &[f64]) -> f64 {
    percentile(data, 50.0)
}

/// `MathUtil.mad`: the median of the absolute deviations from the median; 0 for no data.
pub fn mad(data: &[f64]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let m = median(data);
    if data.len() <= 64 {
        let mut dev = [0.0; 64];
        for (d, &x) in dev.iter_mut().zip(data) {
            *d = (m - x).abs();
        }
        return median(&dev[..data.len()]);
    }
    let dev: Vec<f64> = data.iter().map(|&x| (m - x).abs()).collect();
    median(&dev)
}

/// `MathUtil.iqr`: on the sorted data, `x[round(0.75(n+1)) − 1] − x[round(0.25(n+1)) − 1]`
/// (Java `Math.round`, half up). Needs at least 3 values to stay in bounds; returns 0 below.
pub fn iqr(data: &[f64]) -> f64 {
    let n = data.len();
    if n < 3 {
        return 0.0;
    }
    let mut sorted = data.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    let q1 = ((0.25 * (n as f64 + 1.0) + 0.5).floor() as usize).saturating_sub(1);
    let q3 = ((0.75 * (n as f64 + 1.0) + 0.5).floor() as usize).saturating_sub(1);
    sorted[q3.min(n - 1)] - sorted[q1.min(n - 1)]
}

/// Ordinary least squares of `y` on x = 1, 2, …, n, as commons-math `SimpleRegression` computes
/// it (its running-mean update formulas): `(intercept, slope)`. `None` with fewer than 3 points
/// (where `regress()` throws).
///
/// This is also what CloudSim's "LOESS" estimates (`MathUtil.getLoessParameterEstimates`)
/// amount to: its tricube weights are applied only when at least 40 % of them are ≤ 0, which
/// never happens, so the fit is unweighted (reference quirk Q3).
pub fn ols_on_index(y: &[f64]) -> Option<(f64, f64)> {
    if y.len() < 3 {
        return None;
    }
    let (mut sum_x, mut sum_y, mut sum_xx, mut sum_xy) = (0.0, 0.0, 0.0, 0.0);
    let (mut xbar, mut ybar) = (0.0, 0.0);
    let mut n = 0.0f64;
    for (i, &yi) in y.iter().enumerate() {
        let x = (i + 1) as f64;
        if n == 0.0 {
            xbar = x;
            ybar = yi;
        } else {
            let fact1 = 1.0 + n;
            let fact2 = n / (1.0 + n);
            let dx = x - xbar;
            let dy = yi - ybar;
            sum_xx += dx * dx * fact2;
            sum_xy += dx * dy * fact2;
            xbar += dx / fact1;
            ybar += dy / fact1;
        }
        sum_x += x;
        sum_y += yi;
        n += 1.0;
    }
    if sum_xx.abs() < 10.0 * f64::from_bits(1) {
        return None;
    }
    let slope = sum_xy / sum_xx;
    let intercept = (sum_y - slope * sum_x) / n;
    Some((intercept, slope))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn trailing_zeros_are_trimmed_but_all_zero_counts_one() {
        assert_eq!(count_non_zero_beginning(&[0.3, 0.0, 0.2, 0.0, 0.0]), 3);
        assert_eq!(count_non_zero_beginning(&[0.0; 30]), 1);
        assert_eq!(count_non_zero_beginning(&[]), 1);
        assert_eq!(count_non_zero_beginning(&[0.1]), 1);
    }

    #[test]
    fn percentile_legacy_by_hand() {
        // n = 4, p = 50: pos = 2.5 -> x2 + 0.5 (x3 - x2) on the sorted data.
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        // n = 5: pos = 3 -> the third value.
        assert_eq!(median(&[5.0, 1.0, 4.0, 2.0, 3.0]), 3.0);
        // p = 25 on 1..=10: pos = 2.75 -> 2 + 0.75.
        let d: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&d, 25.0), 2.75);
        // pos < 1 -> min, pos >= n -> max.
        assert_eq!(percentile(&[3.0, 9.0], 10.0), 3.0);
        assert_eq!(percentile(&[3.0, 9.0], 99.0), 9.0);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn mad_by_hand() {
        // Median 3; deviations 2, 1, 0, 1, 7 -> median 1.
        assert_eq!(mad(&[1.0, 2.0, 3.0, 4.0, 10.0]), 1.0);
        assert_eq!(mad(&[]), 0.0);
        assert_eq!(mad(&[0.5; 12]), 0.0);
    }

    #[test]
    fn iqr_by_hand() {
        // n = 12: q1 = round(3.25) - 1 = 2, q3 = round(9.75) - 1 = 9 -> x[9] - x[2] = 10 - 3.
        let d: Vec<f64> = (1..=12).rev().map(f64::from).collect();
        assert_eq!(iqr(&d), 7.0);
        // n = 13: q1 = round(3.5) - 1 = 3 (half up), q3 = round(10.5) - 1 = 10 -> 11 - 4.
        let d: Vec<f64> = (1..=13).map(f64::from).collect();
        assert_eq!(iqr(&d), 7.0);
    }

    #[test]
    fn ols_by_hand() {
        // y = 2 + 3x exactly.
        let y: Vec<f64> = (1..=10).map(|x| 2.0 + 3.0 * f64::from(x)).collect();
        let (a, b) = ols_on_index(&y).unwrap();
        assert!(
            (a - 2.0).abs() < 1e-12 && (b - 3.0).abs() < 1e-12,
            "{a} {b}"
        );
        // y = 0, 0, 3: xbar 2, slope = Σ(x-2)(y-1)/Σ(x-2)² = (−1·−1 + 0 + 1·2)/2 = 1.5,
        // intercept = 1 − 1.5·2 = −2.
        let (a, b) = ols_on_index(&[0.0, 0.0, 3.0]).unwrap();
        assert!(
            (a + 2.0).abs() < 1e-12 && (b - 1.5).abs() < 1e-12,
            "{a} {b}"
        );
        assert_eq!(ols_on_index(&[1.0, 2.0]), None);
    }

    proptest! {
        /// The running-update OLS agrees with the textbook closed form.
        #[test]
        fn ols_matches_closed_form(y in prop::collection::vec(0.0f64..1.0, 3..30)) {
            let n = y.len() as f64;
            let xs: Vec<f64> = (1..=y.len()).map(|i| i as f64).collect();
            let mx = xs.iter().sum::<f64>() / n;
            let my = y.iter().sum::<f64>() / n;
            let sxy: f64 = xs.iter().zip(&y).map(|(x, y)| (x - mx) * (y - my)).sum();
            let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
            let (a, b) = ols_on_index(&y).unwrap();
            prop_assert!((b - sxy / sxx).abs() < 1e-9);
            prop_assert!((a - (my - b * mx)).abs() < 1e-9);
        }

        /// The median splits the data: at most half strictly below, at most half strictly above.
        #[test]
        fn median_splits(d in prop::collection::vec(0.0f64..1.0, 1..40)) {
            let m = median(&d);
            let below = d.iter().filter(|&&x| x < m).count();
            let above = d.iter().filter(|&&x| x > m).count();
            prop_assert!(below * 2 <= d.len() && above * 2 <= d.len());
            prop_assert!(mad(&d) >= 0.0 && iqr(&d) >= 0.0);
        }
    }
}
