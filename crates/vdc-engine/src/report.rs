//! Reports from one ownership model: sprawl — what wastes money, each finding with its
//! evidence and the monthly cost it wastes — and chargeback statements per department and VM,
//! on the allocated or the used model, from the same price list that drives money quotas.
//! Pure: the caller gives the VMs with their daily or hourly use, volumes and prices.

use std::collections::BTreeMap;
use vdc_types::{ChargeModel, DepartmentId, Management, PowerState, SprawlKind, VmId};

use crate::quota::{Prices, Usage};

pub const DAY_MS: i64 = 86_400_000;
const MIB_PER_GIB: f64 = 1024.0;

/// A VM's use on one day: the day's 95th percentiles of its samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayUse {
    /// Start of the day (UTC).
    pub day_ms: i64,
    /// CPU busy, % of its vCPUs.
    pub cpu_p95: f64,
    /// Resident memory, MiB.
    pub memory_p95_mib: f64,
    /// Disk reads plus writes, bytes/s (the sum of the two p95s: an upper bound).
    pub disk_p95_bytes_s: f64,
    /// Network received plus sent, bytes/s (likewise).
    pub net_p95_bytes_s: f64,
}

/// A VM as the sprawl report sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportVm {
    pub id: VmId,
    pub name: String,
    pub department: Option<DepartmentId>,
    pub owner: Option<String>,
    pub management: Management,
    pub power_state: PowerState,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
    /// Software it runs that is priced per VM.
    pub licences: Vec<String>,
    /// When vdc first recorded it.
    pub created_ms: i64,
    /// When it was last seen running (its newest sample), if ever.
    pub last_running_ms: Option<i64>,
    pub lease_expires_ms: Option<i64>,
    /// Its closed days with samples, any order.
    pub days: Vec<DayUse>,
}

/// A storage volume no VM uses.
#[derive(Debug, Clone, PartialEq)]
pub struct OrphanVolume {
    pub datastore: String,
    pub name: String,
    pub path: String,
    pub capacity_gib: f64,
}

/// When something counts as sprawl.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SprawlPolicy {
    /// Idle: running, and on each of the last `days` closed days its p95 CPU, disk and
    /// network were all under these. Oversized is judged over the same days.
    pub days: u32,
    pub idle_cpu_percent: f64,
    pub idle_disk_bytes_s: f64,
    pub idle_net_bytes_s: f64,
    /// Zombie: not running for this many days.
    pub zombie_days: u32,
    /// Oversized: what it needs (the highest daily p95 × `headroom`) is at most `share` of
    /// what it has, in vCPUs or in memory.
    pub headroom: f64,
    pub share: f64,
    /// Report managed VMs that have no lease.
    pub missing_leases: bool,
}

impl Default for SprawlPolicy {
    /// Two weeks idle under 5 % CPU, 10 KiB/s disk and 10 KiB/s network; a month off; at
    /// most half of what it has needed with 25 % headroom.
    fn default() -> Self {
        SprawlPolicy {
            days: 14,
            idle_cpu_percent: 5.0,
            idle_disk_bytes_s: 10_240.0,
            idle_net_bytes_s: 10_240.0,
            zombie_days: 30,
            headroom: 1.25,
            share: 0.5,
            missing_leases: false,
        }
    }
}

/// A right-size suggestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RightSize {
    pub vcpus: u32,
    pub memory_mib: u64,
}

/// One piece of sprawl.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub kind: SprawlKind,
    /// The VM (none for a volume).
    pub vm: Option<VmId>,
    /// The VM's name, or the volume's path.
    pub name: String,
    pub department: Option<DepartmentId>,
    pub owner: Option<String>,
    pub evidence: String,
    /// What the VM (or volume) costs a month.
    pub monthly_cost: f64,
    /// What of that is wasted.
    pub monthly_waste: f64,
    pub right_size: Option<RightSize>,
}

/// The sprawl of an estate.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sprawl {
    /// By kind, then name.
    pub findings: Vec<Finding>,
    /// Monthly waste, each VM counted once (its largest finding).
    pub total_waste: f64,
    pub waste_by_department: BTreeMap<Option<DepartmentId>, f64>,
}

/// A VM's monthly cost at `prices` (its allocation, licences and fixed charge).
pub fn monthly_cost(vm: &ReportVm, prices: &Prices) -> f64 {
    Usage::of_vm(vm.vcpus, vm.memory_mib, vm.disk_gib, &vm.licences, prices).money
}

