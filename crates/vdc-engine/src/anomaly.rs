//! Behaviour profiles and anomalies. A VM's profile holds, for every hour of the week (or of
//! the day, while it has less than two weeks of history) and every [`Metric`], the median of
//! what the VM did then, a robust spread (1.4826 × the median absolute deviation: one
//! standard deviation for normal data, but not dragged by the outliers it is there to find)
//! and its 1st and 99th percentiles, pooled with the neighbouring hours. Traffic and memory
//! are profiled on a log scale. A sample diverges in a dimension when it lies more than
//! [`Thresholds::sustained`] spreads from the median, beyond the percentiles and by a
//! [`material`] amount; an anomaly is raised when a dimension diverges for
//! [`Thresholds::run`] samples in a row. It names each diverging dimension with what was
//! expected and by how much it differs, and suggests a remedy.

use serde::Serialize;
use vdc_types::{Metric, Remedy};

use crate::metrics::Sample;

/// Hours of the week; hour 0 is Monday 00:00 UTC.
pub const WEEK_SLOTS: usize = 168;
pub const DAY_SLOTS: usize = 24;
/// History needed for hour-of-week slots; with less, hour-of-day slots.
pub const WEEKLY_AFTER_S: i64 = 14 * 86_400;
/// Samples a slot needs (pooled) before it is trusted.
pub const MIN_SLOT_SAMPLES: usize = 6;
/// 1.4826 × MAD estimates the standard deviation of normal data.
const MAD_SCALE: f32 = 1.4826;

/// The slot of a Unix time (seconds) among `slots` (168 or 24).
pub fn slot(t_s: i64, slots: usize) -> usize {
    // 1970-01-01 was a Thursday: three days after a Monday.
    let hour = t_s.div_euclid(3600) + 72;
    hour.rem_euclid(slots as i64) as usize
}

/// Traffic (disk, network, swap) and memory use change by factors rather than by amounts
/// (a burst doubles the traffic, a cache grows the memory by half), so they are profiled on a
/// log scale: `ln(1 + x / unit)`; CPU shares as measured.
fn log_unit(m: Metric) -> Option<f32> {
    match m {
        Metric::MemoryMib | Metric::BalloonMib => Some(64.0),
        Metric::SwapInKibS | Metric::SwapOutKibS => Some(64.0),
        Metric::DiskReadBytesS
        | Metric::DiskWriteBytesS
        | Metric::NetRxBytesS
        | Metric::NetTxBytesS => Some(64.0 * 1024.0),
        Metric::DiskReadOpsS | Metric::DiskWriteOpsS => Some(5.0),
        Metric::Cpu | Metric::VcpuDelay => None,
    }
}

/// A value on the metric's profiling scale.
pub fn scaled(m: Metric, x: f32) -> f32 {
    match log_unit(m) {
        Some(u) => (x.max(0.0) / u).ln_1p(),
        None => x,
    }
}

/// A value on the profiling scale back in the metric's unit.
pub fn unscaled(m: Metric, y: f32) -> f32 {
    match log_unit(m) {
        Some(u) => y.exp_m1() * u,
        None => y,
    }
}

/// The smallest spread of a metric on its profiling scale: below it a change is noise
/// however steady the VM was (an idle VM's 0.1 % CPU does not make 1 % an anomaly). On the
/// log scale 0.05 is about 5 % more memory, 0.25 about a third more traffic.
pub fn noise_floor(m: Metric) -> f32 {
    match m {
        Metric::Cpu => 2.0,
        Metric::VcpuDelay => 1.0,
        Metric::MemoryMib | Metric::BalloonMib => 0.05,
        _ => 0.25,
    }
}

/// The least change of a metric worth a person's attention, whatever the statistics say.
pub fn material(m: Metric) -> f32 {
    match m {
        Metric::Cpu => 10.0,
        Metric::VcpuDelay => 5.0,
        Metric::MemoryMib | Metric::BalloonMib => 256.0,
        Metric::SwapInKibS | Metric::SwapOutKibS => 256.0,
        Metric::DiskReadBytesS
        | Metric::DiskWriteBytesS
        | Metric::NetRxBytesS
        | Metric::NetTxBytesS => 256.0 * 1024.0,
        Metric::DiskReadOpsS | Metric::DiskWriteOpsS => 50.0,
    }
}

