//! Runs the ported CloudSim policies (THR-MMT-0.8, IQR-MMT-1.5, MAD-MMT-2.5, LR-MMT-1.2) on the
//! ten PlanetLab days and checks them against CloudSim 3.0.3's own figures (acceptance gate of
//! `testdata/bench/cloudsim-reference.md` §5A.6), then runs vdc's own policy in the same model
//! (not gated) and compares it with our ports: energy and migrations against LR-MMT-1.2, SLAV
//! against IQR-MMT-1.5.
//!
//! Usage (from the workspace root):
//!
//! ```text
//! cargo run --release -p vdc-bench --example cloudsim_gate -- [DATA_DIR] [BENCH_DIR] [--ram-enforced] [--dvfs] [--diag] [--vdc-only] [--vdc-initial-variants] [--vdc=key=value,...] [--explain=DAY:EPOCH]
//! ```
//!
//! DATA_DIR holds `<day>.csv.gz` (default `testdata/planetlab`), BENCH_DIR the reference
//! CSVs (default `testdata/bench`). `--ram-enforced` runs the RAM-enforced scenario instead
//! (a different model: no gate, figures only). `--dvfs` adds the no-migration DVFS baseline as a
//! check of the harness's energy accounting. `--diag` prints the model's quirk counters.
//! `--vdc-only` runs only what the vdc comparison needs (IQR-MMT-1.5, LR-MMT-1.2, vdc).
//! `--vdc-initial-variants` also runs vdc with the other initial placement (CloudSim's spread
//! vs packed). `--vdc=hot=0.97,fill=0.9,...` overrides vdc's knobs (see `VdcParams`).
//! `--explain=20110303:0` prints vdc's decisions with their reasons at that day and epoch.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use vdc_bench::cloudsim::model::{
    DayResult, EpochPolicy, EpochView, HostType, Move, RunOptions, VmType, run_day_timed,
};
use vdc_bench::cloudsim::{Dvfs, VdcParams, VdcPolicy, benchmark_policies, parse_day};

/// The label of vdc's row (the policy as configured on the command line).
const VDC: &str = "vdc";

const DAYS: [&str; 10] = [
    "20110303", "20110306", "20110309", "20110322", "20110325", "20110403", "20110409", "20110411",
    "20110412", "20110420",
];

/// T4 of the reference (10-day means, console precision): energy kWh, migrations, SLATAH %,
/// PDM %, SLAV ×1e-5, ESV ×1e-3. Only used for comparison.
const T4: [(&str, [f64; 6]); 4] = [
    ("THR-MMT-0.8", [188.25, 26589.0, 5.05, 0.067, 3.397, 6.293]),
    ("IQR-MMT-1.5", [187.89, 26584.0, 5.01, 0.065, 3.248, 6.014]),
    ("MAD-MMT-2.5", [183.62, 26212.0, 5.05, 0.066, 3.340, 6.039]),
    ("LR-MMT-1.2", [161.71, 28438.0, 6.21, 0.082, 5.024, 8.025]),
];

/// T1 of the reference (day 20110303): SLATAH %, PDM % for the policies T3 does not cover.
const T1_0303: [(&str, f64, f64); 3] = [
    ("THR-MMT-0.8", 4.913, 0.0646),
    ("IQR-MMT-1.5", 4.823, 0.0624),
    ("MAD-MMT-2.5", 5.049, 0.0662),
];

#[derive(Debug, Default, Clone, Copy)]
struct Peer {
    energy: Option<f64>,
    migrations: Option<f64>,
    slatah_pct: Option<f64>,
    pdm_pct: Option<f64>,
    host_shutdowns: Option<f64>,
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flags: Vec<&str> = args
        .iter()
        .filter(|a| a.starts_with("--"))
        .map(String::as_str)
        .collect();
    let positional: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let data_dir = PathBuf::from(
        positional
            .first()
            .map_or("testdata/planetlab", |s| s.as_str()),
    );
    let bench_dir = PathBuf::from(positional.get(1).map_or("testdata/bench", |s| s.as_str()));
    let ram_enforced = flags.contains(&"--ram-enforced");
    let with_dvfs = flags.contains(&"--dvfs");
    let diag = flags.contains(&"--diag");

