//! High availability decisions: whether a silent host is dead or only cut off, whether it is
//! fenced, how much capacity a cluster keeps for host failures (admission control), and in
//! which order and where the dead host's VMs restart.

use std::collections::{BTreeMap, HashMap, HashSet};

use vdc_types::{HaPolicy, HostId, RestartPriority, VmId};

use crate::rating::{HostSnapshot, Policy, Rater, VmRequest};

// ---------------------------------------------------------------------------------------------
// Failure detection

/// The timers of the failure detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectorConfig {
    /// Management silence after which a host is suspect (its VMs are not touched yet).
    pub suspect_after_ms: i64,
    /// Silence on both paths after which a host is dead.
    pub dead_after_ms: i64,
}

impl Default for DetectorConfig {
    /// Suspect after 3 s, dead after 15 s, as vSphere HA declares a host dead.
    fn default() -> Self {
        DetectorConfig {
            suspect_after_ms: 3_000,
            dead_after_ms: 15_000,
        }
    }
}

/// When each path last showed the host alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeats {
    /// When watching began: silence counts from here for a path never heard.
    pub since_ms: i64,
    /// The driver connection answered (libvirt keepalive, a host query).
    pub management_ms: Option<i64>,
    /// The host renewed its heartbeat file on a datastore it shares with the others.
    pub datastore_ms: Option<i64>,
}

/// What the detector makes of a host.
pub use vdc_types::HostVerdict as Verdict;

/// Judges a host at `now` from its heartbeats.
pub fn judge(cfg: &DetectorConfig, hb: &Heartbeats, now_ms: i64) -> Verdict {
    let silent = |t: Option<i64>| now_ms - t.unwrap_or(hb.since_ms).max(hb.since_ms);
    let management = silent(hb.management_ms);
    if management < cfg.suspect_after_ms {
        Verdict::Alive
    } else if management < cfg.dead_after_ms {
        Verdict::Suspect
    } else if hb.datastore_ms.is_some() && silent(hb.datastore_ms) < cfg.dead_after_ms {
        Verdict::Partitioned
    } else {
        Verdict::Dead
    }
}

// ---------------------------------------------------------------------------------------------
// Fencing

/// Fencing timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FenceConfig {
    /// A host holding a storage lease renews it at least this often; once this long has
    /// passed since its last renewal, its own lock manager has stopped its VMs' disk access.
    pub lease_ttl_ms: i64,
    /// Give up (restart nothing, raise an alert) when neither path fenced the host within
    /// this long after it was declared dead.
    pub timeout_ms: i64,
}

impl Default for FenceConfig {
    fn default() -> Self {
        FenceConfig {
            lease_ttl_ms: 10_000,
            timeout_ms: 60_000,
        }
    }
}

/// What the fence agent hook (a command that powers the host off through its BMC) said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Agent {
    /// No agent is configured for the host.
    None,
    /// Still running.
    Pending,
    /// It confirmed the host is off.
    PoweredOff,
    /// It failed (unreachable BMC, wrong credentials): the lease may still fence the host.
    Failed(String),
}

/// How a host was fenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FencePath {
    Agent,
    LeaseExpired,
}

impl FencePath {
    pub fn as_str(self) -> &'static str {
        match self {
            FencePath::Agent => "fence_agent",
            FencePath::LeaseExpired => "lease_expired",
        }
    }
}

/// Where fencing stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fence {
    /// Ask again at `until_ms` at the latest.
    Wait {
        until_ms: i64,
    },
    Fenced(FencePath),
    /// Neither path fenced the host in time: its VMs must not be started elsewhere.
    Failed(String),
}

