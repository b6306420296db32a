//! What a rating reads and returns: the host snapshot and the VM's request (inputs), the
//! filters, soft rules, rankers and weights of a policy, and the rating with its explanation.

use super::*;

// ---------------------------------------------------------------------------------------------
// Inputs

pub use vdc_types::NumaCell;

/// A candidate host as the rating sees it: what it is, what is allocated on it, how it behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct HostSnapshot {
    /// Unique within a snapshot.
    pub id: HostId,
    pub name: String,
    pub cluster: ClusterId,
    pub reachable: bool,
    pub maintenance: bool,
    pub powered_on: bool,
    pub logical_cpus: u32,
    pub memory_mib: u64,
    /// Empty when the host reports no topology (the NUMA filter then passes).
    pub numa_cells: Vec<NumaCell>,
    pub allocated_vcpus: u64,
    pub allocated_memory_mib: u64,
    /// vCPUs per logical CPU the host's cluster allows.
    pub vcpu_ratio: f64,
    /// Memory overcommit the host's cluster allows (1.0 = none).
    pub memory_ratio: f64,
    pub cpu_vendor: String,
    pub cpu_model: String,
    /// CPU feature flags (sorted).
    pub cpu_features: Vec<String>,
    /// Datastores the host sees: name and free GiB. A repeated name: the first entry counts.
    pub datastores: Vec<(String, u64)>,
    pub networks: Vec<String>,
    /// A host dedicated to a department accepts only that department's VMs.
    pub dedicated_to: Option<DepartmentId>,
    pub licensed_software: Vec<String>,
    /// Licence cost of one vCPU on this host (any currency: only compared between hosts).
    pub licence_cost_per_vcpu: f64,
    /// Measured CPU utilisation, 0..=1. Informational: the rankers use `hourly_load` and
    /// `vcpu_wait`.
    pub cpu_load: f64,
    /// Measured per-hour p95 utilisation of the host, 0..=1.
    pub hourly_load: Option<[f64; 24]>,
    /// Share of time the host's vCPUs waited for a physical CPU, 0..=1 (contention).
    pub vcpu_wait: f64,
    /// Affinity groups with members here: group name and how many members run here.
    pub groups: Vec<(String, u32)>,
    /// Kept empty for failover by its cluster's HA reserve: only HA restarts land here.
    pub failover_reserved: bool,
}

/// The VM to place.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VmRequest {
    pub vcpus: u32,
    pub memory_mib: u64,
    /// Disks: the datastore each must go to (`None`: any) and its size in GiB.
    pub disks: Vec<(Option<String>, u64)>,
    pub networks: Vec<String>,
    pub cpu_vendor: Option<String>,
    pub cpu_model: Option<String>,
    pub cpu_features: Vec<String>,
    pub department: Option<DepartmentId>,
    pub licensed_software: Vec<String>,
    /// Group to be with. The VM becomes a member of it once placed.
    pub affinity: Option<String>,
    /// Group to avoid sharing a host with. The VM becomes a member of it once placed.
    pub anti_affinity: Option<String>,
    /// Expected per-hour utilisation of the VM's own vCPUs, 0..=1.
    pub hourly_load: Option<[f64; 24]>,
    /// An HA restart, which may use the hosts kept empty for failover.
    pub ha_restart: bool,
}

// ---------------------------------------------------------------------------------------------
// Policy

/// A hard filter: why a host was refused. Declaration order is pipeline order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Filter {
    /// The host does not answer.
    Unreachable,
    /// The host is in maintenance.
    Maintenance,
    /// The host is kept empty for failover and the VM is not being restarted by HA.
    Failover,
    /// The host is dedicated to a department the VM does not belong to.
    Department,
    /// Vendor or model differ from the ones asked for, or a required CPU feature is missing.
    Cpu,
    /// A required piece of software is not licensed on the host.
    Licence,
    /// A required network is not present on the host.
    Network,
    /// The VM is wider than the host's NUMA cells together (one vCPU per logical CPU): a VM
    /// that fits in one cell fits; a wider one spans cells, so with equal cells of c CPUs and
    /// M MiB it needs max(ceil(vcpus / c), ceil(memory / M)) of them; in general the cells'
    /// total CPUs and memory must hold it. Hosts that report no cells pass.
    Numa,
    /// allocated + requested vCPUs > floor(logical CPUs × vcpu_ratio).
    Vcpus,
    /// allocated + requested memory > floor(memory × memory_ratio).
    Memory,
    /// A named datastore is missing or lacks room for the disks naming it, or no datastore
    /// has room for all unnamed disks together (after the named disks bound for it).
    Datastore,
    /// A member of the VM's (hard) anti-affinity group already runs on the host.
    AntiAffinity,
}

