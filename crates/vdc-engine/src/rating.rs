//! Host rating (DESIGN.md C3): every candidate host gets a 0–5 star rating, explained
//! constraint by constraint, and the best host is chosen.
//!
//! The pipeline, in this order:
//!
//! 1. **Hard filters** ([`Filter`], in declaration order) say yes or no; the first that refuses
//!    a host is recorded. What the host *is* is checked before what is *allocated* on it, so a
//!    host that could never run the VM says so instead of "not enough memory": unreachable,
//!    maintenance, kept for failover, department, CPU, licence, network, NUMA, then vCPU room, memory room,
//!    datastore space, anti-affinity. Hard filters are never relaxed.
//! 2. **Soft rules** ([`SoftRule`], in the policy's priority order) narrow the feasible hosts.
//!    A rule is kept when some feasible host meets it together with every higher-priority rule
//!    kept so far; otherwise it is relaxed and named in [`Rating::relaxed`]. So rules are
//!    relaxed only when nothing fits with all of them, lowest priority first in effect, and
//!    never one that could have been kept.
//! 3. **Rankers** ([`Ranker`]) give each feasible host a value in 0..=1; its weighted
//!    contribution is weight × value / Σ weights, the score is the sum of the contributions
//!    (0..=1), the stars are the score × 5 rounded to half stars.
//! 4. **Pick**: hosts meeting every kept rule by score (desc), name, id; the first is chosen.
//!
//! [`rate`] rates every host and is the reference. [`Rater`] indexes a snapshot, explains only
//! the top k hosts with exact rejection counts, and agrees with [`rate`] on everything it
//! returns (property-tested below). [`place_group`] places several VMs all-or-nothing.
//!
//! Everything is deterministic: no hash-map iteration, ties broken by name then id, and the
//! cluster statistics are integer sums, so the order of the input hosts does not matter.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;

use vdc_types::{ClusterId, DepartmentId, HostId};

/// Memory-use shares are kept in millionths so that cluster sums are exact integers and both
/// paths ([`rate`] and [`Rater`]) compute bit-identical balance values.
const Q: u64 = 1_000_000;
/// Hosts per index chunk in [`Rater::new`].
const DEFAULT_CHUNK: usize = 32;
const N_RANKERS: usize = Ranker::ALL.len();

/// vCPUs per logical CPU a host may carry unless its cluster says otherwise.
pub const DEFAULT_VCPU_RATIO: f64 = 4.0;

// ---------------------------------------------------------------------------------------------
// Inputs

/// One NUMA cell of a host: its logical CPUs and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NumaCell {
    pub cpus: u32,
    pub memory_mib: u64,
}

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

    fn sanitized(&self) -> ([f64; N_RANKERS], f64) {
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
    fn rules(&self) -> Vec<SoftRule> {
        let mut out = Vec::new();
        for r in &self.soft_rules {
            if !out.contains(r) {
                out.push(*r);
            }
        }
        out
    }

    fn contention_full(&self) -> f64 {
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

fn explain(rejected: &BTreeMap<Filter, usize>) -> String {
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

// ---------------------------------------------------------------------------------------------
// The pieces both paths share: one function per filter or ranker, so that `rate` and `Rater`
// compute bit-identical values.

/// The request, prepared once per rating.
#[derive(Debug)]
struct Prepared<'a> {
    req: &'a VmRequest,
    disks: DiskNeed,
    vm_profile: Option<[f64; 24]>,
    /// Policy soft rules, deduplicated, highest priority first (at most 4).
    rules: Vec<SoftRule>,
    applicable: Vec<bool>,
    anti_hard: bool,
    aff_applicable: bool,
    weights: [f64; N_RANKERS],
    total_weight: f64,
    contention_full: f64,
}

impl<'a> Prepared<'a> {
    fn new(
        req: &'a VmRequest,
        policy: &Policy,
        has_dedicated: impl Fn(DepartmentId) -> bool,
        has_members: impl Fn(&str) -> bool,
    ) -> Self {
        let rules = policy.rules();
        let aff_applicable = req.affinity.as_deref().is_some_and(&has_members);
        let applicable = rules
            .iter()
            .map(|r| match r {
                SoftRule::DepartmentFirst => req.department.is_some_and(&has_dedicated),
                SoftRule::Affinity => aff_applicable,
                SoftRule::AntiAffinity => req.anti_affinity.is_some(),
                SoftRule::PoweredOn => true,
            })
            .collect();
        let (weights, total_weight) = policy.weights.sanitized();
        Prepared {
            req,
            disks: DiskNeed::new(&req.disks),
            vm_profile: req.hourly_load.as_ref().map(sanitize_profile),
            anti_hard: req.anti_affinity.is_some() && !rules.contains(&SoftRule::AntiAffinity),
            rules,
            applicable,
            aff_applicable,
            weights,
            total_weight,
            contention_full: policy.contention_full(),
        }
    }

    /// Bit i set: the host breaks applicable rule i.
    fn soft_mask(
        &self,
        dedicated_to: Option<DepartmentId>,
        powered_on: bool,
        aff_member: bool,
        anti_member: bool,
    ) -> u8 {
        let mut mask = 0;
        for (i, (rule, applies)) in self.rules.iter().zip(&self.applicable).enumerate() {
            let ok = !applies
                || match rule {
                    SoftRule::DepartmentFirst => {
                        dedicated_to.is_some() && dedicated_to == self.req.department
                    }
                    SoftRule::Affinity => aff_member,
                    SoftRule::AntiAffinity => !anti_member,
                    SoftRule::PoweredOn => powered_on,
                };
            if !ok {
                mask |= 1 << i;
            }
        }
        mask
    }

    fn rules_in(&self, mask: u8) -> Vec<SoftRule> {
        (0..self.rules.len())
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| self.rules[i])
            .collect()
    }
}

/// Which rules to keep, given the set of soft masks of the feasible hosts (bit m of `present`
/// set: some feasible host breaks exactly the rules in m). Greedy in priority order: keep a
/// rule when some feasible host meets it and every rule kept so far.
fn keep_rules(present: u16, n_rules: usize) -> u8 {
    let all = ((1u16 << n_rules) - 1) as u8;
    if present == 0 {
        return all;
    }
    let mut kept = 0u8;
    for i in 0..n_rules {
        let cand = kept | (1 << i);
        if (0..16u16).any(|m| present & (1 << m) != 0 && (m as u8) & cand == 0) {
            kept = cand;
        }
    }
    kept
}

/// What a request needs from datastores: GiB per named datastore, and all unnamed disks.
#[derive(Debug)]
struct DiskNeed {
    named: Vec<(String, u64)>,
    unnamed: Option<u64>,
}

impl DiskNeed {
    fn new(disks: &[(Option<String>, u64)]) -> Self {
        let mut named: BTreeMap<&str, u64> = BTreeMap::new();
        let mut unnamed: Option<u64> = None;
        for (ds, gib) in disks {
            match ds {
                Some(name) => {
                    let e = named.entry(name).or_insert(0);
                    *e = e.saturating_add(*gib);
                }
                None => unnamed = Some(unnamed.unwrap_or(0).saturating_add(*gib)),
            }
        }
        DiskNeed {
            named: named.into_iter().map(|(n, g)| (n.to_owned(), g)).collect(),
            unnamed,
        }
    }

    fn need(&self, name: &str) -> u64 {
        self.named
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .map_or(0, |i| self.named[i].1)
    }
}

/// What the host is: the inputs of the static filters.
struct StaticView<'a> {
    reachable: bool,
    maintenance: bool,
    failover_reserved: bool,
    dedicated_to: Option<DepartmentId>,
    cpu_vendor: &'a str,
    cpu_model: &'a str,
    cpu_features: &'a [String],
    licensed: &'a [String],
    networks: &'a [String],
    numa: &'a [NumaCell],
}

/// The first static filter refusing the host.
fn static_filter(h: &StaticView<'_>, req: &VmRequest) -> Option<Filter> {
    if !h.reachable {
        return Some(Filter::Unreachable);
    }
    if h.maintenance {
        return Some(Filter::Maintenance);
    }
    if h.failover_reserved && !req.ha_restart {
        return Some(Filter::Failover);
    }
    if h.dedicated_to.is_some() && h.dedicated_to != req.department {
        return Some(Filter::Department);
    }
    if req.cpu_vendor.as_deref().is_some_and(|v| v != h.cpu_vendor)
        || req.cpu_model.as_deref().is_some_and(|m| m != h.cpu_model)
        || !req.cpu_features.iter().all(|f| h.cpu_features.contains(f))
    {
        return Some(Filter::Cpu);
    }
    if !req.licensed_software.iter().all(|s| h.licensed.contains(s)) {
        return Some(Filter::Licence);
    }
    if !req.networks.iter().all(|n| h.networks.contains(n)) {
        return Some(Filter::Network);
    }
    if !numa_fits(h.numa, req.vcpus, req.memory_mib) {
        return Some(Filter::Numa);
    }
    None
}

/// See [`Filter::Numa`].
fn numa_fits(cells: &[NumaCell], vcpus: u32, memory_mib: u64) -> bool {
    if cells.is_empty() {
        return true;
    }
    let cpus: u64 = cells.iter().map(|c| u64::from(c.cpus)).sum();
    let memory: u128 = cells.iter().map(|c| u128::from(c.memory_mib)).sum();
    u64::from(vcpus) <= cpus && u128::from(memory_mib) <= memory
}

/// floor(logical CPUs × ratio); a non-finite or negative product gives 0 (or saturates).
fn vcpu_cap(logical_cpus: u32, ratio: f64) -> u64 {
    (f64::from(logical_cpus) * ratio).floor() as u64
}

/// floor(memory × ratio).
fn memory_cap(memory_mib: u64, ratio: f64) -> u64 {
    (memory_mib as f64 * ratio).floor() as u64
}

/// Room left under a cap; may be negative when the snapshot is already overcommitted.
fn room(alloc: u64, cap: u64) -> i128 {
    i128::from(cap) - i128::from(alloc)
}

/// Memory-use share in millionths, capped at 1.
fn share_q(alloc: u64, cap: u64) -> u64 {
    if cap == 0 {
        return Q;
    }
    (u128::from(alloc) * u128::from(Q) / u128::from(cap)).min(u128::from(Q)) as u64
}

/// Active hosts of a cluster: their number and the sums of their memory-use shares and squares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ClusterStat {
    n: u64,
    s1: u128,
    s2: u128,
}

impl ClusterStat {
    fn add(&mut self, q: u64) {
        self.n += 1;
        self.s1 += u128::from(q);
        self.s2 += u128::from(q) * u128::from(q);
    }

    fn replace(&mut self, old: u64, new: u64) {
        self.s1 = self.s1 + u128::from(new) - u128::from(old);
        self.s2 = self.s2 + u128::from(new) * u128::from(new) - u128::from(old) * u128::from(old);
    }

    /// n² × the variance of the shares, exactly: n × Σq² − (Σq)².
    fn spread(&self) -> u128 {
        (u128::from(self.n) * self.s2).saturating_sub(self.s1 * self.s1)
    }
}

fn sanitize01(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

fn sanitize_profile(p: &[f64; 24]) -> [f64; 24] {
    p.map(sanitize01)
}

fn sanitize_cost(c: f64) -> f64 {
    if c.is_finite() && c > 0.0 { c } else { 0.0 }
}

fn headroom(alloc_v: u64, v: u64, vcap: u64, alloc_m: u64, m: u64, mcap: u64) -> f64 {
    let free = |alloc: u64, want: u64, cap: u64| {
        if cap == 0 {
            0.0
        } else {
            1.0 - (alloc as f64 + want as f64) / cap as f64
        }
    };
    free(alloc_v, v, vcap)
        .min(free(alloc_m, m, mcap))
        .clamp(0.0, 1.0)
}

fn balance(stat: ClusterStat, active: bool, q_before: u64, q_after: u64) -> f64 {
    let mut s = stat;
    if active {
        s.replace(q_before, q_after);
    } else {
        s.add(q_after);
    }
    balance_of(s.n, s.spread())
}

/// 1 − 2 × the standard deviation of `n` shares whose [`ClusterStat::spread`] is `spread`.
/// Decreasing in `spread`: a bound on the spread is a bound on the balance, bit for bit when
/// it is reached.
fn balance_of(n: u64, spread: u128) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let sd = to_f64(spread).sqrt() / n as f64;
    (1.0 - 2.0 * sd / Q as f64).clamp(0.0, 1.0)
}

/// `x as f64`, through u64 when it fits: the same value, without the slow u128 conversion.
fn to_f64(x: u128) -> f64 {
    match u64::try_from(x) {
        Ok(v) => v as f64,
        Err(_) => x as f64,
    }
}

/// The share of the host's CPUs the VM's vCPUs stand for (at most 1).
fn vm_scale(vcpus: u32, logical_cpus: u32) -> f64 {
    if logical_cpus == 0 {
        1.0
    } else {
        (f64::from(vcpus) / f64::from(logical_cpus)).min(1.0)
    }
}

