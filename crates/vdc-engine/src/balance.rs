//! Load balancing (like vSphere DRS): which running VMs to move so no host is hot and the
//! cluster's CPU load is even, explained move by move.
//!
//! A host is *hot* when its CPU demand exceeds the high-water mark or its vCPUs wait for CPU
//! (contention) beyond a threshold. The plan moves VMs one at a time, each time the move with
//! the largest gain: the drop in the cluster's imbalance (the standard deviation of host CPU
//! utilisation), plus the pressure taken off hot hosts. The target's load after the move is
//! predicted by adding the VM's measured demand, and no target may end up hot. Hysteresis: no
//! plan at all while the imbalance is under its threshold and no host is hot; a move is made
//! only when it gains at least `min_gain`; a VM moves at most once per plan; at most
//! `max_moves` moves. VMs on hosts in maintenance are evacuated first, whatever the gain.

use std::collections::BTreeSet;

/// A host as the balancer sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct BalanceHost {
    pub name: String,
    /// Logical CPUs (the unit of CPU demand).
    pub cpus: f64,
    /// vCPUs and memory it may hold under its cluster's ratios.
    pub vcpu_cap: u64,
    pub memory_cap_mib: u64,
    /// Share of time its vCPUs waited for a CPU at the last sample (0..1).
    pub vcpu_wait: f64,
    /// Takes no VMs; its VMs are evacuated.
    pub maintenance: bool,
    /// Reachable and taking VMs (a host that is not is neither source nor target).
    pub usable: bool,
}

/// A VM as the balancer sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct BalanceVm {
    pub name: String,
    /// Index into the hosts.
    pub host: usize,
    pub vcpus: u32,
    pub memory_mib: u64,
    /// Measured CPU demand, in logical CPUs.
    pub cpu_demand: f64,
    /// May be moved now (running, no job on it, not pinned).
    pub movable: bool,
}

/// How eager the balancer is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BalanceParams {
    /// Hot above this CPU utilisation (0..1).
    pub high_water: f64,
    /// Hot above this vCPU wait share.
    pub contention: f64,
    /// No plan while the utilisation standard deviation is under this and no host is hot.
    pub imbalance_threshold: f64,
    /// Smallest gain a move must bring.
    pub min_gain: f64,
    /// Most moves per plan.
    pub max_moves: usize,
}

impl Default for BalanceParams {
    /// Hot above 80 % CPU or 5 % vCPU wait; act from a 0.15 spread; each move must gain 0.01;
    /// at most 8 moves.
    fn default() -> Self {
        BalanceParams {
            high_water: 0.8,
            contention: 0.05,
            imbalance_threshold: 0.15,
            min_gain: 0.01,
            max_moves: 8,
        }
    }
}

/// One planned migration and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Move {
    /// Index into the VMs.
    pub vm: usize,
    pub from: usize,
    pub to: usize,
    /// The gain it brings (0 for evacuations).
    pub gain: f64,
    pub reason: String,
}

/// The plan: moves in order, and the imbalance before and after them.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub moves: Vec<Move>,
    pub imbalance_before: f64,
    pub imbalance_after: f64,
    /// Hosts hot before and after.
    pub hot_before: usize,
    pub hot_after: usize,
}

/// The working state of a plan.
#[derive(Debug, Clone)]
struct State {
    demand: Vec<f64>,
    vcpus: Vec<u64>,
    memory: Vec<u64>,
}

impl State {
    fn new(hosts: &[BalanceHost], vms: &[BalanceVm]) -> State {
        let mut s = State {
            demand: vec![0.0; hosts.len()],
            vcpus: vec![0; hosts.len()],
            memory: vec![0; hosts.len()],
        };
        for vm in vms.iter().filter(|v| v.host < hosts.len()) {
            s.add(vm, vm.host, 1);
        }
        s
    }

    fn add(&mut self, vm: &BalanceVm, host: usize, sign: i8) {
        let (v, m) = (u64::from(vm.vcpus), vm.memory_mib);
        if sign > 0 {
            self.demand[host] += vm.cpu_demand.max(0.0);
            self.vcpus[host] += v;
            self.memory[host] += m;
        } else {
            self.demand[host] -= vm.cpu_demand.max(0.0);
            self.vcpus[host] = self.vcpus[host].saturating_sub(v);
            self.memory[host] = self.memory[host].saturating_sub(m);
        }
    }

