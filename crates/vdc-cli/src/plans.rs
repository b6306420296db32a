//! Client commands for capacity plans.

use anyhow::Result;
use vdc_types::*;

use crate::Output;
use crate::client::Client;
use crate::commands::{print_json, table};

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
            }
            Ok(())
        }
    }
}