fn complementary(
    host: Option<&[f64; 24]>,
    vm: Option<&[f64; 24]>,
    vcpus: u32,
    logical_cpus: u32,
) -> f64 {
    let (Some(h), Some(v)) = (host, vm) else {
        return 0.5;
    };
    let scale = vm_scale(vcpus, logical_cpus);
    let peak = h
        .iter()
        .zip(v)
        .fold(0.0f64, |peak, (h, v)| peak.max(h + scale * v));
    1.0 - peak.min(1.0)
}

/// An upper bound of [`complementary`] for a host whose busiest hour is `peak` and a VM whose
/// quietest hour is `vm_min`, scaled by `scale` (at most the VM's [`vm_scale`] on the host).
fn complementary_bound(peak: f64, scale: f64, vm_min: f64) -> f64 {
    1.0 - (peak + scale * vm_min).min(1.0)
}

fn contention(vcpu_wait: f64, full: f64) -> f64 {
    1.0 - (sanitize01(vcpu_wait) / full).min(1.0)
}

fn licence(cost: f64, max: f64) -> f64 {
    if max <= 0.0 {
        1.0
    } else {
        (1.0 - sanitize_cost(cost) / max).clamp(0.0, 1.0)
    }
}

/// Everything the rankers read about one host.
struct RankInput {
    alloc_v: u64,
    alloc_m: u64,
    vcap: u64,
    mcap: u64,
    cluster: ClusterStat,
    active: bool,
    /// [`complementary`], or a bound of it.
    complementary: f64,
    /// [`contention`] and [`licence`] of the host (they do not depend on the request).
    contention: f64,
    licence: f64,
    powered_on: bool,
    aff_member: bool,
}

fn ranker_values(x: &RankInput, p: &Prepared<'_>) -> [f64; N_RANKERS] {
    let req = p.req;
    let q0 = share_q(x.alloc_m, x.mcap);
    let q1 = share_q(x.alloc_m.saturating_add(req.memory_mib), x.mcap);
    [
        headroom(
            x.alloc_v,
            u64::from(req.vcpus),
            x.vcap,
            x.alloc_m,
            req.memory_mib,
            x.mcap,
        ),
        balance(x.cluster, x.active, q0, q1),
        x.complementary,
        x.contention,
        x.licence,
        if x.powered_on { 1.0 } else { 0.0 },
        if !p.aff_applicable || x.aff_member {
            1.0
        } else {
            0.0
        },
    ]
}

/// Weighted contributions and their sum. Monotone in every value (weights are non-negative),
/// which is what lets [`Rater`] prune with upper bounds.
fn combine(values: &[f64; N_RANKERS], w: &[f64; N_RANKERS], total: f64) -> ([f64; N_RANKERS], f64) {
    let mut contrib = [0.0; N_RANKERS];
    let mut score = 0.0;
    if total > 0.0 {
        for ((c, v), w) in contrib.iter_mut().zip(values).zip(w) {
            *c = w * v / total;
            score += *c;
        }
    }
    (contrib, score.clamp(0.0, 1.0))
}

fn stars(score: f64) -> f64 {
    (score * 10.0).round() / 2.0
}

/// A host's verdict: refused, or feasible with its broken-rule mask and ranker values.
#[derive(Debug, Clone, Copy)]
enum Eval {
    Rejected(Filter),
    Feasible { mask: u8, values: [f64; N_RANKERS] },
}

fn host_rating(id: HostId, name: &str, eval: &Eval, kept: u8, p: &Prepared<'_>) -> HostRating {
    match *eval {
        Eval::Rejected(f) => HostRating {
            id,
            name: name.to_owned(),
            stars: 0.0,
            score: 0.0,
            contributions: Vec::new(),
            rejected_by: Some(f),
            unmet: Vec::new(),
        },
        Eval::Feasible { mask, values } => {
            let (contrib, score) = combine(&values, &p.weights, p.total_weight);
            HostRating {
                id,
                name: name.to_owned(),
                stars: stars(score),
                score,
                contributions: Ranker::ALL.iter().copied().zip(contrib).collect(),
                rejected_by: None,
                unmet: p.rules_in(mask & kept),
            }
        }
    }
}

fn count_map(counts: &[usize; Filter::ALL.len()]) -> BTreeMap<Filter, usize> {
    Filter::ALL
        .iter()
        .zip(counts)
        .filter(|(_, n)| **n > 0)
        .map(|(f, n)| (*f, *n))
        .collect()
}

fn is_active(h: &HostSnapshot) -> bool {
    h.reachable && !h.maintenance && h.powered_on
}

fn has_member(h: &HostSnapshot, group: Option<&str>) -> bool {
    group.is_some_and(|g| h.groups.iter().any(|(n, c)| n == g && *c > 0))
}

/// Datastores of a host, first entry per name.
fn unique_datastores(h: &HostSnapshot) -> impl Iterator<Item = (&str, u64)> + Clone {
    h.datastores
        .iter()
        .enumerate()
        .filter(|(i, (n, _))| !h.datastores[..*i].iter().any(|(m, _)| m == n))
        .map(|(_, (n, f))| (n.as_str(), *f))
}

fn datastores_fit(h: &HostSnapshot, need: &DiskNeed) -> bool {
    let entries = unique_datastores(h);
    for (name, n) in &need.named {
        match entries.clone().find(|(e, _)| e == name) {
            Some((_, free)) if free >= *n => {}
            _ => return false,
        }
    }
    match need.unnamed {
        None => true,
        Some(u) => entries
            .clone()
            .any(|(name, free)| free >= need.need(name).saturating_add(u)),
    }
}

// ---------------------------------------------------------------------------------------------
// The reference: rate every host.

/// Rates every host for `req`: the reference pipeline, O(hosts × (filters + rankers)) plus a
/// sort. See the module docs for the order of the steps.
pub fn rate(hosts: &[HostSnapshot], req: &VmRequest, policy: &Policy) -> Rating {
    let dedicated: BTreeSet<DepartmentId> = hosts.iter().filter_map(|h| h.dedicated_to).collect();
    let with_members: BTreeSet<&str> = hosts
        .iter()
        .flat_map(|h| {
            h.groups
                .iter()
                .filter(|(_, c)| *c > 0)
                .map(|(g, _)| g.as_str())
        })
        .collect();
    let p = Prepared::new(
        req,
        policy,
        |d| dedicated.contains(&d),
        |g| with_members.contains(g),
    );
    let mut clusters: BTreeMap<ClusterId, ClusterStat> = BTreeMap::new();
    for h in hosts {
        let stat = clusters.entry(h.cluster).or_default();
        if is_active(h) {
            stat.add(share_q(
                h.allocated_memory_mib,
                memory_cap(h.memory_mib, h.memory_ratio),
            ));
        }
    }
    let licence_max = hosts
        .iter()
        .map(|h| sanitize_cost(h.licence_cost_per_vcpu))
        .fold(0.0, f64::max);

    let evals: Vec<Eval> = hosts
        .iter()
        .map(|h| evaluate(h, &p, clusters[&h.cluster], licence_max))
        .collect();
    let mut counts = [0usize; Filter::ALL.len()];
    let mut present = 0u16;
    for e in &evals {
        match e {
            Eval::Rejected(f) => counts[*f as usize] += 1,
            Eval::Feasible { mask, .. } => present |= 1 << mask,
        }
    }
    let kept = keep_rules(present, p.rules.len());
    let all = ((1u16 << p.rules.len()) - 1) as u8;

    let tier = |e: &Eval| match e {
        Eval::Feasible { mask, .. } if mask & kept == 0 => 0,
        Eval::Feasible { .. } => 1,
        Eval::Rejected(_) => 2,
    };
    let mut rated: Vec<(u8, HostRating)> = hosts
        .iter()
        .zip(&evals)
        .map(|(h, e)| (tier(e), host_rating(h.id, &h.name, e, kept, &p)))
        .collect();
    rated.sort_by(|(ta, a), (tb, b)| {
        ta.cmp(tb)
            .then(b.score.total_cmp(&a.score))
            .then_with(|| a.name.cmp(&b.name))
            .then(a.id.cmp(&b.id))
    });
    let chosen = rated.first().filter(|(t, _)| *t == 0).map(|(_, r)| r.id);
    Rating {
        hosts: rated.into_iter().map(|(_, r)| r).collect(),
        chosen,
        rejected: count_map(&counts),
        relaxed: p.rules_in(all & !kept),
    }
}

fn evaluate(h: &HostSnapshot, p: &Prepared<'_>, cluster: ClusterStat, licence_max: f64) -> Eval {
    let req = p.req;
    let view = StaticView {
        reachable: h.reachable,
        maintenance: h.maintenance,
        failover_reserved: h.failover_reserved,
        dedicated_to: h.dedicated_to,
        cpu_vendor: &h.cpu_vendor,
        cpu_model: &h.cpu_model,
        cpu_features: &h.cpu_features,
        licensed: &h.licensed_software,
        networks: &h.networks,
        numa: &h.numa_cells,
    };
    if let Some(f) = static_filter(&view, req) {
        return Eval::Rejected(f);
    }
    let vcap = vcpu_cap(h.logical_cpus, h.vcpu_ratio);
    let mcap = memory_cap(h.memory_mib, h.memory_ratio);
    if i128::from(req.vcpus) > room(h.allocated_vcpus, vcap) {
        return Eval::Rejected(Filter::Vcpus);
    }
    if i128::from(req.memory_mib) > room(h.allocated_memory_mib, mcap) {
        return Eval::Rejected(Filter::Memory);
    }
    if !datastores_fit(h, &p.disks) {
        return Eval::Rejected(Filter::Datastore);
    }
    let anti_member = has_member(h, req.anti_affinity.as_deref());
    if p.anti_hard && anti_member {
        return Eval::Rejected(Filter::AntiAffinity);
    }
    let aff_member = has_member(h, req.affinity.as_deref());
    let profile = h.hourly_load.as_ref().map(sanitize_profile);
    let input = RankInput {
        alloc_v: h.allocated_vcpus,
        alloc_m: h.allocated_memory_mib,
        vcap,
        mcap,
        cluster,
        active: is_active(h),
        complementary: complementary(
            profile.as_ref(),
            p.vm_profile.as_ref(),
            req.vcpus,
            h.logical_cpus,
        ),
        contention: contention(h.vcpu_wait, p.contention_full),
        licence: licence(h.licence_cost_per_vcpu, licence_max),
        powered_on: h.powered_on,
        aff_member,
    };
    Eval::Feasible {
        mask: p.soft_mask(h.dedicated_to, h.powered_on, aff_member, anti_member),
        values: ranker_values(&input, p),
    }
}

// ---------------------------------------------------------------------------------------------
// Group placement

/// Places `reqs` one by one, each on the best host given the ones placed before it (their
/// vCPUs, memory, disks and group memberships are committed in between, so anti-affinity holds
/// within the group). All or nothing: the first VM that fits nowhere fails the whole group.
/// Greedy, not a search: a group that fits only in another order is refused. Returns each
/// VM's rating (its `chosen` host set, its best `explain` hosts explained).
pub fn place_group(
    hosts: &[HostSnapshot],
    reqs: &[VmRequest],
    policy: &Policy,
    explain: usize,
) -> Result<Vec<Rating>, GroupError> {
    let mut rater = Rater::new(hosts, policy.clone());
    let mut placed = Vec::with_capacity(reqs.len());
    for (index, req) in reqs.iter().enumerate() {
        let (rating, chosen) = rater.rate_top_inner(req, explain.max(1));
        let Some(i) = chosen else {
            return Err(GroupError {
                index,
                rejected: rating.rejected,
            });
        };
        rater.commit_idx(i, req);
        placed.push(rating);
    }
    Ok(placed)
}

/// The hosts `place_group` chose, in order.
pub fn chosen_hosts(ratings: &[Rating]) -> Vec<HostId> {
    ratings.iter().filter_map(|r| r.chosen).collect()
}

// ---------------------------------------------------------------------------------------------
// The index

