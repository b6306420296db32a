//! The pieces both paths share: one function per filter or ranker, so that [`super::rate`]
//! and [`super::Rater`] compute bit-identical values.

use super::*;

// ---------------------------------------------------------------------------------------------
// The pieces both paths share: one function per filter or ranker, so that `rate` and `Rater`
// compute bit-identical values.

/// The request, prepared once per rating.
#[derive(Debug)]
pub(crate) struct Prepared<'a> {
    pub(crate) req: &'a VmRequest,
    pub(crate) disks: DiskNeed,
    pub(crate) vm_profile: Option<[f64; 24]>,
    /// Policy soft rules, deduplicated, highest priority first (at most 4).
    pub(crate) rules: Vec<SoftRule>,
    pub(crate) applicable: Vec<bool>,
    pub(crate) anti_hard: bool,
    pub(crate) aff_applicable: bool,
    pub(crate) weights: [f64; N_RANKERS],
    pub(crate) total_weight: f64,
    pub(crate) contention_full: f64,
}

impl<'a> Prepared<'a> {
    pub(crate) fn new(
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
    pub(crate) fn soft_mask(
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

    pub(crate) fn rules_in(&self, mask: u8) -> Vec<SoftRule> {
        (0..self.rules.len())
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| self.rules[i])
            .collect()
    }
}

/// Which rules to keep, given the set of soft masks of the feasible hosts (bit m of `present`
/// set: some feasible host breaks exactly the rules in m). Greedy in priority order: keep a
/// rule when some feasible host meets it and every rule kept so far.
pub(crate) fn keep_rules(present: u16, n_rules: usize) -> u8 {
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
pub(crate) struct DiskNeed {
    pub(crate) named: Vec<(String, u64)>,
    pub(crate) unnamed: Option<u64>,
}

impl DiskNeed {
    pub(crate) fn new(disks: &[(Option<String>, u64)]) -> Self {
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

    pub(crate) fn need(&self, name: &str) -> u64 {
        self.named
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .map_or(0, |i| self.named[i].1)
    }
}

/// What the host is: the inputs of the static filters.
pub(crate) struct StaticView<'a> {
    pub(crate) reachable: bool,
    pub(crate) maintenance: bool,
    pub(crate) failover_reserved: bool,
    pub(crate) dedicated_to: Option<DepartmentId>,
    pub(crate) cpu_vendor: &'a str,
    pub(crate) cpu_model: &'a str,
    pub(crate) cpu_features: &'a [String],
    pub(crate) licensed: &'a [String],
    pub(crate) networks: &'a [String],
    pub(crate) numa: &'a [NumaCell],
}

/// The first static filter refusing the host.
pub(crate) fn static_filter(h: &StaticView<'_>, req: &VmRequest) -> Option<Filter> {
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
pub(crate) fn numa_fits(cells: &[NumaCell], vcpus: u32, memory_mib: u64) -> bool {
    if cells.is_empty() {
        return true;
    }
    let cpus: u64 = cells.iter().map(|c| u64::from(c.cpus)).sum();
    let memory: u128 = cells.iter().map(|c| u128::from(c.memory_mib)).sum();
    u64::from(vcpus) <= cpus && u128::from(memory_mib) <= memory
}

/// floor(logical CPUs × ratio); a non-finite or negative product gives 0 (or saturates).
pub(crate) fn vcpu_cap(logical_cpus: u32, ratio: f64) -> u64 {
    (f64::from(logical_cpus) * ratio).floor() as u64
}

/// floor(memory × ratio).
pub(crate) fn memory_cap(memory_mib: u64, ratio: f64) -> u64 {
    (memory_mib as f64 * ratio).floor() as u64
}

/// Room left under a cap; may be negative when the snapshot is already overcommitted.
pub(crate) fn room(alloc: u64, cap: u64) -> i128 {
    i128::from(cap) - i128::from(alloc)
}

/// Memory-use share in millionths, capped at 1.
pub(crate) fn share_q(alloc: u64, cap: u64) -> u64 {
    if cap == 0 {
        return Q;
    }
    (u128::from(alloc) * u128::from(Q) / u128::from(cap)).min(u128::from(Q)) as u64
}

/// Active hosts of a cluster: their number and the sums of their memory-use shares and squares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ClusterStat {
    pub(crate) n: u64,
    pub(crate) s1: u128,
    pub(crate) s2: u128,
}

impl ClusterStat {
    pub(crate) fn add(&mut self, q: u64) {
        self.n += 1;
        self.s1 += u128::from(q);
        self.s2 += u128::from(q) * u128::from(q);
    }

    pub(crate) fn replace(&mut self, old: u64, new: u64) {
        self.s1 = self.s1 + u128::from(new) - u128::from(old);
        self.s2 = self.s2 + u128::from(new) * u128::from(new) - u128::from(old) * u128::from(old);
    }

    /// n² × the variance of the shares, exactly: n × Σq² − (Σq)².
    pub(crate) fn spread(&self) -> u128 {
        (u128::from(self.n) * self.s2).saturating_sub(self.s1 * self.s1)
    }
}

pub(crate) fn sanitize01(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

pub(crate) fn sanitize_profile(p: &[f64; 24]) -> [f64; 24] {
    p.map(sanitize01)
}

pub(crate) fn sanitize_cost(c: f64) -> f64 {
    if c.is_finite() && c > 0.0 { c } else { 0.0 }
}

pub(crate) fn headroom(alloc_v: u64, v: u64, vcap: u64, alloc_m: u64, m: u64, mcap: u64) -> f64 {
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

pub(crate) fn balance(stat: ClusterStat, active: bool, q_before: u64, q_after: u64) -> f64 {
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
pub(crate) fn balance_of(n: u64, spread: u128) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let sd = to_f64(spread).sqrt() / n as f64;
    (1.0 - 2.0 * sd / Q as f64).clamp(0.0, 1.0)
}

/// `x as f64`, through u64 when it fits: the same value, without the slow u128 conversion.
pub(crate) fn to_f64(x: u128) -> f64 {
    match u64::try_from(x) {
        Ok(v) => v as f64,
        Err(_) => x as f64,
    }
}

/// The share of the host's CPUs the VM's vCPUs stand for (at most 1).
pub(crate) fn vm_scale(vcpus: u32, logical_cpus: u32) -> f64 {
    if logical_cpus == 0 {
        1.0
    } else {
        (f64::from(vcpus) / f64::from(logical_cpus)).min(1.0)
    }
}

pub(crate) fn complementary(
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
pub(crate) fn complementary_bound(peak: f64, scale: f64, vm_min: f64) -> f64 {
    1.0 - (peak + scale * vm_min).min(1.0)
}

pub(crate) fn contention(vcpu_wait: f64, full: f64) -> f64 {
    1.0 - (sanitize01(vcpu_wait) / full).min(1.0)
}

pub(crate) fn licence(cost: f64, max: f64) -> f64 {
    if max <= 0.0 {
        1.0
    } else {
        (1.0 - sanitize_cost(cost) / max).clamp(0.0, 1.0)
    }
}

/// Everything the rankers read about one host.
pub(crate) struct RankInput {
    pub(crate) alloc_v: u64,
    pub(crate) alloc_m: u64,
    pub(crate) vcap: u64,
    pub(crate) mcap: u64,
    pub(crate) cluster: ClusterStat,
    pub(crate) active: bool,
    /// [`complementary`], or a bound of it.
    pub(crate) complementary: f64,
    /// [`contention`] and [`licence`] of the host (they do not depend on the request).
    pub(crate) contention: f64,
    pub(crate) licence: f64,
    pub(crate) powered_on: bool,
    pub(crate) aff_member: bool,
}

pub(crate) fn ranker_values(x: &RankInput, p: &Prepared<'_>) -> [f64; N_RANKERS] {
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
pub(crate) fn combine(
    values: &[f64; N_RANKERS],
    w: &[f64; N_RANKERS],
    total: f64,
) -> ([f64; N_RANKERS], f64) {
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

pub(crate) fn stars(score: f64) -> f64 {
    (score * 10.0).round() / 2.0
}

/// A host's verdict: refused, or feasible with its broken-rule mask and ranker values.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Eval {
    Rejected(Filter),
    Feasible { mask: u8, values: [f64; N_RANKERS] },
}

pub(crate) fn host_rating(
    id: HostId,
    name: &str,
    eval: &Eval,
    kept: u8,
    p: &Prepared<'_>,
) -> HostRating {
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

pub(crate) fn count_map(counts: &[usize; Filter::ALL.len()]) -> BTreeMap<Filter, usize> {
    Filter::ALL
        .iter()
        .zip(counts)
        .filter(|(_, n)| **n > 0)
        .map(|(f, n)| (*f, *n))
        .collect()
}

pub(crate) fn is_active(h: &HostSnapshot) -> bool {
    h.reachable && !h.maintenance && h.powered_on
}

pub(crate) fn has_member(h: &HostSnapshot, group: Option<&str>) -> bool {
    group.is_some_and(|g| h.groups.iter().any(|(n, c)| n == g && *c > 0))
}

/// Datastores of a host, first entry per name.
pub(crate) fn unique_datastores(h: &HostSnapshot) -> impl Iterator<Item = (&str, u64)> + Clone {
    h.datastores
        .iter()
        .enumerate()
        .filter(|(i, (n, _))| !h.datastores[..*i].iter().any(|(m, _)| m == n))
        .map(|(_, (n, f))| (n.as_str(), *f))
}

pub(crate) fn datastores_fit(h: &HostSnapshot, need: &DiskNeed) -> bool {
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
