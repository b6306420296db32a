//! Answers of the `plans` endpoints: forecasts, balancing and consolidation plans.

use super::*;

/// One capacity metric of a cluster: its use now, its trend, and when it runs out.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CapacityForecastView {
    /// `vcpus_allocated`, `memory_allocated_mib` or `cpu_demand` (logical CPUs busy).
    pub metric: String,
    /// The last day's peak.
    pub current: f64,
    /// Under the cluster's overcommit ratios (logical CPUs for `cpu_demand`).
    pub capacity: f64,
    /// The fitted trend's change per day (0 when a flat level predicted better).
    pub trend_per_day: f64,
    /// Days until the trend reaches the capacity (0: there already); `null`: not growing.
    pub days_until_full: Option<f64>,
    /// The same for a day as high above the trend as its 90th-percentile day.
    pub days_until_full_pessimistic: Option<f64>,
}

/// When a cluster runs out of capacity, per metric, from its daily peaks.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ClusterForecastView {
    pub cluster_id: ClusterId,
    pub name: String,
    /// Days of samples the trends are fitted on (at least 2 for a forecast).
    pub days_of_history: usize,
    pub metrics: Vec<CapacityForecastView>,
}

/// One migration the balancer plans, and why.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BalanceMoveView {
    pub vm_id: VmId,
    pub vm_name: String,
    pub from_host_id: HostId,
    pub from_host: String,
    pub to_host_id: HostId,
    pub to_host: String,
    /// Drop in the cluster's imbalance plus pressure taken off hot hosts (0 for evacuations).
    pub gain: f64,
    pub reason: String,
}

/// A cluster's balancing plan.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BalancePlanView {
    pub cluster_id: ClusterId,
    pub name: String,
    pub mode: BalanceMode,
    /// Standard deviation of host CPU utilisation before and after the moves.
    pub imbalance_before: f64,
    pub imbalance_after: f64,
    /// Hosts over the high-water mark or with vCPU contention, before and after.
    pub hot_before: usize,
    pub hot_after: usize,
    pub moves: Vec<BalanceMoveView>,
    /// With power saving on: the host to wake or put in standby after the moves, if any.
    pub power: Option<PowerStepView>,
}

/// A power-management step of the balancer.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PowerStepView {
    /// `wake` or `standby`.
    pub action: String,
    pub host_id: HostId,
    pub host: String,
    pub reason: String,
}

/// One migration (or placement, for a new VM or one whose host goes) of a consolidation plan.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsolidationStepView {
    /// `null` for a VM a what-if adds.
    pub vm_id: Option<VmId>,
    pub vm_name: String,
    /// `null` for a new VM.
    pub from_host: Option<String>,
    pub to_host: String,
    pub reason: String,
}

/// The fewest hosts that carry a cluster's VMs, and how to get there.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsolidationPlanView {
    pub cluster_id: ClusterId,
    pub name: String,
    pub hosts_before: usize,
    pub hosts_after: usize,
    /// Hosts the plan empties (they can be switched off).
    pub freed: Vec<String>,
    /// Empty hosts the plan needs switched on.
    pub woken: Vec<String>,
    /// VMs that fit nowhere.
    pub unplaced: Vec<String>,
    /// Estimated draw of the hosts with VMs, watts.
    pub power_before_w: f64,
    pub power_after_w: f64,
    pub steps: Vec<ConsolidationStepView>,
    /// How the figures were estimated.
    pub assumptions: String,
}