/// Whether a host declared dead at `dead_ms` is fenced at `now_ms`: the agent confirmed it
/// is off, or its storage lease (last renewed at `lease_renewed_ms`, if it holds one) has
/// expired; else wait, up to the timeout.
pub fn fence(
    cfg: &FenceConfig,
    dead_ms: i64,
    agent: &Agent,
    lease_renewed_ms: Option<i64>,
    now_ms: i64,
) -> Fence {
    if *agent == Agent::PoweredOff {
        return Fence::Fenced(FencePath::Agent);
    }
    let lease_free = lease_renewed_ms.map(|t| t + cfg.lease_ttl_ms);
    if lease_free.is_some_and(|t| now_ms >= t) {
        return Fence::Fenced(FencePath::LeaseExpired);
    }
    let deadline = dead_ms + cfg.timeout_ms;
    if now_ms >= deadline {
        let agent = match agent {
            Agent::None => "no fence agent is configured".to_string(),
            Agent::Pending => "the fence agent did not answer".to_string(),
            Agent::Failed(why) => format!("the fence agent failed: {why}"),
            Agent::PoweredOff => unreachable!("handled above"),
        };
        let lease = if lease_renewed_ms.is_some() {
            "its storage lease was still held"
        } else {
            "it holds no storage lease"
        };
        return Fence::Failed(format!(
            "not fenced within {} s: {agent}, and {lease}",
            cfg.timeout_ms / 1000
        ));
    }
    Fence::Wait {
        until_ms: lease_free.map_or(deadline, |t| t.min(deadline)),
    }
}

// ---------------------------------------------------------------------------------------------
// Admission control

/// How much of a cluster HA keeps free for failures.
#[derive(Debug, Clone, PartialEq)]
pub enum Reserve {
    None,
    /// Room for the VMs of this many failed hosts: the capacity of the largest ones.
    HostFailures(u32),
    /// A share of the capacity (0–100 %), vCPUs and memory.
    Percent {
        cpu: f64,
        memory: f64,
    },
    /// These hosts stay empty for failover.
    FailoverHosts(Vec<HostId>),
}

/// One host's capacity (after overcommit) and what running VMs hold of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CapacityHost {
    pub id: HostId,
    pub vcpus: u64,
    pub memory_mib: u64,
    pub used_vcpus: u64,
    pub used_memory_mib: u64,
}

/// vCPUs and memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Amount {
    pub vcpus: u64,
    pub memory_mib: u64,
}

/// A cluster's capacity, what the policy reserves, what VMs use, and what is left for new
/// ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    pub capacity: Amount,
    pub reserved: Amount,
    pub used: Amount,
}

impl Admission {
    /// What new VMs may still take (0 when the reserve is already broken).
    pub fn headroom(&self) -> Amount {
        let left = |c: u64, r: u64, u: u64| c.saturating_sub(r).saturating_sub(u);
        Amount {
            vcpus: left(self.capacity.vcpus, self.reserved.vcpus, self.used.vcpus),
            memory_mib: left(
                self.capacity.memory_mib,
                self.reserved.memory_mib,
                self.used.memory_mib,
            ),
        }
    }

    /// Whether what runs leaves the reserve free; else by how much it does not.
    pub fn kept(&self) -> Result<(), String> {
        let mut over = Vec::new();
        for (what, c, r, u) in [
            (
                "vCPUs",
                self.capacity.vcpus,
                self.reserved.vcpus,
                self.used.vcpus,
            ),
            (
                "MiB",
                self.capacity.memory_mib,
                self.reserved.memory_mib,
                self.used.memory_mib,
            ),
        ] {
            if u > c.saturating_sub(r) {
                over.push(format!(
                    "{u} {what} in use, {} left beside the reserve ({c} capacity − {r} reserved)",
                    c.saturating_sub(r)
                ));
            }
        }
        if over.is_empty() {
            Ok(())
        } else {
            Err(over.join("; "))
        }
    }

