//! Load balancing (like vSphere DRS): which running VMs to move so no host is hot and the
//! cluster's CPU load is even, explained move by move.
//!
//! A host is *hot* when its CPU demand exceeds the high-water mark, its vCPUs wait for CPU
//! (contention) beyond a threshold, or its memory is under pressure: the balloon took memory
//! back from its guests or they swap. A host under memory pressure takes no VMs. The plan moves VMs one at a time, each time the move with
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
    /// Share of its running VMs' memory the balloon has taken back (0..1).
    pub balloon: f64,
    /// Its guests' swap traffic (in + out), KiB/s.
    pub swap_kib_s: f64,
    /// Takes no VMs; its VMs are evacuated.
    pub maintenance: bool,
    /// Reachable and taking VMs (a host that is not is neither source nor target).
    pub usable: bool,
    /// Live migration works between hosts of the same class only (same hypervisor and CPU
    /// vendor, say); the caller numbers the classes.
    pub class: u32,
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
    /// Hot above this memory pressure (see [`memory_pressure`]).
    pub memory_pressure: f64,
    /// Swap traffic (KiB/s) that counts as full memory pressure.
    pub swap_full_kib_s: f64,
    /// No plan while the utilisation standard deviation is under this and no host is hot.
    pub imbalance_threshold: f64,
    /// Smallest gain a move must bring.
    pub min_gain: f64,
    /// Most moves per plan.
    pub max_moves: usize,
}

