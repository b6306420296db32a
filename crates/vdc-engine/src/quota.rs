//! Department quotas: whether a request for more VMs fits a department's limits — vCPUs,
//! memory, disk, VM count and money per month (from a price list) — with a warning threshold
//! and a grace margin above the limit, as oVirt has. Pure: the caller gives usage and prices.

use std::collections::BTreeMap;

/// What resources cost per month.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Prices {
    pub vcpu: f64,
    pub memory_gib: f64,
    pub disk_gib: f64,
    /// Per VM running the software, by name.
    pub licences: BTreeMap<String, f64>,
    /// Fixed, per VM.
    pub per_vm: f64,
    /// Fixed, per department (statements only; not in quotas).
    pub per_department: f64,
}

/// Resources of some VMs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Usage {
    pub vcpus: u64,
    pub memory_mib: u64,
    pub disk_gib: u64,
    pub vms: u64,
    /// Per month, from the price list.
    pub money: f64,
}

impl Usage {
    /// One VM's resources and monthly cost.
    pub fn of_vm(
        vcpus: u32,
        memory_mib: u64,
        disk_gib: u64,
        licences: &[String],
        p: &Prices,
    ) -> Usage {
        let money = f64::from(vcpus) * p.vcpu
            + memory_mib as f64 / 1024.0 * p.memory_gib
            + disk_gib as f64 * p.disk_gib
            + licences
                .iter()
                .filter_map(|l| p.licences.get(l))
                .sum::<f64>()
            + p.per_vm;
        Usage {
            vcpus: u64::from(vcpus),
            memory_mib,
            disk_gib,
            vms: 1,
            money,
        }
    }

    pub fn plus(self, o: Usage) -> Usage {
        Usage {
            vcpus: self.vcpus + o.vcpus,
            memory_mib: self.memory_mib + o.memory_mib,
            disk_gib: self.disk_gib + o.disk_gib,
            vms: self.vms + o.vms,
            money: self.money + o.money,
        }
    }
}

/// A department's limits (`None`: unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Limits {
    pub vcpus: Option<u64>,
    pub memory_mib: Option<u64>,
    pub disk_gib: Option<u64>,
    pub vms: Option<u64>,
    pub money: Option<f64>,
    /// Warn from this share of a limit (percent).
    pub warn_percent: u32,
    /// Allow up to this much over a limit (percent) before refusing.
    pub grace_percent: u32,
}

/// How a request stands against the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Within,
    /// At or over the warning threshold of some limit.
    Warn,
    /// Over some limit, within its grace.
    Grace,
    /// Over some limit beyond its grace.
    Deny,
}

/// One limited dimension after the request.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub dimension: &'static str,
    pub used: f64,
    pub requested: f64,
    pub limit: f64,
    pub verdict: Verdict,
}

/// The decision, with every limited dimension's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub verdict: Verdict,
    pub lines: Vec<Line>,
}

