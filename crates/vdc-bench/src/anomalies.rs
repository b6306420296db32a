//! `vdc bench anomalies`: vdc's behaviour profiles on real VM traces with anomalies injected
//! where the truth is known, against a fixed-threshold detector run on the same data.
//!
//! Data: the Bitbrains Rnd traces (`testdata/bitbrains-rnd`): the 8 VMs of the full
//! quarter (learn on July–August, test September, hour-of-week profiles) and the 250 VMs of
//! the week (learn on 4 days, test the last 3, hour-of-day profiles). Each test day the
//! profile is learnt again from the (injected) history before it, as the server does.
//! Injected per VM (seeded): spikes (3 samples, one dimension far up), level shifts (6 hours,
//! one dimension up) and sustained 100 % CPU (2 hours). The natural data has its own odd
//! moments; an alert there counts as a false one for both detectors.
//!
//! vdc's thresholds are its defaults (`--sustained`, `--run` try others).
//! Alerts are grouped into episodes (alerting samples at most 2 apart). Precision: episodes
//! that overlap an injected anomaly (or the 3 samples after it) / all episodes. Recall:
//! injected anomalies overlapped by an episode / all. Delay: samples from an anomaly's start
//! to its first alert. Baseline: CPU ≥ 90 %, memory ≥ 90 % of provisioned, disk and network
//! at or over the fleet's 99th percentile of the learning period, each for 2 samples in a row
//! (as "CPU > 90 % for 10 minutes").

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::time::Instant;
use vdc_engine::anomaly::{Detector, Profile, Thresholds};
use vdc_engine::metrics::Sample;
use vdc_types::Metric;

use crate::read_gz;

#[derive(Debug, clap::Args)]
pub struct AnomaliesArgs {
    /// The data folder (bitbrains-rnd: the repository's `testdata/`, or your own in the same layout).
    #[arg(long, env = "VDC_BENCH_DATA", default_value = "testdata")]
    data: PathBuf,
    #[arg(long, default_value_t = 11)]
    seed: u64,
    /// Spreads from the usual that count as diverging (default: vdc's).
    #[arg(long)]
    sustained: Option<f32>,
    /// Diverging samples in a row that make an anomaly.
    #[arg(long)]
    run: Option<u32>,
    /// Print one JSON object as the last line.
    #[arg(long)]
    json: bool,
}

const DAY_S: i64 = 86_400;
/// The dimensions the traces have.
const DIMS: [Metric; 6] = [
    Metric::Cpu,
    Metric::MemoryMib,
    Metric::DiskReadBytesS,
    Metric::DiskWriteBytesS,
    Metric::NetRxBytesS,
    Metric::NetTxBytesS,
];

/// One VM's trace: samples (Unix s) and its provisioned memory (MiB).
struct Trace {
    samples: Vec<(i64, Sample)>,
    memory_mib: f32,
}

/// Parses a Bitbrains file (`;\t`-separated; timestamp in seconds; KB and KB/s).
fn parse(name: String, text: &str) -> Result<Trace> {
    let mut samples = Vec::new();
    let mut memory_mib = 0f32;
    for (n, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(';').map(str::trim).collect();
        if f.len() < 11 {
            continue;
        }
        let v = |i: usize| {
            f[i].parse::<f64>()
                .with_context(|| format!("{name} line {}: field {i}: {:?}", n + 1, f[i]))
        };
        let mut s = [f32::NAN; Metric::COUNT];
        s[Metric::Cpu.index()] = v(4)?.clamp(0.0, 100.0) as f32;
        s[Metric::MemoryMib.index()] = (v(6)? / 1024.0) as f32;
        s[Metric::DiskReadBytesS.index()] = (v(7)? * 1024.0) as f32;
        s[Metric::DiskWriteBytesS.index()] = (v(8)? * 1024.0) as f32;
        s[Metric::NetRxBytesS.index()] = (v(9)? * 1024.0) as f32;
        s[Metric::NetTxBytesS.index()] = (v(10)? * 1024.0) as f32;
        memory_mib = memory_mib.max((v(5)? / 1024.0) as f32);
        samples.push((v(0)? as i64, s));
    }
    samples.sort_by_key(|s| s.0);
    samples.dedup_by_key(|s| s.0);
    Ok(Trace {
        samples,
        memory_mib,
    })
}

