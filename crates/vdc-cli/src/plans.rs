//! Client commands for capacity plans.

use anyhow::Result;
use vdc_types::*;

use crate::Output;
use crate::client::Client;
use crate::commands::{print_json, table};
use crate::ops::resolve_host;

#[derive(Debug, clap::Subcommand)]
pub enum PlanCmd {
    /// When each cluster runs out of vCPUs, memory or CPU, from its daily peaks.
    Forecast {
        /// Days of history to fit the trends on (7–730).
        #[arg(long, default_value_t = 90)]
        days: u32,
    },
    /// The load balancer's planned moves and why (clusters where it is on).
    Balance,
    /// The fewest hosts that carry the VMs, the moves that get there, hosts freed and power
    /// saved; optionally what if VMs were added or a host removed or lost. Changes nothing.
    Consolidate(ConsolidateArgs),
}

#[derive(Debug, clap::Args)]
pub struct ConsolidateArgs {
    /// Cluster id or name (every cluster when omitted).
    #[arg(long)]
    cluster: Option<String>,
    /// What if this many VMs were added (with --vcpus and --memory-mib).
    #[arg(long, requires_all = ["vcpus", "memory_mib"])]
    add: Option<u32>,
    #[arg(long)]
    vcpus: Option<u32>,
    #[arg(long)]
    memory_mib: Option<u64>,
    /// Expected CPU demand of each added VM, in logical CPUs.
    #[arg(long, default_value_t = 0.0)]
    cpu_demand: f64,
    /// What if this host (id or name) were taken out.
    #[arg(long)]
    remove_host: Option<String>,
    /// What if this host (id or name) failed.
    #[arg(long)]
    lose_host: Option<String>,
    /// Most CPU a host may carry, as a share (default 0.8).
    #[arg(long)]
    high_water: Option<f64>,
    /// Size VMs by this percentile of their measured CPU demand (default 95).
    #[arg(long)]
    percentile: Option<f64>,
}

/// "in 12.5 days", "full now", "not growing".
fn when(d: Option<f64>) -> String {
    match d {
        Some(d) if d <= 0.0 => "full now".into(),
        Some(d) => format!("in {d:.1} days"),
        None => "not growing".into(),
    }
}

pub async fn run(client: &Client, cmd: PlanCmd, out: Output) -> Result<()> {
    match cmd {
        PlanCmd::Forecast { days } => {
            let f: Vec<ClusterForecastView> = client
                .get("/plans/forecast", &[("days", days.to_string())])
                .await?;
            if out == Output::Json {
                return print_json(&f);
            }
            table(
                &[
                    "CLUSTER",
                    "METRIC",
                    "NOW",
                    "CAPACITY",
                    "TREND/DAY",
                    "FULL",
                    "PESSIMISTIC",
                    "DAYS",
                ],
                f.iter()
                    .flat_map(|c| {
                        c.metrics.iter().map(|m| {
                            vec![
                                c.name.clone(),
                                m.metric.clone(),
                                format!("{:.1}", m.current),
                                format!("{:.1}", m.capacity),
                                format!("{:+.2}", m.trend_per_day),
                                when(m.days_until_full),
                                when(m.days_until_full_pessimistic),
                                c.days_of_history.to_string(),
                            ]
                        })
                    })
                    .collect(),
            );
            Ok(())
        }
        PlanCmd::Consolidate(a) => consolidate(client, a, out).await,
        PlanCmd::Balance => {
            let plans: Vec<BalancePlanView> = client.get("/plans/balance", &[]).await?;
            if out == Output::Json {
                return print_json(&plans);
            }
            for p in &plans {
                println!(
                    "{} ({}): spread {:.3} -> {:.3}, hot hosts {} -> {}",
                    p.name,
                    p.mode,
                    p.imbalance_before,
                    p.imbalance_after,
                    p.hot_before,
                    p.hot_after
                );
                table(
                    &["VM", "FROM", "TO", "GAIN", "WHY"],
                    p.moves
                        .iter()
                        .map(|m| {
                            vec![
                                m.vm_name.clone(),
                                m.from_host.clone(),
                                m.to_host.clone(),
                                format!("{:.3}", m.gain),
                                m.reason.clone(),
                            ]
                        })
                        .collect(),
                );
                if let Some(step) = &p.power {
                    println!("power: {} {}: {}", step.action, step.host, step.reason);
                }
            }
            Ok(())
        }
    }
}

async fn consolidate(client: &Client, a: ConsolidateArgs, out: Output) -> Result<()> {
    let cluster_id = match &a.cluster {
        Some(c) => {
            let all: Vec<ClusterView> = client.get("/clusters", &[]).await?;
            match all.iter().find(|x| x.name == *c || x.id.to_string() == *c) {
                Some(x) => Some(x.id),
                None => anyhow::bail!("no cluster {c}"),
            }
        }
        None => None,
    };
    let host = |h: &Option<String>| {
        let h = h.clone();
        async move {
            match h {
                Some(h) => resolve_host(client, &h).await.map(Some),
                None => Ok(None),
            }
        }
    };
    let p = ConsolidateParams {
        cluster_id,
        add: a.add.map(|count| WhatIfVms {
            count,
            vcpus: a.vcpus.unwrap_or(1),
            memory_mib: a.memory_mib.unwrap_or(1024),
            cpu_demand: a.cpu_demand,
        }),
        remove_host: host(&a.remove_host).await?,
        lose_host: host(&a.lose_host).await?,
        high_water: a.high_water,
        percentile: a.percentile,
    };
    let plans: Vec<ConsolidationPlanView> = client.post("/plans/consolidate", &p).await?;
    if out == Output::Json {
        return print_json(&plans);
    }
    for c in &plans {
        println!(
            "{}: {} hosts -> {}; free {}; power {:.0} W -> {:.0} W (saves {:.0} W)",
            c.name,
            c.hosts_before,
            c.hosts_after,
            if c.freed.is_empty() {
                "none".to_string()
            } else {
                c.freed.join(", ")
            },
            c.power_before_w,
            c.power_after_w,
            c.power_before_w - c.power_after_w
        );
        if !c.woken.is_empty() {
            println!("  switch on: {}", c.woken.join(", "));
        }
        if !c.unplaced.is_empty() {
            println!("  fit nowhere: {}", c.unplaced.join(", "));
        }
        table(
            &["#", "VM", "FROM", "TO", "WHY"],
            c.steps
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    vec![
                        (i + 1).to_string(),
                        s.vm_name.clone(),
                        s.from_host.clone().unwrap_or_else(|| "(new)".into()),
                        s.to_host.clone(),
                        s.reason.clone(),
                    ]
                })
                .collect(),
        );
        println!("  ({})", c.assumptions);
    }
    Ok(())
}