fn running(s: PowerState) -> bool {
    matches!(s, PowerState::Running | PowerState::Paused)
}

fn day(ms: i64) -> String {
    vdc_types::rfc3339(ms)[..10].to_string()
}

fn kib(bytes: f64) -> String {
    format!("{:.1} KiB/s", bytes / 1024.0)
}

/// The last `n` closed days before `now`, if the VM has samples on each of them.
fn last_days(vm: &ReportVm, n: u32, now: i64) -> Option<Vec<DayUse>> {
    let today = now.div_euclid(DAY_MS) * DAY_MS;
    let from = today - i64::from(n) * DAY_MS;
    let mut days: Vec<DayUse> = vm
        .days
        .iter()
        .filter(|d| d.day_ms >= from && d.day_ms < today)
        .copied()
        .collect();
    days.sort_by_key(|d| d.day_ms);
    days.dedup_by_key(|d| d.day_ms);
    (n > 0 && days.len() == n as usize).then_some(days)
}

fn peak(days: &[DayUse], f: impl Fn(&DayUse) -> f64) -> f64 {
    days.iter().map(f).fold(0.0, f64::max)
}

/// Finds the sprawl in `vms` and `orphans` at `now`.
pub fn sprawl(
    vms: &[ReportVm],
    orphans: &[OrphanVolume],
    prices: &Prices,
    p: &SprawlPolicy,
    now: i64,
) -> Sprawl {
    let mut out = Sprawl::default();
    let mut worst: BTreeMap<VmId, (Option<DepartmentId>, f64)> = BTreeMap::new();
    for vm in vms {
        let cost = monthly_cost(vm, prices);
        let disk_cost = vm.disk_gib as f64 * prices.disk_gib;
        let mut found = |kind, evidence: String, waste: f64, right_size| {
            let w = worst.entry(vm.id).or_insert((vm.department, 0.0));
            w.1 = w.1.max(waste);
            out.findings.push(Finding {
                kind,
                vm: Some(vm.id),
                name: vm.name.clone(),
                department: vm.department,
                owner: vm.owner.clone(),
                evidence,
                monthly_cost: cost,
                monthly_waste: waste,
                right_size,
            });
        };
        let days = last_days(vm, p.days, now);
        let mut idle = false;
        if running(vm.power_state)
            && let Some(days) = &days
        {
            let (cpu, disk, net) = (
                peak(days, |d| d.cpu_p95),
                peak(days, |d| d.disk_p95_bytes_s),
                peak(days, |d| d.net_p95_bytes_s),
            );
            idle =
                cpu < p.idle_cpu_percent && disk < p.idle_disk_bytes_s && net < p.idle_net_bytes_s;
            if idle {
                found(
                    SprawlKind::Idle,
                    format!(
                        "running, idle on each of the last {} days: daily p95 CPU at most {cpu:.1} %, disk {}, network {}",
                        p.days,
                        kib(disk),
                        kib(net)
                    ),
                    cost,
                    None,
                );
            } else {
                let need_vcpus = ((f64::from(vm.vcpus) * cpu / 100.0 * p.headroom).ceil() as u32)
                    .clamp(1, vm.vcpus.max(1));
                let mem = peak(days, |d| d.memory_p95_mib);
                let need_mib = (((mem * p.headroom) / 256.0).ceil() as u64 * 256)
                    .clamp(256, vm.memory_mib.max(256));
                let small_cpu = f64::from(need_vcpus) <= f64::from(vm.vcpus) * p.share;
                let small_mem = need_mib as f64 <= vm.memory_mib as f64 * p.share;
                if small_cpu || small_mem {
                    let rs = RightSize {
                        vcpus: if small_cpu { need_vcpus } else { vm.vcpus },
                        memory_mib: if small_mem { need_mib } else { vm.memory_mib },
                    };
                    let waste = f64::from(vm.vcpus - rs.vcpus) * prices.vcpu
                        + (vm.memory_mib - rs.memory_mib) as f64 / MIB_PER_GIB * prices.memory_gib;
                    found(
                        SprawlKind::Oversized,
                        format!(
                            "over the last {} days daily p95 CPU at most {cpu:.1} % of {} vCPUs, memory at most {mem:.0} MiB of {} MiB; with {:.0} % headroom it needs {} vCPUs and {} MiB",
                            p.days,
                            vm.vcpus,
                            vm.memory_mib,
                            (p.headroom - 1.0) * 100.0,
                            rs.vcpus,
                            rs.memory_mib
                        ),
                        waste,
                        Some(rs),
                    );
                }
            }
        }
        if !running(vm.power_state) {
            let since = vm.last_running_ms.unwrap_or(vm.created_ms);
            let off_days = (now - since).div_euclid(DAY_MS);
            if off_days >= i64::from(p.zombie_days) {
                let seen = match vm.last_running_ms {
                    Some(t) => format!("last seen running {}", day(t)),
                    None => format!("never seen running since recorded {}", day(vm.created_ms)),
                };
                found(
                    SprawlKind::Zombie,
                    format!(
                        "{} for {off_days} days ({seen}); its disks still take {} GiB",
                        vm.power_state, vm.disk_gib
                    ),
                    disk_cost,
                    None,
                );
            }
        }
        match vm.lease_expires_ms {
            Some(t) if t <= now => found(
                SprawlKind::LeaseExpired,
                format!("its lease ended {} and it is {}", day(t), vm.power_state),
                if running(vm.power_state) {
                    cost
                } else {
                    disk_cost
                },
                None,
            ),
            None if p.missing_leases && vm.management == Management::Managed => found(
                SprawlKind::NoLease,
                "no lease: nothing ends it".to_string(),
                0.0,
                None,
            ),
            _ => {}
        }
        if vm.owner.is_none() && vm.department.is_none() {
            found(
                SprawlKind::Unowned,
                "no owner and no department: nobody is charged for it".to_string(),
                cost,
                None,
            );
        }
        if matches!(
            vm.management,
            Management::Unmanaged | Management::Quarantined
        ) {
            found(
                SprawlKind::Unmanaged,
                format!(
                    "{}: found on a host, not created or adopted through vdc",
                    vm.management
                ),
                if idle { cost } else { 0.0 },
                None,
            );
        }
    }
    for v in orphans {
        let waste = v.capacity_gib * prices.disk_gib;
        out.total_waste += waste;
        *out.waste_by_department.entry(None).or_default() += waste;
        out.findings.push(Finding {
            kind: SprawlKind::OrphanedVolume,
            vm: None,
            name: v.path.clone(),
            department: None,
            owner: None,
            evidence: format!(
                "volume {} in datastore {} ({:.1} GiB) is no disk of any VM",
                v.name, v.datastore, v.capacity_gib
            ),
            monthly_cost: waste,
            monthly_waste: waste,
            right_size: None,
        });
    }
    for (department, waste) in worst.into_values() {
        out.total_waste += waste;
        *out.waste_by_department.entry(department).or_default() += waste;
    }
    out.findings
        .sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    out
}