impl Default for BalanceParams {
    /// Hot above 80 % CPU, 5 % vCPU wait or 5 % memory pressure (5 % ballooned, or swapping
    /// 512 KiB/s); act from a 0.15 spread; each move must gain 0.01; at most 8 moves.
    fn default() -> Self {
        BalanceParams {
            high_water: 0.8,
            contention: 0.05,
            memory_pressure: 0.05,
            swap_full_kib_s: 10_240.0,
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
    /// Per host: its CPU demand after the moves, and whether it is still hot.
    pub demand_after: Vec<f64>,
    pub hot_after_by_host: Vec<bool>,
}

/// A host's memory pressure (0..1): the larger of the share its balloon took back and its
/// swap traffic over `p.swap_full_kib_s`.
pub fn memory_pressure(h: &BalanceHost, p: &BalanceParams) -> f64 {
    let swap = if p.swap_full_kib_s > 0.0 {
        h.swap_kib_s.max(0.0) / p.swap_full_kib_s
    } else {
        0.0
    };
    h.balloon.max(swap).clamp(0.0, 1.0)
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
            || (!moved_in
                && (hosts[h].vcpu_wait > p.contention
                    || memory_pressure(&hosts[h], p) > p.memory_pressure))
    }

    fn fits(&self, hosts: &[BalanceHost], p: &BalanceParams, vm: &BalanceVm, h: usize) -> bool {
        let t = &hosts[h];
        t.usable
            && !t.maintenance
            && vm.host < hosts.len()
            && t.class == hosts[vm.host].class
            && memory_pressure(t, p) <= p.memory_pressure
            && self.vcpus[h] + u64::from(vm.vcpus) <= t.vcpu_cap
            && self.memory[h] + vm.memory_mib <= t.memory_cap_mib
    }
}

/// What moving `vm` off its measured-hot host `from` relieves beyond the cost: the wait share
/// its CPU demand takes with it, plus the memory pressure its memory takes with it.
fn relief(h: &BalanceHost, vm: &BalanceVm, s: &State, from: usize, p: &BalanceParams) -> f64 {
    let cpu = if h.vcpu_wait > p.contention {
        h.vcpu_wait * vm.cpu_demand.max(0.0) / s.demand[from].max(1e-9)
    } else {
        0.0
    };
    let pressure = memory_pressure(h, p);
    let memory = if pressure > p.memory_pressure {
        pressure * vm.memory_mib as f64 / (s.memory[from] as f64).max(1.0)
    } else {
        0.0
    };
    cpu + memory
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
            .filter(|&h| h != vm.host && s.fits(hosts, p, vm, h))
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
                if to == from || !s.fits(hosts, p, vm, to) {
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
                let gain = before - cost(&after, hosts, p)
                    + if source_hot {
                        relief(&hosts[from], vm, &s, from, p)
                    } else {
                        0.0
                    };
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
        let h = &hosts[from];
        let why = if memory_pressure(h, p) > p.memory_pressure {
            format!(
                "{} is short of memory (balloon took back {:.1} %, guests swap {:.0} KiB/s)",
                h.name,
                h.balloon * 100.0,
                h.swap_kib_s
            )
        } else if h.vcpu_wait > p.contention {
            format!(
                "{} has {:.0} % CPU and its vCPUs wait {:.1} % of the time",
                h.name,
                u_from * 100.0,
                h.vcpu_wait * 100.0
            )
        } else {
            format!("{} is at {:.0} % CPU", h.name, u_from * 100.0)
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
    let hot_after_by_host: Vec<bool> = (0..hosts.len())
        .map(|h| {
            hosts[h].usable && !hosts[h].maintenance && s.hot(hosts, p, h, touched.contains(&h))
        })
        .collect();
    Plan {
        imbalance_before,
        imbalance_after: s.imbalance(hosts),
        hot_before,
        hot_after: hot_after_by_host.iter().filter(|&&h| h).count(),
        demand_after: s.demand,
        hot_after_by_host,
        moves,
    }
}

/// A host as power management sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerHost {
    pub name: String,
    /// Logical CPUs.
    pub cpus: f64,
    /// CPU demand of its running VMs (logical CPUs), as the balancer left them.
    pub demand: f64,
    /// VMs running (or paused) on it.
    pub running_vms: usize,
    /// Powered off by vdc.
    pub standby: bool,
    /// Connected and not in maintenance (it serves VMs).
    pub usable: bool,
    /// Hot even after this round's moves.
    pub hot: bool,
}

/// When power management acts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerParams {
    /// Wake a standby host when the serving hosts' CPU utilisation is above this.
    pub wake_above: f64,
    /// Put an empty host in standby only if the other serving hosts stay at or under this.
    pub standby_below: f64,
}

impl Default for PowerParams {
    /// Wake above 75 %, stand by only while the rest stays at or under 50 %: the gap is the
    /// hysteresis that keeps a host from flapping.
    fn default() -> Self {
        PowerParams {
            wake_above: 0.75,
            standby_below: 0.5,
        }
    }
}

/// What power management does this round, and why.
#[derive(Debug, Clone, PartialEq)]
pub enum PowerAction {
    /// Power this host on (index into the hosts).
    Wake { host: usize, reason: String },
    /// Power this empty host off.
    Standby { host: usize, reason: String },
}

/// One power step for a cluster, at most: wake the largest standby host when a serving host
/// stays hot or the serving hosts are busier than `wake_above`; otherwise put the smallest
/// empty serving host in standby when the others would stay at or under `standby_below` and
/// none is hot. A cluster keeps at least one serving host. Ties go to the lower index.
pub fn power_plan(hosts: &[PowerHost], p: &PowerParams) -> Option<PowerAction> {
    let serving: Vec<usize> = (0..hosts.len()).filter(|&h| hosts[h].usable).collect();
    let cpus: f64 = serving.iter().map(|&h| hosts[h].cpus).sum();
    let demand: f64 = serving.iter().map(|&h| hosts[h].demand.max(0.0)).sum();
    let util = if cpus > 0.0 { demand / cpus } else { 1.0 };
    let hot = serving.iter().find(|&&h| hosts[h].hot);
    if hot.is_some() || util > p.wake_above {
        let wake = (0..hosts.len())
            .filter(|&h| hosts[h].standby)
            .min_by(|&a, &b| hosts[b].cpus.total_cmp(&hosts[a].cpus).then(a.cmp(&b)))?;
        let why = match hot {
            Some(&h) => format!("{} stays hot after balancing", hosts[h].name),
            None => format!(
                "the serving hosts are at {:.0} % CPU (wake above {:.0} %)",
                util * 100.0,
                p.wake_above * 100.0
            ),
        };
        return Some(PowerAction::Wake {
            host: wake,
            reason: format!("{why}; {} adds {} CPUs", hosts[wake].name, hosts[wake].cpus),
        });
    }
    if serving.len() < 2 {
        return None;
    }
    let off = serving
        .iter()
        .copied()
        .filter(|&h| hosts[h].running_vms == 0)
        .min_by(|&a, &b| hosts[a].cpus.total_cmp(&hosts[b].cpus).then(a.cmp(&b)))?;
    let rest = cpus - hosts[off].cpus;
    let after = if rest > 0.0 { demand / rest } else { 1.0 };
    (after <= p.standby_below).then(|| PowerAction::Standby {
        host: off,
        reason: format!(
            "{} runs no VM and the other {} hosts carry the load at {:.0} % CPU (at most {:.0} %)",
            hosts[off].name,
            serving.len() - 1,
            after * 100.0,
            p.standby_below * 100.0
        ),
    })
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
            balloon: 0.0,
            swap_kib_s: 0.0,
            maintenance: false,
            usable: true,
            class: 0,
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

    #[test]
    fn memory_pressure_makes_a_host_hot_and_no_target() {
        let mut hosts = vec![host("a", 16.0), host("b", 16.0), host("c", 16.0)];
        hosts[0].balloon = 0.12;
        hosts[2].swap_kib_s = 2048.0;
        let vms = vec![
            BalanceVm {
                memory_mib: 1024,
                ..vm("small", 0, 1.0)
            },
            BalanceVm {
                memory_mib: 16_384,
                ..vm("big", 0, 1.0)
            },
            vm("z", 1, 1.0),
            vm("w", 2, 1.0),
        ];
        let p = plan(&hosts, &vms, &BalanceParams::default());
        assert_eq!(p.hot_before, 2, "{p:?}");
        // c swaps, so only b takes VMs: c's VM, and a's largest memory (not its small VM).
        assert!(p.moves.iter().all(|m| m.to == 1), "{p:?}");
        let from_a: Vec<&Move> = p.moves.iter().filter(|m| m.from == 0).collect();
        assert_eq!(from_a.len(), 1, "{p:?}");
        assert_eq!(from_a[0].vm, 1, "{p:?}");
        assert!(
            from_a[0].reason.contains("balloon took back 12.0 %"),
            "{}",
            from_a[0].reason
        );
        assert!(
            p.moves
                .iter()
                .any(|m| m.from == 2 && m.reason.contains("swap 2048 KiB/s")),
            "{p:?}"
        );
    }

    fn power_host(name: &str, cpus: f64, demand: f64, running_vms: usize) -> PowerHost {
        PowerHost {
            name: name.into(),
            cpus,
            demand,
            running_vms,
            standby: false,
            usable: true,
            hot: false,
        }
    }

    #[test]
    fn power_stands_by_an_empty_host_and_wakes_it_when_busy() {
        let pp = PowerParams::default();
        let mut hosts = vec![
            power_host("a", 16.0, 6.0, 5),
            power_host("b", 16.0, 0.0, 0),
            power_host("c", 8.0, 0.0, 0),
        ];
        // c is the smaller empty host; a and b then carry 6 of 32 CPUs.
        match power_plan(&hosts, &pp) {
            Some(PowerAction::Standby { host: 2, reason }) => {
                assert!(reason.contains("c runs no VM"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        hosts[2] = PowerHost {
            standby: true,
            usable: false,
            ..hosts[2].clone()
        };
        // b next would leave a at 6/16 = 38 %: still under 50 %.
        assert!(matches!(
            power_plan(&hosts, &pp),
            Some(PowerAction::Standby { host: 1, .. })
        ));
        hosts[0].demand = 9.0;
        assert_eq!(power_plan(&hosts, &pp), None, "9/16 would be over 50 %");
        hosts[0].hot = true;
        match power_plan(&hosts, &pp) {
            Some(PowerAction::Wake { host: 2, reason }) => {
                assert!(reason.contains("a stays hot"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        hosts[0].hot = false;
        hosts[0].demand = 26.0;
        assert!(matches!(
            power_plan(&hosts, &pp),
            Some(PowerAction::Wake { host: 2, .. })
        ));
    }

    proptest! {
        /// Standby only takes an empty serving host, leaves a serving host and keeps the rest
        /// at or under the mark; wake only takes a standby host and only when needed; never
        /// both conditions at once (hysteresis).
        #[test]
        fn power_plans_hold_their_rules(
            hs in prop::collection::vec(
                (prop::sample::select(vec![4.0f64, 8.0, 16.0]), 0.0f64..16.0, 0usize..3,
                 prop::bool::weighted(0.3), prop::bool::weighted(0.1)),
                1..6,
            )
        ) {
            let hosts: Vec<PowerHost> = hs.iter().enumerate().map(|(i, (cpus, d, n, standby, hot))| PowerHost {
                name: format!("h{i}"),
                cpus: *cpus,
                demand: if *n == 0 { 0.0 } else { d.min(*cpus) },
                running_vms: if *standby { 0 } else { *n },
                standby: *standby,
                usable: !*standby,
                hot: *hot && !*standby,
            }).collect();
            let pp = PowerParams::default();
            let serving: Vec<&PowerHost> = hosts.iter().filter(|h| h.usable).collect();
            let cpus: f64 = serving.iter().map(|h| h.cpus).sum();
            let demand: f64 = serving.iter().map(|h| h.demand).sum();
            let needed = serving.iter().any(|h| h.hot) || cpus == 0.0 || demand / cpus > pp.wake_above;
            match power_plan(&hosts, &pp) {
                Some(PowerAction::Wake { host, .. }) => {
                    prop_assert!(hosts[host].standby && needed);
                    let most = hosts.iter().filter(|h| h.standby).map(|h| h.cpus).fold(0.0, f64::max);
                    prop_assert_eq!(hosts[host].cpus, most);
                }
                Some(PowerAction::Standby { host, .. }) => {
                    let h = &hosts[host];
                    prop_assert!(h.usable && h.running_vms == 0 && !needed && serving.len() >= 2);
                    prop_assert!(demand / (cpus - h.cpus) <= pp.standby_below);
                }
                None => {
                    let wakeable = hosts.iter().any(|h| h.standby);
                    prop_assert!(!(needed && wakeable), "a needed wake was missed");
                    if !needed && serving.len() >= 2 {
                        for h in serving.iter().filter(|h| h.running_vms == 0) {
                            prop_assert!(demand / (cpus - h.cpus) > pp.standby_below || cpus - h.cpus <= 0.0,
                                "{} could have gone to standby", h.name);
                        }
                    }
                }
            }
        }
    }

    fn arb() -> impl Strategy<Value = (Vec<BalanceHost>, Vec<BalanceVm>, BalanceParams)> {
        let hosts = prop::collection::vec(
            (
                prop::sample::select(vec![4.0f64, 8.0, 16.0]),
                0.0f64..0.3,
                prop::bool::weighted(0.1),
                prop::bool::weighted(0.9),
                prop::sample::select(vec![0.0f64, 0.0, 0.02, 0.2]),
                prop::sample::select(vec![0.0f64, 0.0, 100.0, 4096.0]),
                prop::sample::select(vec![0u32, 0, 0, 1]),
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
                    .map(
                        |(i, (cpus, wait, maint, usable, balloon, swap, class))| BalanceHost {
                            class: *class,
                            vcpu_wait: *wait,
                            balloon: *balloon,
                            swap_kib_s: *swap,
                            maintenance: *maint,
                            usable: *usable,
                            memory_cap_mib: 32_768,
                            ..host(&format!("h{i}"), *cpus)
                        },
                    )
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
                prop_assert_eq!(t.class, hosts[m.from].class, "migrations stay in a class");
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
                    let mem_from: u64 = vms.iter().filter(|w| w.host == v.host).map(|w| w.memory_mib).sum();
                    let h = &hosts[v.host];
                    let pressure = h.balloon.max(h.swap_kib_s / p.swap_full_kib_s).min(1.0);
                    let source_hot = util_from > p.high_water || h.vcpu_wait > p.contention || pressure > p.memory_pressure;
                    for (t, th) in hosts.iter().enumerate() {
                        let vc: u64 = vms.iter().filter(|w| w.host == t).map(|w| u64::from(w.vcpus)).sum();
                        let mm: u64 = vms.iter().filter(|w| w.host == t).map(|w| w.memory_mib).sum();
                        let pressed = th.balloon.max(th.swap_kib_s / p.swap_full_kib_s) > p.memory_pressure;
                        if t == v.host || !th.usable || th.maintenance || pressed || th.class != h.class || vc + u64::from(v.vcpus) > th.vcpu_cap || mm + v.memory_mib > th.memory_cap_mib {
                            continue;
                        }
                        let mut to = start.clone();
                        to[i] = t;
                        let dt: f64 = vms.iter().zip(&to).filter(|(_, h)| **h == t).map(|(w, _)| w.cpu_demand).sum();
                        if dt / th.cpus > p.high_water {
                            continue;
                        }
                        let mut relief = 0.0;
                        if source_hot && h.vcpu_wait > p.contention {
                            relief += h.vcpu_wait * v.cpu_demand / demand_from.max(1e-9);
                        }
                        if source_hot && pressure > p.memory_pressure {
                            relief += pressure * v.memory_mib as f64 / mem_from as f64;
                        }
                        best = best.max(before - oracle_cost(&hosts, &vms, &to, &p) + relief);
                    }
                }
                prop_assert!((first.gain - best).abs() < 1e-9, "{} vs oracle {}", first.gain, best);
            }
        }
    }
}
