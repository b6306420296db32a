//! Measured host load as placement reads it: a compact per-hour-of-day histogram of CPU
//! utilisation samples (percentiles per hour without keeping the samples), and the vCPU wait
//! ratio between two cumulative counter readings.

use serde::{Deserialize, Serialize};

/// Histogram buckets per hour: utilisation 0..=1 in steps of 1/BUCKETS.
pub const BUCKETS: usize = 20;

/// Per hour of the day (UTC), how many utilisation samples fell in each bucket. Counts are
/// halved in an hour once it holds [`HourlyDigest::CAP`] samples, so old weeks fade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourlyDigest {
    counts: Vec<[u32; BUCKETS]>,
}

impl Default for HourlyDigest {
    fn default() -> Self {
        HourlyDigest {
            counts: vec![[0; BUCKETS]; 24],
        }
    }
}

/// The bucket of a utilisation (values outside 0..=1 are clamped, NaN counts as 0).
fn bucket(load: f64) -> usize {
    let x = if load.is_nan() {
        0.0
    } else {
        load.clamp(0.0, 1.0)
    };
    ((x * BUCKETS as f64) as usize).min(BUCKETS - 1)
}

impl HourlyDigest {
    /// Samples an hour keeps before its counts are halved: two weeks of one per minute.
    pub const CAP: u32 = 14 * 60;

    /// Records a utilisation sample taken at `hour` (0..24; taken modulo 24).
    pub fn add(&mut self, hour: u32, load: f64) {
        if self.counts.len() != 24 {
            *self = HourlyDigest::default();
        }
        let h = &mut self.counts[(hour % 24) as usize];
        h[bucket(load)] += 1;
        if h.iter().sum::<u32>() >= Self::CAP {
            for c in h.iter_mut() {
                *c /= 2;
            }
        }
    }

    /// Samples recorded in `hour`.
    pub fn samples(&self, hour: u32) -> u32 {
        self.counts
            .get((hour % 24) as usize)
            .map_or(0, |h| h.iter().sum())
    }

    /// The `p`-th percentile (0..=100) of `hour`'s samples, as the upper edge of the bucket it
    /// falls in (never below the exact percentile, at most 1/BUCKETS above); `None` without
    /// samples.
    pub fn percentile(&self, hour: u32, p: f64) -> Option<f64> {
        let h = self.counts.get((hour % 24) as usize)?;
        upper_percentile(h, p)
    }

    /// The `p`-th percentile of every hour; hours with fewer than `min_samples` take the
    /// percentile over all hours. `None` while the whole digest has fewer than `min_samples`.
    pub fn profile(&self, p: f64, min_samples: u32) -> Option<[f64; 24]> {
        let mut all = [0u32; BUCKETS];
        for h in &self.counts {
            for (a, c) in all.iter_mut().zip(h) {
                *a += c;
            }
        }
        if all.iter().sum::<u32>() < min_samples.max(1) {
            return None;
        }
        let overall = upper_percentile(&all, p)?;
        let mut out = [overall; 24];
        for (hour, v) in out.iter_mut().enumerate() {
            if self.samples(hour as u32) >= min_samples.max(1) {
                *v = self.percentile(hour as u32, p).unwrap_or(overall);
            }
        }
        Some(out)
    }
}

/// The upper edge of the bucket holding the `p`-th percentile of `counts`.
fn upper_percentile(counts: &[u32; BUCKETS], p: f64) -> Option<f64> {
    let n: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    if n == 0 {
        return None;
    }
    let p = if p.is_nan() {
        100.0
    } else {
        p.clamp(0.0, 100.0)
    };
    // The rank of the percentile sample (1-based, nearest rank).
    let rank = ((p / 100.0 * n as f64).ceil() as u64).clamp(1, n);
    let mut seen = 0u64;
    for (i, &c) in counts.iter().enumerate() {
        seen += u64::from(c);
        if seen >= rank {
            return Some((i + 1) as f64 / BUCKETS as f64);
        }
    }
    Some(1.0)
}

/// A histogram of shares (0..=1) in [`BUCKETS`] buckets: percentiles without the samples. The
/// counts are halved once they hold [`Histogram::CAP`] samples, so old days fade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Histogram {
    counts: [u32; BUCKETS],
}

impl Histogram {
    /// Samples kept before halving: a day of one per minute.
    pub const CAP: u32 = 24 * 60;