    let vdc_only = flags.contains(&"--vdc-only");
    let vdc_variants = flags.contains(&"--vdc-initial-variants");
    let mut vdc_params = VdcParams::default();
    if let Some(spec) = flags.iter().find_map(|f| f.strip_prefix("--vdc=")) {
        apply_params(&mut vdc_params, spec)?;
    }
    let explain: Option<(String, usize)> = flags
        .iter()
        .find_map(|f| f.strip_prefix("--explain="))
        .map(|x| {
            let (d, e) = x.split_once(':').unwrap_or((x, "0"));
            (d.to_string(), e.parse().unwrap_or(0))
        });

    let peers = read_peers(&bench_dir)?;
    let options = RunOptions {
        ram_enforced,
        ..RunOptions::default()
    };

    let mut results: BTreeMap<String, Vec<(String, DayResult, f64)>> = BTreeMap::new();
    for day in DAYS {
        let traces = read_day(&data_dir.join(format!("{day}.csv.gz")))?;
        let mut policies: Vec<(String, Box<dyn EpochPolicy>)> = benchmark_policies()
            .into_iter()
            .filter(|p| !p.name().starts_with("vdc"))
            .filter(|p| !vdc_only || ["IQR-MMT-1.5", "LR-MMT-1.2"].contains(&p.name().as_str()))
            .map(|p| (p.name(), p))
            .collect();
        if with_dvfs {
            policies.push(("DVFS".to_string(), Box::new(Dvfs)));
        }
        let explain_epoch = explain.as_ref().filter(|(d, _)| d == day).map(|(_, e)| *e);
        policies.push((
            VDC.to_string(),
            Box::new(Explaining {
                inner: VdcPolicy::with_params(vdc_params),
                epoch: explain_epoch,
            }),
        ));
        if vdc_variants {
            let other = VdcParams {
                packed_initial_placement: !vdc_params.packed_initial_placement,
                ..vdc_params
            };
            policies.push((
                variant_label(&other),
                Box::new(VdcPolicy::with_params(other)),
            ));
        }
        for (label, policy) in &mut policies {
            let start = Instant::now();
            let clock_start = Instant::now();
            let mut clock = move || clock_start.elapsed();
            let r = run_day_timed(&traces, policy.as_mut(), &options, &mut clock);
            let wall = start.elapsed().as_secs_f64();
            results
                .entry(label.clone())
                .or_default()
                .push((day.to_string(), r, wall));
        }
    }