impl Filter {
    /// Every filter, in pipeline order.
    pub const ALL: [Filter; 12] = [
        Filter::Unreachable,
        Filter::Maintenance,
        Filter::Failover,
        Filter::Department,
        Filter::Cpu,
        Filter::Licence,
        Filter::Network,
        Filter::Numa,
        Filter::Vcpus,
        Filter::Memory,
        Filter::Datastore,
        Filter::AntiAffinity,
    ];

    /// Human-readable reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Filter::Unreachable => "host unreachable",
            Filter::Maintenance => "host in maintenance",
            Filter::Failover => "host kept empty for failover",
            Filter::Department => "host dedicated to another department",
            Filter::Cpu => "CPU vendor, model or features incompatible",
            Filter::Licence => "required software not licensed on host",
            Filter::Network => "required network missing",
            Filter::Numa => "VM wider than the host's NUMA cells",
            Filter::Vcpus => "not enough vCPU room under the overcommit ratio",
            Filter::Memory => "not enough memory room under the overcommit ratio",
            Filter::Datastore => "not enough datastore space for the disks",
            Filter::AntiAffinity => "anti-affinity group member already on host",
        }
    }
}

/// A soft ranker: one reason a feasible host scores higher or lower, valued in 0..=1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ranker {
    /// min(free vCPU share, free memory share) of the host's capacity after placement.
    Headroom,
    /// 1 − 2 × the standard deviation of memory-use shares across the cluster's active hosts
    /// (reachable, not in maintenance, powered on; a powered-off candidate joins them) after
    /// placement: 1 when perfectly even.
    Balance,
    /// With both hourly profiles: 1 − min(1, max over hours of host + VM × min(1, vcpus /
    /// logical CPUs)); a VM busy when the host is quiet scores higher. 0.5 when unknown.
    Complementary,
    /// 1 − min(1, vcpu_wait / policy.contention_full).
    Contention,
    /// 1 − cost per vCPU / the highest cost per vCPU in the snapshot (1 when all are free).
    Licence,
    /// 1 when the host is powered on, 0 when it would have to be powered on.
    Power,
    /// 1 when the VM's affinity group has members here (or it names none, or the group has no
    /// members anywhere yet), else 0.
    Affinity,
}

impl Ranker {
    /// Every ranker, in the order contributions are listed.
    pub const ALL: [Ranker; 7] = [
        Ranker::Headroom,
        Ranker::Balance,
        Ranker::Complementary,
        Ranker::Contention,
        Ranker::Licence,
        Ranker::Power,
        Ranker::Affinity,
    ];

    /// Human-readable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Ranker::Headroom => "headroom after placement",
            Ranker::Balance => "cluster memory balance",
            Ranker::Complementary => "complementary load profile",
            Ranker::Contention => "low vCPU contention",
            Ranker::Licence => "licence cost",
            Ranker::Power => "already powered on",
            Ranker::Affinity => "with its affinity group",
        }
    }
}

/// A preference that narrows the feasible hosts, relaxed (in priority order) when nothing fits.
///
/// A rule applies only when the request gives it something to do: `DepartmentFirst` when the
/// VM's department has dedicated hosts in the snapshot, `Affinity` when its group has members
/// somewhere, `AntiAffinity` when it names a group. A rule that does not apply is never
/// reported as relaxed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SoftRule {
    /// Only hosts dedicated to the VM's department.
    DepartmentFirst,
    /// Only hosts where the VM's affinity group has members.
    Affinity,
    /// Only hosts without members of the VM's anti-affinity group. Listing this rule in
    /// [`Policy::soft_rules`] makes anti-affinity soft; otherwise it is a hard [`Filter`].
    AntiAffinity,
    /// Only hosts that are powered on.
    PoweredOn,
}

impl SoftRule {
    /// Human-readable rule.
    pub fn as_str(self) -> &'static str {
        match self {
            SoftRule::DepartmentFirst => "department's dedicated hosts first",
            SoftRule::Affinity => "with the affinity group",
            SoftRule::AntiAffinity => "apart from the anti-affinity group",
            SoftRule::PoweredOn => "stay on powered-on hosts",
        }
    }
}

/// Weight of each ranker; negative or non-finite weights count as 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    pub headroom: f64,
    pub balance: f64,
    pub complementary: f64,
    pub contention: f64,
    pub licence: f64,
    pub power: f64,
    pub affinity: f64,
}

