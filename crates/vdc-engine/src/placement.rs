//! First placement decision: which host a new VM goes to, and why the others were refused.
//!
//! The pipeline runs hard filters first (reachable, not in maintenance, vCPU room under the
//! overcommit ratio, memory room without overcommit), then ranks the survivors by memory left
//! free after placement (spreading load), with the host name as a deterministic tie-break.

use std::collections::BTreeMap;
use vdc_types::HostId;

/// vCPUs per logical CPU a host may carry.
pub const DEFAULT_VCPU_RATIO: f64 = 4.0;

/// One candidate host and what is already allocated on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: HostId,
    pub name: String,
    pub reachable: bool,
    pub maintenance: bool,
    pub logical_cpus: u32,
    pub memory_mib: u64,
    pub allocated_vcpus: u64,
    pub allocated_memory_mib: u64,
}

/// The size of the VM to place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub vcpus: u32,
    pub memory_mib: u64,
}

/// Why a host was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rejection {
    Unreachable,
    Maintenance,
    NotEnoughVcpus,
    NotEnoughMemory,
}

impl Rejection {
    /// Human-readable reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::Unreachable => "host unreachable",
            Rejection::Maintenance => "host in maintenance",
            Rejection::NotEnoughVcpus => "not enough vCPU room under the overcommit ratio",
            Rejection::NotEnoughMemory => "not enough free memory",
        }
    }
}

/// The outcome: the chosen host (if any), its free memory after placement, and how many hosts
/// each filter refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub chosen: Option<HostId>,
    pub free_memory_after_mib: u64,
    pub rejected: BTreeMap<Rejection, usize>,
}

impl Decision {
    /// "3 host unreachable, 5 not enough free memory" — for error messages.
    pub fn explain_rejections(&self) -> String {
        if self.rejected.is_empty() {
            return "no hosts".into();
        }
        self.rejected
            .iter()
            .map(|(r, n)| format!("{n} {}", r.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The first filter that refuses `c` for `req`, if any.
pub fn reject(c: &Candidate, req: Request, vcpu_ratio: f64) -> Option<Rejection> {
    if !c.reachable {
        return Some(Rejection::Unreachable);
    }
    if c.maintenance {
        return Some(Rejection::Maintenance);
    }
    let vcpu_cap = (f64::from(c.logical_cpus) * vcpu_ratio).floor() as u64;
    if c.allocated_vcpus + u64::from(req.vcpus) > vcpu_cap {
        return Some(Rejection::NotEnoughVcpus);
    }
    if c.allocated_memory_mib + req.memory_mib > c.memory_mib {
        return Some(Rejection::NotEnoughMemory);
    }
    None
}

/// Picks the host for `req` among `candidates`.
pub fn place(candidates: &[Candidate], req: Request, vcpu_ratio: f64) -> Decision {
    let mut rejected = BTreeMap::new();
    let mut best: Option<(&Candidate, u64)> = None;
    for c in candidates {
        if let Some(r) = reject(c, req, vcpu_ratio) {
            *rejected.entry(r).or_insert(0) += 1;
            continue;
        }
        let free = c.memory_mib - c.allocated_memory_mib - req.memory_mib;
        let better = match best {
            None => true,
            Some((b, bf)) => free > bf || (free == bf && c.name < b.name),
        };
        if better {
            best = Some((c, free));
        }
    }
    Decision {
        chosen: best.map(|(c, _)| c.id),
        free_memory_after_mib: best.map(|(_, f)| f).unwrap_or(0),
        rejected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use uuid::Uuid;

    fn cand() -> impl Strategy<Value = (bool, bool, u32, u64, u64, u64)> {
        (
            any::<bool>(),
            prop::bool::weighted(0.1),
            1u32..64,
            1u64..512,
            0u64..300,
            0u64..600,
        )
    }

    proptest! {
        /// Oracle: enumerate every host, keep the feasible ones, take the one with most memory
        /// left (name breaks ties). The engine must agree, never overcommit, and say "no
        /// capacity" only when nothing is feasible.
        #[test]
        fn place_agrees_with_brute_force(
            hosts in proptest::collection::vec(cand(), 0..12),
            vcpus in 1u32..32,
            mem in 1u64..256,
        ) {
            let cs: Vec<Candidate> = hosts.iter().enumerate().map(|(i, &(up, maint, cpus, mem_gib, av, am))| Candidate {
                id: HostId(Uuid::from_u128(i as u128 + 1)),
                name: format!("h{:02}", (i * 7) % 12),
                reachable: up,
                maintenance: maint,
                logical_cpus: cpus,
                memory_mib: mem_gib * 1024,
                allocated_vcpus: av,
                allocated_memory_mib: am * 1024,
            }).collect();
            let req = Request { vcpus, memory_mib: mem * 1024 };
            let d = place(&cs, req, DEFAULT_VCPU_RATIO);
            let feasible: Vec<&Candidate> = cs.iter().filter(|c| {
                c.reachable && !c.maintenance
                    && c.allocated_vcpus + u64::from(vcpus) <= u64::from(c.logical_cpus) * 4
                    && c.allocated_memory_mib + req.memory_mib <= c.memory_mib
            }).collect();
            match d.chosen {
                None => prop_assert!(feasible.is_empty()),
                Some(id) => {
                    let c = cs.iter().find(|c| c.id == id).unwrap();
                    prop_assert!(c.allocated_memory_mib + req.memory_mib <= c.memory_mib);
                    let best = feasible.iter().map(|c| c.memory_mib - c.allocated_memory_mib - req.memory_mib).max().unwrap();
                    prop_assert_eq!(d.free_memory_after_mib, best);
                }
            }
            prop_assert_eq!(d.rejected.values().sum::<usize>(), cs.len() - feasible.len());
        }
    }
}