/// The trace of a VM over some months, one file per month.
fn load(dir: &Path, months: &[&str], vm: usize) -> Result<Trace> {
    let mut text = String::from("header\n");
    for m in months {
        let t = read_gz(&dir.join(m).join(format!("{vm}.csv.gz")))?;
        text.push_str(t.split_once('\n').map_or("", |(_, b)| b));
        text.push('\n');
    }
    parse(format!("{}/{vm}", dir.display()), &text)
}

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Spike,
    LevelShift,
    CpuSaturated,
}

/// An injected anomaly: samples `start..end` of a VM.
struct Injected {
    start: usize,
    end: usize,
}

/// Injects `per_window` anomalies into the test samples `from..` of `t`, one per window of
/// equal length, cycling through the kinds; returns where.
fn inject(t: &mut Trace, from: usize, events: usize, rng: &mut SplitMix) -> Vec<Injected> {
    let n = t.samples.len() - from;
    let window = n / events;
    let mut out = Vec::new();
    let first = rng.below(3);
    for k in 0..events {
        let kind = [Kind::Spike, Kind::LevelShift, Kind::CpuSaturated][(first + k) % 3];
        let len = match kind {
            Kind::Spike => 3,
            Kind::LevelShift => 72,
            Kind::CpuSaturated => 24,
        };
        if window <= len + 12 {
            continue;
        }
        let start = from + k * window + 6 + rng.below(window - len - 12);
        let dim = match kind {
            Kind::Spike => [0, 2, 3, 4, 5][rng.below(5)],
            Kind::LevelShift => rng.below(DIMS.len()),
            Kind::CpuSaturated => 0,
        };
        let m = DIMS[dim];
        let i = m.index();
        for s in &mut t.samples[start..start + len] {
            let x = s.1[i];
            s.1[i] = match (kind, m) {
                (Kind::CpuSaturated, _) => 97.0 + 3.0 * rng.unit(),
                (_, Metric::Cpu) => (x + if kind == Kind::Spike { 60.0 } else { 35.0 }).min(100.0),
                (_, Metric::MemoryMib) => (x * 1.3).max(x + 512.0).min(t.memory_mib.max(x)),
                (Kind::Spike, _) => x * 10.0 + 2.0 * 1024.0 * 1024.0,
                (_, _) => x * 4.0 + 512.0 * 1024.0,
            };
        }
        out.push(Injected {
            start,
            end: start + len,
        });
    }
    out
}

/// Whether each sample from `from` on alerts, by vdc's profiles learnt each day on what came
/// before (at most 28 days).
fn vdc_alerts(t: &Trace, from: usize, th: &Thresholds) -> Vec<bool> {
    let mut out = Vec::with_capacity(t.samples.len() - from);
    let mut detector = Detector::default();
    let mut profile: Option<(i64, Profile)> = None;
    for k in from..t.samples.len() {
        let (ts, s) = t.samples[k];
        let day = ts.div_euclid(DAY_S);
        if profile.as_ref().is_none_or(|p| p.0 != day) {
            let lo = t
                .samples
                .partition_point(|x| x.0 < day * DAY_S - 28 * DAY_S);
            let hi = t.samples.partition_point(|x| x.0 < day * DAY_S);
            profile = Some((day, Profile::learn(&t.samples[lo..hi])));
        }
        let p = &profile.as_ref().expect("profile").1;
        out.push(detector.step(p, th, ts, &s).is_some());
    }
    out
}

/// The fixed thresholds: CPU 90 %, memory 90 % of provisioned, disk and network `limits`.
fn baseline_alerts(t: &Trace, from: usize, limits: &[f32; Metric::COUNT]) -> Vec<bool> {
    let mut runs = [0u32; Metric::COUNT];
    t.samples[from..]
        .iter()
        .map(|(_, s)| {
            let mut alert = false;
            for m in DIMS {
                let i = m.index();
                let limit = match m {
                    Metric::Cpu => 90.0,
                    Metric::MemoryMib => 0.9 * t.memory_mib,
                    _ => limits[i],
                };
                runs[i] = if s[i] >= limit { runs[i] + 1 } else { 0 };
                alert |= runs[i] >= 2;
            }
            alert
        })
        .collect()
}

