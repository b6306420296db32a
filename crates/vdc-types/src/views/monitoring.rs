//! Answers about monitoring: anomaly alerts, metric series, the background activities.

use super::*;

/// A VM behaving unlike its profile (the same hour of the week, or of the day while it has
/// less than two weeks of history): the dimensions that diverged and what to do.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertView {
    pub vm_id: crate::VmId,
    pub vm_name: String,
    pub host_id: Option<crate::HostId>,
    /// When it began (RFC 3339) and the 5-minute period last seen diverging.
    pub since: String,
    pub last_seen: String,
    /// Most diverging first.
    pub dimensions: Vec<DivergenceView>,
    pub remedy: crate::Remedy,
    /// Why that remedy.
    pub reason: String,
}

/// One diverging dimension: its 5-minute mean, the usual median for this hour, and how many
/// robust spreads apart (negative: below).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DivergenceView {
    pub metric: crate::Metric,
    pub unit: String,
    pub value: f32,
    pub expected: f32,
    pub score: f32,
}

/// One metric of a VM or host over a range, column by column (for charts): per point its time
/// and the min / mean / max / p95 of the samples it stands for. Raw samples (`resolution_s`
/// 0: all four equal) for short ranges, else 5-minute, hourly or daily roll-ups. Points
/// without a value are left out.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MetricSeriesView {
    pub metric: crate::Metric,
    pub unit: String,
    pub resolution_s: u32,
    pub from: String,
    pub to: String,
    /// Unix milliseconds.
    pub t: Vec<i64>,
    pub min: Vec<f32>,
    pub mean: Vec<f32>,
    pub max: Vec<f32>,
    pub p95: Vec<f32>,
}

/// One of the server's background activities (`GET /background-tasks`): what it is for, when it
/// runs, and how its last run went.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BackgroundTaskView {
    pub name: String,
    /// What it does, in one line.
    pub purpose: String,
    /// `every 10s`, `on driver events`, or `off` (this server does not run it).
    pub schedule: String,
    /// Seconds between runs; absent when it is not periodic.
    pub period_s: Option<f64>,
    /// Runs since the server started.
    pub runs: u64,
    /// True while a run is under way.
    pub running: bool,
    /// When the last run started (RFC 3339).
    pub last_started_at: Option<String>,
    pub last_duration_ms: Option<u64>,
    /// `ok` or `failed`.
    pub last_result: Option<String>,
    /// What the last run did (`10000 hosts, 3 VMs updated`) or why it failed.
    pub last_outcome: Option<String>,
    /// When it runs next (RFC 3339), for a periodic activity that is on.
    pub next_run_at: Option<String>,
}