/// An index over a snapshot that rates a VM by explaining only the top k hosts, with exact
/// rejection counts, and follows allocations as VMs arrive ([`Rater::commit`]) and leave
/// ([`Rater::release`]).
///
/// Hosts are grouped into *classes* of hosts that are alike in everything the static filters
/// and the soft rules read (cluster, reachability, maintenance, power, department, CPU,
/// licences, networks, NUMA cells, datastore names; names interned, sets as bitsets), and
/// each class is cut into *chunks* of up to 32 hosts, sorted by free memory when built, their
/// state stored contiguously. Each chunk keeps the bounds of its hosts' vCPU room, memory room
/// and free space per datastore, and what bounds each ranker's value for any request: least
/// allocation and share, largest capacities, best contention and licence, quietest peak hour,
/// first name. Each cluster keeps the sums of its hosts' memory shares. A rating then
///
/// 1. runs the static filters once per class: a refused class is counted in O(1);
/// 2. per chunk of an accepted class, counts the whole chunk in O(1) when its bounds show that
///    every host fails vCPU, fails memory, fails datastores or passes everything; only the
///    chunks that straddle the request are scanned host by host;
/// 3. evaluates the hosts of the request's affinity and anti-affinity groups one by one (they
///    are few), which fixes which soft rules are kept;
/// 4. visits the candidate chunks by decreasing score bound for this request (a heap; the
///    bound is each ranker's best value in the chunk, combined as a score is, so it equals the
///    score of a host that has all of them: an empty host in an empty chunk), stopping at the
///    first that cannot beat the k-th best host, a tie with a later name included; in a
///    chunk, a host is scored exactly, except that the complementary load is first bounded
///    from the host's peak and the VM's quietest hour.
///
/// Cost per rating: O(classes × request size + chunks × datastores + hosts in straddling
/// chunks + group members × log hosts + visited chunks × (log chunks + chunk size)); O(hosts)
/// only in the worst case (every host its own class, or every chunk straddling the request).
/// When fewer than k hosts meet the kept rules, the list is completed with the other feasible
/// hosts the same way, then with refused hosts in name order, stopping after k. A commit or
/// release costs O(chunk size × datastores + log hosts).
#[derive(Debug, Clone)]
pub struct Rater {
    policy: Policy,
    weights: [f64; N_RANKERS],
    total_weight: f64,
    contention_full: f64,
    chunk_size: usize,
    hosts: Vec<HostSnapshot>,
    by_id: BTreeMap<HostId, usize>,
    /// Position of each host in (name, id) order.
    name_rank: Vec<usize>,
    /// Hosts in (name, id) order.
    by_name: Vec<usize>,
    /// Per slot (chunk order): the state the index reads.
    rows: Vec<Row>,
    /// Free GiB per datastore column of each row's class, in slot order.
    ds: Vec<u64>,
    /// Host index → slot.
    slot: Vec<usize>,
    classes: Vec<Class>,
    chunks: Vec<Chunk>,
    /// Per cluster: the memory shares of its active hosts.
    clusters: Vec<ClusterStat>,
    /// Distinct datastore column lists (sorted names) of the classes.
    layouts: Vec<Vec<String>>,
    vocab: Vocab,
    /// Group → host → members there (only counts > 0).
    groups: BTreeMap<String, BTreeMap<usize, u32>>,
    dedicated: BTreeSet<DepartmentId>,
    licence_max: f64,
}

/// Per-host state the index reads.
#[derive(Debug, Clone)]
struct Row {
    host: usize,
    class: usize,
    chunk: usize,
    vcap: u64,
    mcap: u64,
    alloc_v: u64,
    alloc_m: u64,
    q: u64,
    logical_cpus: u32,
    powered_on: bool,
    contention: f64,
    licence: f64,
    /// Where the row's datastore columns start in `Rater::ds`, and how many there are.
    ds: (usize, usize),
    profile: Option<Box<[f64; 24]>>,
    /// The host profile's highest hour.
    peak: f64,
    /// Upper bounds of the score without the balance contribution, for any request without /
    /// with an hourly profile: a cheap first test of a host.
    ub: [f64; 2],
}

/// Slack for [`Row::ub`] plus a balance contribution: a sum in another order than a score's,
/// so only a host whose bound is this much below the k-th score is skipped with it.
const ROW_SLACK: f64 = 1e-9;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ClassKey {
    cluster: ClusterId,
    reachable: bool,
    maintenance: bool,
    failover_reserved: bool,
    powered_on: bool,
    dedicated_to: Option<DepartmentId>,
    cpu_vendor: String,
    cpu_model: String,
    cpu_features: Vec<String>,
    licensed: Vec<String>,
    networks: Vec<String>,
    numa: Vec<NumaCell>,
    /// Sorted, deduplicated: the datastore columns.
    datastores: Vec<String>,
}

impl ClassKey {
    fn of(h: &HostSnapshot) -> Self {
        ClassKey {
            cluster: h.cluster,
            reachable: h.reachable,
            maintenance: h.maintenance,
            failover_reserved: h.failover_reserved,
            powered_on: h.powered_on,
            dedicated_to: h.dedicated_to,
            cpu_vendor: h.cpu_vendor.clone(),
            cpu_model: h.cpu_model.clone(),
            cpu_features: sorted_set(&h.cpu_features),
            licensed: sorted_set(&h.licensed_software),
            networks: sorted_set(&h.networks),
            numa: h.numa_cells.clone(),
            datastores: sorted_set(
                &h.datastores
                    .iter()
                    .map(|(n, _)| n.clone())
                    .collect::<Vec<_>>(),
            ),
        }
    }
}

fn sorted_set(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v.dedup();
    v
}

/// Interned names: the static filters compare integers and test bits.
#[derive(Debug, Clone, Default)]
struct Vocab {
    vendors: BTreeMap<String, u32>,
    models: BTreeMap<String, u32>,
    features: BTreeMap<String, u32>,
    licences: BTreeMap<String, u32>,
    networks: BTreeMap<String, u32>,
}

fn intern(map: &mut BTreeMap<String, u32>, s: &str) -> u32 {
    let n = map.len() as u32;
    *map.entry(s.to_owned()).or_insert(n)
}

fn bits(map: &mut BTreeMap<String, u32>, items: &[String]) -> Vec<u64> {
    let mut b = Vec::new();
    for s in items {
        let id = intern(map, s) as usize;
        if b.len() <= id / 64 {
            b.resize(id / 64 + 1, 0);
        }
        b[id / 64] |= 1 << (id % 64);
    }
    b
}

fn has_bit(b: &[u64], id: u32) -> bool {
    let id = id as usize;
    b.get(id / 64).is_some_and(|w| w & (1 << (id % 64)) != 0)
}

/// The ids of `items`, or `None` when one is unknown to every host (then no host has it).
fn ids(map: &BTreeMap<String, u32>, items: &[String]) -> Option<Vec<u32>> {
    items.iter().map(|s| map.get(s).copied()).collect()
}

#[derive(Debug, Clone)]
struct Class {
    key: ClassKey,
    vendor: u32,
    model: u32,
    features: Vec<u64>,
    licensed: Vec<u64>,
    networks: Vec<u64>,
    layout: usize,
    cluster: usize,
    /// Counts in its cluster's balance (reachable, out of maintenance, powered on).
    active: bool,
    chunks: Range<usize>,
    len: usize,
}

#[derive(Debug, Clone)]
struct Chunk {
    class: usize,
    slots: Range<usize>,
    min_rv: i128,
    max_rv: i128,
    min_rm: i128,
    max_rm: i128,
    ds_min: Vec<u64>,
    ds_max: Vec<u64>,
    /// Least vCPU and memory allocation, least and greatest memory share.
    min_av: u64,
    min_am: u64,
    q_min: u64,
    q_max: u64,
    /// Largest vCPU cap and logical CPUs, smallest and largest memory cap.
    vcap_max: u64,
    lcpus_max: u32,
    mcap_min: u64,
    mcap_max: u64,
    /// Best contention and licence values.
    contention: f64,
    licence: f64,
    /// The quietest peak hour of its hosts with a profile; whether some host has none.
    peak_min: Option<f64>,
    unprofiled: bool,
    /// Its first host in name order.
    min_rank: usize,
}

/// The least of convex `f` over the integers `lo..=hi` (`lo <= hi`) whose real minimum is at
/// `num / den` (`den > 0`): at the integer just below or above it, or at an end.
fn least_convex(lo: i128, hi: i128, num: i128, den: i128, f: impl Fn(i128) -> i128) -> i128 {
    let v = num.div_euclid(den);
    if v >= hi {
        f(hi)
    } else if v < lo {
        f(lo)
    } else {
        f(v).min(f((v + 1).min(hi)))
    }
}

/// A request's datastore needs against one datastore layout.
#[derive(Debug)]
struct DiskPlan {
    /// A named datastore the layout does not have.
    missing: bool,
    named: Vec<(usize, u64)>,
    col_need: Vec<u64>,
    unnamed: Option<u64>,
}

impl DiskPlan {
    fn new(cols: &[String], need: &DiskNeed) -> Self {
        let mut plan = DiskPlan {
            missing: false,
            named: Vec::new(),
            col_need: vec![0; cols.len()],
            unnamed: need.unnamed,
        };
        for (name, n) in &need.named {
            match cols.binary_search(name) {
                Ok(c) => {
                    plan.named.push((c, *n));
                    plan.col_need[c] = *n;
                }
                Err(_) => plan.missing = true,
            }
        }
        plan
    }

    fn row_fits(&self, row: &[u64]) -> bool {
        !self.missing
            && self.named.iter().all(|&(c, n)| row[c] >= n)
            && self.unnamed.is_none_or(|u| {
                row.iter()
                    .zip(&self.col_need)
                    .any(|(&free, &need)| free >= need.saturating_add(u))
            })
    }

    /// (every host of the chunk fits, no host fits), from the chunk's bounds.
    fn chunk(&self, ch: &Chunk) -> (bool, bool) {
        if self.missing {
            return (false, true);
        }
        let mut pass = self.named.iter().all(|&(c, n)| ch.ds_min[c] >= n);
        let mut fail = self.named.iter().any(|&(c, n)| ch.ds_max[c] < n);
        if let Some(u) = self.unnamed {
            let some_col = |bound: &[u64]| {
                bound
                    .iter()
                    .zip(&self.col_need)
                    .any(|(&free, &need)| free >= need.saturating_add(u))
            };
            pass &= some_col(&ch.ds_min);
            fail |= !some_col(&ch.ds_max);
        }
        (pass, fail)
    }

    /// The column the unnamed disks go to on commit: most room left after the named disks,
    /// then the first name.
    fn unnamed_target(&self, row: &[u64]) -> Option<usize> {
        let mut best: Option<(usize, u64)> = None;
        for (c, (&free, &need)) in row.iter().zip(&self.col_need).enumerate() {
            let left = free.saturating_sub(need);
            if best.is_none_or(|(_, b)| left > b) {
                best = Some((c, left));
            }
        }
        best.map(|(c, _)| c)
    }
}

/// A scored candidate in the top-k selection.
#[derive(Debug, Clone, Copy)]
struct Cand {
    score: f64,
    rank: usize,
    /// Host index.
    idx: usize,
    eval: Eval,
}

fn better(a: &Cand, b: &Cand) -> bool {
    a.score > b.score || (a.score == b.score && a.rank < b.rank)
}

/// The best `want` candidates, best first.
#[derive(Debug)]
struct TopK {
    want: usize,
    items: Vec<Cand>,
}

impl TopK {
    fn new(want: usize) -> Self {
        TopK {
            want,
            items: Vec::with_capacity(want + 1),
        }
    }

    /// No host with a score at most `ub` and a name rank at least `rank` can enter.
    fn closed_to(&self, ub: f64, rank: usize) -> bool {
        self.items.len() >= self.want && {
            let last = &self.items[self.want - 1];
            ub < last.score || (ub == last.score && rank > last.rank)
        }
    }

    fn offer(&mut self, c: Cand) {
        if self.items.len() >= self.want && !better(&c, &self.items[self.want - 1]) {
            return;
        }
        let pos = self.items.partition_point(|x| better(x, &c));
        self.items.insert(pos, c);
        self.items.truncate(self.want);
    }
}

/// A chunk to visit, ordered by its score bound (highest first), then its first name.
#[derive(Debug, Clone, Copy)]
struct Visit {
    ub: f64,
    /// The balance contribution in `ub`.
    balance: f64,
    min_rank: usize,
    chunk: usize,
    all_feasible: bool,
}

impl PartialEq for Visit {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Visit {}

impl PartialOrd for Visit {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Visit {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.ub
            .total_cmp(&other.ub)
            .then(other.min_rank.cmp(&self.min_rank))
            .then(other.chunk.cmp(&self.chunk))
    }
}

/// The request's names as the index's ids: `None` inside = a name no host has.
#[derive(Debug)]
struct Compiled {
    vendor: Option<Option<u32>>,
    model: Option<Option<u32>>,
    features: Option<Vec<u32>>,
    licences: Option<Vec<u32>>,
    networks: Option<Vec<u32>>,
}

impl Compiled {
    fn new(req: &VmRequest, v: &Vocab) -> Self {
        Compiled {
            vendor: req.cpu_vendor.as_ref().map(|s| v.vendors.get(s).copied()),
            model: req.cpu_model.as_ref().map(|s| v.models.get(s).copied()),
            features: ids(&v.features, &req.cpu_features),
            licences: ids(&v.licences, &req.licensed_software),
            networks: ids(&v.networks, &req.networks),
        }
    }

