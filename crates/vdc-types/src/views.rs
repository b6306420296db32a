//! Response bodies: what the API returns. Built by the server from store rows; never stored.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::*;
use crate::state::*;

/// One page of a list; pass `next_page_token` back as `page_token` for the next one.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// `GET /api/v1/health`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HealthView {
    pub status: String,
    pub version: String,
    /// `sqlite` or `postgres`.
    pub store: String,
}

/// A named API token (never its secret, which is shown once at creation).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    /// The permissions it is limited to; `null`: all its owner's.
    pub permissions: Option<Vec<Permission>>,
    pub created_at: String,
    pub expires_at: String,
}

/// A new API token: the secret, shown this once.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenCreated {
    /// For `Authorization: Bearer …`. Only its hash is stored.
    pub token: String,
    #[serde(flatten)]
    pub info: TokenView,
}

/// A browser session: its token travels in the `vdc_session` cookie (HttpOnly, Secure,
/// SameSite=Strict); every change must carry `csrf_token` in the `X-CSRF-Token` header.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionResponse {
    pub csrf_token: String,
    pub expires_at: String,
    pub user: UserView,
}

/// A logged-in session.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// Bearer token for the `Authorization` header. Shown once; only its hash is stored.
    pub token: String,
    pub expires_at: String,
    pub user: UserView,
}

/// A user account (never with its password hash).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub id: UserId,
    pub username: String,
    /// The department (cost centre) the user belongs to.
    pub department_id: Option<DepartmentId>,
    /// For a user from the LDAP directory, its entry (its password stays there).
    pub directory_dn: Option<String>,
    /// The roles the user holds, each at its scope.
    pub roles: Vec<RoleBindingView>,
    pub created_at: String,
}

/// A role held at a scope: global when neither department nor cluster is given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RoleBindingView {
    pub id: String,
    /// A built-in role (`admin`, `operator`, `requester`, `approver`, `auditor`, `viewer`) or a
    /// custom one.
    pub role: String,
    pub department_id: Option<DepartmentId>,
    pub cluster_id: Option<ClusterId>,
    /// The directory group this role comes from (set again at each login); absent for a
    /// role granted in vdc.
    pub from_group: Option<String>,
}

/// One approver's decision on a request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalView {
    /// A username, or `auto` when a rule approved it.
    pub approver: String,
    pub at: String,
    pub approved: bool,
    pub reason: Option<String>,
}

/// A provisioning request: VMs asked for, their monthly cost, and where approval stands.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RequestView {
    pub id: String,
    pub requester: String,
    pub department_id: Option<DepartmentId>,
    pub purpose: String,
    pub vms: Vec<crate::VmCreateParams>,
    /// From the price list.
    pub cost_month: f64,
    pub currency: String,
    pub state: RequestState,
    /// Decisions so far, in order.
    pub approvals: Vec<ApprovalView>,
    /// Approvals it needs.
    pub approvals_needed: u32,
    /// Why it was auto-approved, or why it waits for approvers.
    pub rule: String,
    /// Why it was rejected or failed.
    pub reason: Option<String>,
    /// The VMs created for it.
    pub vm_ids: Vec<VmId>,
    pub created_at: String,
    pub updated_at: String,
}

/// What resources cost per month, in one currency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceListView {
    /// ISO 4217 code, e.g. `EUR`.
    pub currency: String,
    pub vcpu_month: f64,
    pub memory_gib_month: f64,
    pub disk_gib_month: f64,
    /// Per VM running the software, by software name.
    #[serde(default)]
    pub licences: std::collections::BTreeMap<String, f64>,
    /// Fixed per VM, per month (in quotas and statements).
    #[serde(default)]
    pub vm_month: f64,
    /// Fixed per department, per month (in statements).
    #[serde(default)]
    pub department_month: f64,
}

/// Resources in use (or asked for) and their monthly cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QuotaUsageView {
    pub vcpus: u64,
    pub memory_mib: u64,
    pub disk_gib: u64,
    pub vms: u64,
    pub money_month: f64,
}

