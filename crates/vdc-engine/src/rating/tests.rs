//! Unit and property tests of the rating: the reference against a brute-force oracle, the
//! index against the reference, group placement.

use super::*;
use proptest::prelude::*;
use uuid::Uuid;

const DAY: [f64; 24] = [
    0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 0.8, 0.9, 0.9, 0.9, 0.8, 0.9, 0.9, 0.9, 0.8, 0.6, 0.3,
    0.2, 0.1, 0.1, 0.1, 0.1,
];
const NIGHT: [f64; 24] = [
    0.9, 0.9, 0.9, 0.8, 0.6, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1,
    0.2, 0.4, 0.6, 0.8, 0.9,
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
                id: 0,
                cpus: 8,
                memory_mib: 32768,
            },
            NumaCell {
                id: 1,
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
        id: 0,
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
fn oracle_rule_ok(all: &[HostSnapshot], h: &HostSnapshot, r: &VmRequest, rule: SoftRule) -> bool {
    match rule {
        SoftRule::DepartmentFirst => match r.department {
            Some(d) if all.iter().any(|x| x.dedicated_to == Some(d)) => h.dedicated_to == Some(d),
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
                        .map(|id| NumaCell {
                            id,
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
                    |(i, (t, name, cluster, (av, am), free, (g1, g2), (hourly, cost, wait)))| {
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
                cpu_features: names(&["avx", "avx2", "sse4"], if feats < 4 { feats } else { 0 }),
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
