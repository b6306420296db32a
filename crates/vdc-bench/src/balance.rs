//! `vdc bench balance`: the load balancer over a week of real VM load (the Bitbrains Rnd week,
//! `testdata/bitbrains-rnd/week`: 250 VMs, 5-minute samples), against no balancing and a
//! naive threshold balancer run in the same process on the same week.
//!
//! The cluster: 250 VMs packed first-fit by memory (largest first) onto hosts of 32 logical
//! CPUs and 256 GiB, as a consolidated cluster starts its week; 4 vCPUs per logical CPU. Each
//! VM's CPU demand is its measured MHz over a 2.6 GHz logical CPU. Every 15 minutes each
//! balancer plans on the demand it has seen; between rounds the week's real demand moves on.
//! Contention is measured as the share of demanded CPU a host cannot give (demand above its
//! CPUs), summed over 5-minute steps.

use anyhow::Result;
use std::path::PathBuf;
use std::time::Instant;
use vdc_engine::balance::{self, BalanceHost, BalanceParams, BalanceVm};
use vdc_engine::load::{TraceVm, week_demand};

use crate::read_gz;

#[derive(Debug, clap::Args)]
pub struct BalanceArgs {
    /// The data folder (bitbrains-rnd: the repository's `testdata/`, or your own in the same layout).
    #[arg(long, env = "VDC_BENCH_DATA", default_value = "testdata")]
    data: PathBuf,
    /// Print one JSON object as the last line.
    #[arg(long)]
    json: bool,
}

const STEP_S: i64 = 300;
const ROUND_STEPS: usize = 3;
const HOST_CPUS: f64 = 32.0;
const HOST_MEMORY_MIB: u64 = 256 * 1024;
const MHZ_PER_CPU: f64 = 2600.0;

/// Loads the week's 250 VMs (see [`vdc_engine::load::week_demand`]).
fn load(dir: &std::path::Path) -> Result<(Vec<TraceVm>, usize)> {
    let texts = (1..=250)
        .map(|n| read_gz(&dir.join(format!("{n}.csv.gz"))))
        .collect::<Result<Vec<_>>>()?;
    week_demand(&texts, STEP_S, MHZ_PER_CPU).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))
}

/// A balancer under test: given hosts, VMs (with the demand last seen) and where they run,
/// the moves (vm, target).
type Balancer = fn(&[BalanceHost], &[BalanceVm]) -> Vec<(usize, usize)>;

fn vdc(hosts: &[BalanceHost], vms: &[BalanceVm]) -> Vec<(usize, usize)> {
    balance::plan(hosts, vms, &BalanceParams::default())
        .moves
        .iter()
        .map(|m| (m.vm, m.to))
        .collect()
}

/// Naive: from every host above 80 % CPU, move its largest VM to the least loaded host with
/// room, no hysteresis, no prediction of the target's load, up to 8 moves.
fn naive(hosts: &[BalanceHost], vms: &[BalanceVm]) -> Vec<(usize, usize)> {
    let mut demand = vec![0.0; hosts.len()];
    let mut mem = vec![0u64; hosts.len()];
    for v in vms {
        demand[v.host] += v.cpu_demand;
        mem[v.host] += v.memory_mib;
    }
    let mut moves = Vec::new();
    for h in 0..hosts.len() {
        if moves.len() >= 8 || demand[h] <= 0.8 * hosts[h].cpus {
            continue;
        }
        let Some(v) = (0..vms.len())
            .filter(|&i| vms[i].host == h)
            .max_by(|&a, &b| vms[a].cpu_demand.total_cmp(&vms[b].cpu_demand))
        else {
            continue;
        };
        let target = (0..hosts.len())
            .filter(|&t| t != h && mem[t] + vms[v].memory_mib <= hosts[t].memory_cap_mib)
            .min_by(|&a, &b| demand[a].total_cmp(&demand[b]));
        if let Some(t) = target {
            demand[h] -= vms[v].cpu_demand;
            demand[t] += vms[v].cpu_demand;
            mem[h] -= vms[v].memory_mib;
            mem[t] += vms[v].memory_mib;
            moves.push((v, t));
        }
    }
    moves
}

fn none(_: &[BalanceHost], _: &[BalanceVm]) -> Vec<(usize, usize)> {
    Vec::new()
}

#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
struct Outcome {
    /// Share of all demanded CPU time that hosts could not give (demand above capacity).
    unserved_share: f64,
    /// Host-hours with demand above the CPUs.
    hot_host_hours: f64,
    migrations: usize,
    /// Mean over the week of the standard deviation of host utilisation.
    mean_spread: f64,
    plan_ms: f64,
}