    /// [`static_filter`] on a class, with ids and bitsets.
    fn filter(&self, c: &Class, req: &VmRequest) -> Option<Filter> {
        let k = &c.key;
        let all = |want: &Option<Vec<u32>>, have: &[u64]| {
            want.as_ref()
                .is_some_and(|ids| ids.iter().all(|id| has_bit(have, *id)))
        };
        if !k.reachable {
            Some(Filter::Unreachable)
        } else if k.maintenance {
            Some(Filter::Maintenance)
        } else if k.failover_reserved && !req.ha_restart {
            Some(Filter::Failover)
        } else if k.dedicated_to.is_some() && k.dedicated_to != req.department {
            Some(Filter::Department)
        } else if self.vendor.is_some_and(|v| v != Some(c.vendor))
            || self.model.is_some_and(|m| m != Some(c.model))
            || !all(&self.features, &c.features)
        {
            Some(Filter::Cpu)
        } else if !all(&self.licences, &c.licensed) {
            Some(Filter::Licence)
        } else if !all(&self.networks, &c.networks) {
            Some(Filter::Network)
        } else if !numa_fits(&k.numa, req.vcpus, req.memory_mib) {
            Some(Filter::Numa)
        } else {
            None
        }
    }
}

/// What one rating knows about the request against the index.
struct Scan<'a, 'r> {
    p: Prepared<'r>,
    aff: &'a BTreeMap<usize, u32>,
    anti: &'a BTreeMap<usize, u32>,
    /// Hosts with members of the request's groups, sorted: evaluated one by one.
    specials: Vec<usize>,
    special_chunks: Vec<usize>,
    class_verdict: Vec<Option<Filter>>,
    class_mask: Vec<u8>,
    /// Per datastore layout.
    plans: Vec<DiskPlan>,
    /// The VM profile's quietest hour.
    vm_min: f64,
}

fn count_in(sorted: &[usize], x: usize) -> usize {
    sorted.partition_point(|&y| y <= x) - sorted.partition_point(|&y| y < x)
}

impl Rater {
    /// Indexes `hosts` (ids must be unique) under `policy`. O(hosts × log hosts).
    pub fn new(hosts: &[HostSnapshot], policy: Policy) -> Self {
        Self::with_chunk_size(hosts, policy, DEFAULT_CHUNK)
    }

    /// Like [`Rater::new`] with `chunk` hosts per chunk (at least 1): smaller chunks mean
    /// tighter bounds, and more chunks to go through.
    pub fn with_chunk_size(hosts: &[HostSnapshot], policy: Policy, chunk: usize) -> Self {
        let (weights, total_weight) = policy.weights.sanitized();
        let contention_full = policy.contention_full();
        let licence_max = hosts
            .iter()
            .map(|h| sanitize_cost(h.licence_cost_per_vcpu))
            .fold(0.0, f64::max);
        let by_id = hosts.iter().enumerate().map(|(i, h)| (h.id, i)).collect();
        let mut by_name: Vec<usize> = (0..hosts.len()).collect();
        by_name.sort_by(|&a, &b| {
            (&hosts[a].name, hosts[a].id, a).cmp(&(&hosts[b].name, hosts[b].id, b))
        });
        let mut name_rank = vec![0; hosts.len()];
        for (r, &i) in by_name.iter().enumerate() {
            name_rank[i] = r;
        }
        let mut groups: BTreeMap<String, BTreeMap<usize, u32>> = BTreeMap::new();
        for (i, h) in hosts.iter().enumerate() {
            for (g, n) in &h.groups {
                if *n > 0 {
                    let c = groups.entry(g.clone()).or_default().entry(i).or_insert(0);
                    *c = c.saturating_add(*n);
                }
            }
        }
        let mut rater = Rater {
            policy,
            weights,
            total_weight,
            contention_full,
            chunk_size: chunk.max(1),
            hosts: hosts.to_vec(),
            by_id,
            name_rank,
            by_name,
            rows: Vec::with_capacity(hosts.len()),
            ds: Vec::new(),
            slot: vec![0; hosts.len()],
            classes: Vec::new(),
            chunks: Vec::new(),
            clusters: Vec::new(),
            layouts: Vec::new(),
            vocab: Vocab::default(),
            groups,
            dedicated: hosts.iter().filter_map(|h| h.dedicated_to).collect(),
            licence_max,
        };
        rater.build();
        rater
    }

    fn build(&mut self) {
        let hosts = std::mem::take(&mut self.hosts);
        let mut by_class: BTreeMap<ClassKey, Vec<usize>> = BTreeMap::new();
        for (i, h) in hosts.iter().enumerate() {
            by_class.entry(ClassKey::of(h)).or_default().push(i);
        }
        let mut cluster_ids: BTreeMap<ClusterId, usize> = BTreeMap::new();
        let mut layout_ids: BTreeMap<Vec<String>, usize> = BTreeMap::new();
        for (ci, (key, mut members)) in by_class.into_iter().enumerate() {
            let n = cluster_ids.len();
            let cluster = *cluster_ids.entry(key.cluster).or_insert(n);
            if cluster == self.clusters.len() {
                self.clusters.push(ClusterStat::default());
            }
            let n = layout_ids.len();
            let layout = *layout_ids.entry(key.datastores.clone()).or_insert(n);
            if layout == self.layouts.len() {
                self.layouts.push(key.datastores.clone());
            }
            let active = key.reachable && !key.maintenance && key.powered_on;
            members.sort_by_key(|&i| {
                let h = &hosts[i];
                let rm = room(
                    h.allocated_memory_mib,
                    memory_cap(h.memory_mib, h.memory_ratio),
                );
                let rv = room(h.allocated_vcpus, vcpu_cap(h.logical_cpus, h.vcpu_ratio));
                (std::cmp::Reverse((rm, rv)), i)
            });
            let first = self.chunks.len();
            for part in members.chunks(self.chunk_size) {
                let c = self.chunks.len();
                let start = self.rows.len();
                for &i in part {
                    let h = &hosts[i];
                    let vcap = vcpu_cap(h.logical_cpus, h.vcpu_ratio);
                    let mcap = memory_cap(h.memory_mib, h.memory_ratio);
                    let q = share_q(h.allocated_memory_mib, mcap);
                    if active {
                        self.clusters[cluster].add(q);
                    }
                    let profile = h.hourly_load.as_ref().map(sanitize_profile);
                    let ds = (self.ds.len(), key.datastores.len());
                    self.ds.extend(key.datastores.iter().map(|name| {
                        unique_datastores(h)
                            .find(|(n, _)| n == name)
                            .map_or(0, |(_, f)| f)
                    }));
                    self.slot[i] = self.rows.len();
                    self.rows.push(Row {
                        host: i,
                        class: ci,
                        chunk: c,
                        vcap,
                        mcap,
                        alloc_v: h.allocated_vcpus,
                        alloc_m: h.allocated_memory_mib,
                        q,
                        logical_cpus: h.logical_cpus,
                        powered_on: h.powered_on,
                        contention: contention(h.vcpu_wait, self.contention_full),
                        licence: licence(h.licence_cost_per_vcpu, self.licence_max),
                        ds,
                        peak: profile.map_or(0.0, |p| p.iter().fold(0.0, |m, x| x.max(m))),
                        profile: profile.map(Box::new),
                        ub: [0.0; 2],
                    });
                }
                self.chunks.push(Chunk {
                    class: ci,
                    slots: start..self.rows.len(),
                    min_rv: 0,
                    max_rv: 0,
                    min_rm: 0,
                    max_rm: 0,
                    ds_min: Vec::new(),
                    ds_max: Vec::new(),
                    min_av: 0,
                    min_am: 0,
                    q_min: 0,
                    q_max: 0,
                    vcap_max: 0,
                    lcpus_max: 0,
                    mcap_min: 0,
                    mcap_max: 0,
                    contention: 0.0,
                    licence: 0.0,
                    peak_min: None,
                    unprofiled: false,
                    min_rank: 0,
                });
            }
            let v = &mut self.vocab;
            self.classes.push(Class {
                vendor: intern(&mut v.vendors, &key.cpu_vendor),
                model: intern(&mut v.models, &key.cpu_model),
                features: bits(&mut v.features, &key.cpu_features),
                licensed: bits(&mut v.licences, &key.licensed),
                networks: bits(&mut v.networks, &key.networks),
                layout,
                cluster,
                active,
                chunks: first..self.chunks.len(),
                len: members.len(),
                key,
            });
        }
        self.hosts = hosts;
        for slot in 0..self.rows.len() {
            self.rows[slot].ub = self.row_bounds(&self.rows[slot]);
        }
        for c in 0..self.chunks.len() {
            self.rebuild_chunk(c);
        }
    }

    /// The snapshot as it stands after the commits and releases so far (input order).
    pub fn snapshot(&self) -> &[HostSnapshot] {
        &self.hosts
    }

    /// Rates `req`, explaining the first `k` hosts of [`rate`]'s list (bit for bit); the chosen
    /// host, the rejection counts and the relaxed rules are those of [`rate`] for any `k`.
    pub fn rate_top(&self, req: &VmRequest, k: usize) -> Rating {
        self.rate_top_inner(req, k).0
    }

    /// Records `req` as placed on `host`: its vCPUs and memory, its disks (named disks on
    /// their datastores, unnamed ones together on the datastore with most room left), and its
    /// membership of its affinity and anti-affinity groups. Does not re-check the filters.
    /// A datastore is debited on this host's view only.
    // TODO-correctness: a shared datastore seen by several hosts is not debited on the other
    // hosts' views; the snapshot has no datastore identity to know which names are shared.
    pub fn commit(&mut self, host: HostId, req: &VmRequest) -> Result<(), UnknownHost> {
        let i = *self.by_id.get(&host).ok_or(UnknownHost(host))?;
        self.commit_idx(i, req);
        Ok(())
    }

    /// Records that `vcpus` and `memory_mib` were freed on `host` (a VM left or shrank).
    /// Group membership is left to [`Rater::leave_group`], datastore space is not credited
    /// (disks may outlive the VM): build a new rater from a fresh snapshot for that.
    pub fn release(
        &mut self,
        host: HostId,
        vcpus: u64,
        memory_mib: u64,
    ) -> Result<(), UnknownHost> {
        let i = *self.by_id.get(&host).ok_or(UnknownHost(host))?;
        let r = &mut self.rows[self.slot[i]];
        r.alloc_v = r.alloc_v.saturating_sub(vcpus);
        r.alloc_m = r.alloc_m.saturating_sub(memory_mib);
        self.refresh(i);
        Ok(())
    }

    /// Records that one member of `group` left `host`.
    pub fn leave_group(&mut self, host: HostId, group: &str) -> Result<(), UnknownHost> {
        let i = *self.by_id.get(&host).ok_or(UnknownHost(host))?;
        let mut left = 0;
        if let Some(members) = self.groups.get_mut(group) {
            if let Some(c) = members.get_mut(&i) {
                *c -= 1;
                left = *c;
                if *c == 0 {
                    members.remove(&i);
                }
            }
            if members.is_empty() {
                self.groups.remove(group);
            }
        }
        self.set_group(i, group, left);
        Ok(())
    }

    fn commit_idx(&mut self, i: usize, req: &VmRequest) {
        let r = &mut self.rows[self.slot[i]];
        r.alloc_v = r.alloc_v.saturating_add(u64::from(req.vcpus));
        r.alloc_m = r.alloc_m.saturating_add(req.memory_mib);
        if !req.disks.is_empty() {
            let need = DiskNeed::new(&req.disks);
            let cols = &self.classes[r.class].key.datastores;
            let plan = DiskPlan::new(cols, &need);
            let row = &mut self.ds[r.ds.0..r.ds.0 + r.ds.1];
            let target = need.unnamed.and_then(|_| plan.unnamed_target(row));
            for &(c, n) in &plan.named {
                row[c] = row[c].saturating_sub(n);
            }
            if let (Some(c), Some(u)) = (target, need.unnamed) {
                row[c] = row[c].saturating_sub(u);
            }
            for (name, free) in cols.iter().zip(row.iter()) {
                if let Some(e) = self.hosts[i].datastores.iter_mut().find(|(n, _)| n == name) {
                    e.1 = *free;
                }
            }
        }
        let mut joined: Vec<&String> = req.affinity.iter().chain(&req.anti_affinity).collect();
        joined.dedup();
        for g in joined {
            let c = self
                .groups
                .entry(g.clone())
                .or_default()
                .entry(i)
                .or_insert(0);
            *c = c.saturating_add(1);
            let c = *c;
            self.set_group(i, g, c);
        }
        self.refresh(i);
    }

    /// Writes host `i`'s member count of `group` to its snapshot (sorted by group name).
    fn set_group(&mut self, i: usize, group: &str, count: u32) {
        let groups = &mut self.hosts[i].groups;
        groups.retain(|(g, _)| g != group);
        if count > 0 {
            let pos = groups.partition_point(|(g, _)| g.as_str() < group);
            groups.insert(pos, (group.to_owned(), count));
        }
    }

