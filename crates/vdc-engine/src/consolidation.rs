//! Consolidation on the live inventory: the fewest hosts that carry the VMs, the migrations
//! that get there with a reason each, the hosts freed and the power saved; and what-if
//! scenarios (VMs added, a host removed or lost) answered the same way.
//!
//! Capacity is what placement enforces (vCPUs and memory under the cluster's ratios) plus
//! measured CPU: no host may carry more CPU demand than `high_water` of its CPUs. Hosts are
//! emptied least loaded first: a host is freed only when every VM on it finds room on a host
//! that stays (best fit: the one left with the least free memory), all or none. New VMs and
//! VMs of removed hosts are placed first, best fit too, waking an empty host only when no
//! running one fits. Power is a linear estimate between a host's idle and full draw.

/// A host as consolidation sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsolidationHost {
    pub name: String,
    pub cpus: f64,
    pub vcpu_cap: u64,
    pub memory_cap_mib: u64,
    /// May carry VMs (reachable, not in maintenance, not removed).
    pub usable: bool,
    /// Estimated draw when on and idle, and at full CPU, in watts.
    pub idle_w: f64,
    pub max_w: f64,
    /// VMs move between hosts of the same class only (same hypervisor and CPU vendor).
    pub class: u32,
}

/// A VM as consolidation sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsolidationVm {
    pub name: String,
    /// Where it runs; `None` for a VM to place (new, or from a removed host).
    pub host: Option<usize>,
    pub vcpus: u32,
    pub memory_mib: u64,
    /// Measured (or expected) CPU demand, in logical CPUs.
    pub cpu_demand: f64,
    /// May migrate (a VM that may not keeps its host from being freed).
    pub movable: bool,
    /// The host class it must stay in (its host's); `None` for a new VM.
    pub class: Option<u32>,
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub vm: usize,
    pub from: Option<usize>,
    pub to: usize,
    pub reason: String,
}

/// What consolidation found.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsolidationPlan {
    pub steps: Vec<Step>,
    /// Hosts with VMs before and after.
    pub hosts_before: usize,
    pub hosts_after: usize,
    /// Hosts the plan empties (they can be switched off).
    pub freed: Vec<usize>,
    /// Empty hosts the plan had to switch on.
    pub woken: Vec<usize>,
    /// VMs that fit nowhere.
    pub unplaced: Vec<usize>,
    /// Estimated draw of the hosts with VMs, before and after, in watts.
    pub power_before_w: f64,
    pub power_after_w: f64,
}

#[derive(Debug, Clone)]
struct Load {
    vcpus: Vec<u64>,
    memory: Vec<u64>,
    cpu: Vec<f64>,
    count: Vec<usize>,
}

impl Load {
    fn add(&mut self, vm: &ConsolidationVm, h: usize, sign: bool) {
        if sign {
            self.vcpus[h] += u64::from(vm.vcpus);
            self.memory[h] += vm.memory_mib;
            self.cpu[h] += vm.cpu_demand.max(0.0);
            self.count[h] += 1;
        } else {
            self.vcpus[h] = self.vcpus[h].saturating_sub(u64::from(vm.vcpus));
            self.memory[h] = self.memory[h].saturating_sub(vm.memory_mib);
            self.cpu[h] -= vm.cpu_demand.max(0.0);
            self.count[h] -= 1;
        }
    }

    fn fits(
        &self,
        hosts: &[ConsolidationHost],
        vm: &ConsolidationVm,
        h: usize,
        high_water: f64,
    ) -> bool {
        let t = &hosts[h];
        t.usable
            && vm.class.is_none_or(|c| c == t.class)
            && self.vcpus[h] + u64::from(vm.vcpus) <= t.vcpu_cap
            && self.memory[h] + vm.memory_mib <= t.memory_cap_mib
            && self.cpu[h] + vm.cpu_demand.max(0.0) <= high_water * t.cpus + 1e-9
    }

    /// The host among `candidates` that fits `vm` and is left with the least free memory.
    fn best_fit(
        &self,
        hosts: &[ConsolidationHost],
        vm: &ConsolidationVm,
        candidates: impl Iterator<Item = usize>,
        high_water: f64,
    ) -> Option<usize> {
        candidates
            .filter(|&h| self.fits(hosts, vm, h, high_water))
            .min_by_key(|&h| (hosts[h].memory_cap_mib - self.memory[h] - vm.memory_mib, h))
    }