fn replay(
    week: &[TraceVm],
    steps: usize,
    host_count: usize,
    at0: &[usize],
    balancer: Balancer,
) -> Outcome {
    let hosts: Vec<BalanceHost> = (0..host_count)
        .map(|i| BalanceHost {
            name: format!("host-{i:02}"),
            cpus: HOST_CPUS,
            vcpu_cap: (HOST_CPUS * 4.0) as u64,
            memory_cap_mib: HOST_MEMORY_MIB,
            vcpu_wait: 0.0,
            balloon: 0.0,
            swap_kib_s: 0.0,
            maintenance: false,
            usable: true,
            class: 0,
        })
        .collect();
    let mut at = at0.to_vec();
    let mut out = Outcome::default();
    let (mut demanded, mut unserved, mut spread_sum) = (0.0, 0.0, 0.0);
    let mut wait = vec![0.0; host_count];
    let mut plan_s = 0.0;
    for s in 0..steps {
        let mut demand = vec![0.0; host_count];
        for (v, h) in week.iter().zip(&at) {
            demand[*h] += v.demand[s];
        }
        let u: Vec<f64> = demand.iter().map(|d| d / HOST_CPUS).collect();
        for (h, d) in demand.iter().enumerate() {
            demanded += d;
            let over = (d - HOST_CPUS).max(0.0);
            unserved += over;
            wait[h] = if *d > 0.0 { over / d } else { 0.0 };
            if over > 0.0 {
                out.hot_host_hours += STEP_S as f64 / 3600.0;
            }
        }
        let mean = u.iter().sum::<f64>() / u.len() as f64;
        spread_sum += (u.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / u.len() as f64).sqrt();
        if s % ROUND_STEPS == ROUND_STEPS - 1 {
            let hs: Vec<BalanceHost> = hosts
                .iter()
                .zip(&wait)
                .map(|(h, w)| BalanceHost {
                    vcpu_wait: *w,
                    ..h.clone()
                })
                .collect();
            let vms: Vec<BalanceVm> = week
                .iter()
                .zip(&at)
                .enumerate()
                .map(|(i, (v, h))| BalanceVm {
                    name: format!("vm-{i}"),
                    host: *h,
                    vcpus: v.vcpus,
                    memory_mib: v.memory_mib,
                    cpu_demand: v.demand[s],
                    movable: true,
                })
                .collect();
            let t = Instant::now();
            let moves = balancer(&hs, &vms);
            plan_s += t.elapsed().as_secs_f64();
            out.migrations += moves.len();
            for (v, to) in moves {
                at[v] = to;
            }
        }
    }
    out.unserved_share = if demanded > 0.0 {
        unserved / demanded
    } else {
        0.0
    };
    out.mean_spread = spread_sum / steps as f64;
    out.plan_ms = plan_s * 1e3 / (steps / ROUND_STEPS).max(1) as f64;
    out
}

pub fn run(a: BalanceArgs) -> Result<()> {
    let (week, steps) = load(&a.data.join("bitbrains-rnd/week/2013-7"))?;
    // First fit by memory, largest first: the consolidated start of the week.
    let mut order: Vec<usize> = (0..week.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(week[i].memory_mib), i));
    let mut free: Vec<(u64, u64)> = Vec::new();
    let mut at = vec![0; week.len()];
    for i in order {
        let v = &week[i];
        let h = match free
            .iter()
            .position(|(m, c)| *m >= v.memory_mib && *c >= u64::from(v.vcpus))
        {
            Some(h) => h,
            None => {
                free.push((HOST_MEMORY_MIB, (HOST_CPUS * 4.0) as u64));
                free.len() - 1
            }
        };
        free[h].0 = free[h].0.saturating_sub(v.memory_mib);
        free[h].1 = free[h].1.saturating_sub(u64::from(v.vcpus));
        at[i] = h;
    }
    let host_count = free.len();
    println!(
        "vdc bench balance: {} Bitbrains VMs over {} five-minute steps ({:.1} days) on {host_count} hosts of {HOST_CPUS} CPUs / {} GiB, balancing every {} minutes",
        week.len(),
        steps,
        steps as f64 * STEP_S as f64 / 86_400.0,
        HOST_MEMORY_MIB / 1024,
        ROUND_STEPS * 5
    );
    let mut results = serde_json::Map::new();
    for (name, b) in [("off", none as Balancer), ("naive", naive), ("vdc", vdc)] {
        let o = replay(&week, steps, host_count, &at, b);
        println!(
            "  {name:>6}: unserved CPU {:.3} % of demand, hot host-hours {:.1}, migrations {}, mean spread {:.3}, {:.3} ms per plan",
            o.unserved_share * 100.0,
            o.hot_host_hours,
            o.migrations,
            o.mean_spread,
            o.plan_ms
        );
        results.insert(name.into(), serde_json::to_value(o)?);
    }
    if a.json {
        println!(
            "{}",
            serde_json::json!({"hosts": host_count, "vms": week.len(), "steps": steps, "policies": results})
        );
    }
    Ok(())
}