/// A department's quota and what it uses now.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct QuotaView {
    pub department_id: DepartmentId,
    /// `null` limits are unlimited; money per month in the price list's currency.
    pub vcpus: Option<u64>,
    pub memory_mib: Option<u64>,
    pub disk_gib: Option<u64>,
    pub vms: Option<u64>,
    pub money_month: Option<f64>,
    pub currency: String,
    pub warn_percent: u32,
    pub grace_percent: u32,
    pub mode: QuotaMode,
    pub usage: QuotaUsageView,
}

/// A role: its permissions, built in or custom.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RoleView {
    pub name: String,
    pub builtin: bool,
    pub description: String,
    pub permissions: Vec<Permission>,
}

/// A department (cost centre).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DepartmentView {
    pub id: DepartmentId,
    pub name: String,
    pub cost_centre: String,
    pub created_at: String,
}

/// A site.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SiteView {
    pub id: SiteId,
    pub name: String,
}

/// A cluster of hosts.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ClusterView {
    pub id: ClusterId,
    pub name: String,
    pub site_id: SiteId,
    /// vCPUs placement allows per logical CPU of its hosts.
    pub vcpu_ratio: f64,
    /// Memory placement allows per byte of its hosts' RAM (1: no overcommit).
    pub memory_ratio: f64,
    pub balance_mode: BalanceMode,
    /// The balancer (in automatic mode) puts empty hosts in standby and wakes them when the
    /// cluster needs capacity.
    pub power_saving: bool,
}

/// A NUMA cell of a host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NumaCellView {
    pub id: u32,
    pub cpus: u32,
    pub memory_mib: u64,
}

/// A hypervisor host.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HostView {
    pub id: HostId,
    pub name: String,
    pub cluster_id: ClusterId,
    pub hypervisor: HypervisorType,
    /// libvirt connection URI (or `sim://…`).
    pub uri: String,
    pub state: HostState,
    /// Why the host is unreachable, when it is.
    pub state_reason: Option<String>,
    pub maintenance: bool,
    pub cpu_vendor: String,
    pub cpu_model: String,
    pub cpu_features: Vec<String>,
    pub sockets: u32,
    pub cores_per_socket: u32,
    pub threads_per_core: u32,
    pub memory_mib: u64,
    pub numa_cells: Vec<NumaCellView>,
    pub last_sync_at: Option<String>,
    /// The department the host is reserved for, if any.
    pub dedicated_to: Option<DepartmentId>,
    /// Software the host is licensed for.
    pub licensed_software: Vec<String>,
    pub licence_cost_per_vcpu: f64,
    /// Measured by the load sampler: CPU utilisation and vCPU wait (CPU-ready share), 0..1,
    /// and when (`null` before the first sample).
    pub cpu_load: Option<f64>,
    pub vcpu_wait: Option<f64>,
    /// Memory pressure at the last sample: the share of its running VMs' memory the balloon
    /// took back (0..1), and their guests' swap traffic in KiB/s.
    pub balloon_share: Option<f64>,
    pub swap_kib_s: Option<f64>,
    pub load_sampled_at: Option<String>,
    /// What the HA controller makes of the host (`null` before its first round, or when HA
    /// is off).
    pub ha: Option<HostHaView>,
}

/// The HA controller's view of a host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HostHaView {
    pub verdict: HostVerdict,
    /// When it was last found dead, and fenced after that.
    pub dead_at: Option<String>,
    pub fenced_at: Option<String>,
}

/// A datastore (storage pool).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DatastoreView {
    pub id: DatastoreId,
    pub name: String,
    pub cluster_id: ClusterId,
    pub kind: String,
    pub capacity_gib: u64,
    pub free_gib: u64,
}

/// A virtual network.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NetworkView {
    pub id: NetworkId,
    pub name: String,
    pub cluster_id: ClusterId,
    pub vlan: Option<u32>,
}

/// A disk of a VM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DiskView {
    /// Guest device name, e.g. `vda`.
    pub device: String,
    pub size_gib: u64,
    pub datastore: String,
    /// Image format, e.g. `qcow2` or `raw`.
    pub format: String,
}

/// A NIC of a VM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NicView {
    pub mac: String,
    pub network: String,
}