// ---------------------------------------------------------------------------------------------
// Chargeback

/// A VM as chargeback sees it over a period.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargeVm {
    pub id: VmId,
    pub name: String,
    pub department: Option<DepartmentId>,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
    pub licences: Vec<String>,
    /// Hours of the period it existed.
    pub hours: f64,
    /// Measured over the period: vCPU-hours busy and GiB-hours of resident memory.
    pub used_vcpu_hours: f64,
    pub used_memory_gib_hours: f64,
}

/// One line of a bill.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub item: String,
    pub quantity: f64,
    /// What `quantity` counts: `vCPU-hours`, `GiB-hours`, `hours`, `month`.
    pub unit: &'static str,
    pub unit_price: f64,
    pub amount: f64,
}

/// A VM's bill.
#[derive(Debug, Clone, PartialEq)]
pub struct VmBill {
    pub id: VmId,
    pub name: String,
    pub lines: Vec<Line>,
    pub total: f64,
}

/// A department's statement (`None`: VMs of no department).
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub department: Option<DepartmentId>,
    pub vms: Vec<VmBill>,
    /// The department's fixed monthly charge, prorated to the period.
    pub fixed: Option<Line>,
    pub total: f64,
}

fn line(item: impl Into<String>, quantity: f64, unit: &'static str, unit_price: f64) -> Line {
    Line {
        item: item.into(),
        quantity,
        unit,
        unit_price,
        amount: quantity * unit_price,
    }
}

