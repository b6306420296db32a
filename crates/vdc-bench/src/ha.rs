//! `vdc bench ha`: host failures on a simulated fleet, end to end through the real HA
//! controller (pings every second, 15 s to declare a host dead, lease-based fencing,
//! journaled restarts by priority), with a driver latency on every call. Each round kills the
//! host running the most HA-protected VMs, measures from the kill to the verdict, to the
//! fence, and to the last of its VMs running elsewhere, checks that none is lost or runs
//! twice, then brings the host back (empty) for the next round.

use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use vdc_db as db;
use vdc_driver::HostDriver;
use vdc_driver::sim::SHARED_DATASTORE;
use vdc_engine::ha::Verdict;
use vdc_server::{Config, SimConfig};
use vdc_types::*;

#[derive(Debug, clap::Args)]
pub struct HaArgs {
    #[arg(long, default_value_t = 50)]
    hosts: usize,
    #[arg(long, default_value_t = 500)]
    vms: usize,
    /// Host failures to measure.
    #[arg(long, default_value_t = 5)]
    kills: usize,
    /// Silence after which a host is dead.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    dead_after: Duration,
    /// Latency of every simulated driver call.
    #[arg(long, default_value = "50ms", value_parser = humantime::parse_duration)]
    latency: Duration,
    #[arg(long, default_value_t = 3)]
    seed: u64,
    /// Print one JSON object as the last line.
    #[arg(long)]
    json: bool,
}

/// p50 and p99 (nearest rank) of seconds.
fn quantiles(mut v: Vec<f64>) -> serde_json::Value {
    v.sort_by(f64::total_cmp);
    let q = |p: f64| {
        if v.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    };
    serde_json::json!({"p50": q(50.0), "p99": q(99.0)})
}

fn wall_ms() -> i64 {
    db::now_ms()
}

/// What one controller did over the kills.
struct Measured {
    vms: usize,
    detect: Vec<f64>,
    fence: Vec<f64>,
    last: Vec<f64>,
    lost: usize,
    duplicated: usize,
}

pub async fn run(a: HaArgs) -> Result<()> {
    println!(
        "vdc bench ha: {} simulated hosts, {} VMs on shared storage, {} ms per driver call, dead after {:?}, {} kills",
        a.hosts,
        a.vms,
        a.latency.as_millis(),
        a.dead_after,
        a.kills
    );
    println!("vdc (priority waves, up to 32 restarts at once):");
    let vdc = measure(&a, 32).await?;
    // Baseline: the same fleet, kills and controller, but a dead host's VMs restarted one at
    // a time, as a simple restart script (or an HA manager working through its queue) does.
    println!("baseline (the same, VMs restarted one at a time):");
    let base = measure(&a, 1).await?;
    let (d, f, l) = (
        quantiles(vdc.detect),
        quantiles(vdc.fence),
        quantiles(vdc.last),
    );
    let bl = quantiles(base.last);
    println!(
        "  vdc: detect p50 {} s p99 {} s · fence p50 {} s p99 {} s · last VM running p50 {} s p99 {} s · lost {} · duplicated {}",
        d["p50"], d["p99"], f["p50"], f["p99"], l["p50"], l["p99"], vdc.lost, vdc.duplicated
    );
    println!(
        "  baseline: last VM running p50 {} s p99 {} s · lost {} · duplicated {}",
        bl["p50"], bl["p99"], base.lost, base.duplicated
    );
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "hosts": a.hosts,
                "vms": vdc.vms,
                "kills": a.kills,
                "detect_s": d,
                "fence_s": f,
                "last_vm_running_s": l,
                "vms_lost": vdc.lost,
                "vms_duplicated": vdc.duplicated,
                "baseline_last_vm_running_s": bl,
                "baseline_vms_lost": base.lost,
                "baseline_vms_duplicated": base.duplicated,
            })
        );
    }
    Ok(())
}