/// What a VM usually does, per slot and metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// 168 (hour of week) or 24 (hour of day).
    pub slots: usize,
    /// `[slot][metric]`.
    pub stats: Vec<[SlotStats; Metric::COUNT]>,
    /// Samples it was learnt from.
    pub samples: usize,
}

/// One metric in one slot (NaN where the slot had too few samples).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlotStats {
    /// The median, on the profiling scale.
    pub median: f32,
    /// The robust spread on the profiling scale, at least the metric's noise floor.
    pub spread: f32,
    /// The 1st and 99th percentiles (nearest rank) in the metric's unit: what the VM did at
    /// its extremes; a value between them is not an anomaly, however far from the median.
    pub low: f32,
    pub high: f32,
}

impl SlotStats {
    pub const UNKNOWN: SlotStats = SlotStats {
        median: f32::NAN,
        spread: f32::NAN,
        low: f32::NAN,
        high: f32::NAN,
    };
}

fn median_of(v: &mut [f32]) -> f32 {
    v.sort_unstable_by(f32::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The statistics of `values` (the metric's unit, no NaN, reordered); unknown when there are
/// too few.
pub fn robust(m: Metric, values: &mut [f32]) -> SlotStats {
    let n = values.len();
    if n < MIN_SLOT_SAMPLES {
        return SlotStats::UNKNOWN;
    }
    values.sort_unstable_by(f32::total_cmp);
    let rank = |p: usize| values[(n * p).div_ceil(100).clamp(1, n) - 1];
    let (low, high) = (rank(1), rank(99));
    for v in values.iter_mut() {
        *v = scaled(m, *v);
    }
    let med = median_of(values);
    for v in values.iter_mut() {
        *v = (*v - med).abs();
    }
    let mad = median_of(values);
    SlotStats {
        median: med,
        spread: (MAD_SCALE * mad).max(noise_floor(m)),
        low,
        high,
    }
}

impl Profile {
    /// Learns a profile from `history`: (Unix seconds, sample), any order. Hour-of-week slots
    /// when it spans two weeks or more, else hour-of-day; each slot pools its neighbours.
    pub fn learn(history: &[(i64, Sample)]) -> Profile {
        let span = match (
            history.iter().map(|h| h.0).min(),
            history.iter().map(|h| h.0).max(),
        ) {
            (Some(a), Some(b)) => b - a,
            _ => 0,
        };
        let slots = if span >= WEEKLY_AFTER_S {
            WEEK_SLOTS
        } else {
            DAY_SLOTS
        };
        let mut by_slot: Vec<Vec<&Sample>> = vec![Vec::new(); slots];
        for (t, s) in history {
            by_slot[slot(*t, slots)].push(s);
        }
        let mut stats = vec![[SlotStats::UNKNOWN; Metric::COUNT]; slots];
        let mut pool = Vec::new();
        for (s, st) in stats.iter_mut().enumerate() {
            let near = [(s + slots - 1) % slots, s, (s + 1) % slots];
            for &m in Metric::ALL.iter() {
                let i = m.index();
                pool.clear();
                pool.extend(
                    near.iter()
                        .flat_map(|n| by_slot[*n].iter().map(|x| x[i]))
                        .filter(|v| !v.is_nan()),
                );
                st[i] = robust(m, &mut pool);
            }
        }
        Profile {
            slots,
            stats,
            samples: history.len(),
        }
    }

    /// The usual value (the median) of metric `m` at `t_s`, in its unit.
    pub fn expected(&self, t_s: i64, m: Metric) -> f32 {
        unscaled(m, self.stats[slot(t_s, self.slots)][m.index()].median)
    }

    /// How many spreads each metric of `sample` (taken at `t_s`) lies from the usual (NaN
    /// where either is unknown): positive above, negative below.
    pub fn scores(&self, t_s: i64, sample: &Sample) -> Sample {
        let st = &self.stats[slot(t_s, self.slots)];
        let mut z = [f32::NAN; Metric::COUNT];
        for &m in Metric::ALL.iter() {
            let (i, x) = (m.index(), st[m.index()]);
            z[i] = (scaled(m, sample[i]) - x.median) / x.spread;
        }
        z
    }

    /// Whether `value` of `m` at `t_s` lies outside what the VM did at its extremes then,
    /// by at least a [`material`] change from the usual.
    pub fn outside(&self, t_s: i64, m: Metric, value: f32) -> bool {
        let x = self.stats[slot(t_s, self.slots)][m.index()];
        (value > x.high || value < x.low) && (value - unscaled(m, x.median)).abs() >= material(m)
    }
}

/// When a divergence becomes an anomaly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Spreads from the median that count as diverging.
    pub sustained: f32,
    /// Diverging samples in a row that make an anomaly (one-sample blips are common in real
    /// load and rarely worth a person's time).
    pub run: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            sustained: 4.0,
            run: 2,
        }
    }
}