impl Weights {
    /// The weight of `r`, as given.
    pub fn get(&self, r: Ranker) -> f64 {
        match r {
            Ranker::Headroom => self.headroom,
            Ranker::Balance => self.balance,
            Ranker::Complementary => self.complementary,
            Ranker::Contention => self.contention,
            Ranker::Licence => self.licence,
            Ranker::Power => self.power,
            Ranker::Affinity => self.affinity,
        }
    }

    pub(crate) fn sanitized(&self) -> ([f64; N_RANKERS], f64) {
        let w = Ranker::ALL.map(|r| {
            let w = self.get(r);
            if w.is_finite() && w > 0.0 { w } else { 0.0 }
        });
        let total = w.iter().sum();
        (w, total)
    }
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            headroom: 3.0,
            balance: 1.0,
            complementary: 2.0,
            contention: 2.0,
            licence: 1.0,
            power: 2.0,
            affinity: 2.0,
        }
    }
}

/// How hosts are rated: ranker weights and soft rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub weights: Weights,
    /// Soft rules, highest priority first (repeats ignored). Rules not listed are not enforced
    /// (the rankers still prefer what they prefer).
    pub soft_rules: Vec<SoftRule>,
    /// `vcpu_wait` at which the contention ranker reaches 0 (non-positive: 0.10).
    pub contention_full: f64,
}

impl Default for Policy {
    /// Department hosts first, then affinity, then powered-on hosts; anti-affinity hard;
    /// contention counts fully at 10 % vCPU wait.
    fn default() -> Self {
        Policy {
            weights: Weights::default(),
            soft_rules: vec![
                SoftRule::DepartmentFirst,
                SoftRule::Affinity,
                SoftRule::PoweredOn,
            ],
            contention_full: 0.10,
        }
    }
}

impl Policy {
    pub(crate) fn rules(&self) -> Vec<SoftRule> {
        let mut out = Vec::new();
        for r in &self.soft_rules {
            if !out.contains(r) {
                out.push(*r);
            }
        }
        out
    }

    pub(crate) fn contention_full(&self) -> f64 {
        if self.contention_full.is_finite() && self.contention_full > 0.0 {
            self.contention_full
        } else {
            0.10
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Output

/// One host's rating and its explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct HostRating {
    pub id: HostId,
    pub name: String,
    /// 0, 0.5, …, 5 (0 for refused hosts).
    pub stars: f64,
    /// 0..=1, the sum of the contributions (0 for refused hosts).
    pub score: f64,
    /// Each ranker's weighted contribution to the score (empty for refused hosts).
    pub contributions: Vec<(Ranker, f64)>,
    /// The first hard filter that refused the host.
    pub rejected_by: Option<Filter>,
    /// Kept soft rules this (feasible) host breaks: it is ranked after the hosts that meet
    /// them all.
    pub unmet: Vec<SoftRule>,
}

/// The outcome of rating hosts for one VM.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rating {
    /// Hosts meeting every kept soft rule (score desc, name, id), then feasible hosts that
    /// break some (same order), then refused hosts (name, id).
    pub hosts: Vec<HostRating>,
    /// The first host, when it is feasible and meets every kept rule.
    pub chosen: Option<HostId>,
    /// How many hosts each filter refused (exact, also from [`Rater::rate_top`]).
    pub rejected: BTreeMap<Filter, usize>,
    /// Soft rules relaxed because no feasible host met them, in priority order.
    pub relaxed: Vec<SoftRule>,
}

impl Rating {
    /// "3 host unreachable, 5 not enough memory room …" — for error messages.
    pub fn explain_rejections(&self) -> String {
        explain(&self.rejected)
    }
}

pub(crate) fn explain(rejected: &BTreeMap<Filter, usize>) -> String {
    if rejected.is_empty() {
        return "no hosts".into();
    }
    rejected
        .iter()
        .map(|(f, n)| format!("{n} {}", f.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why [`place_group`] placed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupError {
    /// Index in the request slice of the first VM that fitted nowhere.
    pub index: usize,
    /// Why each host refused it, after the VMs before it were placed.
    pub rejected: BTreeMap<Filter, usize>,
}

impl GroupError {
    /// "3 host unreachable, 2 not enough memory …" for the VM that fitted nowhere.
    pub fn explain_rejections(&self) -> String {
        explain(&self.rejected)
    }
}

impl fmt::Display for GroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "VM {} of the group fits on no host: {}",
            self.index,
            explain(&self.rejected)
        )
    }
}

impl std::error::Error for GroupError {}

/// [`Rater::commit`] and friends were given a host the rater does not index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownHost(pub HostId);

impl fmt::Display for UnknownHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "host {} is not in the rater's snapshot", self.0)
    }
}

impl std::error::Error for UnknownHost {}