    pub fn add(&mut self, share: f64) {
        self.counts[bucket(share)] += 1;
        if self.samples() >= Self::CAP {
            for c in &mut self.counts {
                *c /= 2;
            }
        }
    }

    pub fn samples(&self) -> u32 {
        self.counts.iter().sum()
    }

    /// The `p`-th percentile as the upper edge of its bucket; `None` without samples.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        upper_percentile(&self.counts, p)
    }
}

/// A reading of a host's cumulative vCPU counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitReading {
    /// When, nanoseconds on a monotonic clock.
    pub at_ns: u128,
    /// Sum over its running VMs' vCPUs of the time runnable but not running, nanoseconds.
    pub delay_ns: u128,
    /// vCPUs of its running VMs.
    pub vcpus: u64,
}

/// The share of time the host's vCPUs waited for a physical CPU between two readings (the
/// CPU-ready ratio, 0..=1). `None` when the readings cannot be compared: no time passed, no
/// vCPU ran, or the counters went down (a VM stopped or moved away).
pub fn vcpu_wait(before: WaitReading, after: WaitReading) -> Option<f64> {
    let dt = after.at_ns.checked_sub(before.at_ns)?;
    let dd = after.delay_ns.checked_sub(before.delay_ns)?;
    let vcpus = after.vcpus.min(before.vcpus);
    if dt == 0 || vcpus == 0 {
        return None;
    }
    Some((dd as f64 / (dt as f64 * vcpus as f64)).clamp(0.0, 1.0))
}

/// One VM of a Bitbrains-format trace (semicolon-separated: timestamp in seconds, CPU cores,
/// CPU capacity provisioned MHz, CPU usage MHz, …, memory capacity provisioned KB, …):
/// its size and its CPU demand per time step, in logical CPUs.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceVm {
    pub vcpus: u32,
    pub memory_mib: u64,
    pub demand: Vec<f64>,
}

/// Per time step: the sum of the demand samples in it and how many there are.
type Buckets = std::collections::BTreeMap<i64, (f64, u32)>;

