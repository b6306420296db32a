//! The reference: rate every host.

use super::*;

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

pub(crate) fn evaluate(
    h: &HostSnapshot,
    p: &Prepared<'_>,
    cluster: ClusterStat,
    licence_max: f64,
) -> Eval {
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
