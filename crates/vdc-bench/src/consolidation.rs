//! `vdc bench consolidation --model cloudsim`: the CloudSim 3.0.3 PlanetLab model
//! (`testdata/bench/cloudsim-reference.md`) on its 10 days (`testdata/planetlab`), the four
//! ported CloudSim policies checked against CloudSim's own figures (the reference's gate), and
//! vdc's policy in the same model, as ratios to the ported baselines run in the same process.

use crate::cloudsim::{
    DayResult, RunOptions, benchmark_policies, parse_day, policy_key, run_day_timed,
};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::read_gz;

#[derive(Debug, clap::Args)]
pub struct ConsolidationArgs {
    /// The simulation model (CloudSim 3.0.3's PlanetLab setup is the one there is).
    #[arg(long, default_value = "cloudsim", value_parser = ["cloudsim"])]
    model: String,
    /// One day (e.g. 20110303) instead of all ten.
    #[arg(long)]
    day: Option<String>,
    /// Enforce VM memory on hosts after t = 0 too, for every policy (a different model: no
    /// gate against CloudSim, which packs by CPU only).
    #[arg(long)]
    ram_enforced: bool,
    /// The data folder (planetlab: the repository's `testdata/`, or your own in the same layout).
    #[arg(long, env = "VDC_BENCH_DATA", default_value = "testdata")]
    data: PathBuf,
    /// The folder with CloudSim's reference figures.
    #[arg(long, default_value = "testdata/bench")]
    reference: PathBuf,
    /// Print one JSON object as the last line.
    #[arg(long)]
    json: bool,
}

/// CloudSim's figures for one (day, policy): energy, migrations, and SLATAH / PDM (percent)
/// where the reference has them per day.
#[derive(Debug, Default, Clone, Copy)]
struct Peer {
    energy: f64,
    migrations: f64,
    slatah_pct: Option<f64>,
    pdm_pct: Option<f64>,
}

/// (day, policy key) → CloudSim's figures, from the reference CSVs.
fn reference(dir: &Path) -> Result<BTreeMap<(String, String), Peer>> {
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .with_context(|| format!("read {}", dir.join(f).display()))
    };
    let mut out = BTreeMap::new();
    for line in read("cloudsim-planetlab-energy-migrations.csv")?
        .lines()
        .skip(1)
    {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 5 {
            continue;
        }
        out.insert(
            (f[0].to_string(), policy_key(f[2])),
            Peer {
                energy: f[3].parse()?,
                migrations: f[4].parse()?,
                ..Peer::default()
            },
        );
    }
    for line in read("cloudsim-planetlab-lr-mmt-1.2.csv")?.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 6 {
            continue;
        }
        let e = out
            .entry((f[0].to_string(), "lr-mmt-1.2".into()))
            .or_default();
        e.slatah_pct = Some(f[4].parse()?);
        e.pdm_pct = Some(f[5].parse()?);
    }
    Ok(out)
}

/// Inside the reference's gate: energy ±3 %, migrations ±5 %, SLATAH ±0.3 points, PDM ±0.01
/// points (where CloudSim has them).
fn inside_gate(r: &DayResult, p: &Peer) -> bool {
    (r.energy_kwh / p.energy - 1.0).abs() <= 0.03
        && (r.migrations as f64 / p.migrations - 1.0).abs() <= 0.05
        && p.slatah_pct
            .is_none_or(|s| (r.slatah * 100.0 - s).abs() <= 0.3)
        && p.pdm_pct.is_none_or(|d| (r.pdm * 100.0 - d).abs() <= 0.01)
}

/// Means of the headline figures over days.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
struct Means {
    energy_kwh: f64,
    migrations: f64,
    slatah: f64,
    pdm: f64,
    slav: f64,
    esv: f64,
    wall_s_per_day: f64,
    days_inside_gate: Option<usize>,
}

