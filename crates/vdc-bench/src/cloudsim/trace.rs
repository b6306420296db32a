//! PlanetLab traces: parsing a day file and evaluating a VM's CPU demand at any time.
//!
//! A day is one CSV row per VM, `vm_id,u0,...,u287`, with no header; `u_k` is the CPU
//! utilisation in percent at t = 300·k s. The row order is the VM order (it fixes VM ids and
//! types). CloudSim reads the 288 samples into a 289-slot array with `u288 := u287` and
//! interpolates linearly between samples (`UtilizationModelPlanetLabInMemory`).

/// Samples per VM and day (one every 300 s).
pub const SAMPLES_PER_DAY: usize = 288;

/// Seconds between two trace samples (CloudSim's scheduling interval).
pub const SAMPLE_INTERVAL_S: f64 = 300.0;

/// Parses one day of traces: per VM, in row order, its 288 percent samples.
///
/// Rows are split on commas only (VM names may contain spaces); the name is ignored. Blank
/// lines (e.g. a trailing newline) are skipped. Every sample must be an integer in 0..=100.
pub fn parse_day(csv: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for (lineno, line) in csv.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let mut fields = line.split(',');
        let name = fields.next().unwrap_or_default();
        let mut samples = Vec::with_capacity(SAMPLES_PER_DAY);
        for (k, f) in fields.enumerate() {
            let v: u8 = f.parse().map_err(|_| {
                format!(
                    "line {}: VM {name:?}: sample {k} is not an integer percent: {f:?}",
                    lineno + 1
                )
            })?;
            if v > 100 {
                return Err(format!(
                    "line {}: VM {name:?}: sample {k} is {v} %, above 100",
                    lineno + 1
                ));
            }
            samples.push(v);
        }
        if samples.len() != SAMPLES_PER_DAY {
            return Err(format!(
                "line {}: VM {name:?}: {} samples, expected {SAMPLES_PER_DAY}",
                lineno + 1,
                samples.len()
            ));
        }
        out.push(samples);
    }
    Ok(out)
}

/// CloudSim's in-memory copy of a trace: 289 fractions, `u[288] = u[287]`.
pub fn trace_fractions(samples: &[u8]) -> Vec<f64> {
    let mut data: Vec<f64> = samples.iter().map(|&p| f64::from(p) / 100.0).collect();
    if let Some(&last) = data.last() {
        data.push(last);
    }
    data
}

/// The utilisation (fraction) of a trace at time `t` seconds, interpolated linearly between
/// samples exactly as `UtilizationModelPlanetLabInMemory.getUtilization` does (same floating
/// point operations). `data` is the output of [`trace_fractions`]; times past the last sample
/// take the last value.
pub fn utilization_at(data: &[f64], t: f64) -> f64 {
    let Some(last) = data.len().checked_sub(1) else {
        return 0.0;
    };
    let at = |i: usize| data[i.min(last)];
    if t % SAMPLE_INTERVAL_S == 0.0 {
        // Java: data[(int) time / (int) interval]
        return at((t as i64 / SAMPLE_INTERVAL_S as i64).max(0) as usize);
    }
    let t1 = (t / SAMPLE_INTERVAL_S).floor().max(0.0) as usize;
    let t2 = (t / SAMPLE_INTERVAL_S).ceil().max(0.0) as usize;
    let (u1, u2) = (at(t1), at(t2));
    let delta = (u2 - u1) / ((t2 - t1) as f64 * SAMPLE_INTERVAL_S);
    u1 + delta * (t - t1 as f64 * SAMPLE_INTERVAL_S)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn row(name: &str, v: impl Fn(usize) -> u8) -> String {
        let mut s = name.to_string();
        for k in 0..SAMPLES_PER_DAY {
            s.push(',');
            s.push_str(&v(k).to_string());
        }
        s
    }

    #[test]
    fn parses_rows_in_order_with_spaces_in_names() {
        let csv = format!(
            "{}\n{}\n",
            row("a_b", |k| (k % 100) as u8),
            row("metis_mcs_suffolk_edu_ rnp_dcc_ufjf", |_| 7)
        );
        let day = parse_day(&csv).unwrap();
        assert_eq!(day.len(), 2);
        assert_eq!(day[0][5], 5);
        assert_eq!(day[0][287], 87);
        assert!(day[1].iter().all(|&p| p == 7));
    }

    #[test]
    fn rejects_bad_rows() {
        assert!(parse_day("x,1,2,3\n").unwrap_err().contains("3 samples"));
        let bad = row("x", |k| if k == 9 { 101 } else { 1 });
        assert!(parse_day(&bad).unwrap_err().contains("above 100"));
        let bad = row("x", |_| 1).replacen(",1", ",a", 1);
        assert!(parse_day(&bad).unwrap_err().contains("not an integer"));
        assert_eq!(parse_day("\n\n").unwrap().len(), 0);
    }

    #[test]
    fn interpolates_like_cloudsim() {
        let mut samples = vec![0u8; SAMPLES_PER_DAY];
        samples[1] = 10;
        samples[2] = 40;
        samples[287] = 50;
        let d = trace_fractions(&samples);
        assert_eq!(d.len(), 289);
        assert_eq!(d[288], 0.5);
        // On a sample: the sample.
        assert_eq!(utilization_at(&d, 300.0), 0.1);
        // The first epoch, 300.1 s, lies between samples 1 and 2.
        let u = utilization_at(&d, 300.1);
        assert!((u - (0.1 + 0.3 * 0.1 / 300.0)).abs() < 1e-12, "{u}");
        // Halfway.
        assert!((utilization_at(&d, 450.0) - 0.25).abs() < 1e-12);
        // After the last sample the value holds (u288 = u287).
        assert_eq!(utilization_at(&d, 86_110.0), 0.5);
    }

    proptest! {
        /// Interpolated demand stays between its two neighbouring samples.
        #[test]
        fn interpolation_is_bracketed(samples in prop::collection::vec(0u8..=99, SAMPLES_PER_DAY), t in 0.0f64..86_399.0) {
            let d = trace_fractions(&samples);
            let u = utilization_at(&d, t);
            let (a, b) = (d[(t / 300.0).floor() as usize], d[(t / 300.0).ceil() as usize]);
            prop_assert!(u >= a.min(b) - 1e-12 && u <= a.max(b) + 1e-12);
        }
    }
}
