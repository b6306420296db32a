//! Capacity forecasting: a robust trend through daily peaks, chosen against a flat forecast by
//! how each predicted the last week of the data, and the days left until it meets a capacity.
//!
//! The trend's slope is Theil–Sen (the median of the slopes between every pair of days): a few
//! odd days (a backup night, a failover) do not tilt it as they tilt least squares. It is
//! anchored on the median of the last week, so a level shift in the past does not drag the
//! forecast. Whether a trend is there at all is decided on the data: both forecasts are fitted
//! without the last 7 days and the one that predicted them better is kept ([`fit`]). The
//! spread of the residuals gives a pessimistic line, so "full" is answered twice: when the
//! forecast reaches the capacity, and when a day as high above it as the 90th percentile of
//! the fitted days would.

/// A fitted trend of a daily series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    /// Change per day.
    pub slope: f64,
    /// Value at day 0.
    pub intercept: f64,
    /// The 90th percentile of the fitted days' residuals (above the trend), at least 0.
    pub high_residual: f64,
    /// The last day fitted.
    pub last_day: f64,
}

impl Trend {
    /// The trend's value on `day`.
    pub fn at(&self, day: f64) -> f64 {
        self.intercept + self.slope * day
    }
}

/// When a series reaches a capacity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DaysUntilFull {
    /// Days after the last fitted day until the trend reaches the capacity (0: already
    /// there); `None` when the trend is flat or falling below it.
    pub expected: Option<f64>,
    /// The same for the trend plus its high residual: the earliest day a peak day would
    /// reach the capacity.
    pub pessimistic: Option<f64>,
}