    /// After host `i`'s allocation changed: cluster, bounds, snapshot, chunk.
    fn refresh(&mut self, i: usize) {
        let slot = self.slot[i];
        let r = &self.rows[slot];
        let class = &self.classes[r.class];
        let q = share_q(r.alloc_m, r.mcap);
        if class.active && q != r.q {
            self.clusters[class.cluster].replace(r.q, q);
        }
        let ub = self.row_bounds(r);
        let r = &mut self.rows[slot];
        r.q = q;
        r.ub = ub;
        self.hosts[i].allocated_vcpus = r.alloc_v;
        self.hosts[i].allocated_memory_mib = r.alloc_m;
        let c = r.chunk;
        self.rebuild_chunk(c);
    }

    /// Upper bounds of a host's score apart from balance, for any request without / with an
    /// hourly profile: headroom before placement, affinity at 1, complementary at its bound.
    fn row_bounds(&self, r: &Row) -> [f64; 2] {
        let ub = |vm_profile: bool| {
            let values = [
                headroom(r.alloc_v, 0, r.vcap, r.alloc_m, 0, r.mcap),
                0.0,
                match (&r.profile, vm_profile) {
                    (Some(_), true) => complementary_bound(r.peak, 0.0, 0.0),
                    _ => 0.5,
                },
                r.contention,
                r.licence,
                if r.powered_on { 1.0 } else { 0.0 },
                1.0,
            ];
            combine(&values, &self.weights, self.total_weight).1
        };
        [ub(false), ub(true)]
    }

    /// An upper bound of the score of any host of chunk `c` outside the request's groups: each
    /// ranker's best value in the chunk, combined as [`combine`] does. Every value is a
    /// monotone function of the chunk's extremes, so the bound is exactly the score of a host
    /// that holds all of them (the usual case: the emptiest hosts of a uniform chunk). Also
    /// the balance contribution in it.
    fn chunk_bound(&self, c: usize, s: &Scan<'_, '_>) -> (f64, f64) {
        let ch = &self.chunks[c];
        let class = &self.classes[ch.class];
        let req = s.p.req;
        let complementary = match s.p.vm_profile {
            None => 0.5,
            Some(_) => {
                let scale = vm_scale(req.vcpus, ch.lcpus_max);
                let profiled = ch
                    .peak_min
                    .map_or(0.0, |peak| complementary_bound(peak, scale, s.vm_min));
                if ch.unprofiled {
                    profiled.max(0.5)
                } else {
                    profiled
                }
            }
        };
        let balance = self.balance_bound(ch, class, req.memory_mib);
        let values = [
            headroom(
                ch.min_av,
                u64::from(req.vcpus),
                ch.vcap_max,
                ch.min_am,
                req.memory_mib,
                ch.mcap_max,
            ),
            balance,
            complementary,
            ch.contention,
            ch.licence,
            if class.key.powered_on { 1.0 } else { 0.0 },
            if s.p.aff_applicable { 0.0 } else { 1.0 },
        ];
        let (contrib, score) = combine(&values, &s.p.weights, s.p.total_weight);
        (score, contrib[Ranker::Balance as usize])
    }

    /// The best balance a placement of `memory_mib` on a host of the chunk can give its
    /// cluster. The placement raises the host's share q by d, between
    /// min(⌊m·Q/cap_max⌋, Q − q_max) and ⌊m·Q/cap_min⌋ + 1. On an active host the spread
    /// becomes n·(s2 + 2qd + d²) − (s1 + d)²: growing with q, convex in d. On a host that is
    /// not counted yet (powered off) the share q + d joins: (n+1)(s2 + x²) − (s1 + x)², convex.
    fn balance_bound(&self, ch: &Chunk, class: &Class, memory_mib: u64) -> f64 {
        let st = self.clusters[class.cluster];
        let (n, s1, s2) = (i128::from(st.n), st.s1 as i128, st.s2 as i128);
        let d_lo = i128::from(share_q(memory_mib, ch.mcap_max).min(Q - ch.q_max));
        let d_hi = i128::from(share_q(memory_mib, ch.mcap_min)) + 1;
        let q = i128::from(ch.q_min);
        let (count, spread) = if class.active {
            // 2(n−1)·d + 2(nq − s1) = 0; with one host, f falls with d while q < s1 = q.
            let f = |d: i128| n * (s2 + 2 * q * d + d * d) - (s1 + d) * (s1 + d);
            let (num, den) = if n > 1 {
                (s1 - n * q, n - 1)
            } else {
                (d_lo, 1)
            };
            (st.n, least_convex(d_lo, d_hi, num, den, f))
        } else {
            // 2n·x − 2·s1 = 0.
            let f = |x: i128| (n + 1) * (s2 + x * x) - (s1 + x) * (s1 + x);
            let lo = (q + d_lo).min(i128::from(Q));
            (st.n + 1, least_convex(lo, i128::from(Q), s1, n.max(1), f))
        };
        balance_of(count, spread.max(0) as u128)
    }

    fn rebuild_chunk(&mut self, c: usize) {
        let cols = self.classes[self.chunks[c].class].key.datastores.len();
        let (mut min_rv, mut max_rv, mut min_rm, mut max_rm) =
            (i128::MAX, i128::MIN, i128::MAX, i128::MIN);
        let mut ds_min = vec![u64::MAX; cols];
        let mut ds_max = vec![0; cols];
        let slots = self.chunks[c].slots.clone();
        let mut ch = Chunk {
            ds_min: Vec::new(),
            ds_max: Vec::new(),
            min_av: u64::MAX,
            min_am: u64::MAX,
            q_min: u64::MAX,
            q_max: 0,
            vcap_max: 0,
            lcpus_max: 0,
            mcap_min: u64::MAX,
            mcap_max: 0,
            contention: 0.0,
            licence: 0.0,
            peak_min: None,
            unprofiled: false,
            min_rank: usize::MAX,
            ..self.chunks[c].clone()
        };
        for r in &self.rows[slots] {
            let rv = room(r.alloc_v, r.vcap);
            let rm = room(r.alloc_m, r.mcap);
            min_rv = min_rv.min(rv);
            max_rv = max_rv.max(rv);
            min_rm = min_rm.min(rm);
            max_rm = max_rm.max(rm);
            for (j, free) in self.row_ds(r).iter().enumerate() {
                ds_min[j] = ds_min[j].min(*free);
                ds_max[j] = ds_max[j].max(*free);
            }
            ch.min_av = ch.min_av.min(r.alloc_v);
            ch.min_am = ch.min_am.min(r.alloc_m);
            ch.q_min = ch.q_min.min(r.q);
            ch.q_max = ch.q_max.max(r.q);
            ch.vcap_max = ch.vcap_max.max(r.vcap);
            ch.lcpus_max = ch.lcpus_max.max(r.logical_cpus);
            ch.mcap_min = ch.mcap_min.min(r.mcap);
            ch.mcap_max = ch.mcap_max.max(r.mcap);
            ch.contention = ch.contention.max(r.contention);
            ch.licence = ch.licence.max(r.licence);
            match r.profile {
                Some(_) => ch.peak_min = Some(ch.peak_min.map_or(r.peak, |p| p.min(r.peak))),
                None => ch.unprofiled = true,
            }
            ch.min_rank = ch.min_rank.min(self.name_rank[r.host]);
        }
        (ch.min_rv, ch.max_rv, ch.min_rm, ch.max_rm) = (min_rv, max_rv, min_rm, max_rm);
        ch.ds_min = ds_min;
        ch.ds_max = ds_max;
        self.chunks[c] = ch;
    }

    /// vCPU, memory and datastore filters for a host whose class passed the static ones.
    fn dyn_filter(&self, r: &Row, req: &VmRequest, plan: &DiskPlan) -> Option<Filter> {
        if i128::from(req.vcpus) > room(r.alloc_v, r.vcap) {
            Some(Filter::Vcpus)
        } else if i128::from(req.memory_mib) > room(r.alloc_m, r.mcap) {
            Some(Filter::Memory)
        } else if !plan.row_fits(self.row_ds(r)) {
            Some(Filter::Datastore)
        } else {
            None
        }
    }

    fn row_ds(&self, r: &Row) -> &[u64] {
        &self.ds[r.ds.0..r.ds.0 + r.ds.1]
    }

    /// Host values for the request; the complementary load only bounded (by the host's peak
    /// hour and the VM's quietest one) when `quick`.
    fn values(&self, r: &Row, s: &Scan<'_, '_>, aff_member: bool, quick: bool) -> [f64; N_RANKERS] {
        let class = &self.classes[r.class];
        let req = s.p.req;
        let complementary = match (&r.profile, &s.p.vm_profile) {
            (Some(_), Some(_)) if quick => {
                complementary_bound(r.peak, vm_scale(req.vcpus, r.logical_cpus), s.vm_min)
            }
            (h, v) => complementary(h.as_deref(), v.as_ref(), req.vcpus, r.logical_cpus),
        };
        let input = RankInput {
            alloc_v: r.alloc_v,
            alloc_m: r.alloc_m,
            vcap: r.vcap,
            mcap: r.mcap,
            cluster: self.clusters[class.cluster],
            active: class.active,
            complementary,
            contention: r.contention,
            licence: r.licence,
            powered_on: r.powered_on,
            aff_member,
        };
        ranker_values(&input, &s.p)
    }

    /// Host `i`'s full verdict (used for group members and for the refused tail).
    fn eval(&self, i: usize, s: &Scan<'_, '_>) -> Eval {
        let r = &self.rows[self.slot[i]];
        let class = &self.classes[r.class];
        if let Some(f) = s.class_verdict[r.class] {
            return Eval::Rejected(f);
        }
        if let Some(f) = self.dyn_filter(r, s.p.req, &s.plans[class.layout]) {
            return Eval::Rejected(f);
        }
        let anti_member = s.anti.contains_key(&i);
        if s.p.anti_hard && anti_member {
            return Eval::Rejected(Filter::AntiAffinity);
        }
        let aff_member = s.aff.contains_key(&i);
        let k = &class.key;
        Eval::Feasible {
            mask: s
                .p
                .soft_mask(k.dedicated_to, k.powered_on, aff_member, anti_member),
            values: self.values(r, s, aff_member, false),
        }
    }

    fn cand(&self, i: usize, eval: Eval, p: &Prepared<'_>) -> Cand {
        let score = match &eval {
            Eval::Feasible { values, .. } => combine(values, &p.weights, p.total_weight).1,
            Eval::Rejected(_) => 0.0,
        };
        Cand {
            score,
            rank: self.name_rank[i],
            idx: i,
            eval,
        }
    }

    /// The best `want` feasible hosts whose mask meets (`eligible`) or breaks the kept rules.
    fn top(
        &self,
        s: &Scan<'_, '_>,
        live: &[(usize, bool)],
        special_evals: &[(usize, Eval)],
        kept: u8,
        eligible: bool,
        want: usize,
    ) -> Vec<Cand> {
        let mut top = TopK::new(want);
        for &(i, e) in special_evals {
            if let Eval::Feasible { mask, .. } = e
                && (mask & kept == 0) == eligible
            {
                top.offer(self.cand(i, e, &s.p));
            }
        }
        let mut heap: std::collections::BinaryHeap<Visit> = live
            .iter()
            .filter(|(c, _)| (s.class_mask[self.chunks[*c].class] & kept == 0) == eligible)
            .map(|&(c, all_feasible)| {
                let (ub, balance) = self.chunk_bound(c, s);
                Visit {
                    ub,
                    balance,
                    min_rank: self.chunks[c].min_rank,
                    chunk: c,
                    all_feasible,
                }
            })
            .collect();
        while let Some(visit) = heap.pop() {
            if top.closed_to(visit.ub, visit.min_rank) {
                break;
            }
            let chunk = &self.chunks[visit.chunk];
            let class = &self.classes[chunk.class];
            let mask = s.class_mask[chunk.class];
            let has_special = s.special_chunks.binary_search(&visit.chunk).is_ok();
            let quick = s.p.vm_profile.is_some();
            for r in &self.rows[chunk.slots.clone()] {
                if top.closed_to(r.ub[usize::from(quick)] + visit.balance + ROW_SLACK, 0)
                    || (has_special && s.specials.binary_search(&r.host).is_ok())
                    || (!visit.all_feasible
                        && self
                            .dyn_filter(r, s.p.req, &s.plans[class.layout])
                            .is_some())
                {
                    continue;
                }
                let rank = self.name_rank[r.host];
                let mut values = self.values(r, s, false, quick);
                if top.closed_to(combine(&values, &s.p.weights, s.p.total_weight).1, rank) {
                    continue;
                }
                if quick && r.profile.is_some() {
                    values = self.values(r, s, false, false);
                }
                top.offer(self.cand(r.host, Eval::Feasible { mask, values }, &s.p));
            }
        }
        top.items
    }