    fn utilisation(&self, hosts: &[BalanceHost], h: usize) -> f64 {
        if hosts[h].cpus > 0.0 {
            self.demand[h].max(0.0) / hosts[h].cpus
        } else {
            0.0
        }
    }

    /// Standard deviation of the usable, non-maintenance hosts' utilisation.
    fn imbalance(&self, hosts: &[BalanceHost]) -> f64 {
        let u: Vec<f64> = (0..hosts.len())
            .filter(|&h| hosts[h].usable && !hosts[h].maintenance)
            .map(|h| self.utilisation(hosts, h))
            .collect();
        if u.len() < 2 {
            return 0.0;
        }
        let mean = u.iter().sum::<f64>() / u.len() as f64;
        (u.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / u.len() as f64).sqrt()
    }

    /// How far over the high-water mark the usable hosts are, summed (the "pressure").
    fn pressure(&self, hosts: &[BalanceHost], p: &BalanceParams) -> f64 {
        (0..hosts.len())
            .filter(|&h| hosts[h].usable && !hosts[h].maintenance)
            .map(|h| (self.utilisation(hosts, h) - p.high_water).max(0.0))
            .sum()
    }

    fn hot(&self, hosts: &[BalanceHost], p: &BalanceParams, h: usize, moved_in: bool) -> bool {
        // Measured contention stays with the host until a VM leaves it; a host that received
        // VMs is judged by its predicted utilisation only.
        self.utilisation(hosts, h) > p.high_water
            || (!moved_in && hosts[h].vcpu_wait > p.contention)
    }

    fn fits(&self, hosts: &[BalanceHost], vm: &BalanceVm, h: usize) -> bool {
        let t = &hosts[h];
        t.usable
            && !t.maintenance
            && self.vcpus[h] + u64::from(vm.vcpus) <= t.vcpu_cap
            && self.memory[h] + vm.memory_mib <= t.memory_cap_mib
    }
}

/// The value a plan minimises: imbalance plus pressure over the high-water mark.
fn cost(s: &State, hosts: &[BalanceHost], p: &BalanceParams) -> f64 {
    s.imbalance(hosts) + s.pressure(hosts, p)
}

fn hot_count(
    s: &State,
    hosts: &[BalanceHost],
    p: &BalanceParams,
    relieved: &BTreeSet<usize>,
) -> usize {
    (0..hosts.len())
        .filter(|&h| hosts[h].usable && !hosts[h].maintenance)
        .filter(|&h| s.hot(hosts, p, h, relieved.contains(&h)))
        .count()
}