/// One VM's bill over its `hours`: prices are per month of `month_hours`.
pub fn bill(vm: &ChargeVm, p: &Prices, model: ChargeModel, month_hours: f64) -> VmBill {
    let per_hour = |month: f64| month / month_hours;
    let gib = vm.memory_mib as f64 / MIB_PER_GIB;
    let (vcpu_hours, memory_gib_hours) = match model {
        ChargeModel::Allocated => (f64::from(vm.vcpus) * vm.hours, gib * vm.hours),
        ChargeModel::Used => (vm.used_vcpu_hours, vm.used_memory_gib_hours),
    };
    let mut lines = vec![
        line("vCPU", vcpu_hours, "vCPU-hours", per_hour(p.vcpu)),
        line(
            "memory",
            memory_gib_hours,
            "GiB-hours",
            per_hour(p.memory_gib),
        ),
        line(
            "disk",
            vm.disk_gib as f64 * vm.hours,
            "GiB-hours",
            per_hour(p.disk_gib),
        ),
    ];
    for l in &vm.licences {
        if let Some(price) = p.licences.get(l) {
            lines.push(line(
                format!("licence {l}"),
                vm.hours,
                "hours",
                per_hour(*price),
            ));
        }
    }
    if p.per_vm > 0.0 {
        lines.push(line("VM", vm.hours, "hours", per_hour(p.per_vm)));
    }
    let total = lines.iter().map(|l| l.amount).sum();
    VmBill {
        id: vm.id,
        name: vm.name.clone(),
        lines,
        total,
    }
}