    fn rate_top_inner(&self, req: &VmRequest, k: usize) -> (Rating, Option<usize>) {
        let p = Prepared::new(
            req,
            &self.policy,
            |d| self.dedicated.contains(&d),
            |g| self.groups.get(g).is_some_and(|m| !m.is_empty()),
        );
        static EMPTY: BTreeMap<usize, u32> = BTreeMap::new();
        let members = |g: Option<&String>| g.and_then(|g| self.groups.get(g)).unwrap_or(&EMPTY);
        let aff = members(req.affinity.as_ref());
        let anti = members(req.anti_affinity.as_ref());
        let specials: Vec<usize> = aff
            .keys()
            .chain(anti.keys())
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut special_chunks: Vec<usize> = specials
            .iter()
            .map(|&i| self.rows[self.slot[i]].chunk)
            .collect();
        special_chunks.sort_unstable();
        let mut special_classes: Vec<usize> = specials
            .iter()
            .map(|&i| self.rows[self.slot[i]].class)
            .collect();
        special_classes.sort_unstable();

        let compiled = Compiled::new(req, &self.vocab);
        let mut s = Scan {
            vm_min: p
                .vm_profile
                .map_or(0.0, |v| v.iter().fold(1.0, |m: f64, x| x.min(m))),
            plans: self
                .layouts
                .iter()
                .map(|cols| DiskPlan::new(cols, &p.disks))
                .collect(),
            p,
            aff,
            anti,
            specials,
            special_chunks,
            class_verdict: Vec::with_capacity(self.classes.len()),
            class_mask: Vec::with_capacity(self.classes.len()),
        };
        let v = i128::from(req.vcpus);
        let m = i128::from(req.memory_mib);
        let mut counts = [0usize; Filter::ALL.len()];
        let mut class_feasible = vec![0usize; self.classes.len()];
        // Chunks with feasible hosts outside the groups, and whether all of them are feasible.
        let mut live: Vec<(usize, bool)> = Vec::new();

        for (ci, class) in self.classes.iter().enumerate() {
            let key = &class.key;
            let verdict = compiled.filter(class, req);
            s.class_verdict.push(verdict);
            s.class_mask
                .push(s.p.soft_mask(key.dedicated_to, key.powered_on, false, false));
            if let Some(f) = verdict {
                counts[f as usize] += class.len - count_in(&special_classes, ci);
                continue;
            }
            let plan = &s.plans[class.layout];
            for c in class.chunks.clone() {
                let ch = &self.chunks[c];
                let ns = count_in(&s.special_chunks, c);
                let n = ch.slots.len() - ns;
                let whole = if ch.max_rv < v {
                    Some(Some(Filter::Vcpus))
                } else if ch.min_rv >= v && ch.max_rm < m {
                    Some(Some(Filter::Memory))
                } else if ch.min_rv >= v && ch.min_rm >= m {
                    match plan.chunk(ch) {
                        (true, _) => Some(None),
                        (_, true) => Some(Some(Filter::Datastore)),
                        _ => None,
                    }
                } else {
                    None
                };
                match whole {
                    Some(Some(f)) => counts[f as usize] += n,
                    Some(None) => {
                        if n > 0 {
                            class_feasible[ci] += n;
                            live.push((c, true));
                        }
                    }
                    None => {
                        let mut feasible = 0;
                        for r in &self.rows[ch.slots.clone()] {
                            if ns > 0 && s.specials.binary_search(&r.host).is_ok() {
                                continue;
                            }
                            match self.dyn_filter(r, req, plan) {
                                Some(f) => counts[f as usize] += 1,
                                None => feasible += 1,
                            }
                        }
                        if feasible > 0 {
                            class_feasible[ci] += feasible;
                            live.push((c, false));
                        }
                    }
                }
            }
        }

        let mut present = 0u16;
        let mut special_evals = Vec::with_capacity(s.specials.len());
        for &i in &s.specials {
            let e = self.eval(i, &s);
            match e {
                Eval::Rejected(f) => counts[f as usize] += 1,
                Eval::Feasible { mask, .. } => present |= 1 << mask,
            }
            special_evals.push((i, e));
        }
        for (ci, n) in class_feasible.iter().enumerate() {
            if *n > 0 {
                present |= 1 << s.class_mask[ci];
            }
        }
        let kept = keep_rules(present, s.p.rules.len());
        let all_rules = ((1u16 << s.p.rules.len()) - 1) as u8;

        let feasible_total = class_feasible.iter().sum::<usize>()
            + special_evals
                .iter()
                .filter(|(_, e)| matches!(e, Eval::Feasible { .. }))
                .count();
        let refused_total: usize = counts.iter().sum();

        let want = k.max(1);
        let mut picked = self.top(&s, &live, &special_evals, kept, true, want);
        let chosen = picked.first().map(|c| c.idx);
        if picked.len() < want && feasible_total > picked.len() {
            let more = want - picked.len();
            picked.extend(self.top(&s, &live, &special_evals, kept, false, more));
        }
        if picked.len() < want && refused_total > 0 {
            for &i in &self.by_name {
                if picked.len() >= want {
                    break;
                }
                let e = self.eval(i, &s);
                if matches!(e, Eval::Rejected(_)) {
                    picked.push(self.cand(i, e, &s.p));
                }
            }
        }
        picked.truncate(k);
        let hosts = picked
            .iter()
            .map(|c| {
                let h = &self.hosts[c.idx];
                host_rating(h.id, &h.name, &c.eval, kept, &s.p)
            })
            .collect();
        let rating = Rating {
            hosts,
            chosen: chosen.map(|i| self.hosts[i].id),
            rejected: count_map(&counts),
            relaxed: s.p.rules_in(all_rules & !kept),
        };
        (rating, chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use uuid::Uuid;

    const DAY: [f64; 24] = [
        0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 0.8, 0.9, 0.9, 0.9, 0.8, 0.9, 0.9, 0.9, 0.8, 0.6,
        0.3, 0.2, 0.1, 0.1, 0.1, 0.1,
    ];
    const NIGHT: [f64; 24] = [
        0.9, 0.9, 0.9, 0.8, 0.6, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1,
        0.1, 0.2, 0.4, 0.6, 0.8, 0.9,
    ];
    const FLAT: [f64; 24] = [0.4; 24];
    const QUIET: [f64; 24] = [0.05; 24];

    fn hid(i: usize) -> HostId {
        HostId(Uuid::from_u128(i as u128 + 1))
    }
    fn dept(d: u8) -> DepartmentId {
        DepartmentId(Uuid::from_u128(200 + u128::from(d)))
    }

    fn host(i: usize, name: &str) -> HostSnapshot {
        HostSnapshot {
            id: hid(i),
            name: name.into(),
            cluster: ClusterId(Uuid::from_u128(100)),
            reachable: true,
            maintenance: false,
            powered_on: true,
            logical_cpus: 16,
            memory_mib: 65536,
            numa_cells: vec![
                NumaCell {
                    cpus: 8,
                    memory_mib: 32768,
                },
                NumaCell {
                    cpus: 8,
                    memory_mib: 32768,
                },
            ],
            allocated_vcpus: 0,
            allocated_memory_mib: 0,
            vcpu_ratio: 4.0,
            memory_ratio: 1.0,
            cpu_vendor: "GenuineIntel".into(),
            cpu_model: "Skylake".into(),
            cpu_features: vec!["avx2".into(), "sse4_2".into()],
            datastores: vec![("ds1".into(), 500)],
            networks: vec!["prod".into()],
            dedicated_to: None,
            licensed_software: vec![],
            licence_cost_per_vcpu: 0.0,
            cpu_load: 0.3,
            hourly_load: None,
            vcpu_wait: 0.0,
            groups: vec![],
            failover_reserved: false,
        }
    }

    fn small() -> VmRequest {
        VmRequest {
            vcpus: 2,
            memory_mib: 4096,
            ..VmRequest::default()
        }
    }

    fn is_half_step(s: f64) -> bool {
        (0.0..=5.0).contains(&s) && (s * 2.0).fract() == 0.0
    }

    #[test]
    fn explains_each_refusal_and_picks_the_emptiest() {
        let mut hs = vec![host(0, "a"), host(1, "b"), host(2, "c"), host(3, "d")];
        hs[0].maintenance = true;
        hs[1].allocated_memory_mib = 64000;
        hs[2].allocated_memory_mib = 32768;
        let r = rate(&hs, &small(), &Policy::default());
        assert_eq!(r.chosen, Some(hid(3)));
        assert_eq!(
            r.explain_rejections(),
            "1 host in maintenance, 1 not enough memory room under the overcommit ratio"
        );
        let names: Vec<&str> = r.hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["d", "c", "a", "b"]);
        assert!(r.hosts.iter().all(|h| is_half_step(h.stars)));
        assert_eq!(r.hosts[0].contributions.len(), Ranker::ALL.len());
        let sum: f64 = r.hosts[0].contributions.iter().map(|(_, c)| c).sum();
        assert!((sum - r.hosts[0].score).abs() < 1e-12);
        assert!(r.relaxed.is_empty());
    }

    #[test]
    fn filters_cpu_numa_datastores_networks_licences_departments() {
        let mut hs: Vec<HostSnapshot> = (0..7).map(|i| host(i, &format!("h{i}"))).collect();
        hs[0].cpu_features = vec!["sse4_2".into()];
        hs[1].numa_cells = vec![NumaCell {
            cpus: 4,
            memory_mib: 16384,
        }];
        hs[2].datastores = vec![("ds1".into(), 10), ("ds2".into(), 90)];
        hs[3].networks = vec![];
        hs[4].licensed_software = vec!["oracle".into()];
        hs[5].dedicated_to = Some(dept(1));
        let req = VmRequest {
            vcpus: 6,
            memory_mib: 8192,
            disks: vec![(Some("ds1".into()), 20), (None, 80)],
            networks: vec!["prod".into()],
            cpu_features: vec!["avx2".into()],
            licensed_software: vec!["mssql".into()],
            ..VmRequest::default()
        };
        for h in &mut hs {
            if h.name != "h4" {
                h.licensed_software.push("mssql".into());
            }
        }
        let r = rate(&hs, &req, &Policy::default());
        let by = |n: &str| r.hosts.iter().find(|h| h.name == n).unwrap().rejected_by;
        assert_eq!(by("h0"), Some(Filter::Cpu));
        assert_eq!(by("h1"), Some(Filter::Numa));
        assert_eq!(by("h2"), Some(Filter::Datastore));
        assert_eq!(by("h3"), Some(Filter::Network));
        assert_eq!(by("h4"), Some(Filter::Licence));
        assert_eq!(by("h5"), Some(Filter::Department));
        assert_eq!(r.chosen, Some(hid(6)));
        // ds1 needs 20 for the named disk, then 80 for the unnamed one together: 100 ≤ 500.
        hs[6].datastores = vec![("ds1".into(), 99)];
        assert_eq!(rate(&hs, &req, &Policy::default()).chosen, None);
        hs[6].datastores = vec![("ds1".into(), 20), ("big".into(), 80)];
        assert_eq!(rate(&hs, &req, &Policy::default()).chosen, Some(hid(6)));
    }

    #[test]
    fn relaxes_powered_on_only_when_nothing_else_fits() {
        let mut hs = vec![host(0, "off"), host(1, "on")];
        hs[0].powered_on = false;
        let r = rate(&hs, &small(), &Policy::default());
        assert_eq!((r.chosen, r.relaxed.clone()), (Some(hid(1)), vec![]));
        assert_eq!(r.hosts[1].unmet, vec![SoftRule::PoweredOn]);
        hs[1].allocated_vcpus = 64;
        let r = rate(&hs, &small(), &Policy::default());
        assert_eq!(r.chosen, Some(hid(0)));
        assert_eq!(r.relaxed, vec![SoftRule::PoweredOn]);
    }

    #[test]
    fn affinity_and_anti_affinity() {
        let mut hs = vec![host(0, "a"), host(1, "b"), host(2, "c")];
        hs[1].groups = vec![("web".into(), 1)];
        hs[1].allocated_memory_mib = 30000;
        let with = VmRequest {
            affinity: Some("web".into()),
            ..small()
        };
        assert_eq!(rate(&hs, &with, &Policy::default()).chosen, Some(hid(1)));
        let apart = VmRequest {
            anti_affinity: Some("web".into()),
            ..small()
        };
        let r = rate(&hs, &apart, &Policy::default());
        assert_eq!(r.rejected.get(&Filter::AntiAffinity), Some(&1));
        // Three VMs apart from each other on three hosts; a fourth does not fit.
        let group = vec![apart.clone(); 2];
        let placed = chosen_hosts(&place_group(&hs, &group, &Policy::default(), 1).unwrap());
        assert_eq!(placed.len(), 2);
        assert!(!placed.contains(&hid(1)) && placed[0] != placed[1]);
        let err = place_group(&hs, &vec![apart; 3], &Policy::default(), 1).unwrap_err();
        assert_eq!(err.index, 2);
        assert_eq!(err.rejected.get(&Filter::AntiAffinity), Some(&3));
        assert!(
            err.to_string()
                .starts_with("VM 2 of the group fits on no host: 3 anti-affinity")
        );
    }

    #[test]
    fn complementary_profiles_prefer_the_quiet_host() {
        let mut hs = vec![host(0, "busy-by-day"), host(1, "busy-by-night")];
        hs[0].hourly_load = Some(DAY.map(|x| x / 2.0));
        hs[1].hourly_load = Some(NIGHT.map(|x| x / 2.0));
        let req = VmRequest {
            vcpus: 8,
            hourly_load: Some(DAY),
            ..small()
        };
        let r = rate(&hs, &req, &Policy::default());
        assert_eq!(r.chosen, Some(hid(1)));
        let comp = |h: &HostRating| h.contributions[Ranker::Complementary as usize].1;
        assert!(comp(&r.hosts[0]) > comp(&r.hosts[1]));
    }

    #[test]
    fn rater_follows_commits_and_releases() {
        let hs: Vec<HostSnapshot> = (0..5).map(|i| host(i, &format!("h{i}"))).collect();
        let policy = Policy::default();
        let mut rater = Rater::with_chunk_size(&hs, policy.clone(), 2);
        let req = VmRequest {
            vcpus: 8,
            memory_mib: 20000,
            ..VmRequest::default()
        };
        for _ in 0..15 {
            let full = rate(rater.snapshot(), &req, &policy);
            let top = rater.rate_top(&req, 3);
            assert_eq!(top.chosen, full.chosen);
            assert_eq!(top.hosts[..], full.hosts[..3]);
            match top.chosen {
                Some(h) => rater.commit(h, &req).unwrap(),
                None => break,
            }
        }
        assert_eq!(rater.rate_top(&req, 3).chosen, None);
        rater.release(hid(0), 8, 20000).unwrap();
        assert_eq!(rater.rate_top(&req, 3).chosen, Some(hid(0)));
        assert_eq!(rater.commit(hid(99), &req), Err(UnknownHost(hid(99))));
    }

    #[test]
    fn rater_visits_chunks_whose_bound_ties_the_kth_score() {
        // Only power counts: every host scores exactly its bound, 1. The chunks (one host
        // each) are visited most free memory first, which is reverse name order here: a tie
        // with the k-th best must not close the search, or "a" would lose to "e".
        let policy = Policy {
            weights: Weights {
                headroom: 0.0,
                balance: 0.0,
                complementary: 0.0,
                contention: 0.0,
                licence: 0.0,
                power: 1.0,
                affinity: 0.0,
            },
            ..Policy::default()
        };
        let hs: Vec<HostSnapshot> = ["e", "d", "c", "b", "a"]
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let mut h = host(i, n);
                h.allocated_memory_mib = 1000 * i as u64;
                h
            })
            .collect();
        let rater = Rater::with_chunk_size(&hs, policy.clone(), 1);
        let full = rate(&hs, &small(), &policy);
        assert_eq!(full.chosen, Some(hid(4)));
        assert_eq!(rater.rate_top(&small(), 2).hosts[..], full.hosts[..2]);
    }