    if ram_enforced {
        println!("RAM-enforced scenario: a different model from CloudSim's; no gate applies.\n");
    }
    let mut all_days_in = 0;
    let mut all_cells = 0;
    for (policy, rows) in &results {
        println!("== {policy}");
        println!(
            "{:<9} {:>5} | {:>8} {:>8} {:>5} | {:>6} {:>6} {:>5} | {:>6} {:>6} {:>6} | {:>7} {:>7} {:>6} | {:>7} {:>6} | {:>5} {:>6} {:>5} {:>5} | gate",
            "day",
            "VMs",
            "E kWh",
            "CS",
            "dE%",
            "migr",
            "CS",
            "dM%",
            "SLATAH",
            "CS",
            "dpts",
            "PDM%",
            "CS",
            "dpts",
            "SLAV e5",
            "ESV e3",
            "shut",
            "CS",
            "dec ms",
            "wall"
        );
        let mut sums = [0.0f64; 6];
        let mut peer_energy_sum = 0.0;
        let mut peer_energy_n = 0;
        let mut days_in = 0;
        for (day, r, wall) in rows {
            let peer = peers
                .get(&(day.clone(), policy.clone()))
                .copied()
                .unwrap_or_default();
            let slatah = r.slatah * 100.0;
            let pdm = r.pdm * 100.0;
            let peer_pdm = peer.pdm_pct.or_else(|| t1_pdm(day, policy));
            let peer_slatah = peer.slatah_pct.or_else(|| t1_slatah(day, policy));
            let de = peer.energy.map(|e| (r.energy_kwh / e - 1.0) * 100.0);
            let dm = peer.migrations.map(|m| {
                if m == 0.0 && r.migrations == 0 {
                    0.0
                } else {
                    (r.migrations as f64 / m - 1.0) * 100.0
                }
            });
            let ds = peer_slatah.map(|s| slatah - s);
            let dp = peer_pdm.map(|p| pdm - p);
            let mut checks = Vec::new();
            if let Some(x) = de {
                checks.push(("E", x.abs() <= 3.0));
            }
            if let Some(x) = dm {
                checks.push(("M", x.abs() <= 5.0));
            }
            if let Some(x) = ds {
                checks.push(("S", x.abs() <= 0.3));
            }
            if let Some(x) = dp {
                checks.push(("P", x.abs() <= 0.01));
            }
            let pass = !checks.is_empty() && checks.iter().all(|c| c.1);
            let gate = if checks.is_empty() {
                "n/a".to_string()
            } else if pass {
                format!(
                    "IN ({})",
                    checks.iter().map(|c| c.0).collect::<Vec<_>>().join("")
                )
            } else {
                format!(
                    "OUT: {}",
                    checks
                        .iter()
                        .filter(|c| !c.1)
                        .map(|c| c.0)
                        .collect::<Vec<_>>()
                        .join("")
                )
            };
            let gated = T4.iter().any(|(p, _)| p == policy);
            if !ram_enforced && pass {
                days_in += 1;
            }
            if !ram_enforced && gated && !checks.is_empty() {
                all_cells += 1;
                if pass {
                    all_days_in += 1;
                }
            }
            println!(
                "{:<9} {:>5} | {:>8.2} {:>8} {:>5} | {:>6} {:>6} {:>5} | {:>6.3} {:>6} {:>6} | {:>7.4} {:>7} {:>6} | {:>7.3} {:>6.3} | {:>5} {:>6} {:>5.2} {:>5.2} | {}",
                day,
                r.vms,
                r.energy_kwh,
                opt(peer.energy, 2),
                opt(de, 1),
                r.migrations,
                opt(peer.migrations, 0),
                opt(dm, 1),
                slatah,
                opt(peer_slatah, 3),
                opt(ds, 3),
                pdm,
                opt(peer_pdm, 4),
                opt(dp, 4),
                r.slav * 1e5,
                r.esv * 1e3,
                r.host_shutdowns,
                opt(peer.host_shutdowns, 0),
                r.decision_ms_per_epoch,
                wall,
                gate
            );
            if diag {
                println!(
                    "          diag: {} VMs finished at zero demand, {} repeat moves (2.7-d), {} active hosts at the end",
                    r.finished_vms, r.repeat_moves, r.active_hosts_at_end
                );
            }
            if r.rejected_moves + r.power_overflows + r.unplaced_vms as u64 > 0 {
                println!(
                    "          note: {} rejected moves, {} power-model overflows, {} unplaced VMs",
                    r.rejected_moves, r.power_overflows, r.unplaced_vms
                );
            }
            for (s, x) in sums.iter_mut().zip([
                r.energy_kwh,
                r.migrations as f64,
                slatah,
                pdm,
                r.slav * 1e5,
                r.esv * 1e3,
            ]) {
                *s += x;
            }
            if let Some(e) = peer.energy {
                peer_energy_sum += e;
                peer_energy_n += 1;
            }
        }
        let n = rows.len() as f64;
        let means: Vec<f64> = sums.iter().map(|s| s / n).collect();
        println!(
            "mean      | E {:.2} kWh, migrations {:.0}, SLATAH {:.3} %, PDM {:.4} %, SLAV {:.3}e-5, ESV {:.3}e-3",
            means[0], means[1], means[2], means[3], means[4], means[5]
        );
        if let Some((_, t4)) = T4.iter().find(|(p, _)| p == policy) {
            println!(
                "CloudSim  | E {:.2} kWh, migrations {:.0}, SLATAH {:.2} %, PDM {:.3} %, SLAV {:.3}e-5, ESV {:.3}e-3 (T4)",
                t4[0], t4[1], t4[2], t4[3], t4[4], t4[5]
            );
        }
        if peer_energy_n == rows.len() && !ram_enforced {
            let pe = peer_energy_sum / n;
            let d = (means[0] / pe - 1.0) * 100.0;
            println!(
                "10-day mean energy {:.2} vs {:.2} kWh: {:+.2} % -> {}",
                means[0],
                pe,
                d,
                if d.abs() <= 2.0 { "IN" } else { "OUT" }
            );
        }
        if !ram_enforced
            && rows
                .iter()
                .all(|(d, _, _)| peers.contains_key(&(d.clone(), policy.clone())))
        {
            println!("days inside the gate: {days_in}/{}", rows.len());
        }
        println!();
    }
    if !ram_enforced && all_cells > 0 {
        println!("policy-days inside the gate (4 gated policies): {all_days_in}/{all_cells}");
    }
    compare_vdc(&results, ram_enforced);
    Ok(())
}