/// Episodes, true/false, found and delays of one detector on one VM.
#[derive(Debug, Default, Clone, Copy)]
struct Score {
    episodes: usize,
    true_episodes: usize,
    events: usize,
    found: usize,
    delay_sum: usize,
}

impl Score {
    fn add(&mut self, o: Score) {
        self.episodes += o.episodes;
        self.true_episodes += o.true_episodes;
        self.events += o.events;
        self.found += o.found;
        self.delay_sum += o.delay_sum;
    }
    fn precision(&self) -> f64 {
        self.true_episodes as f64 / self.episodes.max(1) as f64
    }
    fn recall(&self) -> f64 {
        self.found as f64 / self.events.max(1) as f64
    }
    fn delay(&self) -> f64 {
        self.delay_sum as f64 / self.found.max(1) as f64
    }
}

/// Scores `alerts` (sample `from + k` alerts when `alerts[k]`) against the injected events.
fn score(alerts: &[bool], from: usize, events: &[Injected]) -> Score {
    let near = |k: usize| events.iter().any(|e| k >= e.start && k < e.end + 3);
    let mut sc = Score {
        events: events.len(),
        ..Score::default()
    };
    let mut k = 0;
    while k < alerts.len() {
        if !alerts[k] {
            k += 1;
            continue;
        }
        // An episode: alerting samples at most 2 apart.
        let (mut end, mut true_one) = (k, false);
        let mut j = k;
        while j < alerts.len() && j <= end + 2 {
            if alerts[j] {
                end = j;
                true_one |= near(from + j);
            }
            j += 1;
        }
        sc.episodes += 1;
        sc.true_episodes += usize::from(true_one);
        k = end + 1;
    }
    for e in events {
        if let Some(first) =
            (e.start..e.end + 3).find(|&i| i >= from && alerts.get(i - from) == Some(&true))
        {
            sc.found += 1;
            sc.delay_sum += first - e.start;
        }
    }
    sc
}

/// One data set: its traces (already split at `test_from` seconds), events per VM.
struct Set {
    name: &'static str,
    traces: Vec<Trace>,
    test_from: i64,
    events: usize,
}

/// The fleet's 99th percentile of each disk and network dimension over the learning
/// samples.
fn fleet_p99(sets: &[Set]) -> [f32; Metric::COUNT] {
    let mut limits = [f32::INFINITY; Metric::COUNT];
    for m in &DIMS[2..] {
        let mut v: Vec<f32> = sets
            .iter()
            .flat_map(|s| {
                s.traces.iter().flat_map(move |t| {
                    t.samples
                        .iter()
                        .filter(move |x| x.0 < s.test_from)
                        .map(|x| x.1[m.index()])
                })
            })
            .filter(|x| !x.is_nan())
            .collect();
        v.sort_by(f32::total_cmp);
        if !v.is_empty() {
            limits[m.index()] = v[((v.len() * 99).div_ceil(100)).clamp(1, v.len()) - 1];
        }
    }
    limits
}