    #[test]
    fn rater_bounds_follow_the_vm_profile() {
        // With a VM profile, a quiet host's complementary value can reach 0.95, far above the
        // 0.5 of a host without a profile: the index must use the bound for requests with a
        // profile, or it would prune the quiet (but fuller) host after seeing the empty one.
        let policy = Policy {
            weights: Weights {
                headroom: 1.0,
                balance: 0.0,
                complementary: 3.0,
                ..Weights::default()
            },
            ..Policy::default()
        };
        let mut hs = vec![host(0, "empty"), host(1, "quiet")];
        hs[1].allocated_memory_mib = 32768;
        hs[1].hourly_load = Some(QUIET);
        let req = VmRequest {
            hourly_load: Some(QUIET),
            ..small()
        };
        let rater = Rater::with_chunk_size(&hs, policy.clone(), 1);
        assert_eq!(rate(&hs, &req, &policy).chosen, Some(hid(1)));
        assert_eq!(rater.rate_top(&req, 1).chosen, Some(hid(1)));
    }

    #[test]
    fn rater_quick_bound_never_undercuts_a_score() {
        // Only complementary load counts; the VM (half the host's CPUs) is busy by day. Host
        // "a" is nearly idle but busy when the VM is: its chunk's bound is high, its score
        // 1 − (0.055 + 0.45) = 0.495. Host "b" is busy by night: its score is 0.5, exactly its
        // per-request bound 1 − (0.45 + 0.5 × 0.1); a bound 0.005 tighter would lose it.
        let policy = Policy {
            weights: Weights {
                headroom: 0.0,
                balance: 0.0,
                complementary: 1.0,
                contention: 0.0,
                licence: 0.0,
                power: 0.0,
                affinity: 0.0,
            },
            ..Policy::default()
        };
        let day = |x: f64| DAY.map(|v| if v >= 0.5 { x } else { 0.1 * x });
        let mut hs = vec![host(0, "a"), host(1, "b")];
        hs[0].hourly_load = Some(day(0.055));
        hs[1].hourly_load = Some(NIGHT.map(|v| if v >= 0.5 { 0.45 } else { 0.05 }));
        let req = VmRequest {
            vcpus: 8,
            hourly_load: Some(day(0.9).map(|v| v.max(0.1))),
            ..small()
        };
        let full = rate(&hs, &req, &policy);
        assert_eq!(full.chosen, Some(hid(1)));
        let top = Rater::with_chunk_size(&hs, policy, 1).rate_top(&req, 1);
        assert_eq!(
            (top.chosen, &top.hosts[..]),
            (full.chosen, &full.hosts[..1])
        );
    }

    #[test]
    fn commit_puts_unnamed_disks_where_most_room_is_left() {
        let mut h = host(0, "a");
        h.datastores = vec![("ds2".into(), 300), ("ds1".into(), 400)];
        let mut rater = Rater::new(&[h], Policy::default());
        let req = VmRequest {
            disks: vec![(Some("ds1".into()), 200), (None, 50), (None, 10)],
            ..small()
        };
        // ds1 has 400 − 200 = 200 left after its named disk, ds2 300: the unnamed 60 go to ds2.
        rater.commit(hid(0), &req).unwrap();
        assert_eq!(
            rater.snapshot()[0].datastores,
            vec![("ds2".to_string(), 240), ("ds1".to_string(), 200)]
        );
        assert_eq!(rater.snapshot()[0].allocated_vcpus, 2);
        assert_eq!(rater.snapshot()[0].allocated_memory_mib, 4096);
    }

    // ---- property tests against a brute-force oracle ----

    fn oracle_caps(h: &HostSnapshot) -> (u64, u64) {
        (
            (h.logical_cpus as f64 * h.vcpu_ratio).floor() as u64,
            (h.memory_mib as f64 * h.memory_ratio).floor() as u64,
        )
    }

    fn oracle_anti_hard(policy: &Policy) -> bool {
        !policy.soft_rules.contains(&SoftRule::AntiAffinity)
    }

    fn members(h: &HostSnapshot, g: &str) -> u32 {
        h.groups
            .iter()
            .filter(|(n, _)| n == g)
            .map(|(_, c)| c)
            .sum()
    }

    /// Every hard filter, written again from the specification.
    fn oracle_fits(h: &HostSnapshot, r: &VmRequest, anti_hard: bool) -> bool {
        let (vcap, mcap) = oracle_caps(h);
        let mut named: BTreeMap<&str, u64> = BTreeMap::new();
        let mut unnamed: Option<u64> = None;
        for (d, g) in &r.disks {
            match d {
                Some(d) => *named.entry(d).or_default() += g,
                None => *unnamed.get_or_insert(0) += g,
            }
        }
        let free = |n: &str| h.datastores.iter().find(|(d, _)| d == n).map(|(_, f)| *f);
        let ds_ok = named.iter().all(|(n, g)| free(n).is_some_and(|f| f >= *g))
            && unnamed.is_none_or(|u| {
                h.datastores
                    .iter()
                    .any(|(n, f)| *f >= named.get(n.as_str()).copied().unwrap_or(0) + u)
            });
        let numa_ok = h.numa_cells.is_empty()
            || (h.numa_cells.iter().map(|c| u64::from(c.cpus)).sum::<u64>() >= u64::from(r.vcpus)
                && h.numa_cells.iter().map(|c| c.memory_mib).sum::<u64>() >= r.memory_mib);
        h.reachable
            && !h.maintenance
            && (!h.failover_reserved || r.ha_restart)
            && h.dedicated_to.is_none_or(|d| r.department == Some(d))
            && r.cpu_vendor.as_ref().is_none_or(|v| *v == h.cpu_vendor)
            && r.cpu_model.as_ref().is_none_or(|m| *m == h.cpu_model)
            && r.cpu_features.iter().all(|f| h.cpu_features.contains(f))
            && r.licensed_software
                .iter()
                .all(|s| h.licensed_software.contains(s))
            && r.networks.iter().all(|n| h.networks.contains(n))
            && numa_ok
            && h.allocated_vcpus + u64::from(r.vcpus) <= vcap
            && h.allocated_memory_mib + r.memory_mib <= mcap
            && ds_ok
            && !(anti_hard && r.anti_affinity.as_ref().is_some_and(|g| members(h, g) > 0))
    }

    /// Does `h` meet `rule` (true when the rule does not apply to `r`)?
    fn oracle_rule_ok(
        all: &[HostSnapshot],
        h: &HostSnapshot,
        r: &VmRequest,
        rule: SoftRule,
    ) -> bool {
        match rule {
            SoftRule::DepartmentFirst => match r.department {
                Some(d) if all.iter().any(|x| x.dedicated_to == Some(d)) => {
                    h.dedicated_to == Some(d)
                }
                _ => true,
            },
            SoftRule::Affinity => match &r.affinity {
                Some(g) if all.iter().any(|x| members(x, g) > 0) => members(h, g) > 0,
                _ => true,
            },
            SoftRule::AntiAffinity => r.anti_affinity.as_ref().is_none_or(|g| members(h, g) == 0),
            SoftRule::PoweredOn => h.powered_on,
        }
    }