/// Runs the kills against a fresh server whose failovers start at most `parallel` VMs at once.
async fn measure(a: &HaArgs, parallel: usize) -> Result<Measured> {
    let dir = std::env::temp_dir().join(format!("vdc-bench-ha-{}-{parallel}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}?mode=rwc", dir.join("bench.sqlite").display());
    let mut config = Config::new(url);
    config.listen = "127.0.0.1:0".parse()?;
    config.sync_interval = None;
    config.metrics.interval = None;
    config.admin_password = Some(vdc_server::app::config::Secret::new("bench-password"));
    config.ha.detector.dead_after_ms = a.dead_after.as_millis() as i64;
    config.ha.detector.suspect_after_ms = (a.dead_after.as_millis() as i64 / 5).max(100);
    config.ha.restart_parallel = parallel;
    config.sim = Some(SimConfig {
        hosts: a.hosts,
        vms: a.vms,
        seed: a.seed,
        hosts_per_cluster: a.hosts,
        ..SimConfig::default()
    });
    let server = vdc_server::start(config).await?;
    let app = server.app.clone();
    let sim = app.fleet.sim().context("a simulated fleet")?.clone();
    vdc_server::inventory::sync::sync_all(&app).await?;
    // Every VM's disks on the shared datastore, so every one can restart elsewhere; random
    // restart priorities.
    let vms = app
        .db
        .list_vms(&db::VmFilter {
            limit: 100_000,
            ..db::VmFilter::default()
        })
        .await?
        .0;
    for (i, v) in vms.iter().enumerate() {
        sim.move_vm_disks(v.id.0, SHARED_DATASTORE)?;
        let ha = db::ha::VmHa {
            priority: RestartPriority::ALL[(i * 7 + a.seed as usize) % 5],
            ..db::ha::VmHa::default()
        };
        app.db.set_vm_ha(v.id, &ha).await?;
    }
    vdc_server::inventory::sync::sync_all(&app).await?;
    sim.set_latency(a.latency);
    let (mut detect, mut fence, mut last) = (Vec::new(), Vec::new(), Vec::new());
    let (mut lost, mut duplicated) = (0usize, 0usize);
    for round in 0..a.kills {
        // The host with the most running VMs.
        let running = app
            .db
            .list_vms(&db::VmFilter {
                state: Some(PowerState::Running),
                limit: 100_000,
                ..db::VmFilter::default()
            })
            .await?
            .0;
        let mut per_host: HashMap<HostId, Vec<VmId>> = HashMap::new();
        for v in &running {
            if let Some(h) = v.host_id {
                per_host.entry(h).or_default().push(v.id);
            }
        }
        let (victim, victims) = per_host
            .into_iter()
            .max_by_key(|(_, v)| v.len())
            .context("no running VM")?;
        let host = app.db.get_host(victim).await?;
        let index = sim
            .host_index_of(&host.uri)
            .context("the victim is simulated")?;
        let t0 = Instant::now();
        let killed_ms = wall_ms();
        sim.kill_host(index);
        let deadline = t0 + Duration::from_secs(180);
        let (mut dead_s, mut fenced_s) = (None, None);
        let done_s = loop {
            if Instant::now() > deadline {
                break None;
            }
            if let Some(s) = app.host_ha(victim) {
                // Times of this death only (a host killed again keeps its previous ones
                // until the controller finds it dead again).
                let since_kill = |t: Option<i64>| {
                    t.filter(|t| *t >= killed_ms)
                        .map(|t| (t - killed_ms) as f64 / 1000.0)
                };
                if dead_s.is_none() && s.verdict == Verdict::Dead {
                    dead_s = since_kill(s.dead_ms);
                }
                if fenced_s.is_none() && dead_s.is_some() {
                    fenced_s = since_kill(s.fenced_ms);
                }
            }
            let mut all = true;
            for id in &victims {
                let v = app.db.find_vm(*id).await?;
                if !v.is_some_and(|v| {
                    v.power_state == PowerState::Running && v.host_id != Some(victim)
                }) {
                    all = false;
                    break;
                }
            }
            if all && fenced_s.is_some() {
                break Some(t0.elapsed().as_secs_f64());
            }
            // The failover ended without bringing them all back: count what is lost.
            let target = victim.to_string();
            let failing_over = app.db.unfinished_jobs().await?.iter().any(|j| {
                j.kind == "host.failover" && j.target_id.as_deref() == Some(target.as_str())
            });
            if fenced_s.is_some() && !failing_over && dead_s.is_some() {
                break Some(t0.elapsed().as_secs_f64());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // Lost: not running anywhere the store knows; duplicated: on more than one host.
        let mut here = HashMap::new();
        for h in 0..sim.len() {
            for v in sim.host(h).list_vms().unwrap_or_default() {
                *here.entry(v.id).or_insert(0usize) += 1;
            }
        }
        let round_lost = victims
            .iter()
            .filter(|id| here.get(&id.0).copied().unwrap_or(0) == 0)
            .count();
        let round_dup = victims
            .iter()
            .filter(|id| here.get(&id.0).copied().unwrap_or(0) > 1)
            .count();
        lost += round_lost;
        duplicated += round_dup;
        let Some(done_s) = done_s else {
            let (audit, _) = app.db.list_audit(&AuditFilter::default(), None, 20).await?;
            for r in audit {
                eprintln!("  audit: {} {:?} {:?}", r.action, r.target_id, r.detail);
            }
            bail!(
                "round {round}: {} VMs of {} not back within 180 s ({:?})",
                victims.len(),
                host.name,
                app.host_ha(victim)
            );
        };
        println!(
            "  round {}: {} ({} VMs) dead after {:.1} s, fenced after {:.1} s, last VM running after {:.1} s; lost {round_lost}, duplicated {round_dup}",
            round + 1,
            host.name,
            victims.len(),
            dead_s.unwrap_or(f64::NAN),
            fenced_s.unwrap_or(f64::NAN),
            done_s
        );
        detect.push(dead_s.context("no verdict")?);
        fence.push(fenced_s.context("not fenced")?);
        last.push(done_s);
        // Bring the host back, empty, and wait until the controller sees it alive.
        sim.set_host_down(index, false);
        let back = Instant::now();
        while app.host_ha(victim).map(|s| s.verdict) != Some(Verdict::Alive) {
            if back.elapsed() > Duration::from_secs(30) {
                bail!("{} not seen alive again", host.name);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Measured {
        vms: vms.len(),
        detect,
        fence,
        last,
        lost,
        duplicated,
    })
}