    /// Whether a VM of `vcpus` and `memory_mib` may start; else why, with the figures.
    pub fn admits(&self, vcpus: u64, memory_mib: u64) -> Result<(), String> {
        let h = self.headroom();
        let over = |ask: u64, c: u64, r: u64, u: u64| u + ask > c.saturating_sub(r);
        let mut short = Vec::new();
        if over(
            vcpus,
            self.capacity.vcpus,
            self.reserved.vcpus,
            self.used.vcpus,
        ) {
            short.push(format!(
                "{vcpus} vCPUs asked, {} left ({} capacity − {} reserved for failover − {} in use)",
                h.vcpus, self.capacity.vcpus, self.reserved.vcpus, self.used.vcpus
            ));
        }
        if over(
            memory_mib,
            self.capacity.memory_mib,
            self.reserved.memory_mib,
            self.used.memory_mib,
        ) {
            short.push(format!(
                "{memory_mib} MiB asked, {} MiB left ({} capacity − {} reserved for failover − {} in use)",
                h.memory_mib,
                self.capacity.memory_mib,
                self.reserved.memory_mib,
                self.used.memory_mib
            ));
        }
        if short.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "it would break the cluster's failover reserve: {}",
                short.join("; ")
            ))
        }
    }
}

/// The sum of the `n` largest values.
fn largest(mut v: Vec<u64>, n: usize) -> u64 {
    v.sort_unstable_by(|a, b| b.cmp(a));
    v.iter().take(n).sum()
}

/// The admission figures of a cluster's hosts under `reserve`. Host failures reserve, per
/// resource, the capacity of the largest hosts (the worst case), so whatever hosts fail the
/// survivors together hold what ran; like vSphere's percentage policy it counts capacity in
/// aggregate, not per-VM fit.
pub fn admission(hosts: &[CapacityHost], reserve: &Reserve) -> Admission {
    let sum = |f: fn(&CapacityHost) -> u64| hosts.iter().map(f).sum::<u64>();
    let capacity = Amount {
        vcpus: sum(|h| h.vcpus),
        memory_mib: sum(|h| h.memory_mib),
    };
    let used = Amount {
        vcpus: sum(|h| h.used_vcpus),
        memory_mib: sum(|h| h.used_memory_mib),
    };
    let reserved = match reserve {
        Reserve::None => Amount::default(),
        Reserve::HostFailures(n) => {
            let n = *n as usize;
            Amount {
                vcpus: largest(hosts.iter().map(|h| h.vcpus).collect(), n),
                memory_mib: largest(hosts.iter().map(|h| h.memory_mib).collect(), n),
            }
        }
        Reserve::Percent { cpu, memory } => {
            let share = |c: u64, p: f64| (c as f64 * p.clamp(0.0, 100.0) / 100.0).ceil() as u64;
            Amount {
                vcpus: share(capacity.vcpus, *cpu),
                memory_mib: share(capacity.memory_mib, *memory),
            }
        }
        Reserve::FailoverHosts(ids) => {
            let held = |f: fn(&CapacityHost) -> u64| {
                hosts.iter().filter(|h| ids.contains(&h.id)).map(f).sum()
            };
            Amount {
                vcpus: held(|h| h.vcpus),
                memory_mib: held(|h| h.memory_mib),
            }
        }
    };
    Admission {
        capacity,
        reserved,
        used,
    }
}

// ---------------------------------------------------------------------------------------------
// Restart plan

/// A VM of a dead host, as HA sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct HaVm {
    pub id: VmId,
    pub name: String,
    pub priority: RestartPriority,
    pub policy: HaPolicy,
    /// VMs that must be started before this one.
    pub depends_on: Vec<VmId>,
    /// It ran when its host died (a VM that was off stays off).
    pub was_running: bool,
    pub req: VmRequest,
}

/// One VM to restart.
#[derive(Debug, Clone, PartialEq)]
pub struct Restart {
    pub vm: VmId,
    pub host: HostId,
    /// Restarts start wave by wave; a wave starts when the one before is running.
    pub wave: u32,
    /// Its priority, raised to that of the VMs that depend on it.
    pub priority: RestartPriority,
    /// Why this host, and anything to know (a dependency that could not come back).
    pub why: String,
}