    fn names(pool: &[&str], bits: u8) -> Vec<String> {
        pool.iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, s)| s.to_string())
            .collect()
    }

    fn profile() -> impl Strategy<Value = Option<[f64; 24]>> {
        prop::option::of(prop::sample::select(vec![DAY, NIGHT, FLAT, QUIET]))
    }

    fn arb_host() -> impl Strategy<Value = HostSnapshot> {
        (
            (
                prop::bool::weighted(0.95),
                prop::bool::weighted(0.05),
                prop::bool::weighted(0.8),
                0u8..3,
                0u8..8,
                prop::bool::weighted(0.1),
            ),
            (
                prop::sample::select(vec![4u32, 8, 16]),
                prop::sample::select(vec![4096u64, 8192, 16384]),
                0u32..3,
                prop::sample::select(vec![1.0f64, 2.0, 4.0]),
                prop::sample::select(vec![1.0f64, 1.5]),
                0u64..40,
                0u64..20000,
            ),
            (
                0u8..2,
                0u8..2,
                0u8..12,
                0u8..8,
                prop::collection::vec(0u64..150, 3),
                0u8..6,
                0u8..10,
                0u8..4,
            ),
            (
                prop::sample::select(vec![0.0f64, 1.0, 2.5]),
                profile(),
                0.0f64..0.3,
                0u32..3,
                0u32..3,
            ),
        )
            .prop_map(
                |(
                    (up, maint, on, cluster, name, failover),
                    (cpus, mem, cells, vr, mr, av, am),
                    (vendor, model, feats, dss, free, nets, ded, lic),
                    (cost, hourly, wait, g1, g2),
                )| {
                    let mut datastores: Vec<(String, u64)> = names(&["ds1", "ds2", "local"], dss)
                        .into_iter()
                        .zip(free)
                        .collect();
                    datastores.reverse();
                    let mut groups = vec![];
                    if g1 > 0 {
                        groups.push(("g1".to_string(), g1));
                    }
                    if g2 > 0 {
                        groups.push(("g2".to_string(), g2));
                    }
                    HostSnapshot {
                        id: hid(0),
                        name: format!("h{name}"),
                        cluster: ClusterId(Uuid::from_u128(100 + u128::from(cluster))),
                        reachable: up,
                        maintenance: maint,
                        powered_on: on,
                        logical_cpus: cpus,
                        memory_mib: mem,
                        numa_cells: (0..cells)
                            .map(|_| NumaCell {
                                cpus: cpus / cells,
                                memory_mib: mem / u64::from(cells),
                            })
                            .collect(),
                        allocated_vcpus: av,
                        allocated_memory_mib: am,
                        vcpu_ratio: vr,
                        memory_ratio: mr,
                        cpu_vendor: ["GenuineIntel", "AuthenticAMD"][usize::from(vendor)].into(),
                        cpu_model: ["m1", "m2"][usize::from(model)].into(),
                        cpu_features: names(&["avx", "avx2", "sse4"], feats.min(7)),
                        datastores,
                        networks: names(&["n1", "n2"], nets.min(3)),
                        dedicated_to: match ded {
                            1 | 2 => Some(dept(ded)),
                            _ => None,
                        },
                        licensed_software: names(&["sql", "ora"], lic),
                        licence_cost_per_vcpu: cost,
                        cpu_load: 0.5,
                        hourly_load: hourly,
                        vcpu_wait: wait,
                        groups,
                        failover_reserved: failover,
                    }
                },
            )
    }

    /// Hosts built from a few templates, so that classes and chunks hold several hosts and
    /// the index's whole-chunk shortcuts are exercised; what is allocated, the datastores'
    /// free space, groups, profiles, costs and contention vary per host.
    fn arb_hosts() -> impl Strategy<Value = Vec<HostSnapshot>> {
        let per_host = (
            0usize..8,
            0u8..8,
            0u8..3,
            (
                prop::sample::select(vec![0u64, 10, 25, 50, 90, 110]),
                prop::sample::select(vec![0u64, 10, 25, 50, 90, 110]),
            ),
            prop::collection::vec(prop::sample::select(vec![0u64, 20, 60, 150]), 3),
            (0u32..3, 0u32..3),
            (
                profile(),
                prop::sample::select(vec![0.0f64, 1.0, 2.5]),
                prop::sample::select(vec![0.0f64, 0.05, 0.2]),
            ),
        );
        (
            prop::collection::vec(arb_host(), 1..8),
            prop::collection::vec(per_host, 0..40),
        )
            .prop_map(|(templates, picks)| {
                picks
                    .into_iter()
                    .enumerate()
                    .map(
                        |(
                            i,
                            (t, name, cluster, (av, am), free, (g1, g2), (hourly, cost, wait)),
                        )| {
                            let mut h = templates[t % templates.len()].clone();
                            h.name = format!("h{name}");
                            h.cluster = ClusterId(Uuid::from_u128(100 + u128::from(cluster)));
                            // Allocations as a share of capacity under the ratios (a little over
                            // 100 %: snapshots may already be overcommitted).
                            let (vcap, mcap) = oracle_caps(&h);
                            h.allocated_vcpus = vcap * av / 100;
                            h.allocated_memory_mib = mcap * am / 100;
                            for (d, f) in h.datastores.iter_mut().zip(free) {
                                d.1 = f;
                            }
                            h.groups = [("g1", g1), ("g2", g2)]
                                .into_iter()
                                .filter(|(_, n)| *n > 0)
                                .map(|(g, n)| (g.to_string(), n))
                                .collect();
                            h.hourly_load = hourly;
                            h.licence_cost_per_vcpu = cost;
                            h.vcpu_wait = wait;
                            h.id = hid(i);
                            h
                        },
                    )
                    .collect()
            })
    }

    fn group() -> impl Strategy<Value = Option<String>> {
        prop::option::of(prop::sample::select(vec!["g1", "g2", "g3"]).prop_map(String::from))
    }

    fn arb_req() -> impl Strategy<Value = VmRequest> {
        (
            (
                1u32..6,
                256u64..8192,
                prop::collection::vec(
                    (
                        prop::sample::select(vec![
                            None,
                            None,
                            Some("ds1"),
                            Some("ds2"),
                            Some("local"),
                            Some("nope"),
                        ]),
                        0u64..100,
                    ),
                    0..3,
                ),
            ),
            // Each constraint is set in a few cases only, so that hosts often fit.
            (0u8..12, 0u8..9, 0u8..9, 0u8..24, 0u8..8, 0u8..8),
            (group(), group(), profile(), prop::bool::weighted(0.3)),
        )
            .prop_map(
                |(
                    (vcpus, memory_mib, disks),
                    (nets, vendor, model, feats, d, lic),
                    (affinity, anti_affinity, hourly_load, ha_restart),
                )| VmRequest {
                    vcpus,
                    memory_mib,
                    disks: disks
                        .into_iter()
                        .map(|(d, g)| (d.map(String::from), g))
                        .collect(),
                    networks: names(&["n1", "n2"], if nets < 4 { nets } else { 0 }),
                    cpu_vendor: [None, Some("GenuineIntel"), Some("AuthenticAMD")]
                        .get(usize::from(vendor))
                        .copied()
                        .flatten()
                        .map(String::from),
                    cpu_model: [None, Some("m1"), Some("m2")]
                        .get(usize::from(model))
                        .copied()
                        .flatten()
                        .map(String::from),
                    cpu_features: names(
                        &["avx", "avx2", "sse4"],
                        if feats < 4 { feats } else { 0 },
                    ),
                    department: match d {
                        1 | 2 => Some(dept(d)),
                        _ => None,
                    },
                    licensed_software: names(&["sql", "ora"], if lic == 1 { 1 } else { 0 }),
                    affinity,
                    anti_affinity,
                    hourly_load,
                    ha_restart,
                },
            )
    }

    fn arb_policy() -> impl Strategy<Value = Policy> {
        let all = vec![
            SoftRule::DepartmentFirst,
            SoftRule::Affinity,
            SoftRule::AntiAffinity,
            SoftRule::PoweredOn,
        ];
        (
            prop::sample::subsequence(all, 0..=4).prop_shuffle(),
            prop::collection::vec(prop::sample::select(vec![0.0f64, 0.5, 1.0, 3.0]), 7),
            prop::sample::select(vec![0.05f64, 0.1, 0.5]),
            any::<bool>(),
        )
            .prop_map(|(soft_rules, w, contention_full, default)| {
                if default {
                    return Policy::default();
                }
                Policy {
                    weights: Weights {
                        headroom: w[0],
                        balance: w[1],
                        complementary: w[2],
                        contention: w[3],
                        licence: w[4],
                        power: w[5],
                        affinity: w[6],
                    },
                    soft_rules,
                    contention_full,
                }
            })
    }

    proptest! {
        /// The reference agrees with the oracle: never a host over capacity or breaking
        /// anti-affinity, "no host fits" only when the oracle finds none, counts that add up,
        /// stars in half steps, relaxation only when nothing fits with every soft rule, and
        /// the same output for the same hosts in any order.
        #[test]
        fn rate_agrees_with_oracle(hosts in arb_hosts(), req in arb_req(), policy in arb_policy()) {
            let anti_hard = oracle_anti_hard(&policy);
            let r = rate(&hosts, &req, &policy);
            let feasible: Vec<&HostSnapshot> = hosts.iter().filter(|h| oracle_fits(h, &req, anti_hard)).collect();
            prop_assert_eq!(r.chosen.is_none(), feasible.is_empty());
            prop_assert_eq!(r.rejected.values().sum::<usize>(), hosts.len() - feasible.len());
            prop_assert_eq!(r.hosts.len(), hosts.len());
            for hr in &r.hosts {
                let h = hosts.iter().find(|h| h.id == hr.id).unwrap();
                prop_assert_eq!(hr.rejected_by.is_none(), oracle_fits(h, &req, anti_hard));
                prop_assert!(is_half_step(hr.stars));
                prop_assert!((0.0..=1.0).contains(&hr.score));
            }
            let rules = policy.rules();
            let meets_all = |h: &HostSnapshot| rules.iter().all(|&rule| oracle_rule_ok(&hosts, h, &req, rule));
            prop_assert_eq!(r.relaxed.is_empty(), feasible.is_empty() || feasible.iter().any(|h| meets_all(h)));
            if let Some(id) = r.chosen {
                let h = hosts.iter().find(|h| h.id == id).unwrap();
                let (vcap, mcap) = oracle_caps(h);
                prop_assert!(h.allocated_vcpus + u64::from(req.vcpus) <= vcap);
                prop_assert!(h.allocated_memory_mib + req.memory_mib <= mcap);
                if let (true, Some(g)) = (anti_hard, &req.anti_affinity) {
                    prop_assert_eq!(members(h, g), 0);
                }
                prop_assert!(oracle_fits(h, &req, anti_hard));
                for &rule in &rules {
                    prop_assert!(r.relaxed.contains(&rule) || oracle_rule_ok(&hosts, h, &req, rule));
                }
                // The best-rated host: no host meeting the kept rules scores higher.
                prop_assert_eq!(r.hosts[0].id, id);
                for hr in r.hosts.iter().filter(|x| x.rejected_by.is_none() && x.unmet.is_empty()) {
                    prop_assert!(hr.score <= r.hosts[0].score);
                }
            }
            let mut shuffled = hosts.clone();
            shuffled.reverse();
            shuffled.rotate_left(hosts.len() / 3);
            prop_assert_eq!(&rate(&shuffled, &req, &policy), &r);
            prop_assert_eq!(&rate(&hosts, &req, &policy), &r);
        }

        /// The index agrees with the reference, bit for bit, on the hosts it explains, the
        /// chosen host, the counts and the relaxed rules — also after commits and releases.
        #[test]
        fn rate_top_agrees_with_rate(
            hosts in arb_hosts(),
            reqs in prop::collection::vec(arb_req(), 1..5),
            policy in arb_policy(),
            k in prop::sample::select(vec![0usize, 1, 1, 1, 2, 4]),
            chunk in 1usize..5,
        ) {
            let mut rater = Rater::with_chunk_size(&hosts, policy.clone(), chunk);
            let mut placed = vec![];
            for req in &reqs {
                let full = rate(rater.snapshot(), req, &policy);
                let top = rater.rate_top(req, k);
                prop_assert_eq!(top.chosen, full.chosen);
                prop_assert_eq!(&top.rejected, &full.rejected);
                prop_assert_eq!(&top.relaxed, &full.relaxed);
                prop_assert_eq!(&top.hosts[..], &full.hosts[..k.min(hosts.len())]);
                if let Some(h) = top.chosen {
                    rater.commit(h, req).unwrap();
                    placed.push((h, req.clone()));
                }
            }
            if let Some((h, req)) = placed.first() {
                rater.release(*h, u64::from(req.vcpus), req.memory_mib).unwrap();
                if let Some(g) = &req.affinity {
                    rater.leave_group(*h, g).unwrap();
                }
                let full = rate(rater.snapshot(), req, &policy);
                let top = rater.rate_top(req, k);
                prop_assert_eq!(top.chosen, full.chosen);
                prop_assert_eq!(&top.rejected, &full.rejected);
                prop_assert_eq!(&top.hosts[..], &full.hosts[..k.min(hosts.len())]);
            }
        }

        /// Group placement never overcommits a host, never puts a VM next to a member of its
        /// (hard) anti-affinity group — including members placed earlier in the group — and
        /// fails only on a VM that the oracle finds no host for.
        #[test]
        fn place_group_holds_capacity_and_anti_affinity(
            hosts in arb_hosts(),
            reqs in prop::collection::vec(arb_req(), 1..6),
        ) {
            let policy = Policy::default();
            match place_group(&hosts, &reqs, &policy, 2) {
                Ok(ratings) => {
                    let ids = chosen_hosts(&ratings);
                    prop_assert_eq!(ids.len(), reqs.len());
                    let mut sim = hosts.clone();
                    for (id, req) in ids.iter().zip(&reqs) {
                        let h = sim.iter_mut().find(|h| h.id == *id).unwrap();
                        if let Some(g) = &req.anti_affinity {
                            prop_assert_eq!(members(h, g), 0);
                        }
                        h.allocated_vcpus += u64::from(req.vcpus);
                        h.allocated_memory_mib += req.memory_mib;
                        let (vcap, mcap) = oracle_caps(h);
                        prop_assert!(h.allocated_vcpus <= vcap && h.allocated_memory_mib <= mcap);
                        let mut joined: Vec<&String> = req.affinity.iter().chain(&req.anti_affinity).collect();
                        joined.dedup();
                        for g in joined {
                            h.groups.push((g.clone(), 1));
                        }
                    }
                    let mut rater = Rater::new(&hosts, policy.clone());
                    for (id, req) in ids.iter().zip(&reqs) {
                        let h = rater.snapshot().iter().find(|h| h.id == *id).unwrap();
                        prop_assert!(oracle_fits(h, req, true));
                        rater.commit(*id, req).unwrap();
                    }
                }
                Err(e) => {
                    let before = chosen_hosts(&place_group(&hosts, &reqs[..e.index], &policy, 1).unwrap());
                    let mut rater = Rater::new(&hosts, policy.clone());
                    for (id, req) in before.iter().zip(&reqs) {
                        rater.commit(*id, req).unwrap();
                    }
                    prop_assert!(!rater.snapshot().iter().any(|h| oracle_fits(h, &reqs[e.index], true)));
                    prop_assert_eq!(e.rejected.values().sum::<usize>(), hosts.len());
                }
            }
        }
    }
}