/// A virtual machine.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VmView {
    /// Also the hypervisor's domain UUID.
    pub id: VmId,
    pub name: String,
    pub host_id: Option<HostId>,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disks: Vec<DiskView>,
    pub nics: Vec<NicView>,
    pub power_state: PowerState,
    /// `unmanaged`: found on a hypervisor without vdc having created it.
    pub management: Management,
    pub owner: Option<String>,
    pub department_id: Option<DepartmentId>,
    pub purpose: Option<String>,
    pub tags: Vec<String>,
    pub lease_expires_at: Option<String>,
    pub created_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Bumped on every change of this record; pass it back in PATCH to detect lost updates.
    pub generation: i64,
    /// The hypervisor-side generation of the last applied state report.
    pub runtime_generation: i64,
}

/// One host's rating for a VM: 0–5 stars with each ranker's part, or the filter that refused it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HostRatingView {
    pub host_id: HostId,
    pub name: String,
    /// 0, 0.5, …, 5 (0 when refused).
    pub stars: f64,
    /// 0..1, the sum of the contributions.
    pub score: f64,
    /// Each ranker's weighted contribution to the score.
    pub contributions: std::collections::BTreeMap<String, f64>,
    /// Why the host was refused, when it was.
    pub rejected_by: Option<String>,
    /// Soft rules this (feasible) host breaks.
    pub unmet: Vec<String>,
}

/// Every host rated for one VM, best first, with the reasons.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RatingView {
    /// Where the VM would go.
    pub chosen: Option<HostId>,
    pub hosts: Vec<HostRatingView>,
    /// How many hosts each filter refused.
    pub rejected: std::collections::BTreeMap<String, usize>,
    /// Soft rules relaxed because nothing fitted with them.
    pub relaxed: Vec<String>,
}

/// How a VM was placed when vdc created it: its constraints and the rating then.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VmPlacementView {
    pub vm_id: VmId,
    pub constraints: crate::PlacementConstraints,
    pub decided_at: String,
    pub decided_by: String,
    /// The host chosen, or pinned by the request.
    pub host_id: HostId,
    pub host_name: String,
    /// True when the request pinned the host (the rating covers that host only).
    pub pinned: bool,
    /// The best hosts then (at most 10), with their reasons, and every refusal counted.
    pub rating: RatingView,
}

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

/// Jobs accepted for a group of VMs, in request order.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VmGroupAccepted {
    pub vms: Vec<JobAccepted>,
}

/// A volume (disk image) in a datastore.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VolumeView {
    pub id: VolumeId,
    pub datastore_id: DatastoreId,
    pub name: String,
    /// Path on the host.
    pub path: String,
    pub format: String,
    pub capacity_mib: u64,
    pub allocation_mib: u64,
}

/// A VM's counters as its host measures them, cumulative since the VM started; `null` where
/// the hypervisor does not report a value.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VmStatsView {
    pub vm_id: VmId,
    pub power_state: PowerState,
    pub cpu_time_ns: u64,
    /// Per vCPU: time runnable but waiting for a host CPU (CPU ready / steal), ns.
    pub vcpu_delay_ns: Vec<u64>,
    pub memory_rss_mib: u64,
    pub balloon_current_mib: Option<u64>,
    pub balloon_available_mib: Option<u64>,
    pub swap_in_kib: Option<u64>,
    pub swap_out_kib: Option<u64>,
    pub block_rd_bytes: u64,
    pub block_wr_bytes: u64,
    pub block_rd_reqs: u64,
    pub block_wr_reqs: u64,
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
    pub sampled_at: String,
}

/// A host's utilisation now.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HostStatsView {
    pub host_id: HostId,
    /// 0.0 – 1.0 of all logical CPUs.
    pub cpu_utilisation: f64,
    pub memory_used_mib: u64,
    pub running_vms: u32,
    pub sampled_at: String,
}

/// A VM snapshot.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SnapshotView {
    pub name: String,
    pub created_at: String,
    /// The VM's power state when it was taken; reverting returns to it.
    pub state: PowerState,
}

/// A physical (non-virtual) server.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PhysicalServerView {
    pub id: PhysicalServerId,
    pub name: String,
    pub serial: Option<String>,
    pub cpu_model: Option<String>,
    pub sockets: u32,
    pub cores_per_socket: u32,
    pub memory_mib: u64,
    pub site_id: Option<SiteId>,
    pub department_id: Option<DepartmentId>,
    pub owner: Option<String>,
    pub purpose: Option<String>,
    pub created_at: String,
}