impl Decision {
    /// "money 120.00 > 110.00 (limit 100.00 + 10 % grace); …" for the dimensions at
    /// `at_least`, e.g. for a refusal.
    pub fn explain(&self, at_least: Verdict, grace_percent: u32, currency: &str) -> String {
        self.lines
            .iter()
            .filter(|l| l.verdict >= at_least)
            .map(|l| {
                let unit = if l.dimension == "money" {
                    format!(" {currency}/month")
                } else {
                    String::new()
                };
                format!(
                    "{}: {:.2} in use + {:.2} requested = {:.2}{unit}, limit {:.2} (+{grace_percent} % grace)",
                    l.dimension,
                    l.used,
                    l.requested,
                    l.used + l.requested,
                    l.limit
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Checks `request` on top of `used` against `limits`.
pub fn check(limits: &Limits, used: &Usage, request: &Usage) -> Decision {
    type Dim = (&'static str, Option<f64>, f64, f64);
    let int = |name, limit: Option<u64>, used: u64, asked: u64| -> Dim {
        (name, limit.map(|v| v as f64), used as f64, asked as f64)
    };
    let dims: [Dim; 5] = [
        int("vcpus", limits.vcpus, used.vcpus, request.vcpus),
        int(
            "memory_mib",
            limits.memory_mib,
            used.memory_mib,
            request.memory_mib,
        ),
        int("disk_gib", limits.disk_gib, used.disk_gib, request.disk_gib),
        int("vms", limits.vms, used.vms, request.vms),
        ("money", limits.money, used.money, request.money),
    ];
    let grace = 1.0 + f64::from(limits.grace_percent) / 100.0;
    let warn = f64::from(limits.warn_percent) / 100.0;
    let lines: Vec<Line> = dims
        .into_iter()
        .filter_map(|(dimension, limit, used, requested)| {
            let limit = limit?;
            let after = used + requested;
            // A cent of rounding never tips a verdict.
            let eps = 1e-9 * limit.abs().max(1.0);
            let verdict = if after > limit * grace + eps {
                Verdict::Deny
            } else if after > limit + eps {
                Verdict::Grace
            } else if after + eps >= limit * warn {
                Verdict::Warn
            } else {
                Verdict::Within
            };
            Some(Line {
                dimension,
                used,
                requested,
                limit,
                verdict,
            })
        })
        .collect();
    Decision {
        verdict: lines
            .iter()
            .map(|l| l.verdict)
            .max()
            .unwrap_or(Verdict::Within),
        lines,
    }
}

/// When a provisioning request needs no approver.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AutoApproval {
    /// At most this much a month, all VMs together.
    pub max_cost: f64,
    /// No VM with more vCPUs than this.
    pub max_vcpus: u32,
}

/// `Ok(why)` when the rule approves a request costing `cost` a month for VMs of `vcpus`;
/// `Err(why not)` when it needs approvers.
pub fn auto_approval(
    rule: &AutoApproval,
    cost: f64,
    vcpus: &[u32],
    currency: &str,
) -> Result<String, String> {
    let biggest = vcpus.iter().copied().max().unwrap_or(0);
    if cost > rule.max_cost + 1e-9 {
        return Err(format!(
            "{cost:.2} {currency}/month is over the {:.2} {currency} approved without approvers",
            rule.max_cost
        ));
    }
    if biggest > rule.max_vcpus {
        return Err(format!(
            "a VM of {biggest} vCPUs is over the {} approved without approvers",
            rule.max_vcpus
        ));
    }
    Ok(format!(
        "auto-approved: {cost:.2} {currency}/month ≤ {:.2} and at most {} vCPUs per VM",
        rule.max_cost, rule.max_vcpus
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn prices() -> Prices {
        Prices {
            vcpu: 10.0,
            memory_gib: 5.0,
            disk_gib: 0.1,
            licences: BTreeMap::from([("sql-server".to_string(), 100.0)]),
            ..Prices::default()
        }
    }

    #[test]
    fn money_quota_warns_allows_grace_then_denies() {
        let p = prices();
        let vm = Usage::of_vm(2, 4096, 0, &[], &p);
        assert_eq!(vm.money, 40.0);
        let limits = Limits {
            money: Some(100.0),
            warn_percent: 80,
            grace_percent: 10,
            ..Limits::default()
        };
        assert_eq!(
            check(&limits, &Usage::default(), &vm).verdict,
            Verdict::Within
        );
        assert_eq!(check(&limits, &vm, &vm).verdict, Verdict::Warn);
        let small = Usage::of_vm(2, 2048, 0, &[], &p);
        assert_eq!(check(&limits, &vm.plus(vm), &small).verdict, Verdict::Grace);
        let d = check(&limits, &vm.plus(vm), &vm);
        assert_eq!(d.verdict, Verdict::Deny);
        assert_eq!(
            d.explain(Verdict::Deny, 10, "EUR"),
            "money: 80.00 in use + 40.00 requested = 120.00 EUR/month, limit 100.00 (+10 % grace)"
        );
        let licensed = Usage::of_vm(1, 1024, 10, &["sql-server".into(), "unknown".into()], &p);
        assert!((licensed.money - 116.0).abs() < 1e-9);
    }

    #[test]
    fn auto_approval_by_cost_and_size() {
        let rule = AutoApproval {
            max_cost: 50.0,
            max_vcpus: 4,
        };
        assert!(auto_approval(&rule, 40.0, &[2, 4], "EUR").is_ok());
        let e = auto_approval(&rule, 60.0, &[2], "EUR").unwrap_err();
        assert!(e.contains("60.00 EUR/month is over the 50.00 EUR"), "{e}");
        let e = auto_approval(&rule, 10.0, &[8], "EUR").unwrap_err();
        assert!(e.contains("8 vCPUs"), "{e}");
    }

    proptest! {
        /// Deny exactly when some limited dimension ends over limit × (1 + grace); no limits,
        /// no refusal.
        #[test]
        fn deny_iff_a_limit_plus_grace_is_passed(
            used in (0u64..64, 0u64..65_536, 0u64..500, 0u64..10, 0.0f64..500.0),
            req in (0u64..16, 0u64..16_384, 0u64..100, 0u64..3, 0.0f64..100.0),
            lim in (prop::option::of(1u64..80), prop::option::of(1u64..80_000), prop::option::of(1u64..600),
                    prop::option::of(1u64..12), prop::option::of(1.0f64..600.0)),
            grace in 0u32..50,
        ) {
            let u = Usage { vcpus: used.0, memory_mib: used.1, disk_gib: used.2, vms: used.3, money: used.4 };
            let r = Usage { vcpus: req.0, memory_mib: req.1, disk_gib: req.2, vms: req.3, money: req.4 };
            let l = Limits { vcpus: lim.0, memory_mib: lim.1, disk_gib: lim.2, vms: lim.3, money: lim.4,
                             warn_percent: 80, grace_percent: grace };
            let g = 1.0 + f64::from(grace) / 100.0;
            let over = [
                lim.0.map(|x| (u.vcpus + r.vcpus) as f64 > x as f64 * g + 1e-6),
                lim.1.map(|x| (u.memory_mib + r.memory_mib) as f64 > x as f64 * g + 1e-6),
                lim.2.map(|x| (u.disk_gib + r.disk_gib) as f64 > x as f64 * g + 1e-6),
                lim.3.map(|x| (u.vms + r.vms) as f64 > x as f64 * g + 1e-6),
                lim.4.map(|x| u.money + r.money > x * g + 1e-6),
            ];
            let d = check(&l, &u, &r);
            let oracle = over.contains(&Some(true));
            // Away from the rounding edge, the verdict matches the oracle.
            prop_assert_eq!(d.verdict == Verdict::Deny, oracle);
            prop_assert_eq!(d.lines.len(), over.iter().filter(|o| o.is_some()).count());
        }
    }
}