/// The median of `v` (sorted in place); `None` when empty or when a value is not finite.
fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() || v.iter().any(|x| !x.is_finite()) {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Days of data the holdout and the anchor use.
const WEEK: usize = 7;

/// A trend is kept only when it predicted the holdout week this much better than the flat
/// level (error ratio): a weak trend extrapolated for months costs more than it gains.
const TREND_MARGIN: f64 = 1.25;

/// A Theil–Sen slope anchored on the median of the last week of `points` (sorted by day);
/// with `flat`, slope 0.
fn fit_one(points: &[(f64, f64)], flat: bool) -> Option<Trend> {
    let slope = if flat {
        0.0
    } else {
        let mut slopes = Vec::with_capacity(points.len() * points.len().saturating_sub(1) / 2);
        for (i, (d1, v1)) in points.iter().enumerate() {
            for (d2, v2) in &points[i + 1..] {
                if d2 != d1 {
                    slopes.push((v2 - v1) / (d2 - d1));
                }
            }
        }
        median(&mut slopes)?
    };
    let recent = &points[points.len().saturating_sub(WEEK)..];
    let mut offsets: Vec<f64> = recent.iter().map(|(d, v)| v - slope * d).collect();
    let intercept = median(&mut offsets)?;
    let mut residuals: Vec<f64> = points
        .iter()
        .map(|(d, v)| v - (intercept + slope * d))
        .collect();
    residuals.sort_by(f64::total_cmp);
    let k = ((0.9 * residuals.len() as f64).ceil() as usize).clamp(1, residuals.len());
    Some(Trend {
        slope,
        intercept,
        high_residual: residuals[k - 1].max(0.0),
        last_day: points.last()?.0,
    })
}

/// Mean absolute error of `t` on `points`.
fn mae(t: &Trend, points: &[(f64, f64)]) -> f64 {
    points
        .iter()
        .map(|(d, v)| (t.at(*d) - v).abs())
        .sum::<f64>()
        / points.len() as f64
}

/// Fits the forecast of `(day, value)` points (any order; days need not be contiguous): the
/// anchored Theil–Sen trend, or the flat last-week level when that predicted the last week
/// at least as well from the days before it (a trend must earn its place; with fewer than three weeks of days it is kept). `None`
/// with fewer than two distinct days or a non-finite value. O(n²) in the points: a year of
/// days is 66,000 pairs.
pub fn fit(points: &[(f64, f64)]) -> Option<Trend> {
    if points.iter().any(|(d, v)| !d.is_finite() || !v.is_finite()) {
        return None;
    }
    let mut pts = points.to_vec();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    if pts.first()?.0 == pts.last()?.0 {
        return None;
    }
    let trend = fit_one(&pts, false)?;
    if pts.len() < 3 * WEEK {
        return Some(trend);
    }
    let (before, holdout) = pts.split_at(pts.len() - WEEK);
    let trend_err = mae(&fit_one(before, false)?, holdout);
    let flat_err = mae(&fit_one(before, true)?, holdout);
    if flat_err <= trend_err * TREND_MARGIN {
        fit_one(&pts, true)
    } else {
        Some(trend)
    }
}

/// Days after the trend's last day until it meets `capacity`.
pub fn days_until(trend: &Trend, capacity: f64) -> DaysUntilFull {
    let until = |offset: f64| {
        let now = trend.at(trend.last_day) + offset;
        if now >= capacity {
            Some(0.0)
        } else if trend.slope > 0.0 {
            Some((capacity - now) / trend.slope)
        } else {
            None
        }
    };
    DaysUntilFull {
        expected: until(0.0),
        pessimistic: until(trend.high_residual),
    }
}

/// Mean absolute percentage error of `predicted` against `actual` over the pairs whose actual
/// value is not 0; `None` when there is none.
pub fn mape(pairs: impl IntoIterator<Item = (f64, f64)>) -> Option<f64> {
    let (mut sum, mut n) = (0.0, 0usize);
    for (actual, predicted) in pairs {
        if actual != 0.0 && actual.is_finite() && predicted.is_finite() {
            sum += ((predicted - actual) / actual).abs();
            n += 1;
        }
    }
    (n > 0).then(|| sum / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_growing_series_fills_up() {
        // 10 units a day from 100, capacity 500: the trend (190 on day 9) reaches it 31 days
        // after day 9.
        let pts: Vec<(f64, f64)> = (0..10)
            .map(|d| (f64::from(d), 100.0 + 10.0 * f64::from(d)))
            .collect();
        let t = fit(&pts).unwrap();
        assert_eq!((t.slope, t.intercept, t.high_residual), (10.0, 100.0, 0.0));
        // Four weeks of the same growth keep the trend; four flat weeks after a jump do not.
        let grow: Vec<(f64, f64)> = (0..28).map(|d| (f64::from(d), f64::from(d))).collect();
        assert_eq!(fit(&grow).unwrap().slope, 1.0);
        let jump: Vec<(f64, f64)> = (0..28)
            .map(|d| (f64::from(d), if d < 14 { 10.0 } else { 50.0 }))
            .collect();
        let j = fit(&jump).unwrap();
        assert_eq!((j.slope, j.at(40.0)), (0.0, 50.0));
        let d = days_until(&t, 500.0);
        assert_eq!(d.expected, Some(31.0));
        assert_eq!(days_until(&t, 150.0).expected, Some(0.0));
        let flat = fit(&[(0.0, 5.0), (1.0, 5.0), (2.0, 5.0)]).unwrap();
        assert_eq!(days_until(&flat, 10.0).expected, None);
    }

    #[test]
    fn one_odd_day_does_not_tilt_the_trend() {
        let mut pts: Vec<(f64, f64)> = (0..20).map(|d| (f64::from(d), 50.0)).collect();
        pts[19].1 = 500.0;
        let t = fit(&pts).unwrap();
        assert_eq!(t.slope, 0.0);
        assert_eq!(days_until(&t, 100.0).expected, None);
        assert_eq!(fit(&[(1.0, 2.0)]), None);
        assert_eq!(fit(&[(1.0, f64::NAN), (2.0, 1.0)]), None);
        assert_eq!(mape([(100.0, 110.0), (0.0, 5.0), (50.0, 45.0)]), Some(0.1));
    }

    proptest! {
        /// On a line with bounded noise the slope stays within the noise's reach, and the
        /// pessimistic answer never comes after the expected one.
        #[test]
        fn recovers_a_noisy_line(
            slope in -5.0f64..5.0,
            intercept in 0.0f64..1000.0,
            noise in prop::collection::vec(-1.0f64..1.0, 14..60),
            capacity in 0.0f64..2000.0,
        ) {
            let pts: Vec<(f64, f64)> = noise
                .iter()
                .enumerate()
                .map(|(d, e)| (d as f64, intercept + slope * d as f64 + e))
                .collect();
            let t = fit(&pts).unwrap();
            // Pairs at least a day apart: a slope error of at most 2 noise units per day.
            prop_assert!((t.slope - slope).abs() <= 2.0 + 1e-9, "{} vs {}", t.slope, slope);
            let d = days_until(&t, capacity);
            match (d.expected, d.pessimistic) {
                (Some(e), Some(p)) => prop_assert!(p <= e + 1e-9),
                (None, _) => {}
                (Some(_), None) => prop_assert!(false, "pessimistic must come no later"),
            }
        }
    }
}