pub fn run(a: ConsolidationArgs) -> Result<()> {
    let dir = a.data.join("planetlab");
    let mut days: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("read {}", dir.display()))?
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".csv.gz")
                .map(str::to_string)
        })
        .collect();
    days.sort();
    if let Some(d) = &a.day {
        if !days.contains(d) {
            bail!(
                "no day {d} in {} (days: {})",
                dir.display(),
                days.join(", ")
            );
        }
        days = vec![d.clone()];
    }
    let peers = if a.ram_enforced {
        BTreeMap::new()
    } else {
        reference(&a.reference)?
    };
    let options = RunOptions {
        ram_enforced: a.ram_enforced,
        ..RunOptions::default()
    };
    // policy key → (results, wall seconds, days inside the gate)
    let mut all: BTreeMap<String, (Vec<DayResult>, f64, usize)> = BTreeMap::new();
    let mut order = Vec::new();
    for day in &days {
        let traces = parse_day(&read_gz(&dir.join(format!("{day}.csv.gz")))?)
            .map_err(|e| anyhow::anyhow!("{day}: {e}"))?;
        for mut policy in benchmark_policies() {
            let key = policy_key(&policy.name());
            let started = Instant::now();
            let mut clock = || started.elapsed();
            let r = run_day_timed(&traces, policy.as_mut(), &options, &mut clock);
            let wall = started.elapsed().as_secs_f64();
            let peer = peers.get(&(day.clone(), key.clone()));
            let inside = peer.map(|p| inside_gate(&r, p));
            eprintln!(
                "{day} {key:>12}: {:8.2} kWh {:6} migrations SLATAH {:5.2} % PDM {:.4} % SLAV {:.3e} ({wall:.2} s){}",
                r.energy_kwh,
                r.migrations,
                r.slatah * 100.0,
                r.pdm * 100.0,
                r.slav,
                match (inside, peer) {
                    (Some(true), _) => " inside the gate".to_string(),
                    (Some(false), Some(p)) => format!(
                        " OUTSIDE the gate (CloudSim {:.2} kWh, {} migrations)",
                        p.energy, p.migrations
                    ),
                    _ => String::new(),
                }
            );
            if !order.contains(&key) {
                order.push(key.clone());
            }
            let e = all.entry(key).or_default();
            e.0.push(r);
            e.1 += wall;
            e.2 += usize::from(inside == Some(true));
        }
    }
    let n = days.len() as f64;
    let means: BTreeMap<String, Means> = all
        .iter()
        .map(|(k, (rs, wall, inside))| {
            let m = |f: fn(&DayResult) -> f64| rs.iter().map(f).sum::<f64>() / n;
            (
                k.clone(),
                Means {
                    energy_kwh: m(|r| r.energy_kwh),
                    migrations: m(|r| r.migrations as f64),
                    slatah: m(|r| r.slatah),
                    pdm: m(|r| r.pdm),
                    slav: m(|r| r.slav),
                    esv: m(|r| r.esv),
                    wall_s_per_day: wall / n,
                    days_inside_gate: (k != "vdc" && !a.ram_enforced).then_some(*inside),
                },
            )
        })
        .collect();
    println!(
        "vdc bench consolidation --model {}: {} day(s), 800 hosts, {}",
        a.model,
        days.len(),
        if a.ram_enforced {
            "memory enforced (not CloudSim's model: no gate)"
        } else {
            "CloudSim's model (CPU-only packing after t = 0)"
        }
    );
    println!(
        "  {:>12} {:>10} {:>10} {:>9} {:>8} {:>10} {:>10} {:>9} {:>6}",
        "policy",
        "energy kWh",
        "migrations",
        "SLATAH %",
        "PDM %",
        "SLAV e-5",
        "ESV e-3",
        "s / day",
        "gate"
    );
    for k in &order {
        let m = &means[k];
        println!(
            "  {k:>12} {:>10.2} {:>10.0} {:>9.3} {:>8.4} {:>10.3} {:>10.3} {:>9.2} {:>6}",
            m.energy_kwh,
            m.migrations,
            m.slatah * 100.0,
            m.pdm * 100.0,
            m.slav * 1e5,
            m.esv * 1e3,
            m.wall_s_per_day,
            m.days_inside_gate
                .map_or("-".to_string(), |d| format!("{d}/{}", days.len()))
        );
    }
    let ratio = |a: &str, b: &str, f: fn(&Means) -> f64| match (means.get(a), means.get(b)) {
        (Some(x), Some(y)) if f(y) > 0.0 => Some(f(x) / f(y)),
        _ => None,
    };
    let r_energy = ratio("vdc", "lr-mmt-1.2", |m| m.energy_kwh);
    let r_migr = ratio("vdc", "lr-mmt-1.2", |m| m.migrations);
    let r_slav = ratio("vdc", "iqr-mmt-1.5", |m| m.slav);
    let show = |r: Option<f64>, goal: f64| {
        r.map_or("-".to_string(), |r| {
            format!(
                "{r:.3} (goal <= {goal}: {})",
                if r <= goal { "met" } else { "NOT met" }
            )
        })
    };
    println!("  vdc energy / LR-MMT-1.2: {}", show(r_energy, 0.9));
    println!("  vdc migrations / LR-MMT-1.2: {}", show(r_migr, 0.5));
    println!("  vdc SLAV / IQR-MMT-1.5: {}", show(r_slav, 1.0));
    println!("  (CloudSim 3.0.3 itself takes ~20 s per day-run on these machines)");
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "model": a.model,
                "days": days,
                "ram_enforced": a.ram_enforced,
                "policies": means,
                "ratio_energy_vs_lr": r_energy,
                "ratio_migrations_vs_lr": r_migr,
                "ratio_slav_vs_iqr": r_slav,
            })
        );
    }
    Ok(())
}