/// A VM of the dead host that is not restarted, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub vm: VmId,
    pub reason: String,
}

/// What to restart where, in which order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RestartPlan {
    /// In start order.
    pub restarts: Vec<Restart>,
    pub skipped: Vec<Skipped>,
    /// Dependencies that formed a cycle and were ignored (`a` depends on `b`).
    pub ignored_dependencies: Vec<(VmId, VmId)>,
}

/// Plans the restart of a dead host's VMs on `survivors`: VMs set to restart that were
/// running, by priority (a VM's dependencies raised to its priority), dependencies first,
/// each on the best surviving host the placement rating finds, given the ones placed before
/// it. A VM that fits nowhere is skipped with the rating's reasons; the rest go on.
pub fn restart_plan(vms: &[HaVm], survivors: &[HostSnapshot], policy: &Policy) -> RestartPlan {
    let mut plan = RestartPlan::default();
    let mut candidates: Vec<&HaVm> = Vec::new();
    for v in vms {
        if v.policy == HaPolicy::LeaveOff {
            plan.skipped.push(Skipped {
                vm: v.id,
                reason: "its HA policy leaves it off".into(),
            });
        } else if !v.was_running {
            plan.skipped.push(Skipped {
                vm: v.id,
                reason: "it was not running".into(),
            });
        } else {
            candidates.push(v);
        }
    }
    let index: HashMap<VmId, usize> = candidates
        .iter()
        .enumerate()
        .map(|(i, v)| (v.id, i))
        .collect();
    // Dependency edges among the candidates, cycles broken (the edge closing a cycle, in a
    // depth-first walk in input order, is ignored).
    let n = candidates.len();
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut state = vec![0u8; n]; // 0 new, 1 on the stack, 2 done
    fn walk(
        i: usize,
        candidates: &[&HaVm],
        index: &HashMap<VmId, usize>,
        deps: &mut [Vec<usize>],
        state: &mut [u8],
        ignored: &mut Vec<(VmId, VmId)>,
    ) {
        state[i] = 1;
        for d in &candidates[i].depends_on {
            let Some(&j) = index.get(d) else { continue };
            match state[j] {
                1 => ignored.push((candidates[i].id, *d)),
                0 => {
                    walk(j, candidates, index, deps, state, ignored);
                    deps[i].push(j);
                }
                _ => deps[i].push(j),
            }
        }
        state[i] = 2;
    }
    for i in 0..n {
        if state[i] == 0 {
            walk(
                i,
                &candidates,
                &index,
                &mut deps,
                &mut state,
                &mut plan.ignored_dependencies,
            );
        }
    }
    // Effective priority: the highest of the VM's own and its dependents'.
    let mut prio: Vec<RestartPriority> = candidates.iter().map(|v| v.priority).collect();
    loop {
        let mut changed = false;
        for i in 0..n {
            for &j in &deps[i] {
                if prio[i] < prio[j] {
                    prio[j] = prio[i];
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    // Level within a priority: one more than the deepest dependency of the same priority.
    let mut level = vec![0u32; n];
    let mut order: Vec<usize> = (0..n).collect();
    // Dependencies first (the graph is acyclic now): repeat until stable.
    loop {
        let mut changed = false;
        for i in 0..n {
            for &j in &deps[i] {
                if prio[j] == prio[i] && level[i] < level[j] + 1 {
                    level[i] = level[j] + 1;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    order.sort_by(|&a, &b| {
        (prio[a], level[a], &candidates[a].name, candidates[a].id.0).cmp(&(
            prio[b],
            level[b],
            &candidates[b].name,
            candidates[b].id.0,
        ))
    });
    let mut waves: BTreeMap<(RestartPriority, u32), u32> = BTreeMap::new();
    for &i in &order {
        let next = waves.len() as u32;
        waves.entry((prio[i], level[i])).or_insert(next);
    }
    let mut rater = Rater::new(survivors, policy.clone());
    let mut not_back: HashSet<usize> = HashSet::new();
    for &i in &order {
        let v = candidates[i];
        // Restarts may use the hosts kept empty for failover.
        let req = VmRequest {
            ha_restart: true,
            ..v.req.clone()
        };
        let rating = rater.rate_top(&req, 1);
        let Some(host) = rating.chosen else {
            not_back.insert(i);
            plan.skipped.push(Skipped {
                vm: v.id,
                reason: format!(
                    "no surviving host can take it: {}",
                    rating.explain_rejections()
                ),
            });
            continue;
        };
        rater
            .commit(host, &req)
            .expect("the chosen host is in the snapshot");
        let best = &rating.hosts[0];
        let mut why = format!("best surviving host ({} stars)", best.stars);
        let missing: Vec<&str> = deps[i]
            .iter()
            .filter(|j| not_back.contains(j))
            .map(|&j| candidates[j].name.as_str())
            .collect();
        if !missing.is_empty() {
            why.push_str(&format!(
                "; started although {} could not be restarted",
                missing.join(", ")
            ));
        }
        plan.restarts.push(Restart {
            vm: v.id,
            host,
            wave: waves[&(prio[i], level[i])],
            priority: prio[i],
            why,
        });
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hid(i: u128) -> HostId {
        HostId(uuid::Uuid::from_u128(i + 1))
    }

    fn vid(i: u128) -> VmId {
        VmId(uuid::Uuid::from_u128(1000 + i))
    }

    #[test]
    fn dead_partitioned_and_suspect_hosts() {
        let cfg = DetectorConfig::default();
        let hb = |m: Option<i64>, d: Option<i64>| Heartbeats {
            since_ms: 0,
            management_ms: m,
            datastore_ms: d,
        };
        assert_eq!(
            judge(&cfg, &hb(Some(99_000), None), 100_000),
            Verdict::Alive
        );
        assert_eq!(
            judge(&cfg, &hb(Some(90_000), None), 100_000),
            Verdict::Suspect
        );
        assert_eq!(
            judge(&cfg, &hb(Some(80_000), Some(95_000)), 100_000),
            Verdict::Partitioned
        );
        assert_eq!(
            judge(&cfg, &hb(Some(80_000), Some(80_000)), 100_000),
            Verdict::Dead
        );
        assert_eq!(judge(&cfg, &hb(Some(80_000), None), 100_000), Verdict::Dead);
        // Silence counts from when watching began, not from the epoch.
        let fresh = Heartbeats {
            since_ms: 95_000,
            management_ms: None,
            datastore_ms: None,
        };
        assert_eq!(judge(&cfg, &fresh, 100_000), Verdict::Suspect);
    }

    #[test]
    fn fencing_by_agent_by_lease_or_not_at_all() {
        let cfg = FenceConfig::default();
        assert_eq!(
            fence(&cfg, 0, &Agent::PoweredOff, Some(0), 1),
            Fence::Fenced(FencePath::Agent)
        );
        assert_eq!(
            fence(&cfg, 0, &Agent::Pending, Some(-2_000), 1_000),
            Fence::Wait { until_ms: 8_000 }
        );
        assert_eq!(
            fence(
                &cfg,
                0,
                &Agent::Failed("BMC unreachable".into()),
                Some(-2_000),
                8_000
            ),
            Fence::Fenced(FencePath::LeaseExpired)
        );
        assert_eq!(
            fence(&cfg, 0, &Agent::Pending, None, 30_000),
            Fence::Wait { until_ms: 60_000 }
        );
        let Fence::Failed(why) = fence(
            &cfg,
            0,
            &Agent::Failed("BMC unreachable".into()),
            None,
            60_000,
        ) else {
            panic!("times out");
        };
        assert!(
            why.contains("BMC unreachable") && why.contains("no storage lease"),
            "{why}"
        );
    }

    fn cap(i: u128, vcpus: u64, memory_mib: u64, used: (u64, u64)) -> CapacityHost {
        CapacityHost {
            id: hid(i),
            vcpus,
            memory_mib,
            used_vcpus: used.0,
            used_memory_mib: used.1,
        }
    }

    #[test]
    fn admission_refuses_with_the_figures() {
        let hosts = [
            cap(0, 64, 256_000, (40, 100_000)),
            cap(1, 32, 128_000, (10, 50_000)),
            cap(2, 32, 128_000, (0, 0)),
        ];
        let a = admission(&hosts, &Reserve::HostFailures(1));
        assert_eq!(
            a.reserved,
            Amount {
                vcpus: 64,
                memory_mib: 256_000
            }
        );
        assert_eq!(
            a.headroom(),
            Amount {
                vcpus: 14,
                memory_mib: 106_000
            }
        );
        assert!(a.admits(14, 100_000).is_ok());
        let why = a.admits(16, 1024).unwrap_err();
        assert!(
            why.contains(
                "16 vCPUs asked, 14 left (128 capacity − 64 reserved for failover − 50 in use)"
            ),
            "{why}"
        );
        let p = admission(
            &hosts,
            &Reserve::Percent {
                cpu: 25.0,
                memory: 50.0,
            },
        );
        assert_eq!(
            p.reserved,
            Amount {
                vcpus: 32,
                memory_mib: 256_000
            }
        );
        let f = admission(&hosts, &Reserve::FailoverHosts(vec![hid(2)]));
        assert_eq!(
            f.reserved,
            Amount {
                vcpus: 32,
                memory_mib: 128_000
            }
        );
    }

    proptest! {
        /// Admission under N host failures admits a VM exactly when, for every set of N hosts
        /// that could fail, what would run (used + the VM) fits in the other hosts' capacity.
        #[test]
        fn host_failure_reserve_matches_every_failure_set(
            hosts in prop::collection::vec((1u64..64, 1u64..512, 0u64..64, 0u64..512), 1..7),
            n in 0u32..3,
            ask in (0u64..64, 0u64..512),
        ) {
            let hosts: Vec<CapacityHost> = hosts
                .iter()
                .enumerate()
                .map(|(i, (v, m, uv, um))| cap(i as u128, *v, *m, (*uv, *um)))
                .collect();
            let a = admission(&hosts, &Reserve::HostFailures(n));
            let total_used = (a.used.vcpus + ask.0, a.used.memory_mib + ask.1);
            let k = hosts.len();
            let mut fits_all = true;
            for mask in 0u32..(1 << k) {
                if mask.count_ones() != n.min(k as u32) {
                    continue;
                }
                let left = |f: fn(&CapacityHost) -> u64| -> u64 {
                    hosts.iter().enumerate().filter(|(i, _)| mask & (1 << i) == 0).map(|(_, h)| f(h)).sum()
                };
                if total_used.0 > left(|h| h.vcpus) || total_used.1 > left(|h| h.memory_mib) {
                    fits_all = false;
                }
            }
            prop_assert_eq!(a.admits(ask.0, ask.1).is_ok(), fits_all);
        }
    }

    fn snap(i: u128, cpus: u32, memory_mib: u64, reachable: bool) -> HostSnapshot {
        HostSnapshot {
            id: hid(i),
            name: format!("h{i}"),
            cluster: vdc_types::ClusterId(uuid::Uuid::from_u128(7)),
            reachable,
            maintenance: false,
            powered_on: true,
            logical_cpus: cpus,
            memory_mib,
            numa_cells: Vec::new(),
            allocated_vcpus: 0,
            allocated_memory_mib: 0,
            vcpu_ratio: 1.0,
            memory_ratio: 1.0,
            cpu_vendor: "x".into(),
            cpu_model: "x".into(),
            cpu_features: Vec::new(),
            datastores: vec![("ds".into(), 100_000)],
            networks: Vec::new(),
            dedicated_to: None,
            licensed_software: Vec::new(),
            licence_cost_per_vcpu: 0.0,
            cpu_load: 0.0,
            hourly_load: None,
            vcpu_wait: 0.0,
            groups: Vec::new(),
            failover_reserved: false,
        }
    }

    fn vm(i: u128, prio: RestartPriority, deps: &[u128], vcpus: u32, memory_mib: u64) -> HaVm {
        HaVm {
            id: vid(i),
            name: format!("vm{i:02}"),
            priority: prio,
            policy: HaPolicy::Restart,
            depends_on: deps.iter().map(|d| vid(*d)).collect(),
            was_running: true,
            req: VmRequest {
                vcpus,
                memory_mib,
                ..VmRequest::default()
            },
        }
    }

    #[test]
    fn priorities_dependencies_and_room() {
        use RestartPriority::*;
        // web (high) needs db (low): db is raised to high and starts in the wave before.
        let mut off = vm(4, Highest, &[], 1, 100);
        off.policy = HaPolicy::LeaveOff;
        let mut stopped = vm(5, Highest, &[], 1, 100);
        stopped.was_running = false;
        let vms = [
            vm(0, High, &[1], 2, 1000),
            vm(1, Low, &[], 2, 1000),
            vm(2, Highest, &[], 2, 1000),
            vm(3, Lowest, &[], 64, 1000),
            off,
            stopped,
        ];
        let hosts = [snap(0, 8, 4000, true), snap(1, 8, 4000, false)];
        let plan = restart_plan(&vms, &hosts, &Policy::default());
        let order: Vec<(VmId, u32, RestartPriority)> = plan
            .restarts
            .iter()
            .map(|r| (r.vm, r.wave, r.priority))
            .collect();
        assert_eq!(
            order,
            vec![(vid(2), 0, Highest), (vid(1), 1, High), (vid(0), 2, High)]
        );
        assert!(
            plan.restarts.iter().all(|r| r.host == hid(0)),
            "never the unreachable host"
        );
        let reasons: HashMap<VmId, &str> = plan
            .skipped
            .iter()
            .map(|s| (s.vm, s.reason.as_str()))
            .collect();
        assert!(
            reasons[&vid(3)].starts_with("no surviving host can take it"),
            "{reasons:?}"
        );
        assert_eq!(reasons[&vid(4)], "its HA policy leaves it off");
        assert_eq!(reasons[&vid(5)], "it was not running");
    }

    #[test]
    fn restarts_may_use_the_hosts_kept_for_failover() {
        use crate::rating::Rater;
        let mut spare = snap(1, 8, 4000, true);
        spare.failover_reserved = true;
        let hosts = [snap(0, 1, 4000, true), spare];
        let vms = [vm(0, RestartPriority::Medium, &[], 2, 1000)];
        let plan = restart_plan(&vms, &hosts, &Policy::default());
        assert_eq!(plan.restarts.len(), 1, "{plan:?}");
        assert_eq!(plan.restarts[0].host, hid(1));
        // Normal placement of the same VM finds no host.
        let rating = Rater::new(&hosts, Policy::default()).rate_top(&vms[0].req, 1);
        assert_eq!(rating.chosen, None);
        assert!(
            rating
                .explain_rejections()
                .contains("host kept empty for failover"),
            "{}",
            rating.explain_rejections()
        );
    }

    #[test]
    fn a_dependency_cycle_is_broken_and_said() {
        use RestartPriority::*;
        let vms = [vm(0, Medium, &[1], 1, 10), vm(1, Medium, &[0], 1, 10)];
        let plan = restart_plan(&vms, &[snap(0, 8, 4000, true)], &Policy::default());
        assert_eq!(plan.restarts.len(), 2);
        assert_eq!(plan.ignored_dependencies, vec![(vid(1), vid(0))]);
        assert!(plan.restarts[0].wave < plan.restarts[1].wave);
    }

    proptest! {
        /// Against the rules checked directly: a higher priority never starts in a later wave,
        /// dependencies (kept) start in an earlier wave and have at least the dependent's
        /// priority, no host is filled beyond its capacity, and a VM is skipped for room only
        /// when no reachable host had room left for it at its turn.
        #[test]
        fn plan_keeps_order_capacity_and_skips_only_what_fits_nowhere(
            specs in prop::collection::vec((0usize..5, prop::collection::vec(0u128..12, 0..3), 1u32..6, 1u64..6), 1..12),
            hosts in prop::collection::vec((1u32..12, 1u64..16, any::<bool>()), 1..5),
        ) {
            let prios = RestartPriority::ALL;
            let vms: Vec<HaVm> = specs
                .iter()
                .enumerate()
                .map(|(i, (p, d, c, m))| {
                    let deps: Vec<u128> = d.iter().copied().filter(|x| *x != i as u128).collect();
                    vm(i as u128, prios[*p], &deps, *c, m * 1000)
                })
                .collect();
            let snaps: Vec<HostSnapshot> = hosts
                .iter()
                .enumerate()
                .map(|(i, (c, m, up))| snap(i as u128, *c, m * 1000, *up))
                .collect();
            let plan = restart_plan(&vms, &snaps, &Policy::default());
            let by_vm: HashMap<VmId, &Restart> = plan.restarts.iter().map(|r| (r.vm, r)).collect();
            let ignored: HashSet<(VmId, VmId)> = plan.ignored_dependencies.iter().copied().collect();
            for a in &plan.restarts {
                for b in &plan.restarts {
                    if a.priority < b.priority {
                        prop_assert!(a.wave < b.wave);
                    }
                }
                let v = vms.iter().find(|v| v.id == a.vm).unwrap();
                prop_assert!(a.priority <= v.priority);
                for d in &v.depends_on {
                    if ignored.contains(&(v.id, *d)) {
                        continue;
                    }
                    if let Some(dep) = by_vm.get(d) {
                        prop_assert!(dep.wave < a.wave, "{:?} before {:?}", d, v.id);
                        prop_assert!(dep.priority <= a.priority);
                    }
                }
            }
            // Replay the plan in order, checking room directly.
            let mut used: HashMap<HostId, (u64, u64)> = HashMap::new();
            let skipped_for_room: HashSet<VmId> = plan
                .skipped
                .iter()
                .filter(|s| s.reason.starts_with("no surviving host"))
                .map(|s| s.vm)
                .collect();
            prop_assert_eq!(plan.restarts.len() + plan.skipped.len(), vms.len());
            // Room only shrinks as the plan goes on, so a VM skipped for room at its turn
            // cannot fit in what the whole plan left either.
            for r in &plan.restarts {
                let v = vms.iter().find(|v| v.id == r.vm).unwrap();
                let h = snaps.iter().find(|h| h.id == r.host).unwrap();
                prop_assert!(h.reachable);
                let u = used.entry(r.host).or_default();
                u.0 += u64::from(v.req.vcpus);
                u.1 += v.req.memory_mib;
                prop_assert!(u.0 <= u64::from(h.logical_cpus) && u.1 <= h.memory_mib);
            }
            for id in &skipped_for_room {
                let v = vms.iter().find(|v| v.id == *id).unwrap();
                for h in snaps.iter().filter(|h| h.reachable) {
                    let u = used.get(&h.id).copied().unwrap_or_default();
                    prop_assert!(
                        u.0 + u64::from(v.req.vcpus) > u64::from(h.logical_cpus)
                            || u.1 + v.req.memory_mib > h.memory_mib,
                        "{:?} was skipped but fits on {:?}", id, h.id
                    );
                }
            }
        }
    }
}