/// Reads Bitbrains-format VM traces (one CSV text per VM) onto a common clock of `step_s`
/// steps: per VM the mean demand in each step (usage MHz over `mhz_per_cpu`), the last known
/// value where a step has no sample; and the number of steps, from the first sample of any VM
/// to the last. A VM's size is the most cores and memory it was provisioned with.
pub fn week_demand(
    texts: &[String],
    step_s: i64,
    mhz_per_cpu: f64,
) -> Result<(Vec<TraceVm>, usize), String> {
    let mut raw: Vec<(u32, u64, Buckets)> = Vec::new();
    let (mut t0, mut t1) = (i64::MAX, i64::MIN);
    for (i, text) in texts.iter().enumerate() {
        let (mut vcpus, mut mem_kb) = (1u32, 0f64);
        let mut buckets = Buckets::new();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(';').map(str::trim).collect();
            if f.len() < 7 {
                continue;
            }
            let t: f64 = f[0]
                .parse()
                .map_err(|e| format!("trace {}: bad timestamp in {line:?}: {e}", i + 1))?;
            vcpus = vcpus.max(f[1].parse::<f64>().unwrap_or(1.0) as u32);
            mem_kb = mem_kb.max(f[5].parse().unwrap_or(0.0));
            let b = t as i64 / step_s;
            let e = buckets.entry(b).or_insert((0.0, 0));
            e.0 += f[3].parse::<f64>().unwrap_or(0.0) / mhz_per_cpu;
            e.1 += 1;
            t0 = t0.min(b);
            t1 = t1.max(b);
        }
        raw.push((vcpus, (mem_kb / 1024.0) as u64, buckets));
    }
    if t1 < t0 {
        return Err("no samples".into());
    }
    let steps = (t1 - t0 + 1) as usize;
    let vms = raw
        .into_iter()
        .map(|(vcpus, memory_mib, b)| {
            let mut last = 0.0;
            let demand = (0..steps)
                .map(|s| {
                    if let Some((sum, n)) = b.get(&(t0 + s as i64)) {
                        last = sum / f64::from(*n);
                    }
                    last
                })
                .collect();
            TraceVm {
                vcpus: vcpus.max(1),
                memory_mib: memory_mib.max(1),
                demand,
            }
        })
        .collect();
    Ok((vms, steps))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn busy_days_show_in_the_day_hours() {
        let mut d = HourlyDigest::default();
        for day in 0..7 {
            for hour in 0..24u32 {
                let busy = (8..18).contains(&hour);
                d.add(hour, if busy { 0.8 } else { 0.1 } + f64::from(day) * 0.01);
            }
        }
        let p = d.profile(90.0, 5).unwrap();
        assert!(p[12] >= 0.85 && p[12] <= 0.9, "{p:?}");
        assert!(p[3] >= 0.15 && p[3] <= 0.2, "{p:?}");
        assert_eq!(d.profile(90.0, 1000), None);
    }

    #[test]
    fn histogram_percentiles() {
        let mut h = Histogram::default();
        assert_eq!(h.percentile(95.0), None);
        for i in 0..100 {
            h.add(f64::from(i) / 100.0);
        }
        assert_eq!(h.samples(), 100);
        assert_eq!(h.percentile(95.0), Some(0.95));
        assert_eq!(h.percentile(50.0), Some(0.5));
        for _ in 0..2000 {
            h.add(0.1);
        }
        assert!(h.samples() < Histogram::CAP);
        assert_eq!(h.percentile(50.0), Some(0.15));
    }

    #[test]
    fn wait_between_readings() {
        let r = |at_ns, delay_ns, vcpus| WaitReading {
            at_ns,
            delay_ns,
            vcpus,
        };
        // 4 vCPUs for 1 s, 0.4 s of waiting in all: 10 %.
        assert_eq!(
            vcpu_wait(r(0, 100, 4), r(1_000_000_000, 400_000_100, 4)),
            Some(0.1)
        );
        assert_eq!(vcpu_wait(r(5, 100, 4), r(5, 200, 4)), None);
        assert_eq!(vcpu_wait(r(0, 500, 4), r(10, 100, 4)), None);
        assert_eq!(vcpu_wait(r(0, 0, 0), r(10, 100, 0)), None);
    }

    proptest! {
        /// Against the samples themselves: the digest's percentile is never below the exact
        /// nearest-rank percentile and at most one bucket above it; halving keeps it there.
        #[test]
        fn percentile_brackets_the_exact_one(
            samples in prop::collection::vec(0.0f64..=1.0, 1..400),
            p in 0.0f64..=100.0,
        ) {
            let mut d = HourlyDigest::default();
            for s in &samples {
                d.add(7, *s);
            }
            let mut sorted: Vec<f64> = samples.iter().map(|s| bucket(*s) as f64 / BUCKETS as f64).collect();
            sorted.sort_by(f64::total_cmp);
            let rank = ((p / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            let exact_bucket_low = sorted[rank - 1];
            let got = d.percentile(7, p).unwrap();
            prop_assert!((got - (exact_bucket_low + 1.0 / BUCKETS as f64)).abs() < 1e-12, "{got} vs {exact_bucket_low}");
            let exact = {
                let mut s = samples.clone();
                s.sort_by(f64::total_cmp);
                s[rank - 1]
            };
            prop_assert!(got >= exact && got <= exact + 1.0 / BUCKETS as f64 + 1e-12);
            prop_assert_eq!(d.samples(7), samples.len() as u32);
            prop_assert_eq!(d.percentile(8, p), None);
        }
    }

    #[test]
    fn bitbrains_traces_on_a_common_clock() {
        let head = "Timestamp [ms];\tCPU cores;\tCPU capacity provisioned [MHZ];\tCPU usage [MHZ];\tCPU usage [%];\tMemory capacity provisioned [KB];\tMemory usage [KB]\n";
        let a = format!(
            "{head}600; 2; 5200; 2600; 50; 1048576; 1\n660; 2; 5200; 5200; 100; 1048576; 1\n1200; 2; 5200; 1300; 25; 1048576; 1\n"
        );
        let b = format!("{head}300; 4; 10400; 10400; 100; 2097152; 1\n");
        let (vms, steps) = week_demand(&[a, b], 300, 2600.0).unwrap();
        assert_eq!(steps, 4, "steps 1..=4 of 300 s");
        assert_eq!((vms[0].vcpus, vms[0].memory_mib), (2, 1024));
        // No sample before its first: 0; two samples in a step: their mean; then held.
        assert_eq!(vms[0].demand, vec![0.0, 1.5, 1.5, 0.5]);
        assert_eq!(vms[1].demand, vec![4.0; 4]);
        assert!(week_demand(&[format!("{head}x; 1; 1; 1; 1; 1; 1\n")], 300, 1.0).is_err());
        assert!(week_demand(&[head.to_string()], 300, 1.0).is_err());
    }
}
