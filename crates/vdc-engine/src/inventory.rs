//! Inventory reconciliation: given what the store holds for a host and what the host's driver
//! reports, decide which VMs are new, which reports are fresh enough to apply, which change
//! nothing, which are stale (older than what is stored),
//! and which stored VMs have vanished from the host.

use std::collections::HashMap;
use vdc_types::{HostId, VmId};

/// What the store holds about one VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    pub id: VmId,
    pub host_id: Option<HostId>,
    pub runtime_gen: i64,
}

/// What a driver reports about one VM (only the fields the decision needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reported {
    pub id: VmId,
    pub generation: i64,
}

/// The plan for one host's sync: indexes into the report slice, plus vanished ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncPlan {
    /// Reports of VMs the store has never seen: insert them.
    pub insert: Vec<usize>,
    /// Reports newer than the stored state: apply them.
    pub update: Vec<usize>,
    /// Reports of exactly the stored generation: nothing changed.
    pub unchanged: Vec<usize>,
    /// Reports older than the stored state: a late report, ignore it.
    pub stale: Vec<usize>,
    /// VMs the store places on this host that the host no longer reports.
    pub vanished: Vec<VmId>,
}

/// Decides what a sync of `host` does. A VM reported here but stored on another host has moved
/// (a migration): its report applies if newer. A VM stored here but not reported has vanished.
pub fn plan_sync(host: HostId, known: &[Known], reported: &[Reported]) -> SyncPlan {
    let by_id: HashMap<VmId, &Known> = known.iter().map(|k| (k.id, k)).collect();
    let mut plan = SyncPlan::default();
    let mut seen = std::collections::HashSet::with_capacity(reported.len());
    for (i, r) in reported.iter().enumerate() {
        seen.insert(r.id);
        match by_id.get(&r.id) {
            None => plan.insert.push(i),
            Some(k) if r.generation > k.runtime_gen => plan.update.push(i),
            Some(k) if r.generation == k.runtime_gen => plan.unchanged.push(i),
            Some(_) => plan.stale.push(i),
        }
    }
    plan.vanished = known
        .iter()
        .filter(|k| k.host_id == Some(host) && !seen.contains(&k.id))
        .map(|k| k.id)
        .collect();
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use uuid::Uuid;

    fn id(n: u8) -> VmId {
        VmId(Uuid::from_u128(u128::from(n) + 1))
    }

    #[test]
    fn late_reports_are_stale_and_missing_vms_vanish() {
        let h = HostId(Uuid::from_u128(100));
        let other = HostId(Uuid::from_u128(200));
        let known = [
            Known {
                id: id(1),
                host_id: Some(h),
                runtime_gen: 5,
            },
            Known {
                id: id(2),
                host_id: Some(h),
                runtime_gen: 5,
            },
            Known {
                id: id(3),
                host_id: Some(other),
                runtime_gen: 1,
            },
            Known {
                id: id(4),
                host_id: Some(h),
                runtime_gen: 1,
            },
        ];
        let reported = [
            Reported {
                id: id(1),
                generation: 6,
            },
            Reported {
                id: id(2),
                generation: 3,
            },
            Reported {
                id: id(3),
                generation: 2,
            },
            Reported {
                id: id(9),
                generation: 1,
            },
        ];
        let plan = plan_sync(h, &known, &reported);
        assert_eq!(plan.update, vec![0, 2]);
        assert_eq!(plan.stale, vec![1]);
        assert!(plan.unchanged.is_empty());
        let same = plan_sync(
            h,
            &known,
            &[Reported {
                id: id(1),
                generation: 5,
            }],
        );
        assert_eq!(same.unchanged, vec![0]);
        assert!(same.stale.is_empty() && same.update.is_empty());
        assert_eq!(plan.insert, vec![3]);
        assert_eq!(plan.vanished, vec![id(4)]);
    }

    proptest! {
        /// Oracle: every report lands in exactly one bucket, chosen by comparing generations
        /// one by one; vanished = stored here minus reported.
        #[test]
        fn plan_matches_a_one_by_one_oracle(
            known in proptest::collection::vec((0u8..20, 0u8..3, 0i64..10), 0..20),
            reported in proptest::collection::vec((0u8..20, 0i64..10), 0..20),
        ) {
            let hosts = [HostId(Uuid::from_u128(500)), HostId(Uuid::from_u128(501)), HostId(Uuid::from_u128(502))];
            let mut k: Vec<Known> = Vec::new();
            for (v, h, g) in known {
                if !k.iter().any(|x| x.id == id(v)) {
                    k.push(Known { id: id(v), host_id: Some(hosts[h as usize]), runtime_gen: g });
                }
            }
            let mut r: Vec<Reported> = Vec::new();
            for (v, g) in reported {
                if !r.iter().any(|x| x.id == id(v)) {
                    r.push(Reported { id: id(v), generation: g });
                }
            }
            let plan = plan_sync(hosts[0], &k, &r);
            for (i, rep) in r.iter().enumerate() {
                let bucket = match k.iter().find(|x| x.id == rep.id) {
                    None => &plan.insert,
                    Some(x) if rep.generation > x.runtime_gen => &plan.update,
                    Some(x) if rep.generation == x.runtime_gen => &plan.unchanged,
                    Some(_) => &plan.stale,
                };
                prop_assert!(bucket.contains(&i));
                let total = [&plan.insert, &plan.update, &plan.unchanged, &plan.stale].iter().filter(|b| b.contains(&i)).count();
                prop_assert_eq!(total, 1);
            }
            for x in &k {
                let gone = x.host_id == Some(hosts[0]) && !r.iter().any(|y| y.id == x.id);
                prop_assert_eq!(plan.vanished.contains(&x.id), gone);
            }
        }
    }
}
