//! `vdc bench …`: measurements at scale, kept out of the product crates. Each benchmark prints
//! a human summary and, with `--json`, one JSON object on its last line; each compares against a
//! baseline measured in the same run. The `vdc` binary dispatches `vdc bench` here.
//!
//! What lives here and nowhere else: the readers of the public traces (`azure`, and the
//! Bitbrains and PlanetLab readers inside the benchmarks that use them), the CloudSim
//! PlanetLab model with its ported policies ([`cloudsim`]), and one module per benchmark.
//! Data comes from `--data DIR` (default: the repository's `testdata/`).

pub mod anomalies;
pub mod azure;
pub mod balance;
pub mod cloudsim;
pub mod consolidation;
pub mod forecast;
pub mod ha;
pub mod inventory;
pub mod metrics;
pub mod placement;

use anyhow::{Context, Result};
use std::io::Read;
use std::path::Path;

#[derive(Debug, clap::Subcommand)]
pub enum BenchCmd {
    /// Full inventory sync and filtered VM listing at fleet scale (simulator + SQLite).
    Inventory(inventory::InventoryArgs),
    /// Explained placement decisions at fleet scale (host shapes from libvirt capability
    /// dumps, VMs from the Azure V1 trace), against a naive baseline; or a replay of the
    /// trace comparing vdc's ranking with first-fit and best-fit.
    Placement(placement::PlacementArgs),
    /// How well the capacity trend predicts daily peaks (Bitbrains VMs: fit on July,
    /// predict August and September), against naive forecasts.
    Forecast(forecast::ForecastArgs),
    /// Dynamic consolidation in CloudSim's PlanetLab model: the ported CloudSim policies
    /// against CloudSim's own figures, and vdc's policy beside them.
    Consolidation(consolidation::ConsolidationArgs),
    /// The load balancer over a week of real VM load (Bitbrains), against no balancing and a
    /// naive threshold balancer.
    Balance(balance::BalanceArgs),
    /// Host-side metrics: ingest into vdc's store and a 7-day chart of one VM, against one
    /// row per value.
    Metrics(metrics::MetricsArgs),
    /// Behaviour profiles on Bitbrains traces with injected anomalies, against fixed
    /// thresholds.
    Anomalies(anomalies::AnomaliesArgs),
    /// Host failures on a simulated fleet through the HA controller: time to detect, fence
    /// and have the last VM running elsewhere; VMs lost or duplicated.
    Ha(ha::HaArgs),
}

pub async fn run(cmd: BenchCmd) -> Result<()> {
    match cmd {
        BenchCmd::Inventory(a) => inventory::run(a).await,
        BenchCmd::Placement(a) => placement::run(a),
        BenchCmd::Forecast(a) => forecast::run(a),
        BenchCmd::Consolidation(a) => consolidation::run(a),
        BenchCmd::Balance(a) => balance::run(a),
        BenchCmd::Metrics(a) => metrics::run(a).await,
        BenchCmd::Anomalies(a) => anomalies::run(a),
        BenchCmd::Ha(a) => ha::run(a).await,
    }
}

/// A gzip file's text.
pub(crate) fn read_gz(path: &Path) -> Result<String> {
    let f = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut s = String::new();
    flate2::read::GzDecoder::new(f)
        .read_to_string(&mut s)
        .with_context(|| format!("read {}", path.display()))?;
    Ok(s)
}

pub(crate) fn percentile(sorted_ms: &[f64], p: f64) -> f64 {
    if sorted_ms.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted_ms.len() as f64).ceil() as usize;
    sorted_ms[rank.clamp(1, sorted_ms.len()) - 1]
}

pub(crate) fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<f64>()
                    .unwrap_or(0.0)
            })
        })
        .unwrap_or(0.0)
        / 1024.0
}
