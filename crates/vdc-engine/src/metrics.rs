//! Host-side monitoring math: a sample of every [`Metric`] from two readings of a VM's
//! cumulative counters, and roll-ups (min / mean / max / p95) of a run of samples, either of
//! samples at hand ([`rollup_all`]) or kept running as samples arrive ([`Running`]), which
//! holds a few numbers per metric instead of the samples.

use vdc_types::Metric;

/// One reading of a VM's counters as the host reports them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Counters {
    /// When it was read, on the driver's clock (ns).
    pub at_ns: u128,
    pub cpu_ns: u64,
    /// Summed over vCPUs.
    pub delay_ns: u64,
    pub vcpus: u32,
    pub memory_mib: f32,
    pub balloon_mib: Option<f32>,
    pub swap_in_kib: Option<u64>,
    pub swap_out_kib: Option<u64>,
    pub disk_read_bytes: u64,
    pub disk_write_bytes: u64,
    pub disk_read_ops: u64,
    pub disk_write_ops: u64,
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
}

/// A value per metric, in [`Metric`] order; NaN where there is none.
pub type Sample = [f32; Metric::COUNT];

/// An empty sample.
pub const NONE: Sample = [f32::NAN; Metric::COUNT];

/// The sample between two readings: gauges from `cur`, rates over the time between them
/// (NaN without a `prev`, when no time passed, or when a counter went back, as it does when
/// the VM restarts).
pub fn sample(prev: Option<&Counters>, cur: &Counters) -> Sample {
    let mut s = NONE;
    s[Metric::MemoryMib.index()] = cur.memory_mib;
    s[Metric::BalloonMib.index()] = cur.balloon_mib.unwrap_or(f32::NAN);
    let Some(p) = prev else { return s };
    let Some(dt) = cur.at_ns.checked_sub(p.at_ns).filter(|&d| d > 0) else {
        return s;
    };
    let secs = dt as f64 / 1e9;
    let rate = |a: u64, b: u64| {
        b.checked_sub(a)
            .map_or(f32::NAN, |d| (d as f64 / secs) as f32)
    };
    let opt_rate = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => rate(a, b),
        _ => f32::NAN,
    };
    let per_vcpu = |a: u64, b: u64| {
        if cur.vcpus == 0 || cur.vcpus != p.vcpus {
            return f32::NAN;
        }
        b.checked_sub(a).map_or(f32::NAN, |d| {
            (d as f64 / dt as f64 / f64::from(cur.vcpus) * 100.0) as f32
        })
    };
    s[Metric::Cpu.index()] = per_vcpu(p.cpu_ns, cur.cpu_ns);
    s[Metric::VcpuDelay.index()] = per_vcpu(p.delay_ns, cur.delay_ns);
    s[Metric::SwapInKibS.index()] = opt_rate(p.swap_in_kib, cur.swap_in_kib);
    s[Metric::SwapOutKibS.index()] = opt_rate(p.swap_out_kib, cur.swap_out_kib);
    s[Metric::DiskReadBytesS.index()] = rate(p.disk_read_bytes, cur.disk_read_bytes);
    s[Metric::DiskWriteBytesS.index()] = rate(p.disk_write_bytes, cur.disk_write_bytes);
    s[Metric::DiskReadOpsS.index()] = rate(p.disk_read_ops, cur.disk_read_ops);
    s[Metric::DiskWriteOpsS.index()] = rate(p.disk_write_ops, cur.disk_write_ops);
    s[Metric::NetRxBytesS.index()] = rate(p.net_rx_bytes, cur.net_rx_bytes);
    s[Metric::NetTxBytesS.index()] = rate(p.net_tx_bytes, cur.net_tx_bytes);
    s
}

/// A host's sample: its own CPU (0–1) and memory, and its VMs' samples summed (delay as the
/// mean over VMs that have one; balloon as what the balloons took back, `taken_mib`).
pub fn host_sample(cpu: f64, memory_used_mib: f64, taken_mib: f64, vms: &[Sample]) -> Sample {
    let mut s = NONE;
    for m in Metric::ALL {
        let i = m.index();
        let vals = vms.iter().map(|v| v[i]).filter(|v| !v.is_nan());
        s[i] = match m {
            Metric::Cpu => (cpu * 100.0) as f32,
            Metric::MemoryMib => memory_used_mib as f32,
            Metric::BalloonMib => taken_mib as f32,
            Metric::VcpuDelay => {
                let (n, sum) = vals.fold((0u32, 0f64), |(n, s), v| (n + 1, s + f64::from(v)));
                if n == 0 {
                    f32::NAN
                } else {
                    (sum / f64::from(n)) as f32
                }
            }
            _ => {
                let (n, sum) = vals.fold((0u32, 0f64), |(n, s), v| (n + 1, s + f64::from(v)));
                if n == 0 { f32::NAN } else { sum as f32 }
            }
        };
    }
    s
}

/// A run of samples summed up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rollup {
    pub min: f32,
    pub mean: f32,
    pub max: f32,
    /// The 95th percentile (nearest rank).
    pub p95: f32,
    /// Samples it covers.
    pub n: u32,
}