/// One step of a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobStepView {
    pub name: String,
    pub done: bool,
}

/// A long-running, journaled operation.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    pub id: JobId,
    /// e.g. `vm.create`, `vm.start`, `vm.delete`.
    pub kind: String,
    pub target_id: Option<String>,
    pub state: JobState,
    /// 0–100.
    pub progress: u8,
    pub steps: Vec<JobStepView>,
    pub error: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A job accepted by a mutating call (HTTP 202).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct JobAccepted {
    pub job: JobView,
    /// The VM the job works on, when there is one.
    pub vm_id: Option<VmId>,
}

/// One audit record.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditView {
    pub id: AuditId,
    pub at: String,
    /// Username, or `system` for controllers.
    pub actor: String,
    /// e.g. `vm.create`, `auth.login`.
    pub action: String,
    pub target_kind: String,
    pub target_id: Option<String>,
    pub result: AuditResult,
    pub detail: Option<String>,
}

/// A VM's high-availability settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VmHaView {
    pub vm_id: crate::VmId,
    pub priority: crate::RestartPriority,
    pub policy: crate::HaPolicy,
    /// VMs started before this one when both come back after a host failure.
    pub depends_on: Vec<crate::VmId>,
}

/// How much of a cluster is kept free so the VMs of failed hosts can restart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum HaReserve {
    /// No reserve: HA restarts what fits.
    None,
    /// Room for the VMs of this many failed hosts (the largest ones).
    HostFailures { hosts: u32 },
    /// A share of the cluster's vCPUs and memory, in percent.
    Percent { cpu: f64, memory: f64 },
    /// These hosts stay empty for failover.
    FailoverHosts { hosts: Vec<crate::HostId> },
}

/// vCPUs and memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AmountView {
    pub vcpus: u64,
    pub memory_mib: u64,
}

/// A cluster's failover reserve and the admission figures it gives: capacity of its
/// connected hosts (after overcommit), what the reserve keeps, what running VMs use, and what
/// new or restarted VMs may still take.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClusterHaView {
    pub cluster_id: crate::ClusterId,
    pub reserve: HaReserve,
    pub capacity: AmountView,
    pub reserved: AmountView,
    pub used: AmountView,
    pub headroom: AmountView,
}

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

/// A department and an amount of money.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DepartmentAmountView {
    /// `null`: VMs and volumes of no department.
    pub department_id: Option<DepartmentId>,
    pub department: Option<String>,
    pub amount: f64,
}

/// A smaller size that would do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RightSizeView {
    pub vcpus: u32,
    pub memory_mib: u64,
}

/// One piece of sprawl, with its evidence and what it costs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SprawlFindingView {
    pub kind: SprawlKind,
    /// The VM (`null` for a volume).
    pub vm_id: Option<VmId>,
    /// The VM's name, or the volume's path.
    pub name: String,
    pub department_id: Option<DepartmentId>,
    pub department: Option<String>,
    pub owner: Option<String>,
    pub evidence: String,
    /// What it costs a month at the price list, and what of that is wasted.
    pub monthly_cost: f64,
    pub monthly_waste: f64,
    pub right_size: Option<RightSizeView>,
}

/// `GET /api/v1/reports/sprawl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SprawlReportView {
    pub generated_at: String,
    pub currency: String,
    /// The days of use judged (idle, oversized) and the days off that make a zombie.
    pub days: u32,
    pub zombie_days: u32,
    pub findings: Vec<SprawlFindingView>,
    /// Monthly waste, each VM counted once (its largest finding).
    pub total_waste: f64,
    pub waste_by_department: Vec<DepartmentAmountView>,
}

/// One line of a bill.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChargeLineView {
    pub item: String,
    pub quantity: f64,
    /// `vCPU-hours`, `GiB-hours`, `hours` or `month`.
    pub unit: String,
    pub unit_price: f64,
    pub amount: f64,
}

/// A VM's bill for the period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VmBillView {
    pub vm_id: VmId,
    pub name: String,
    pub lines: Vec<ChargeLineView>,
    pub total: f64,
}

/// A department's statement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatementView {
    pub department_id: Option<DepartmentId>,
    pub department: Option<String>,
    pub vms: Vec<VmBillView>,
    /// The department's fixed charge for the period.
    pub fixed: Option<ChargeLineView>,
    pub total: f64,
}