/// Plans the moves for one cluster (every host given shares the imbalance). Deterministic:
/// ties go to the lower VM index, then the lower target index.
pub fn plan(hosts: &[BalanceHost], vms: &[BalanceVm], p: &BalanceParams) -> Plan {
    let mut s = State::new(hosts, vms);
    let none = BTreeSet::new();
    let imbalance_before = s.imbalance(hosts);
    let hot_before = hot_count(&s, hosts, p, &none);
    let mut moves = Vec::new();
    let mut moved = vec![false; vms.len()];
    // Hosts that lost a VM (their measured contention no longer says much) or gained one.
    let mut touched: BTreeSet<usize> = BTreeSet::new();

    // Evacuations first: least-utilised target that fits.
    for (i, vm) in vms.iter().enumerate() {
        if moves.len() >= p.max_moves {
            break;
        }
        if !vm.movable || vm.host >= hosts.len() || !hosts[vm.host].maintenance {
            continue;
        }
        let target = (0..hosts.len())
            .filter(|&h| h != vm.host && s.fits(hosts, vm, h))
            .min_by(|&a, &b| {
                s.utilisation(hosts, a)
                    .total_cmp(&s.utilisation(hosts, b))
                    .then(a.cmp(&b))
            });
        if let Some(t) = target {
            s.add(vm, vm.host, -1);
            s.add(vm, t, 1);
            moved[i] = true;
            touched.insert(t);
            moves.push(Move {
                vm: i,
                from: vm.host,
                to: t,
                gain: 0.0,
                reason: format!(
                    "{} is in maintenance; {} is the least loaded host it fits ({:.0} % CPU after)",
                    hosts[vm.host].name,
                    hosts[t].name,
                    s.utilisation(hosts, t) * 100.0
                ),
            });
        }
    }

    let acting = hot_before > 0 || imbalance_before >= p.imbalance_threshold;
    while acting && moves.len() < p.max_moves {
        let before = cost(&s, hosts, p);
        let mut best: Option<(f64, usize, usize)> = None;
        for (i, vm) in vms.iter().enumerate() {
            if moved[i] || !vm.movable || vm.host >= hosts.len() || !hosts[vm.host].usable {
                continue;
            }
            let from = vm.host;
            let source_hot = s.hot(hosts, p, from, touched.contains(&from));
            for to in 0..hosts.len() {
                if to == from || !s.fits(hosts, vm, to) {
                    continue;
                }
                let mut after = s.clone();
                after.add(vm, from, -1);
                after.add(vm, to, 1);
                if after.hot(hosts, p, to, true) {
                    continue;
                }
                // A hot source whose contention is measured: moving demand off it relieves
                // the waiting VMs too, counted as the wait share it sheds.
                let relief = if source_hot && hosts[from].vcpu_wait > p.contention {
                    hosts[from].vcpu_wait * vm.cpu_demand.max(0.0) / s.demand[from].max(1e-9)
                } else {
                    0.0
                };
                let gain = before - cost(&after, hosts, p) + relief;
                if best.is_none_or(|(g, _, _)| gain > g) {
                    best = Some((gain, i, to));
                }
            }
        }
        let Some((gain, i, to)) = best else { break };
        if gain < p.min_gain {
            break;
        }
        let vm = &vms[i];
        let from = vm.host;
        let (u_from, u_to) = (s.utilisation(hosts, from), s.utilisation(hosts, to));
        let imb = s.imbalance(hosts);
        s.add(vm, from, -1);
        s.add(vm, to, 1);
        moved[i] = true;
        touched.insert(from);
        touched.insert(to);
        let why = if hosts[from].vcpu_wait > p.contention {
            format!(
                "{} has {:.0} % CPU and its vCPUs wait {:.1} % of the time",
                hosts[from].name,
                u_from * 100.0,
                hosts[from].vcpu_wait * 100.0
            )
        } else {
            format!("{} is at {:.0} % CPU", hosts[from].name, u_from * 100.0)
        };
        moves.push(Move {
            vm: i,
            from,
            to,
            gain,
            reason: format!(
                "{why}; {} ({:.2} CPUs) goes to {} ({:.0} % → {:.0} % CPU); spread {:.3} → {:.3}",
                vm.name,
                vm.cpu_demand,
                hosts[to].name,
                u_to * 100.0,
                s.utilisation(hosts, to) * 100.0,
                imb,
                s.imbalance(hosts)
            ),
        });
    }
    Plan {
        imbalance_before,
        imbalance_after: s.imbalance(hosts),
        hot_before,
        hot_after: hot_count(&s, hosts, p, &touched),
        moves,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn host(name: &str, cpus: f64) -> BalanceHost {
        BalanceHost {
            name: name.into(),
            cpus,
            vcpu_cap: (cpus * 4.0) as u64,
            memory_cap_mib: 65_536,
            vcpu_wait: 0.0,
            maintenance: false,
            usable: true,
        }
    }

    fn vm(name: &str, host: usize, demand: f64) -> BalanceVm {
        BalanceVm {
            name: name.into(),
            host,
            vcpus: 2,
            memory_mib: 4096,
            cpu_demand: demand,
            movable: true,
        }
    }

    #[test]
    fn a_hot_host_sheds_load_to_the_cool_one() {
        let hosts = vec![host("a", 16.0), host("b", 16.0)];
        let vms: Vec<BalanceVm> = (0..8).map(|i| vm(&format!("v{i}"), 0, 1.75)).collect();
        let p = plan(&hosts, &vms, &BalanceParams::default());
        assert_eq!(p.hot_before, 1);
        assert_eq!(p.hot_after, 0);
        assert!(!p.moves.is_empty() && p.moves.len() <= 4, "{p:?}");
        assert!(p.moves.iter().all(|m| m.from == 0 && m.to == 1));
        assert!(p.imbalance_after < p.imbalance_before);
        assert!(
            p.moves[0].reason.contains("a is at 88 % CPU"),
            "{}",
            p.moves[0].reason
        );
    }

    #[test]
    fn a_balanced_cluster_is_left_alone_and_maintenance_is_evacuated() {
        let hosts = vec![host("a", 16.0), host("b", 16.0), host("c", 16.0)];
        let vms = vec![vm("x", 0, 4.0), vm("y", 1, 5.0), vm("z", 2, 4.5)];
        let p = plan(&hosts, &vms, &BalanceParams::default());
        assert!(p.moves.is_empty(), "{p:?}");
        let mut hosts = hosts;
        hosts[1].maintenance = true;
        let p = plan(&hosts, &vms, &BalanceParams::default());
        assert_eq!(p.moves.len(), 1);
        assert_eq!((p.moves[0].vm, p.moves[0].to), (1, 0));
        assert!(p.moves[0].reason.contains("maintenance"));
    }

    #[test]
    fn contention_alone_makes_a_host_hot() {
        let mut hosts = vec![host("a", 16.0), host("b", 16.0)];
        hosts[0].vcpu_wait = 0.2;
        let vms = vec![vm("x", 0, 5.0), vm("y", 0, 5.0), vm("z", 1, 1.0)];
        let p = plan(&hosts, &vms, &BalanceParams::default());
        assert_eq!(p.hot_before, 1);
        assert_eq!(p.moves.len(), 1, "{p:?}");
        assert!(
            p.moves[0].reason.contains("wait 20.0 %"),
            "{}",
            p.moves[0].reason
        );
    }

    fn arb() -> impl Strategy<Value = (Vec<BalanceHost>, Vec<BalanceVm>, BalanceParams)> {
        let hosts = prop::collection::vec(
            (
                prop::sample::select(vec![4.0f64, 8.0, 16.0]),
                0.0f64..0.3,
                prop::bool::weighted(0.1),
                prop::bool::weighted(0.9),
            ),
            1..6,
        );
        (
            hosts,
            prop::collection::vec(
                (
                    0usize..6,
                    1u32..5,
                    0.0f64..6.0,
                    prop::bool::weighted(0.9),
                    prop::sample::select(vec![1024u64, 4096, 16384]),
                ),
                0..14,
            ),
            1usize..5,
            0.0f64..0.05,
        )
            .prop_map(|(hs, vs, max_moves, min_gain)| {
                let hosts: Vec<BalanceHost> = hs
                    .iter()
                    .enumerate()
                    .map(|(i, (cpus, wait, maint, usable))| BalanceHost {
                        vcpu_wait: *wait,
                        maintenance: *maint,
                        usable: *usable,
                        memory_cap_mib: 32_768,
                        ..host(&format!("h{i}"), *cpus)
                    })
                    .collect();
                let n = hosts.len();
                let vms = vs
                    .iter()
                    .enumerate()
                    .map(|(i, (h, vcpus, d, movable, mem))| BalanceVm {
                        vcpus: *vcpus,
                        memory_mib: *mem,
                        movable: *movable,
                        ..vm(&format!("v{i}"), h % n, *d)
                    })
                    .collect();
                let p = BalanceParams {
                    max_moves,
                    min_gain,
                    ..BalanceParams::default()
                };
                (hosts, vms, p)
            })
    }

    /// The oracle's cost of an assignment, from scratch.
    fn oracle_cost(
        hosts: &[BalanceHost],
        vms: &[BalanceVm],
        at: &[usize],
        p: &BalanceParams,
    ) -> f64 {
        let mut demand = vec![0.0; hosts.len()];
        for (v, h) in vms.iter().zip(at) {
            demand[*h] += v.cpu_demand;
        }
        let u: Vec<f64> = (0..hosts.len())
            .filter(|&h| hosts[h].usable && !hosts[h].maintenance)
            .map(|h| demand[h] / hosts[h].cpus)
            .collect();
        let sd = if u.len() < 2 {
            0.0
        } else {
            let m = u.iter().sum::<f64>() / u.len() as f64;
            (u.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / u.len() as f64).sqrt()
        };
        sd + u.iter().map(|x| (x - p.high_water).max(0.0)).sum::<f64>()
    }

    proptest! {
        /// Moves respect capacity, maintenance, usability, the cap and once-per-VM; with no
        /// reason to act there is no move; the first balancing move is the best single move
        /// the oracle finds by trying every (VM, host) pair.
        #[test]
        fn plans_hold_their_rules_and_pick_the_best_first_move((hosts, vms, p) in arb()) {
            let plan = plan(&hosts, &vms, &p);
            prop_assert!(plan.moves.len() <= p.max_moves);
            let mut at: Vec<usize> = vms.iter().map(|v| v.host).collect();
            let mut vcpus = vec![0u64; hosts.len()];
            let mut mem = vec![0u64; hosts.len()];
            for v in &vms {
                vcpus[v.host] += u64::from(v.vcpus);
                mem[v.host] += v.memory_mib;
            }
            let mut seen = BTreeSet::new();
            for m in &plan.moves {
                let v = &vms[m.vm];
                prop_assert!(seen.insert(m.vm), "a VM moves once");
                prop_assert!(v.movable && m.from == at[m.vm] && m.to != m.from);
                let t = &hosts[m.to];
                prop_assert!(t.usable && !t.maintenance);
                vcpus[m.from] -= u64::from(v.vcpus);
                mem[m.from] -= v.memory_mib;
                vcpus[m.to] += u64::from(v.vcpus);
                mem[m.to] += v.memory_mib;
                prop_assert!(vcpus[m.to] <= t.vcpu_cap && mem[m.to] <= t.memory_cap_mib);
                if !hosts[m.from].maintenance {
                    prop_assert!(m.gain >= p.min_gain);
                }
                at[m.vm] = m.to;
            }
            let evacuating = vms.iter().any(|v| v.movable && hosts[v.host].maintenance);
            if !evacuating && plan.hot_before == 0 && plan.imbalance_before < p.imbalance_threshold {
                prop_assert!(plan.moves.is_empty());
            }
            // The oracle's best single move, when the plan starts with a balancing move.
            if let Some(first) = plan.moves.first().filter(|_| !evacuating) {
                let start: Vec<usize> = vms.iter().map(|v| v.host).collect();
                let before = oracle_cost(&hosts, &vms, &start, &p);
                let mut best = f64::NEG_INFINITY;
                for (i, v) in vms.iter().enumerate() {
                    if !v.movable || !hosts[v.host].usable {
                        continue;
                    }
                    let demand_from: f64 = vms.iter().filter(|w| w.host == v.host).map(|w| w.cpu_demand).sum();
                    let util_from = demand_from / hosts[v.host].cpus;
                    let source_hot = util_from > p.high_water || hosts[v.host].vcpu_wait > p.contention;
                    for (t, th) in hosts.iter().enumerate() {
                        let vc: u64 = vms.iter().filter(|w| w.host == t).map(|w| u64::from(w.vcpus)).sum();
                        let mm: u64 = vms.iter().filter(|w| w.host == t).map(|w| w.memory_mib).sum();
                        if t == v.host || !th.usable || th.maintenance || vc + u64::from(v.vcpus) > th.vcpu_cap || mm + v.memory_mib > th.memory_cap_mib {
                            continue;
                        }
                        let mut to = start.clone();
                        to[i] = t;
                        let dt: f64 = vms.iter().zip(&to).filter(|(_, h)| **h == t).map(|(w, _)| w.cpu_demand).sum();
                        if dt / th.cpus > p.high_water {
                            continue;
                        }
                        let relief = if source_hot && hosts[v.host].vcpu_wait > p.contention {
                            hosts[v.host].vcpu_wait * v.cpu_demand / demand_from.max(1e-9)
                        } else {
                            0.0
                        };
                        best = best.max(before - oracle_cost(&hosts, &vms, &to, &p) + relief);
                    }
                }
                prop_assert!((first.gain - best).abs() < 1e-9, "{} vs oracle {}", first.gain, best);
            }
        }
    }
}