/// The roll-up of `values` (NaN ignored); `None` when none is a number. `scratch` is reused
/// between calls to spare allocations.
pub fn rollup(values: impl Iterator<Item = f32>, scratch: &mut Vec<f32>) -> Option<Rollup> {
    scratch.clear();
    scratch.extend(values.filter(|v| !v.is_nan()));
    let n = scratch.len();
    if n == 0 {
        return None;
    }
    let sum: f64 = scratch.iter().map(|&v| f64::from(v)).sum();
    let min = scratch.iter().copied().fold(f32::INFINITY, f32::min);
    let max = scratch.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    // Nearest rank: the smallest value with at least 95 % of the samples at or below it.
    let rank = (n * 95).div_ceil(100).max(1) - 1;
    let (_, p95, _) = scratch.select_nth_unstable_by(rank, f32::total_cmp);
    Some(Rollup {
        min,
        mean: (sum / n as f64) as f32,
        max,
        p95: *p95,
        n: n as u32,
    })
}

/// The roll-up of every metric over `samples`.
pub fn rollup_all<'a>(
    samples: impl Iterator<Item = &'a Sample> + Clone,
    scratch: &mut Vec<f32>,
) -> [Option<Rollup>; Metric::COUNT] {
    std::array::from_fn(|i| rollup(samples.clone().map(|s| s[i]), scratch))
}

/// A roll-up of every metric kept running as samples arrive: per metric the count, minimum
/// and sum of its numbers, and its `keep` largest values. The nearest-rank p95 of `n` numbers
/// is the `(n - ceil(0.95 n) + 1)`-th largest, so keeping `keep` of them gives the exact
/// roll-up of [`rollup_all`] for up to [`Running::exact_for`] numbers per metric; past that the
/// p95 given is the smallest value kept, an upper bound of the true one.
#[derive(Debug, Clone, PartialEq)]
pub struct Running {
    n: [u32; Metric::COUNT],
    min: [f32; Metric::COUNT],
    sum: [f64; Metric::COUNT],
    /// Per metric, `keep` slots: its largest values so far, in descending order, NaN-padded.
    top: Box<[f32]>,
}

impl Running {
    /// Keeping the largest `keep` values (at least 1) of each metric.
    pub fn new(keep: usize) -> Running {
        Running {
            n: [0; Metric::COUNT],
            min: [f32::INFINITY; Metric::COUNT],
            sum: [0.0; Metric::COUNT],
            top: vec![f32::NAN; keep.max(1) * Metric::COUNT].into_boxed_slice(),
        }
    }

    /// Largest values to keep so that `n` numbers per metric roll up exactly.
    pub fn keep_for(n: usize) -> usize {
        n / 20 + 1
    }

    /// Numbers per metric that roll up exactly with `keep` values kept.
    pub fn exact_for(keep: usize) -> usize {
        20 * keep.max(1) - 1
    }

    fn keep(&self) -> usize {
        self.top.len() / Metric::COUNT
    }

    /// Forgets what was pushed (keeping the room it has).
    pub fn clear(&mut self) {
        self.n = [0; Metric::COUNT];
        self.min = [f32::INFINITY; Metric::COUNT];
        self.sum = [0.0; Metric::COUNT];
        self.top.fill(f32::NAN);
    }

    /// Adds a sample (NaN values are skipped, as [`rollup`] skips them).
    pub fn push(&mut self, sample: &Sample) {
        let keep = self.keep();
        for (i, &v) in sample.iter().enumerate() {
            if v.is_nan() {
                continue;
            }
            self.n[i] += 1;
            self.min[i] = self.min[i].min(v);
            self.sum[i] += f64::from(v);
            let top = &mut self.top[i * keep..(i + 1) * keep];
            // Insert `v` where it belongs among the kept values, dropping the smallest.
            if let Some(at) = top.iter().position(|t| t.is_nan() || v > *t) {
                top.copy_within(at..keep - 1, at + 1);
                top[at] = v;
            }
        }
    }

    /// Samples pushed with a number for the most-reported metric.
    pub fn samples(&self) -> u32 {
        self.n.iter().copied().max().unwrap_or(0)
    }