/// Mean of one figure over a policy's days.
fn mean_of(rows: &[(String, DayResult, f64)], f: impl Fn(&DayResult) -> f64) -> f64 {
    rows.iter().map(|(_, r, _)| f(r)).sum::<f64>() / rows.len().max(1) as f64
}

/// vdc against our ports, per day and over the ten days, and all policies side by side.
fn compare_vdc(results: &BTreeMap<String, Vec<(String, DayResult, f64)>>, ram_enforced: bool) {
    let scenario = if ram_enforced {
        "RAM enforced"
    } else {
        "CloudSim model (RAM not enforced)"
    };
    let (Some(lr), Some(iqr)) = (results.get("LR-MMT-1.2"), results.get("IQR-MMT-1.5")) else {
        return;
    };
    let find = |rows: &[(String, DayResult, f64)], day: &str| {
        rows.iter()
            .find(|(d, _, _)| d == day)
            .map(|(_, r, _)| r.clone())
    };
    for (label, rows) in results.iter().filter(|(k, _)| k.starts_with(VDC)) {
        println!("== {label} vs our ports ({scenario})");
        println!(
            "{:<9} | {:>8} {:>6} {:>7} {:>7} {:>9} {:>9} | {:>9} {:>9} {:>9}",
            "day", "E kWh", "migr", "SLATAH%", "PDM%", "SLAV", "ESV", "E/LR", "migr/LR", "SLAV/IQR"
        );
        for (day, r, _) in rows {
            let (Some(l), Some(q)) = (find(lr, day), find(iqr, day)) else {
                continue;
            };
            println!(
                "{:<9} | {:>8.2} {:>6} {:>7.3} {:>7.4} {:>9.3e} {:>9.3e} | {:>9.3} {:>9.3} {:>9.3}",
                day,
                r.energy_kwh,
                r.migrations,
                r.slatah * 100.0,
                r.pdm * 100.0,
                r.slav,
                r.esv,
                r.energy_kwh / l.energy_kwh,
                r.migrations as f64 / l.migrations as f64,
                r.slav / q.slav
            );
        }
        let e = mean_of(rows, |r| r.energy_kwh);
        let m = mean_of(rows, |r| r.migrations as f64);
        let slav = mean_of(rows, |r| r.slav);
        let ratio_energy_vs_lr = e / mean_of(lr, |r| r.energy_kwh);
        let ratio_migrations_vs_lr = m / mean_of(lr, |r| r.migrations as f64);
        let ratio_slav_vs_iqr = slav / mean_of(iqr, |r| r.slav);
        println!(
            "mean      | {:>8.2} {:>6.0} {:>7.3} {:>7.4} {:>9.3e} {:>9.3e} | {:>9.3} {:>9.3} {:>9.3}",
            e,
            m,
            mean_of(rows, |r| r.slatah) * 100.0,
            mean_of(rows, |r| r.pdm) * 100.0,
            slav,
            mean_of(rows, |r| r.esv),
            ratio_energy_vs_lr,
            ratio_migrations_vs_lr,
            ratio_slav_vs_iqr
        );
        let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
        println!(
            "ratio_energy_vs_lr {ratio_energy_vs_lr:.3} (goal <= 0.9: {}), ratio_migrations_vs_lr {ratio_migrations_vs_lr:.3} (goal <= 0.5: {}), ratio_slav_vs_iqr {ratio_slav_vs_iqr:.3} (goal <= 1: {})",
            verdict(ratio_energy_vs_lr <= 0.9),
            verdict(ratio_migrations_vs_lr <= 0.5),
            verdict(ratio_slav_vs_iqr <= 1.0)
        );
        if ram_enforced {
            println!("(for reference only: the goals are set for the CloudSim model)");
        }
        println!();
    }
    println!("== 10-day means, {scenario}");
    println!(
        "{:<28} | {:>8} {:>7} {:>7} {:>7} {:>9} {:>9} | {:>8}",
        "policy", "E kWh", "migr", "SLATAH%", "PDM%", "SLAV", "ESV", "wall s/d"
    );
    for (label, rows) in results {
        println!(
            "{:<28} | {:>8.2} {:>7.0} {:>7.3} {:>7.4} {:>9.3e} {:>9.3e} | {:>8.2}",
            label,
            mean_of(rows, |r| r.energy_kwh),
            mean_of(rows, |r| r.migrations as f64),
            mean_of(rows, |r| r.slatah) * 100.0,
            mean_of(rows, |r| r.pdm) * 100.0,
            mean_of(rows, |r| r.slav),
            mean_of(rows, |r| r.esv),
            rows.iter().map(|(_, _, w)| w).sum::<f64>() / rows.len().max(1) as f64
        );
    }
}