/// `GET /api/v1/reports/chargeback`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChargebackView {
    /// `YYYY-MM`.
    pub month: String,
    pub model: ChargeModel,
    pub currency: String,
    /// The period billed: the month, or its part up to now.
    pub from: String,
    pub to: String,
    pub statements: Vec<StatementView>,
    pub total: f64,
}

/// What an import of another tool's export wrote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImportView {
    pub source: String,
    /// The external site it went to (`rvtools:SOURCE`).
    pub site: String,
    pub clusters: usize,
    pub hosts: usize,
    pub vms: usize,
    pub templates_skipped: usize,
    /// VMs on a host the export does not list (or none): imported without a host.
    pub vms_without_host: usize,
    /// VMs of an earlier import of the source that are gone from this one.
    pub vms_removed: usize,
}

/// A VM that runs a licensed product.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LicenceVmView {
    pub vm_id: VmId,
    pub name: String,
    pub department_id: Option<DepartmentId>,
    pub department: Option<String>,
    pub owner: Option<String>,
    pub power_state: PowerState,
    /// Why it counts: `placement requires it`, `tagged`, `guest OS winsrv-2019`.
    pub why: String,
    pub host: Option<String>,
    /// Hosts it runs on or may be moved to (host-counted models).
    pub may_run_on: usize,
    /// Its placement requires the product: it only goes to hosts licensed for it.
    pub confined: bool,
}

/// A host a product needs licensing on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LicenceHostView {
    pub host_id: HostId,
    pub name: String,
    /// Licences it needs, in the product's unit.
    pub units: u64,
    /// It runs a VM of the product now (else VMs may only be moved to it).
    pub current: bool,
    /// It is marked licensed for the product (`vdc host set --licensed`).
    pub licensed: bool,
    pub why: String,
}

/// An idle or long-off VM that holds a licence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IdleLicenceView {
    pub vm_id: VmId,
    pub name: String,
    pub department_id: Option<DepartmentId>,
    pub department: Option<String>,
    pub owner: Option<String>,
    pub evidence: String,
    /// The product's monthly price per VM.
    pub monthly_cost: f64,
}

/// One product's compliance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProductComplianceView {
    pub product: String,
    pub model: LicenceModel,
    pub owned: u64,
    /// Needed where its VMs run now.
    pub needed_now: u64,
    /// Needed counting every host its VMs may be moved to.
    pub needed: u64,
    pub shortfall: u64,
    pub vms: Vec<LicenceVmView>,
    pub hosts: Vec<LicenceHostView>,
    /// VMs with no host or cluster to count them on (host-counted models).
    pub uncounted: Vec<String>,
    pub idle: Vec<IdleLicenceView>,
}

/// `GET /api/v1/reports/licences`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LicenceReportView {
    pub generated_at: String,
    pub currency: String,
    /// The report counts every VM. When not (a department asked for, or a caller who sees
    /// part of the estate), needed counts only the VMs in view, against all licences owned.
    pub whole_estate: bool,
    pub products: Vec<ProductComplianceView>,
    /// Products short of licences.
    pub short: usize,
    /// What idle VMs' licences cost a month.
    pub idle_monthly_cost: f64,
}

/// One VM's patch level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PatchLineView {
    pub vm_id: VmId,
    pub name: String,
    pub department_id: Option<DepartmentId>,
    pub department: Option<String>,
    pub owner: Option<String>,
    /// OS key, version and name as the source gave them (`null`: unknown).
    pub os: Option<String>,
    pub version: Option<String>,
    pub os_name: Option<String>,
    pub source: Option<GuestOsSource>,
    /// The baseline applied.
    pub baseline: Option<crate::OsBaseline>,
    pub status: PatchStatus,
}

/// VMs behind their baseline, per owner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OwnerCountView {
    pub owner: Option<String>,
    pub behind: usize,
}

/// `GET /api/v1/reports/patches`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PatchReportView {
    pub generated_at: String,
    /// Behind first, then unknown, unchecked and current.
    pub vms: Vec<PatchLineView>,
    pub behind_by_owner: Vec<OwnerCountView>,
    pub current: usize,
    pub behind: usize,
    pub unknown: usize,
    pub unchecked: usize,
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