    /// The roll-up of every metric so far (`None` for a metric with no number).
    pub fn rollups(&self) -> [Option<Rollup>; Metric::COUNT] {
        let keep = self.keep();
        std::array::from_fn(|i| {
            let n = self.n[i] as usize;
            if n == 0 {
                return None;
            }
            let top = &self.top[i * keep..(i + 1) * keep];
            let from_top = n - (n * 95).div_ceil(100).max(1);
            Some(Rollup {
                min: self.min[i],
                mean: (self.sum[i] / n as f64) as f32,
                max: top[0],
                p95: top[from_top.min(keep - 1).min(n - 1)],
                n: n as u32,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reading(at_s: u64, cpu_s: f64) -> Counters {
        Counters {
            at_ns: u128::from(at_s) * 1_000_000_000,
            cpu_ns: (cpu_s * 1e9) as u64,
            delay_ns: (cpu_s * 1e8) as u64,
            vcpus: 2,
            memory_mib: 512.0,
            balloon_mib: Some(1024.0),
            disk_read_bytes: at_s * 1000,
            ..Counters::default()
        }
    }

    #[test]
    fn rates_between_readings_and_gaps_where_there_is_none() {
        let a = reading(100, 10.0);
        let b = reading(120, 30.0);
        let s = sample(Some(&a), &b);
        // 20 s of CPU in 20 s over 2 vCPUs: 50 %.
        assert!((s[Metric::Cpu.index()] - 50.0).abs() < 1e-3);
        assert!((s[Metric::VcpuDelay.index()] - 5.0).abs() < 1e-3);
        assert!((s[Metric::DiskReadBytesS.index()] - 1000.0).abs() < 1e-3);
        assert_eq!(s[Metric::MemoryMib.index()], 512.0);
        assert!(s[Metric::SwapInKibS.index()].is_nan(), "no swap figures");
        let first = sample(None, &b);
        assert!(first[Metric::Cpu.index()].is_nan());
        assert_eq!(first[Metric::BalloonMib.index()], 1024.0);
        // A restarted VM's counters start again: no negative rate.
        assert!(sample(Some(&b), &reading(140, 1.0))[Metric::Cpu.index()].is_nan());
        assert!(
            sample(Some(&b), &b)[Metric::Cpu.index()].is_nan(),
            "no time passed"
        );
    }

    #[test]
    fn a_host_sums_its_vms() {
        let mut a = NONE;
        a[Metric::NetRxBytesS.index()] = 10.0;
        a[Metric::VcpuDelay.index()] = 4.0;
        let mut b = NONE;
        b[Metric::NetRxBytesS.index()] = 5.0;
        b[Metric::VcpuDelay.index()] = 2.0;
        let h = host_sample(0.25, 2048.0, 100.0, &[a, b]);
        assert_eq!(h[Metric::Cpu.index()], 25.0);
        assert_eq!(h[Metric::NetRxBytesS.index()], 15.0);
        assert_eq!(h[Metric::VcpuDelay.index()], 3.0);
        assert!(h[Metric::DiskReadOpsS.index()].is_nan());
    }

    proptest! {
        /// Kept running, the roll-up is the one of all the samples at hand while they are few
        /// enough, and its p95 an upper bound of theirs past that.
        #[test]
        fn running_rollup_matches_the_samples_rolled_up_at_once(
            rows in proptest::collection::vec(
                proptest::collection::vec(prop_oneof![9 => -1e3f32..1e6, 1 => Just(f32::NAN)], Metric::COUNT),
                0..260,
            ),
            keep in 1usize..12,
        ) {
            let samples: Vec<Sample> = rows
                .iter()
                .map(|r| std::array::from_fn(|i| r[i]))
                .collect();
            let mut running = Running::new(keep);
            for s in &samples {
                running.push(s);
            }
            let mut scratch = Vec::new();
            let want = rollup_all(samples.iter(), &mut scratch);
            for (got, want) in running.rollups().iter().zip(want) {
                match (got, want) {
                    (None, None) => {}
                    (Some(g), Some(w)) => {
                        prop_assert_eq!(g.n, w.n);
                        prop_assert_eq!(g.min, w.min);
                        prop_assert_eq!(g.max, w.max);
                        prop_assert_eq!(g.mean, w.mean);
                        if (w.n as usize) <= Running::exact_for(keep) {
                            prop_assert_eq!(g.p95, w.p95);
                        } else {
                            prop_assert!(g.p95 >= w.p95);
                        }
                    }
                    (g, w) => prop_assert!(false, "{:?} against {:?}", g, w),
                }
            }
            prop_assert!(Running::exact_for(Running::keep_for(samples.len())) >= samples.len());
        }

        /// Against the definition: sort, take the nearest rank; min, max and mean directly.
        #[test]
        fn rollup_matches_a_sorting_oracle(
            values in proptest::collection::vec(prop_oneof![9 => 0f32..1e6, 1 => Just(f32::NAN)], 0..300)
        ) {
            let mut scratch = Vec::new();
            let got = rollup(values.iter().copied(), &mut scratch);
            let mut sorted: Vec<f32> = values.iter().copied().filter(|v| !v.is_nan()).collect();
            sorted.sort_by(f32::total_cmp);
            match got {
                None => prop_assert!(sorted.is_empty()),
                Some(r) => {
                    let n = sorted.len();
                    prop_assert_eq!(r.n as usize, n);
                    prop_assert_eq!(r.min, sorted[0]);
                    prop_assert_eq!(r.max, sorted[n - 1]);
                    let at_or_below = |v: f32| sorted.iter().filter(|&&x| x <= v).count();
                    prop_assert!(at_or_below(r.p95) * 100 >= 95 * n);
                    prop_assert!(sorted.iter().all(|&x| x >= r.p95 || at_or_below(x) * 100 < 95 * n));
                    let mean = sorted.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
                    prop_assert!((f64::from(r.mean) - mean).abs() <= 1e-3 * mean.max(1.0));
                    prop_assert!(r.min <= r.p95 && r.p95 <= r.max);
                }
            }
        }
    }
}