/// The row label of a vdc variant with other knobs than the command line's.
fn variant_label(p: &VdcParams) -> String {
    if p.packed_initial_placement {
        format!("{VDC} (packed initial)")
    } else {
        format!("{VDC} (CloudSim initial)")
    }
}

/// Applies `key=value,...` to vdc's knobs.
fn apply_params(p: &mut VdcParams, spec: &str) -> Result<(), String> {
    for kv in spec.split(',').filter(|s| !s.is_empty()) {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("--vdc: {kv:?} is not key=value"))?;
        let num = || v.parse::<f64>().map_err(|e| format!("--vdc: {k}: {e}"));
        match k {
            "hot" => p.hot = num()?,
            "fill" => p.fill = num()?,
            "z" => p.z = num()?,
            "prior_step_sigma" => p.prior_step_sigma = num()?,
            "prior_weight" => p.prior_weight = num()?,
            "off_horizon_h" => p.off_horizon_h = num()?,
            "min_gain_wh_per_migration" | "min_gain" => p.min_gain_wh_per_migration = num()?,
            "low" => p.low = num()?,
            "low_epochs" => p.low_epochs = num()? as usize,
            "cooldown_epochs" | "cooldown" => p.cooldown_epochs = num()? as usize,
            "packed" | "packed_initial_placement" => p.packed_initial_placement = num()? != 0.0,
            _ => return Err(format!("--vdc: unknown knob {k:?}")),
        }
    }
    Ok(())
}

/// vdc's policy, printing its decisions with their reasons at one epoch.
struct Explaining {
    inner: VdcPolicy,
    epoch: Option<usize>,
}

impl EpochPolicy for Explaining {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn initial_placement(&mut self, hosts: &[HostType], vms: &[VmType]) -> Vec<Option<usize>> {
        self.inner.initial_placement(hosts, vms)
    }

    fn plan(&mut self, view: &EpochView<'_>) -> Vec<Move> {
        let moves = self.inner.plan(view);
        if self.epoch == Some(view.epoch()) {
            println!(
                "-- vdc decisions at epoch {} (t = {:.1} s):",
                view.epoch(),
                view.time_s()
            );
            for d in self.inner.decisions() {
                println!("   {d}");
            }
        }
        moves
    }
}

fn opt(x: Option<f64>, decimals: usize) -> String {
    x.map_or("-".to_string(), |v| format!("{v:.decimals$}"))
}

fn t1_slatah(day: &str, policy: &str) -> Option<f64> {
    (day == "20110303")
        .then(|| T1_0303.iter().find(|t| t.0 == policy).map(|t| t.1))
        .flatten()
}

fn t1_pdm(day: &str, policy: &str) -> Option<f64> {
    (day == "20110303")
        .then(|| T1_0303.iter().find(|t| t.0 == policy).map(|t| t.2))
        .flatten()
}

fn read_day(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut csv = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut csv)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    parse_day(&csv).map_err(|e| format!("{}: {e}", path.display()))
}

/// (day, policy) -> CloudSim's figures, from the two reference CSVs.
fn read_peers(dir: &Path) -> Result<BTreeMap<(String, String), Peer>, String> {
    let mut out: BTreeMap<(String, String), Peer> = BTreeMap::new();
    let path = dir.join("cloudsim-planetlab-energy-migrations.csv");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    for line in text.lines().skip(1).filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 5 {
            continue;
        }
        let p = out.entry((f[0].to_string(), f[2].to_string())).or_default();
        p.energy = f[3].parse().ok();
        p.migrations = f[4].parse().ok();
    }
    let path = dir.join("cloudsim-planetlab-lr-mmt-1.2.csv");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    for line in text.lines().skip(1).filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 9 {
            continue;
        }
        let p = out
            .entry((f[0].to_string(), "LR-MMT-1.2".to_string()))
            .or_default();
        p.energy = f[2].parse().ok();
        p.migrations = f[3].parse().ok();
        p.slatah_pct = f[4].parse().ok();
        p.pdm_pct = f[5].parse().ok();
        p.host_shutdowns = f[8].parse().ok();
    }
    Ok(out)
}