    fn power(&self, hosts: &[ConsolidationHost]) -> f64 {
        (0..hosts.len())
            .filter(|&h| self.count[h] > 0)
            .map(|h| {
                let u = if hosts[h].cpus > 0.0 {
                    (self.cpu[h] / hosts[h].cpus).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                hosts[h].idle_w + (hosts[h].max_w - hosts[h].idle_w) * u
            })
            .sum()
    }
}

/// Plans the consolidation of one cluster. Deterministic.
pub fn plan(
    hosts: &[ConsolidationHost],
    vms: &[ConsolidationVm],
    high_water: f64,
) -> ConsolidationPlan {
    let n = hosts.len();
    let mut load = Load {
        vcpus: vec![0; n],
        memory: vec![0; n],
        cpu: vec![0.0; n],
        count: vec![0; n],
    };
    let mut at: Vec<Option<usize>> = vms.iter().map(|v| v.host.filter(|h| *h < n)).collect();
    for (v, h) in vms.iter().zip(&at) {
        if let Some(h) = h {
            load.add(v, *h, true);
        }
    }
    let hosts_before = load.count.iter().filter(|c| **c > 0).count();
    let power_before_w = load.power(hosts);
    let mut steps = Vec::new();
    let mut woken = Vec::new();
    let mut unplaced = Vec::new();

    // VMs without a usable host: placed first, largest memory first.
    let mut homeless: Vec<usize> = (0..vms.len())
        .filter(|&i| at[i].is_none_or(|h| !hosts[h].usable))
        .collect();
    homeless.sort_by_key(|&i| (std::cmp::Reverse(vms[i].memory_mib), i));
    for i in homeless {
        let vm = &vms[i];
        let from = at[i];
        if let Some(h) = from {
            load.add(vm, h, false);
        }
        let running = (0..n).filter(|&h| load.count[h] > 0);
        let target = load.best_fit(hosts, vm, running, high_water).or_else(|| {
            let t = load.best_fit(
                hosts,
                vm,
                (0..n).filter(|&h| load.count[h] == 0),
                high_water,
            );
            if let Some(t) = t {
                woken.push(t);
            }
            t
        });
        match target {
            Some(t) => {
                load.add(vm, t, true);
                at[i] = Some(t);
                steps.push(Step {
                    vm: i,
                    from,
                    to: t,
                    reason: match from {
                        Some(h) => format!(
                            "{} cannot keep it; {} has room",
                            hosts[h].name, hosts[t].name
                        ),
                        None => format!("new; {} has room (best fit)", hosts[t].name),
                    },
                });
            }
            None => unplaced.push(i),
        }
    }

    // Empty hosts, the least loaded (by its most used resource: CPU, vCPUs or memory) first,
    // each all or none. The next host to try is picked after each attempt, so hosts that
    // received VMs are tried late, and VMs rarely move twice.
    let mut freed = Vec::new();
    let mut tried = vec![false; n];
    let dominant = |load: &Load, h: usize| {
        let t = &hosts[h];
        let share = |used: f64, cap: f64| if cap > 0.0 { used / cap } else { 1.0 };
        share(load.cpu[h], t.cpus)
            .max(share(load.vcpus[h] as f64, t.vcpu_cap as f64))
            .max(share(load.memory[h] as f64, t.memory_cap_mib as f64))
    };
    while let Some(h) = (0..n)
        .filter(|&h| !tried[h] && load.count[h] > 0 && hosts[h].usable)
        .min_by(|&a, &b| {
            dominant(&load, a)
                .total_cmp(&dominant(&load, b))
                .then(a.cmp(&b))
        })
    {
        tried[h] = true;
        let mine: Vec<usize> = (0..vms.len()).filter(|&i| at[i] == Some(h)).collect();
        if mine.iter().any(|&i| !vms[i].movable) {
            continue;
        }
        let mut trial = load.clone();
        let mut moves = Vec::new();
        let mut sorted = mine.clone();
        sorted.sort_by_key(|&i| (std::cmp::Reverse(vms[i].memory_mib), i));
        let (cpu_before, count_before) = (load.cpu[h] / hosts[h].cpus.max(1e-9), mine.len());
        let ok = sorted.iter().all(|&i| {
            let vm = &vms[i];
            trial.add(vm, h, false);
            let staying = (0..n).filter(|&t| t != h && trial.count[t] > 0 && !freed.contains(&t));
            match trial.best_fit(hosts, vm, staying, high_water) {
                Some(t) => {
                    trial.add(vm, t, true);
                    moves.push((i, t));
                    true
                }
                None => false,
            }
        });
        if ok {
            load = trial;
            freed.push(h);
            for (i, t) in moves {
                at[i] = Some(t);
                let reason = format!(
                    "empties {} ({:.0} % CPU, {count_before} VMs) so it can be switched off; {} has room",
                    hosts[h].name,
                    cpu_before * 100.0,
                    hosts[t].name
                );
                // A VM moves once: a second move within the plan replaces its destination.
                match steps.iter_mut().find(|s| s.vm == i) {
                    Some(s) => {
                        s.to = t;
                        s.reason = format!("{}; then {reason}", s.reason);
                    }
                    None => steps.push(Step {
                        vm: i,
                        from: Some(h),
                        to: t,
                        reason,
                    }),
                }
            }
        }
    }
    ConsolidationPlan {
        steps,
        hosts_before,
        hosts_after: load.count.iter().filter(|c| **c > 0).count(),
        freed,
        woken,
        unplaced,
        power_before_w,
        power_after_w: load.power(hosts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn host(name: &str) -> ConsolidationHost {
        ConsolidationHost {
            name: name.into(),
            cpus: 16.0,
            vcpu_cap: 64,
            memory_cap_mib: 65_536,
            usable: true,
            idle_w: 100.0,
            max_w: 250.0,
            class: 0,
        }
    }

    fn vm(host: Option<usize>, memory_mib: u64, cpu: f64) -> ConsolidationVm {
        ConsolidationVm {
            name: format!("v{memory_mib}-{cpu}"),
            host,
            vcpus: 2,
            memory_mib,
            cpu_demand: cpu,
            movable: true,
            class: None,
        }
    }

    #[test]
    fn three_light_hosts_become_one() {
        let hosts = vec![host("a"), host("b"), host("c")];
        let vms = vec![
            vm(Some(0), 8192, 2.0),
            vm(Some(1), 8192, 1.0),
            vm(Some(2), 8192, 3.0),
        ];
        let p = plan(&hosts, &vms, 0.8);
        assert_eq!((p.hosts_before, p.hosts_after), (3, 1));
        // a and b tie on memory (their most used resource): a goes first, to b (best fit);
        // b, now fuller, is tried after c, which also goes to b. No VM moves twice.
        assert_eq!(p.freed, vec![0, 2]);
        assert_eq!(p.steps.len(), 2);
        assert!(
            p.steps
                .iter()
                .all(|s| s.to == 1 && !s.reason.contains("then"))
        );
        assert!(
            p.steps[0].reason.starts_with("empties a (12 % CPU, 1 VMs)"),
            "{}",
            p.steps[0].reason
        );
        assert!(p.power_after_w < p.power_before_w);
    }

    #[test]
    fn a_lost_host_s_vms_find_room_or_are_reported() {
        let mut hosts = vec![host("a"), host("b")];
        hosts[1].usable = false;
        let vms = vec![
            vm(Some(0), 32_768, 2.0),
            vm(Some(1), 30_000, 1.0),
            vm(Some(1), 30_000, 1.0),
        ];
        let p = plan(&hosts, &vms, 0.8);
        assert_eq!(p.unplaced, vec![2]);
        assert_eq!(p.steps[0].to, 0);
        assert!(p.steps[0].reason.contains("b cannot keep it"));
    }

    fn arb() -> impl Strategy<Value = (Vec<ConsolidationHost>, Vec<ConsolidationVm>)> {
        (
            prop::collection::vec(
                (
                    prop::bool::weighted(0.9),
                    prop::sample::select(vec![16_384u64, 32_768]),
                    prop::sample::select(vec![0u32, 0, 0, 1]),
                ),
                1..6,
            ),
            prop::collection::vec(
                (
                    0usize..7,
                    prop::sample::select(vec![2048u64, 4096, 8192, 16_384]),
                    0.0f64..6.0,
                    prop::bool::weighted(0.9),
                ),
                0..12,
            ),
        )
            .prop_map(|(hs, vs)| {
                let hosts: Vec<ConsolidationHost> = hs
                    .iter()
                    .enumerate()
                    .map(|(i, (usable, mem, class))| ConsolidationHost {
                        usable: *usable,
                        class: *class,
                        memory_cap_mib: *mem,
                        ..host(&format!("h{i}"))
                    })
                    .collect();
                let n = hosts.len();
                let vms = vs
                    .iter()
                    .map(|(h, mem, cpu, movable)| ConsolidationVm {
                        host: (*h < n).then_some(*h),
                        class: (*h < n).then(|| hosts[*h].class),
                        movable: *movable,
                        ..vm(None, *mem, *cpu)
                    })
                    .collect();
                (hosts, vms)
            })
    }

    /// The fewest usable hosts that can hold these memory sizes (brute force).
    fn oracle_min_hosts(hosts: &[ConsolidationHost], sizes: &[u64]) -> Option<usize> {
        let usable: Vec<u64> = hosts
            .iter()
            .filter(|h| h.usable)
            .map(|h| h.memory_cap_mib)
            .collect();
        fn go(
            i: usize,
            sizes: &[u64],
            free: &mut Vec<u64>,
            used: &mut Vec<bool>,
            best: &mut Option<usize>,
        ) {
            if i == sizes.len() {
                let n = used.iter().filter(|u| **u).count();
                *best = Some(best.map_or(n, |b| b.min(n)));
                return;
            }
            for h in 0..free.len() {
                if free[h] >= sizes[i] {
                    free[h] -= sizes[i];
                    let was = used[h];
                    used[h] = true;
                    go(i + 1, sizes, free, used, best);
                    used[h] = was;
                    free[h] += sizes[i];
                }
            }
        }
        let mut best = None;
        go(
            0,
            sizes,
            &mut usable.clone(),
            &mut vec![false; usable.len()],
            &mut best,
        );
        best
    }

    proptest! {
        /// No host over its caps, freed hosts empty, every placed VM on a usable host, never
        /// fewer hosts than the memory-only optimum, same input same plan.
        #[test]
        fn plans_are_feasible_and_no_better_than_optimal((hosts, vms) in arb()) {
            let p = plan(&hosts, &vms, 0.8);
            prop_assert_eq!(&p, &plan(&hosts, &vms, 0.8));
            let mut at: Vec<Option<usize>> = vms.iter().map(|v| v.host).collect();
            let mut seen = std::collections::BTreeSet::new();
            for s in &p.steps {
                prop_assert!(hosts[s.to].usable);
                prop_assert!(vms[s.vm].class.is_none_or(|c| c == hosts[s.to].class), "a VM stays in its class");
                prop_assert!(seen.insert(s.vm), "one step per VM");
                prop_assert_eq!(at[s.vm], s.from);
                at[s.vm] = Some(s.to);
            }
            let mut vc = vec![0u64; hosts.len()];
            let mut mem = vec![0u64; hosts.len()];
            let mut cpu = vec![0f64; hosts.len()];
            for (i, v) in vms.iter().enumerate() {
                if p.unplaced.contains(&i) {
                    continue;
                }
                let h = at[i].unwrap();
                vc[h] += u64::from(v.vcpus);
                mem[h] += v.memory_mib;
                cpu[h] += v.cpu_demand;
            }
            for s in &p.steps {
                let h = &hosts[s.to];
                prop_assert!(vc[s.to] <= h.vcpu_cap && mem[s.to] <= h.memory_cap_mib && cpu[s.to] <= 0.8 * h.cpus + 1e-6);
            }
            for f in &p.freed {
                prop_assert!(at.iter().enumerate().all(|(i, h)| *h != Some(*f) || p.unplaced.contains(&i)));
            }
            let placed: Vec<u64> = vms.iter().enumerate().filter(|(i, _)| !p.unplaced.contains(i)).map(|(_, v)| v.memory_mib).collect();
            // The optimum bounds the plan only when the VMs that stay put were within their
            // hosts' memory to begin with.
            let mut start = vec![0u64; hosts.len()];
            for v in &vms {
                if let Some(h) = v.host {
                    start[h] += v.memory_mib;
                }
            }
            let within = start.iter().zip(&hosts).all(|(m, h)| *m <= h.memory_cap_mib);
            if let Some(min) = oracle_min_hosts(&hosts, &placed).filter(|_| within) {
                prop_assert!(p.hosts_after >= min, "{} < optimum {}", p.hosts_after, min);
            }
        }
    }
}