/// One dimension that diverged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Divergence {
    pub metric: Metric,
    pub value: f32,
    /// The median of this hour.
    pub expected: f32,
    /// Robust spreads from the median (signed).
    pub score: f32,
}

/// An anomaly: the dimensions that diverged, most first, and what to do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anomaly {
    pub at_s: i64,
    pub dimensions: Vec<Divergence>,
    pub remedy: Remedy,
    /// Why that remedy, for people.
    pub reason: String,
}

/// The remedy for a set of diverging dimensions (`value` is the sample's value).
pub fn remedy(dims: &[Divergence]) -> (Remedy, String) {
    let up = |m: Metric| dims.iter().find(|d| d.metric == m && d.score > 0.0);
    if let Some(d) = up(Metric::VcpuDelay) {
        return (
            Remedy::Migrate,
            format!(
                "its vCPUs wait {:.0} % of the time for a host CPU (usually {:.0} %): the host is contended",
                d.value, d.expected
            ),
        );
    }
    if let Some(d) = up(Metric::BalloonMib).filter(|_| up(Metric::SwapInKibS).is_some()) {
        return (
            Remedy::Migrate,
            format!(
                "the host took memory back through the balloon ({:.0} MiB left) and the guest swaps",
                d.value
            ),
        );
    }
    if let Some(d) = up(Metric::Cpu).filter(|d| d.value >= 90.0) {
        return (
            Remedy::AddVcpu,
            format!(
                "CPU at {:.0} % of its vCPUs against a usual {:.0} %",
                d.value, d.expected
            ),
        );
    }
    if let Some(d) = up(Metric::SwapInKibS)
        .or_else(|| up(Metric::SwapOutKibS))
        .or_else(|| up(Metric::MemoryMib))
    {
        return (
            Remedy::AddMemory,
            format!(
                "{} at {:.0} {} against a usual {:.0}: memory is short",
                d.metric,
                d.value,
                d.metric.unit(),
                d.expected
            ),
        );
    }
    let d = &dims[0];
    let how = if d.score > 0.0 { "above" } else { "below" };
    (
        Remedy::Investigate,
        format!(
            "{} at {:.0} {}, {:.1} spreads {how} the usual {:.0} for this hour",
            d.metric,
            d.value,
            d.metric.unit(),
            d.score.abs(),
            d.expected
        ),
    )
}

/// A VM's detector between samples: how long each dimension has diverged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detector {
    runs: [u32; Metric::COUNT],
}