/// Statements for every department with VMs in the period (and `departments`, which pay
/// their fixed charge even without VMs), by department; `period_hours` of a month of
/// `month_hours`.
pub fn statements(
    vms: &[ChargeVm],
    departments: &[DepartmentId],
    p: &Prices,
    model: ChargeModel,
    period_hours: f64,
    month_hours: f64,
) -> Vec<Statement> {
    let mut by: BTreeMap<Option<DepartmentId>, Vec<VmBill>> =
        departments.iter().map(|d| (Some(*d), Vec::new())).collect();
    for vm in vms {
        by.entry(vm.department)
            .or_default()
            .push(bill(vm, p, model, month_hours));
    }
    by.into_iter()
        .map(|(department, mut vms)| {
            vms.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
            let fixed = (department.is_some() && p.per_department > 0.0).then(|| {
                line(
                    "department",
                    period_hours / month_hours,
                    "month",
                    p.per_department,
                )
            });
            let total =
                vms.iter().map(|b| b.total).sum::<f64>() + fixed.as_ref().map_or(0.0, |f| f.amount);
            Statement {
                department,
                vms,
                fixed,
                total,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use uuid::Uuid;

    const NOW: i64 = 1_790_000_000_000;

    fn prices() -> Prices {
        Prices {
            vcpu: 10.0,
            memory_gib: 5.0,
            disk_gib: 0.1,
            licences: [("sql".to_string(), 100.0)].into(),
            per_vm: 2.0,
            per_department: 0.0,
        }
    }

    fn vm(i: u128) -> ReportVm {
        ReportVm {
            id: VmId(Uuid::from_u128(i)),
            name: format!("vm{i}"),
            department: Some(DepartmentId(Uuid::from_u128(1000))),
            owner: Some("alice".into()),
            management: Management::Managed,
            power_state: PowerState::Running,
            vcpus: 4,
            memory_mib: 8192,
            disk_gib: 100,
            licences: Vec::new(),
            created_ms: NOW - 100 * DAY_MS,
            last_running_ms: Some(NOW),
            lease_expires_ms: None,
            days: Vec::new(),
        }
    }

    /// `n` closed days before NOW, each with these p95s.
    fn days(n: i64, cpu: f64, mem: f64, disk: f64, net: f64) -> Vec<DayUse> {
        let today = NOW.div_euclid(DAY_MS) * DAY_MS;
        (1..=n)
            .map(|k| DayUse {
                day_ms: today - k * DAY_MS,
                cpu_p95: cpu,
                memory_p95_mib: mem,
                disk_p95_bytes_s: disk,
                net_p95_bytes_s: net,
            })
            .collect()
    }

    fn kinds(s: &Sprawl, vm: &ReportVm) -> Vec<SprawlKind> {
        s.findings
            .iter()
            .filter(|f| f.vm == Some(vm.id))
            .map(|f| f.kind)
            .collect()
    }

    #[test]
    fn each_kind_with_its_evidence_and_waste() {
        let p = SprawlPolicy::default();
        // Idle two weeks: all of its cost is waste. 4 × 10 + 8 × 5 + 100 × 0.1 + 2 = 92.
        let mut idle = vm(1);
        idle.days = days(14, 1.0, 500.0, 100.0, 100.0);
        // Idle, but one day short of the two weeks: not reported.
        let mut young = vm(2);
        young.days = days(13, 1.0, 500.0, 100.0, 100.0);
        // Busy on one day: not idle; needs 1 vCPU (4 × 20 % × 1.25) and 1280 MiB.
        let mut big = vm(3);
        big.days = days(14, 3.0, 1000.0, 100.0, 100.0);
        big.days[5].cpu_p95 = 20.0;
        big.days[5].disk_p95_bytes_s = 1e6;
        // Off 40 days: its disks waste 10 a month.
        let mut zombie = vm(4);
        zombie.power_state = PowerState::Shutoff;
        zombie.last_running_ms = Some(NOW - 40 * DAY_MS);
        // Lease ended, running; no owner, no department, unmanaged.
        let mut expired = vm(5);
        expired.lease_expires_ms = Some(NOW - DAY_MS);
        let mut stray = vm(6);
        stray.owner = None;
        stray.department = None;
        stray.management = Management::Unmanaged;
        let orphan = OrphanVolume {
            datastore: "ds".into(),
            name: "old.qcow2".into(),
            path: "/ds/old.qcow2".into(),
            capacity_gib: 50.0,
        };
        let vms = [
            idle.clone(),
            young.clone(),
            big.clone(),
            zombie.clone(),
            expired.clone(),
            stray.clone(),
        ];
        let s = sprawl(&vms, &[orphan], &prices(), &p, NOW);
        assert_eq!(kinds(&s, &idle), vec![SprawlKind::Idle]);
        assert_eq!(kinds(&s, &young), vec![]);
        assert_eq!(kinds(&s, &big), vec![SprawlKind::Oversized]);
        assert_eq!(kinds(&s, &zombie), vec![SprawlKind::Zombie]);
        assert_eq!(kinds(&s, &expired), vec![SprawlKind::LeaseExpired]);
        assert_eq!(
            kinds(&s, &stray),
            vec![SprawlKind::Unowned, SprawlKind::Unmanaged]
        );
        let f = |kind| s.findings.iter().find(|f| f.kind == kind).unwrap();
        let idle_f = f(SprawlKind::Idle);
        assert!((idle_f.monthly_waste - 92.0).abs() < 1e-9, "{idle_f:?}");
        assert!(
            idle_f.evidence.contains("CPU at most 1.0 %"),
            "{}",
            idle_f.evidence
        );
        let o = f(SprawlKind::Oversized);
        assert_eq!(
            o.right_size,
            Some(RightSize {
                vcpus: 1,
                memory_mib: 1280
            })
        );
        // 3 vCPUs × 10 + (8192 − 1280) / 1024 × 5.
        assert!((o.monthly_waste - (30.0 + 6912.0 / 1024.0 * 5.0)).abs() < 1e-9);
        assert!((f(SprawlKind::Zombie).monthly_waste - 10.0).abs() < 1e-9);
        assert!(f(SprawlKind::Zombie).evidence.contains("40 days"));
        assert!((f(SprawlKind::LeaseExpired).monthly_waste - 92.0).abs() < 1e-9);
        assert!((f(SprawlKind::OrphanedVolume).monthly_waste - 5.0).abs() < 1e-9);
        // Each VM counted once: idle 92, big 63.75, zombie 10, expired 92, stray 92, orphan 5.
        let total = 92.0 + 30.0 + 6912.0 / 1024.0 * 5.0 + 10.0 + 92.0 + 92.0 + 5.0;
        assert!(
            (s.total_waste - total).abs() < 1e-9,
            "{} vs {total}",
            s.total_waste
        );
        assert!((s.waste_by_department[&None] - 97.0).abs() < 1e-9);
        // Leases asked for: the managed VMs without one are named too.
        let asked = SprawlPolicy {
            missing_leases: true,
            ..p
        };
        let s = sprawl(&vms, &[], &prices(), &asked, NOW);
        assert_eq!(
            kinds(&s, &idle),
            vec![SprawlKind::Idle, SprawlKind::NoLease]
        );
        assert_eq!(
            kinds(&s, &stray),
            vec![SprawlKind::Unowned, SprawlKind::Unmanaged]
        );
    }

    #[test]
    fn a_whole_month_costs_the_monthly_price() {
        let v = ChargeVm {
            id: VmId(Uuid::from_u128(1)),
            name: "a".into(),
            department: Some(DepartmentId(Uuid::from_u128(9))),
            vcpus: 2,
            memory_mib: 4096,
            disk_gib: 10,
            licences: vec!["sql".into(), "unpriced".into()],
            hours: 720.0,
            used_vcpu_hours: 144.0,
            used_memory_gib_hours: 1440.0,
        };
        let p = Prices {
            per_department: 50.0,
            ..prices()
        };
        let a = statements(
            std::slice::from_ref(&v),
            &[],
            &p,
            ChargeModel::Allocated,
            720.0,
            720.0,
        );
        assert_eq!(a.len(), 1);
        // 2 × 10 + 4 × 5 + 10 × 0.1 + 100 + 2 + 50.
        assert!((a[0].total - 193.0).abs() < 1e-9, "{a:?}");
        assert_eq!(a[0].vms[0].lines.len(), 5, "vCPU, memory, disk, sql, VM");
        // Used: 144 vCPU-hours (10 % of 2 vCPUs) and 1440 GiB-hours (half the memory).
        let u = statements(&[v], &[], &p, ChargeModel::Used, 720.0, 720.0);
        assert!(
            (u[0].total - (2.0 + 10.0 + 1.0 + 100.0 + 2.0 + 50.0)).abs() < 1e-9,
            "{u:?}"
        );
    }

    proptest! {
        #[test]
        fn statements_add_up_to_the_direct_sum(
            vms in prop::collection::vec(
                (0u32..16, 0u64..65536, 0u64..2000, 0u8..3, 0.0f64..1.0, 0.0f64..1.0, 0.0f64..744.0, prop::bool::ANY),
                0..20,
            ),
            extra in 0u8..3,
            used in prop::bool::ANY,
        ) {
            let p = Prices { per_department: 7.0, ..prices() };
            let dept = |i: u8| (i > 0).then(|| DepartmentId(Uuid::from_u128(u128::from(i))));
            let vms: Vec<ChargeVm> = vms
                .into_iter()
                .enumerate()
                .map(|(i, (vcpus, mem, disk, d, cu, mu, hours, sql))| ChargeVm {
                    id: VmId(Uuid::from_u128(i as u128 + 100)),
                    name: format!("v{i}"),
                    department: dept(d),
                    vcpus,
                    memory_mib: mem,
                    disk_gib: disk,
                    licences: if sql { vec!["sql".into()] } else { vec![] },
                    hours,
                    used_vcpu_hours: f64::from(vcpus) * hours * cu,
                    used_memory_gib_hours: mem as f64 / 1024.0 * hours * mu,
                })
                .collect();
            let model = if used { ChargeModel::Used } else { ChargeModel::Allocated };
            let extra: Vec<DepartmentId> = (1..=extra).filter_map(dept).collect();
            let s = statements(&vms, &extra, &p, model, 744.0, 744.0);
            let mut expect = 0.0;
            for v in &vms {
                let (c, m) = if used {
                    (v.used_vcpu_hours, v.used_memory_gib_hours)
                } else {
                    (f64::from(v.vcpus) * v.hours, v.memory_mib as f64 / 1024.0 * v.hours)
                };
                expect += (c * p.vcpu + m * p.memory_gib + v.disk_gib as f64 * v.hours * p.disk_gib) / 744.0;
                expect += v.hours / 744.0 * (p.per_vm + if v.licences.is_empty() { 0.0 } else { 100.0 });
            }
            let mut depts: Vec<DepartmentId> = vms.iter().filter_map(|v| v.department).chain(extra).collect();
            depts.sort();
            depts.dedup();
            expect += depts.len() as f64 * 7.0;
            let total: f64 = s.iter().map(|s| s.total).sum();
            prop_assert!((total - expect).abs() < 1e-6 * expect.max(1.0), "{} vs {}", total, expect);
            // Every VM billed once, in its department's statement.
            for v in &vms {
                let st: Vec<&Statement> = s.iter().filter(|st| st.vms.iter().any(|b| b.id == v.id)).collect();
                prop_assert_eq!(st.len(), 1);
                prop_assert_eq!(st[0].department, v.department);
            }
            // Used never costs more than allocated when use stays within the allocation.
            if used {
                let a: f64 = statements(&vms, &[], &p, ChargeModel::Allocated, 744.0, 744.0).iter().map(|s| s.total).sum();
                let u: f64 = statements(&vms, &[], &p, ChargeModel::Used, 744.0, 744.0).iter().map(|s| s.total).sum();
                prop_assert!(u <= a + 1e-6);
            }
        }
    }
}