pub fn run(a: AnomaliesArgs) -> Result<()> {
    let started = Instant::now();
    let root = a.data.join("bitbrains-rnd");
    let full = (1..=8)
        .map(|vm| load(&root.join("full"), &["2013-7", "2013-8", "2013-9"], vm))
        .collect::<Result<Vec<_>>>()?;
    let week = (1..=250)
        .map(|vm| load(&root.join("week"), &["2013-7"], vm))
        .collect::<Result<Vec<_>>>()?;
    let mut sets = vec![
        Set {
            name: "quarter: learn Jul–Aug, test Sep",
            traces: full,
            test_from: 1_377_993_600, // 2013-09-01 00:00 UTC
            events: 6,
        },
        Set {
            name: "week: learn 4 days, test 3",
            traces: week,
            test_from: 1_374_962_400, // 2013-07-27 22:00 UTC
            events: 3,
        },
    ];
    let load_s = started.elapsed().as_secs_f64();
    let limits = fleet_p99(&sets);
    let d = Thresholds::default();
    let th = Thresholds {
        sustained: a.sustained.unwrap_or(d.sustained),
        run: a.run.unwrap_or(d.run),
    };
    let mut rng = SplitMix(a.seed);
    let mut totals = [Score::default(); 2];
    let mut rows = Vec::new();
    let mut vms = 0;
    let detect_started = Instant::now();
    let mut samples_scored = 0usize;
    for set in &mut sets {
        let mut per = [Score::default(); 2];
        let vms_before = vms;
        for t in &mut set.traces {
            let from = t.samples.partition_point(|x| x.0 < set.test_from);
            let learnt = t.samples.first().map_or(0, |x| set.test_from - x.0);
            // A VM needs a day to learn from and a day to test.
            if learnt < DAY_S || t.samples.len() - from < 288 {
                continue;
            }
            vms += 1;
            let events = inject(t, from, set.events, &mut rng);
            let ours = vdc_alerts(t, from, &th);
            let base = baseline_alerts(t, from, &limits);
            samples_scored += ours.len();
            per[0].add(score(&ours, from, &events));
            per[1].add(score(&base, from, &events));
        }
        if per[0].events == 0 {
            bail!(
                "{}: no VM with enough data under {}",
                set.name,
                root.display()
            );
        }
        totals[0].add(per[0]);
        totals[1].add(per[1]);
        rows.push((format!("{} ({} VMs)", set.name, vms - vms_before), per));
    }
    let detect_s = detect_started.elapsed().as_secs_f64();
    println!(
        "vdc bench anomalies: {vms} Bitbrains VMs, {} injected anomalies (spikes, 6-hour level shifts, 2 hours at 100 % CPU), seed {}",
        totals[0].events, a.seed
    );
    println!(
        "  {:<44} {:>22} {:>22}",
        "", "vdc profiles", "fixed thresholds"
    );
    let cell = |s: &Score| {
        format!(
            "P {:.2} R {:.2} d {:.1}",
            s.precision(),
            s.recall(),
            s.delay()
        )
    };
    for (name, per) in &rows {
        println!("  {name:<44} {:>22} {:>22}", cell(&per[0]), cell(&per[1]));
    }
    println!(
        "  {:<44} {:>22} {:>22}",
        "all",
        cell(&totals[0]),
        cell(&totals[1])
    );
    println!(
        "  episodes: vdc {} ({} true), fixed {} ({} true); P = precision, R = recall, d = mean delay in samples",
        totals[0].episodes, totals[0].true_episodes, totals[1].episodes, totals[1].true_episodes
    );
    println!(
        "  {samples_scored} samples scored in {detect_s:.2} s (profiles relearnt daily), data read in {load_s:.2} s"
    );
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "vms": vms,
                "injected": totals[0].events,
                "precision": totals[0].precision(),
                "recall": totals[0].recall(),
                "detection_delay_samples": totals[0].delay(),
                "episodes": totals[0].episodes,
                "baseline_precision": totals[1].precision(),
                "baseline_recall": totals[1].recall(),
                "baseline_detection_delay_samples": totals[1].delay(),
                "baseline_episodes": totals[1].episodes,
            })
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn episodes_precision_recall_and_delay() {
        let events = [
            Injected { start: 12, end: 15 },
            Injected { start: 40, end: 50 },
        ];
        // From sample 10: alerts at 13–14 (true, delay 1), 20 (false), 22 (same false
        // episode, 2 apart), none for the second event.
        let mut alerts = vec![false; 50];
        for k in [3, 4, 10, 12] {
            alerts[k] = true;
        }
        let s = score(&alerts, 10, &events);
        assert_eq!(
            (s.episodes, s.true_episodes, s.found, s.delay_sum),
            (2, 1, 1, 1)
        );
        assert_eq!(s.precision(), 0.5);
        assert_eq!(s.recall(), 0.5);
    }
}