impl Detector {
    /// Takes the next sample (at `t_s`); the anomaly it completes, if any.
    pub fn step(
        &mut self,
        profile: &Profile,
        th: &Thresholds,
        t_s: i64,
        sample: &Sample,
    ) -> Option<Anomaly> {
        let z = profile.scores(t_s, sample);
        let mut dims = Vec::new();
        for &m in Metric::ALL.iter() {
            let i = m.index();
            let diverging = z[i].abs() >= th.sustained && profile.outside(t_s, m, sample[i]);
            self.runs[i] = if diverging { self.runs[i] + 1 } else { 0 };
            if self.runs[i] >= th.run {
                dims.push(Divergence {
                    metric: m,
                    value: sample[i],
                    expected: profile.expected(t_s, m),
                    score: z[i],
                });
            }
        }
        if dims.is_empty() {
            return None;
        }
        dims.sort_by(|a, b| b.score.abs().total_cmp(&a.score.abs()));
        let (remedy, reason) = remedy(&dims);
        Some(Anomaly {
            at_s: t_s,
            dimensions: dims,
            remedy,
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MONDAY: i64 = 1_374_451_200; // 2013-07-22 00:00 UTC, a Monday

    fn cpu(v: f32) -> Sample {
        let mut s = [f32::NAN; Metric::COUNT];
        s[Metric::Cpu.index()] = v;
        s
    }

    #[test]
    fn slots_start_on_monday() {
        assert_eq!(slot(MONDAY, WEEK_SLOTS), 0);
        assert_eq!(slot(MONDAY + 3600 * 25, WEEK_SLOTS), 25);
        assert_eq!(slot(MONDAY + 7 * 86_400 - 1, WEEK_SLOTS), 167);
        assert_eq!(slot(MONDAY + 3600 * 25, DAY_SLOTS), 1);
    }

    /// The statistics of one slot computed directly from its values and its neighbours'.
    fn oracle(history: &[(i64, Sample)], slots: usize, s: usize, m: Metric) -> SlotStats {
        let mut v: Vec<f32> = history
            .iter()
            .filter(|(t, _)| {
                let d = (slot(*t, slots) + slots - s) % slots;
                d == 0 || d == 1 || d == slots - 1
            })
            .map(|(_, x)| x[m.index()])
            .filter(|x| !x.is_nan())
            .collect();
        let n = v.len();
        if n < MIN_SLOT_SAMPLES {
            return SlotStats::UNKNOWN;
        }
        v.sort_by(f32::total_cmp);
        // Nearest rank: the smallest value with at least p % of the values at or below it.
        let rank = |p: f64| {
            *v.iter()
                .find(|x| v.iter().filter(|y| y <= x).count() as f64 >= p / 100.0 * n as f64)
                .unwrap()
        };
        let middle = |w: &[f32]| {
            if n % 2 == 1 {
                w[n / 2]
            } else {
                (w[n / 2 - 1] + w[n / 2]) / 2.0
            }
        };
        let y: Vec<f32> = v.iter().map(|x| scaled(m, *x)).collect();
        let med = middle(&y);
        let mut dev: Vec<f32> = y.iter().map(|x| (x - med).abs()).collect();
        dev.sort_by(f32::total_cmp);
        SlotStats {
            median: med,
            spread: (1.4826 * middle(&dev)).max(noise_floor(m)),
            low: rank(1.0),
            high: rank(99.0),
        }
    }

    fn same(a: f32, b: f32) -> bool {
        a.is_nan() && b.is_nan() || (a - b).abs() <= 1e-4 * a.abs().max(1.0)
    }

    proptest! {
        #[test]
        fn profile_matches_a_direct_computation(
            points in prop::collection::vec((0i64..21 * 86_400, 0f32..100.0, any::<bool>()), 0..600)
        ) {
            let history: Vec<(i64, Sample)> = points
                .iter()
                .map(|(t, v, gap)| {
                    let mut s = cpu(if *gap && *v < 10.0 { f32::NAN } else { *v });
                    s[Metric::NetRxBytesS.index()] = v * v * 1e4;
                    (MONDAY + t, s)
                })
                .collect();
            let p = Profile::learn(&history);
            let span = history.iter().map(|h| h.0).max().unwrap_or(0)
                - history.iter().map(|h| h.0).min().unwrap_or(0);
            prop_assert_eq!(p.slots, if span >= WEEKLY_AFTER_S { WEEK_SLOTS } else { DAY_SLOTS });
            for s in 0..p.slots {
                for m in [Metric::Cpu, Metric::NetRxBytesS] {
                    let (want, got) = (oracle(&history, p.slots, s, m), p.stats[s][m.index()]);
                    prop_assert!(same(want.median, got.median), "{:?} {:?}", want, got);
                    prop_assert!(same(want.spread, got.spread), "{:?} {:?}", want, got);
                    prop_assert!(same(want.low, got.low) && same(want.high, got.high), "{:?} {:?}", want, got);
                }
                // Memory was never sampled: unknown everywhere.
                prop_assert!(p.stats[s][Metric::MemoryMib.index()].median.is_nan());
            }
        }
    }

    proptest! {
        /// The detector raises an anomaly exactly when, for some metric, the last `run`
        /// samples each lay beyond the thresholds (checked from scratch at every sample).
        #[test]
        fn detector_matches_a_direct_check(
            values in prop::collection::vec((0f32..100.0, 0f32..4e6), 1..120),
            run in 1u32..4,
        ) {
            let p = Profile::learn(&office_vm());
            let th = Thresholds { sustained: 4.0, run };
            let at = |k: usize| MONDAY + 21 * 86_400 + k as i64 * 300;
            let sample = |k: usize| {
                let mut s = cpu(values[k].0);
                s[Metric::DiskReadBytesS.index()] = values[k].1;
                s
            };
            let diverges = |k: usize, m: Metric| {
                let z = p.scores(at(k), &sample(k))[m.index()];
                z.abs() >= 4.0 && p.outside(at(k), m, sample(k)[m.index()])
            };
            let mut d = Detector::default();
            for k in 0..values.len() {
                let got = d.step(&p, &th, at(k), &sample(k));
                let want: Vec<Metric> = [Metric::Cpu, Metric::DiskReadBytesS]
                    .into_iter()
                    .filter(|&m| k + 1 >= run as usize && (k + 1 - run as usize..=k).all(|j| diverges(j, m)))
                    .collect();
                let mut named: Vec<Metric> = got.iter().flat_map(|a| a.dimensions.iter().map(|x| x.metric)).collect();
                named.sort_by_key(|m| m.index());
                prop_assert_eq!(named, want);
            }
        }
    }

    /// Three weeks of a VM busy 60 % in office hours and 10 % otherwise, with noise.
    fn office_vm() -> Vec<(i64, Sample)> {
        (0..21 * 288)
            .map(|i| {
                let t = MONDAY + i * 300;
                let hour = slot(t, DAY_SLOTS);
                let weekday = slot(t, WEEK_SLOTS) < 120;
                let base = if weekday && (8..18).contains(&hour) {
                    60.0
                } else {
                    10.0
                };
                (t, cpu(base + ((i * 7919) % 11) as f32 - 5.0))
            })
            .collect()
    }

    #[test]
    fn office_hours_are_normal_and_a_night_at_full_cpu_is_not() {
        let p = Profile::learn(&office_vm());
        assert_eq!(p.slots, WEEK_SLOTS);
        let th = Thresholds::default();
        let mut d = Detector::default();
        let week4 = MONDAY + 21 * 86_400;
        // Monday 10:00 at 62 %: usual.
        for k in 0..6 {
            assert_eq!(
                d.step(&p, &th, week4 + 10 * 3600 + k * 300, &cpu(62.0)),
                None
            );
        }
        // Saturday 10:00 at 35 %: a moderate rise above the usual 10 %, an anomaly when it
        // lasts two samples.
        let sat = week4 + 5 * 86_400 + 10 * 3600;
        assert_eq!(
            d.step(&p, &th, sat, &cpu(35.0)),
            None,
            "one sample is not enough"
        );
        let a = d.step(&p, &th, sat + 300, &cpu(35.0)).expect("anomaly");
        assert_eq!(a.dimensions[0].metric, Metric::Cpu);
        assert_eq!(a.dimensions[0].expected, 10.0);
        assert!(a.dimensions[0].score >= 4.0, "{a:?}");
        assert_eq!(a.remedy, Remedy::Investigate);
        // Wednesday 03:00 at 100 %: more vCPUs are the remedy.
        let mut d = Detector::default();
        let night = week4 + 2 * 86_400 + 3 * 3600;
        assert_eq!(d.step(&p, &th, night, &cpu(100.0)), None);
        let a = d.step(&p, &th, night + 300, &cpu(100.0)).expect("anomaly");
        assert_eq!(a.remedy, Remedy::AddVcpu);
        assert!(a.reason.contains("100 %"), "{}", a.reason);
    }

    #[test]
    fn remedies_follow_the_dimensions() {
        let d = |metric, score| Divergence {
            metric,
            value: 50.0,
            expected: 5.0,
            score,
        };
        assert_eq!(
            remedy(&[d(Metric::Cpu, 9.0), d(Metric::VcpuDelay, 5.0)]).0,
            Remedy::Migrate
        );
        assert_eq!(remedy(&[d(Metric::SwapInKibS, 6.0)]).0, Remedy::AddMemory);
        assert_eq!(
            remedy(&[d(Metric::BalloonMib, 6.0), d(Metric::SwapInKibS, 6.0)]).0,
            Remedy::Migrate
        );
        let (r, why) = remedy(&[d(Metric::NetTxBytesS, -5.0)]);
        assert_eq!(r, Remedy::Investigate);
        assert!(why.contains("below"), "{why}");
    }

    #[test]
    fn a_steady_idle_vm_is_not_flagged_for_noise() {
        let history: Vec<(i64, Sample)> = (0..2000).map(|i| (MONDAY + i * 300, cpu(0.3))).collect();
        let p = Profile::learn(&history);
        let mut d = Detector::default();
        let t = MONDAY + 2000 * 300;
        for k in 0..5 {
            assert_eq!(
                d.step(&p, &Thresholds::default(), t + k * 300, &cpu(1.5)),
                None
            );
        }
    }
}
