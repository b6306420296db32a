//! Licence compliance and patch levels, from the same ownership model as the other reports.
//!
//! **Licences**: for each product of the catalogue, which VMs run it (their placement requires
//! it, a tag names it, or their guest OS is of its kind), and what that needs in the product's
//! unit — VMs, users, or the hosts (their sockets, their cores with the per-socket and per-host
//! minimums, or the hosts themselves) the VMs run on **or may be moved to**: a VM may run on
//! any host of its cluster that placement would not refuse it for — one licensed for all the
//! software its placement requires (the "licensed hosts only" filter), and not dedicated to
//! another department. Other filters (CPU vendor and features, networks, maintenance) are left
//! out on purpose: a host a VM cannot reach today may admit it tomorrow, so the count errs on
//! the side of exposure. Needed is compared with owned; hosts that need the
//! licence and are not marked licensed, and idle VMs that hold a licence, are named.
//!
//! **Patch levels**: each VM's guest OS against the baseline of its OS (the most specific key
//! that matches), listing the VMs behind per owner. A version from libosinfo metadata is the
//! release the VM was installed from, so it is behind only when its major release is.
//!
//! Pure: the caller gives the catalogue, VMs, hosts, baselines and which VMs are idle.

use std::collections::BTreeMap;
use vdc_types::{
    ClusterId, CpuTopology, DepartmentId, GuestOs, GuestOsSource, HostId, LicenceModel,
    LicenceProduct, OsBaseline, PatchStatus, PowerState, VmId, patch_status,
};

/// A host as the licence report sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct LicHost {
    pub id: HostId,
    pub name: String,
    pub cluster: ClusterId,
    /// Only sockets and cores per socket count for licences.
    pub topology: CpuTopology,
    /// Products the host is marked licensed for (also the placement filter's list).
    pub licensed: Vec<String>,
    /// The department the host is reserved for, if any.
    pub dedicated_to: Option<DepartmentId>,
}

/// A VM as the licence report sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct LicVm {
    pub id: VmId,
    pub name: String,
    pub department: Option<DepartmentId>,
    pub owner: Option<String>,
    pub host: Option<HostId>,
    pub cluster: Option<ClusterId>,
    pub power_state: PowerState,
    /// Software its placement requires (the "licensed hosts only" filter).
    pub required: Vec<String>,
    pub tags: Vec<String>,
    pub guest_os: Option<GuestOs>,
}

/// A VM that runs a product.
#[derive(Debug, Clone, PartialEq)]
pub struct LicVmLine {
    pub vm: VmId,
    pub name: String,
    pub department: Option<DepartmentId>,
    pub owner: Option<String>,
    pub power_state: PowerState,
    /// Why it counts: "placement requires it", "tagged", "guest OS winsrv-2019".
    pub why: String,
    /// Its host, if it has one.
    pub host: Option<String>,
    /// Hosts it runs on or may be moved to (host-counted models).
    pub may_run_on: usize,
    /// Its placement requires licensed software, so it only goes to hosts licensed for it.
    pub confined: bool,
}

/// A host a product needs licensing on.
#[derive(Debug, Clone, PartialEq)]
pub struct LicHostLine {
    pub host: HostId,
    pub name: String,
    /// Licences it needs in the product's unit.
    pub units: u64,
    /// It runs a VM of the product now (else VMs may only be moved to it).
    pub current: bool,
    /// It is marked licensed for the product.
    pub licensed: bool,
    pub why: String,
}

/// An idle or long-off VM that holds a licence.
#[derive(Debug, Clone, PartialEq)]
pub struct IdleHolder {
    pub vm: VmId,
    pub name: String,
    pub department: Option<DepartmentId>,
    pub owner: Option<String>,
    pub evidence: String,
    /// The product's monthly price per VM.
    pub monthly_cost: f64,
}

/// One product's compliance.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductCompliance {
    pub product: String,
    pub model: LicenceModel,
    pub owned: u64,
    /// Needed where its VMs run now.
    pub needed_now: u64,
    /// Needed counting every host its VMs may be moved to.
    pub needed: u64,
    /// `needed - owned`, when positive.
    pub shortfall: u64,
    pub vms: Vec<LicVmLine>,
    pub hosts: Vec<LicHostLine>,
    /// VMs with nowhere to count them (no host or cluster known), host-counted models.
    pub uncounted: Vec<String>,
    pub idle: Vec<IdleHolder>,
}

/// Why a VM runs a product, if it does.
pub fn runs(p: &LicenceProduct, vm: &LicVm) -> Option<String> {
    if vm.required.contains(&p.name) {
        Some("placement requires it".into())
    } else if vm.tags.contains(&p.name) {
        Some("tagged".into())
    } else {
        let key = p.guest_os.as_deref()?;
        let g = vm.guest_os.as_ref().filter(|g| g.is(key))?;
        Some(format!("guest OS {}", g.os))
    }
}

/// Licences a host needs for a host-counted model.
pub fn host_units(p: &LicenceProduct, h: &LicHost) -> u64 {
    match p.model {
        LicenceModel::PerCore => {
            let per_socket = h.topology.cores_per_socket.max(p.min_cores_per_socket);
            (u64::from(h.topology.sockets) * u64::from(per_socket))
                .max(u64::from(p.min_cores_per_host))
        }
        LicenceModel::PerSocket => u64::from(h.topology.sockets),
        LicenceModel::PerHost => 1,
        LicenceModel::PerVm | LicenceModel::PerUser => 0,
    }
}

fn host_counted(m: LicenceModel) -> bool {
    matches!(
        m,
        LicenceModel::PerCore | LicenceModel::PerSocket | LicenceModel::PerHost
    )
}

/// Hosts a VM runs on or may be moved to: its host, and the hosts of its cluster that
/// placement would take it on — licensed for all the software it requires, not dedicated to
/// another department.
fn reach<'a>(vm: &LicVm, hosts: &'a [LicHost]) -> Vec<&'a LicHost> {
    hosts
        .iter()
        .filter(|h| {
            Some(h.id) == vm.host
                || (Some(h.cluster) == vm.cluster
                    && vm.required.iter().all(|r| h.licensed.contains(r))
                    && h.dedicated_to.is_none_or(|d| Some(d) == vm.department))
        })
        .collect()
}

/// Compliance of every product in `products`. `idle` gives the idle or long-off VMs with the
/// evidence; `prices` the monthly price per VM of each product.
pub fn licences(
    products: &[LicenceProduct],
    vms: &[LicVm],
    hosts: &[LicHost],
    idle: &BTreeMap<VmId, String>,
    prices: &BTreeMap<String, f64>,
) -> Vec<ProductCompliance> {
    products
        .iter()
        .map(|p| product(p, vms, hosts, idle, prices))
        .collect()
}

fn product(
    p: &LicenceProduct,
    vms: &[LicVm],
    hosts: &[LicHost],
    idle: &BTreeMap<VmId, String>,
    prices: &BTreeMap<String, f64>,
) -> ProductCompliance {
    let names: BTreeMap<HostId, &LicHost> = hosts.iter().map(|h| (h.id, h)).collect();
    let mut lines = Vec::new();
    let mut uncounted = Vec::new();
    let mut idle_holders = Vec::new();
    // Host → (runs now: VM names, may run: VM names).
    let mut exposure: BTreeMap<HostId, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for vm in vms {
        let Some(why) = runs(p, vm) else { continue };
        let reach = reach(vm, hosts);
        if host_counted(p.model) {
            if reach.is_empty() {
                uncounted.push(vm.name.clone());
            }
            for h in &reach {
                let e = exposure.entry(h.id).or_default();
                if Some(h.id) == vm.host {
                    e.0.push(vm.name.clone());
                } else {
                    e.1.push(vm.name.clone());
                }
            }
        }
        if let Some(evidence) = idle.get(&vm.id) {
            idle_holders.push(IdleHolder {
                vm: vm.id,
                name: vm.name.clone(),
                department: vm.department,
                owner: vm.owner.clone(),
                evidence: evidence.clone(),
                monthly_cost: prices.get(&p.name).copied().unwrap_or(0.0),
            });
        }
        lines.push(LicVmLine {
            vm: vm.id,
            name: vm.name.clone(),
            department: vm.department,
            owner: vm.owner.clone(),
            power_state: vm.power_state,
            why,
            host: vm.host.and_then(|h| names.get(&h)).map(|h| h.name.clone()),
            may_run_on: if host_counted(p.model) {
                reach.len()
            } else {
                0
            },
            confined: !vm.required.is_empty(),
        });
    }
    let host_lines: Vec<LicHostLine> = exposure
        .into_iter()
        .map(|(id, (now, may))| {
            let h = names[&id];
            let list = |v: &[String]| v.join(", ");
            let mut why = match (now.is_empty(), may.is_empty()) {
                (false, true) => format!("runs {}", list(&now)),
                (false, false) => format!("runs {}; {} may move here", list(&now), list(&may)),
                _ => format!("{} may move here (same cluster)", list(&may)),
            };
            if h.topology.sockets == 0 {
                why.push_str(" (its hardware is not known yet: counted as none)");
            }
            LicHostLine {
                host: id,
                name: h.name.clone(),
                units: host_units(p, h),
                current: !now.is_empty(),
                licensed: h.licensed.contains(&p.name),
                why,
            }
        })
        .collect();
    let (needed_now, needed) = match p.model {
        LicenceModel::PerVm => (lines.len() as u64, lines.len() as u64),
        LicenceModel::PerUser => (p.users, p.users),
        _ => (
            host_lines
                .iter()
                .filter(|h| h.current)
                .map(|h| h.units)
                .sum(),
            host_lines.iter().map(|h| h.units).sum(),
        ),
    };
    ProductCompliance {
        product: p.name.clone(),
        model: p.model,
        owned: p.owned,
        needed_now,
        needed,
        shortfall: needed.saturating_sub(p.owned),
        vms: lines,
        hosts: host_lines,
        uncounted,
        idle: idle_holders,
    }
}

/// A VM as the patch report sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchVm {
    pub id: VmId,
    pub name: String,
    pub department: Option<DepartmentId>,
    pub owner: Option<String>,
    pub guest_os: Option<GuestOs>,
}

/// One VM's patch level.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchLine {
    pub vm: VmId,
    pub name: String,
    pub department: Option<DepartmentId>,
    pub owner: Option<String>,
    pub os: Option<String>,
    pub version: Option<String>,
    /// The guest OS as its source named it.
    pub os_name: Option<String>,
    pub source: Option<GuestOsSource>,
    /// The baseline applied (its OS key and version).
    pub baseline: Option<OsBaseline>,
    pub status: PatchStatus,
}

/// Patch levels of an estate.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Patches {
    /// Behind first, then unknown, unchecked, current; by owner and name within.
    pub lines: Vec<PatchLine>,
    /// VMs behind per owner (`None`: no owner).
    pub behind_by_owner: BTreeMap<Option<String>, usize>,
    pub counts: BTreeMap<PatchStatus, usize>,
}

/// The baseline for `g`: the one of the longest OS key that `g` is of.
pub fn baseline_for<'a>(g: &GuestOs, baselines: &'a [OsBaseline]) -> Option<&'a OsBaseline> {
    baselines
        .iter()
        .filter(|b| g.is(&b.os))
        .max_by_key(|b| b.os.len())
}

fn major(v: &str) -> &str {
    v.split(['.', '-', '_', ' ']).next().unwrap_or(v)
}

fn rank(s: PatchStatus) -> u8 {
    match s {
        PatchStatus::Behind => 0,
        PatchStatus::Unknown => 1,
        PatchStatus::Unchecked => 2,
        PatchStatus::Current => 3,
    }
}

/// Each VM's guest OS against its baseline.
pub fn patches(vms: &[PatchVm], baselines: &[OsBaseline]) -> Patches {
    let mut out = Patches::default();
    for vm in vms {
        let g = vm.guest_os.as_ref();
        let baseline = g.and_then(|g| baseline_for(g, baselines)).cloned();
        let status = match (g.and_then(|g| g.version.as_deref()), &baseline) {
            (_, None) => PatchStatus::Unchecked,
            (None, Some(_)) => PatchStatus::Unknown,
            (Some(v), Some(b)) => match patch_status(v, &b.min_version) {
                // libosinfo names the release the VM was installed from: updates since within
                // that major release are not seen, so only an older major release is behind.
                PatchStatus::Behind
                    if g.is_some_and(|g| g.source == GuestOsSource::Libosinfo)
                        && major(v) == major(&b.min_version) =>
                {
                    PatchStatus::Unknown
                }
                s => s,
            },
        };
        if status == PatchStatus::Behind {
            *out.behind_by_owner.entry(vm.owner.clone()).or_default() += 1;
        }
        *out.counts.entry(status).or_default() += 1;
        out.lines.push(PatchLine {
            vm: vm.id,
            name: vm.name.clone(),
            department: vm.department,
            owner: vm.owner.clone(),
            os: g.map(|g| g.os.clone()),
            version: g.and_then(|g| g.version.clone()),
            os_name: g.map(|g| g.name.clone()),
            source: g.map(|g| g.source),
            baseline,
            status,
        });
    }
    out.lines.sort_by(|a, b| {
        (rank(a.status), &a.owner, &a.name).cmp(&(rank(b.status), &b.owner, &b.name))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn host(i: u8, cluster: ClusterId, sockets: u32, cores: u32, licensed: &[&str]) -> LicHost {
        LicHost {
            id: HostId(uuid::Uuid::from_bytes([i; 16])),
            name: format!("h{i}"),
            cluster,
            topology: CpuTopology::new(sockets, cores, 1),
            licensed: licensed.iter().map(|s| s.to_string()).collect(),
            dedicated_to: None,
        }
    }

    fn vm(i: u8, host: Option<&LicHost>, os: Option<&str>) -> LicVm {
        LicVm {
            id: VmId(uuid::Uuid::from_bytes([100 + i; 16])),
            name: format!("vm{i}"),
            department: None,
            owner: Some(format!("owner{}", i % 2)),
            host: host.map(|h| h.id),
            cluster: host.map(|h| h.cluster),
            power_state: PowerState::Running,
            required: vec![],
            tags: vec![],
            guest_os: os.and_then(GuestOs::from_libosinfo),
        }
    }

    fn product(name: &str, model: LicenceModel, owned: u64) -> LicenceProduct {
        LicenceProduct {
            name: name.into(),
            model,
            owned,
            users: 0,
            min_cores_per_socket: 0,
            min_cores_per_host: 0,
            guest_os: None,
        }
    }

    #[test]
    fn windows_datacenter_per_core_counts_every_host_of_the_cluster() {
        let (c1, c2) = (
            ClusterId(uuid::Uuid::from_bytes([1; 16])),
            ClusterId(uuid::Uuid::from_bytes([2; 16])),
        );
        // Cluster 1: three hosts of 2 × 6 cores (Microsoft counts 2 × 8 = 16 each); cluster 2:
        // one host of 2 × 16.
        let hs = vec![
            host(1, c1, 2, 6, &["windows-dc"]),
            host(2, c1, 2, 6, &[]),
            host(3, c1, 2, 6, &[]),
            host(4, c2, 2, 16, &[]),
        ];
        let win = "http://microsoft.com/win/2k19";
        let vms = vec![
            vm(1, Some(&hs[0]), Some(win)),
            vm(2, Some(&hs[3]), Some("http://debian.org/debian/12")),
        ];
        let mut p = product("windows-dc", LicenceModel::PerCore, 32);
        p.min_cores_per_socket = 8;
        p.min_cores_per_host = 16;
        p.guest_os = Some("winsrv".into());
        let idle = BTreeMap::from([(vms[0].id, "idle for 14 days".to_string())]);
        let prices = BTreeMap::from([("windows-dc".to_string(), 40.0)]);
        let r = licences(std::slice::from_ref(&p), &vms, &hs, &idle, &prices).remove(0);
        assert_eq!((r.needed_now, r.needed, r.shortfall), (16, 48, 16));
        assert_eq!(r.vms.len(), 1);
        assert_eq!(r.vms[0].why, "guest OS winsrv-2019");
        assert_eq!(r.vms[0].may_run_on, 3);
        let unlicensed: Vec<&str> = r
            .hosts
            .iter()
            .filter(|h| !h.licensed)
            .map(|h| h.name.as_str())
            .collect();
        assert_eq!(unlicensed, ["h2", "h3"]);
        assert!(
            r.hosts
                .iter()
                .any(|h| h.why == "vm1 may move here (same cluster)")
        );
        assert_eq!(r.idle.len(), 1);
        assert_eq!(r.idle[0].monthly_cost, 40.0);

        // Required by placement: the VM only goes to licensed hosts, and needs only those.
        let mut confined = vms.clone();
        confined[0].required = vec!["windows-dc".into()];
        let r = licences(
            std::slice::from_ref(&p),
            &confined,
            &hs,
            &BTreeMap::new(),
            &prices,
        )
        .remove(0);
        assert_eq!((r.needed_now, r.needed, r.shortfall), (16, 16, 0));
        assert!(r.vms[0].confined);
        // Requiring other software licensed on h1 and h2 confines it to those; a host reserved
        // for another department is no place for it either.
        let mut hs2 = hs.clone();
        hs2[0].licensed.push("sql-ent".into());
        hs2[1].licensed.push("sql-ent".into());
        hs2[2].licensed.push("sql-ent".into());
        hs2[2].dedicated_to = Some(DepartmentId(uuid::Uuid::from_bytes([9; 16])));
        confined[0].required = vec!["sql-ent".into()];
        let r = licences(&[p], &confined, &hs2, &BTreeMap::new(), &prices).remove(0);
        assert_eq!((r.needed_now, r.needed), (16, 32));
    }

    #[test]
    fn per_vm_socket_host_and_user_models() {
        let c = ClusterId(uuid::Uuid::from_bytes([1; 16]));
        let hs = vec![host(1, c, 2, 8, &[]), host(2, c, 4, 8, &[])];
        let mut vms: Vec<LicVm> = (0..3).map(|i| vm(i, Some(&hs[0]), None)).collect();
        for v in &mut vms {
            v.tags = vec!["rhel-sub".into(), "vsphere".into()];
        }
        vms.push(vm(9, None, None));
        vms[3].tags = vec!["rhel-sub".into(), "vsphere".into()];
        let none = BTreeMap::new();
        let mut users = product("office", LicenceModel::PerUser, 10);
        users.users = 12;
        let r = licences(
            &[
                product("rhel-sub", LicenceModel::PerVm, 2),
                product("vsphere", LicenceModel::PerSocket, 4),
                product("vsphere-host", LicenceModel::PerHost, 4),
                users,
            ],
            &vms,
            &hs,
            &none,
            &BTreeMap::new(),
        );
        assert_eq!((r[0].needed, r[0].shortfall), (4, 2));
        assert_eq!((r[1].needed_now, r[1].needed, r[1].shortfall), (2, 6, 2));
        assert_eq!(r[1].uncounted, ["vm9"]);
        assert!(r[2].vms.is_empty());
        assert_eq!((r[3].needed, r[3].shortfall), (12, 2));
    }

    #[test]
    fn patch_levels_against_the_most_specific_baseline() {
        let b = |os: &str, v: &str| OsBaseline {
            os: os.into(),
            min_version: v.into(),
        };
        let baselines = vec![
            b("rhel", "9.4"),
            b("debian", "12"),
            b("winsrv", "10.0.17763"),
            b("winsrv-2022", "10.0.20348.2000"),
        ];
        let pv = |i: u8, owner: Option<&str>, g: Option<GuestOs>| PatchVm {
            id: VmId(uuid::Uuid::from_bytes([i; 16])),
            name: format!("vm{i}"),
            department: None,
            owner: owner.map(str::to_string),
            guest_os: g,
        };
        let lib = GuestOs::from_libosinfo;
        let mut w22 = lib("http://microsoft.com/win/2k22").unwrap();
        w22.version = Some("10.0.20348.1000".into());
        w22.source = GuestOsSource::Manual;
        let vms = vec![
            pv(1, Some("ann"), lib("http://redhat.com/rhel/8.10")),
            pv(2, Some("ann"), lib("http://redhat.com/rhel/9.4")),
            pv(3, None, lib("http://debian.org/debian/11")),
            pv(4, Some("bob"), Some(w22)),
            pv(5, Some("bob"), lib("http://microsoft.com/win/2k19")),
            pv(6, Some("bob"), lib("http://ubuntu.com/ubuntu/22.04")),
            pv(7, Some("bob"), None),
            pv(8, Some("bob"), lib("http://redhat.com/rhel/9.2")),
        ];
        let r = patches(&vms, &baselines);
        let status: BTreeMap<&str, PatchStatus> = r
            .lines
            .iter()
            .map(|l| (l.name.as_str(), l.status))
            .collect();
        use PatchStatus::*;
        assert_eq!(status["vm1"], Behind);
        assert_eq!(status["vm2"], Current);
        assert_eq!(status["vm3"], Behind);
        assert_eq!(
            status["vm4"], Behind,
            "winsrv-2022's own baseline, not winsrv's"
        );
        assert_eq!(status["vm5"], Unknown, "no build known");
        assert_eq!(status["vm6"], Unchecked, "no ubuntu baseline");
        assert_eq!(status["vm7"], Unchecked, "no guest OS");
        assert_eq!(
            status["vm8"], Unknown,
            "installed from 9.2: updates within RHEL 9 are not seen"
        );
        assert_eq!(
            r.behind_by_owner,
            BTreeMap::from([(Some("ann".into()), 1), (Some("bob".into()), 1), (None, 1)])
        );
        assert_eq!(r.lines[0].status, Behind);
        assert_eq!(r.lines.last().unwrap().status, Current);
    }

    fn arb_estate() -> impl Strategy<Value = (Vec<LicHost>, Vec<LicVm>, LicenceProduct)> {
        let hosts = proptest::collection::vec((0u8..3, 1u32..4, 1u32..20, 0u8..8), 1..8);
        let vms = proptest::collection::vec((0usize..9, 0u8..4, 0u8..4, any::<bool>()), 0..12);
        let model = prop_oneof![
            Just(LicenceModel::PerVm),
            Just(LicenceModel::PerCore),
            Just(LicenceModel::PerSocket),
            Just(LicenceModel::PerHost),
            Just(LicenceModel::PerUser)
        ];
        (hosts, vms, model, 0u64..100, 0u32..12, 0u32..24).prop_map(
            |(hs, vs, model, owned, mps, mph)| {
                let hosts: Vec<LicHost> = hs
                    .iter()
                    .enumerate()
                    .map(|(i, &(c, s, k, lic))| {
                        let mut h = host(
                            i as u8,
                            ClusterId(uuid::Uuid::from_bytes([c; 16])),
                            s,
                            k,
                            [&["p"][..], &["q"], &["p", "q"], &[]][usize::from(lic % 4)],
                        );
                        // Some hosts are reserved for a department (that of VMs 0, 3, 6…).
                        if lic >= 4 {
                            h.dedicated_to = Some(DepartmentId(uuid::Uuid::from_bytes([7; 16])));
                        }
                        h
                    })
                    .collect();
                let vms: Vec<LicVm> = vs
                    .iter()
                    .enumerate()
                    .map(|(i, &(h, how, required, on_host))| {
                        let mut v = vm(i as u8, hosts.get(h), None);
                        if !on_host {
                            v.host = None;
                        }
                        match how {
                            0 => v.tags = vec!["p".into()],
                            1 => {
                                v.guest_os =
                                    GuestOs::from_libosinfo("http://microsoft.com/win/2k19")
                            }
                            2 => {
                                v.guest_os = GuestOs::from_libosinfo("http://debian.org/debian/12")
                            }
                            _ => {}
                        }
                        v.required = [&["p"][..], &["q"], &["p", "q"], &[]]
                            [usize::from(required % 4)]
                        .iter()
                        .map(|s| s.to_string())
                        .collect();
                        // Of the hosts' department, of another, or of none.
                        v.department = match i % 3 {
                            0 => Some(DepartmentId(uuid::Uuid::from_bytes([7; 16]))),
                            1 => Some(DepartmentId(uuid::Uuid::from_bytes([8; 16]))),
                            _ => None,
                        };
                        v
                    })
                    .collect();
                let mut p = product("p", model, owned);
                p.users = u64::from(mps) * 3;
                p.min_cores_per_socket = mps;
                p.min_cores_per_host = mph;
                p.guest_os = Some("winsrv".into());
                (hosts, vms, p)
            },
        )
    }

    proptest! {
        /// Against a brute force: a host needs the licence iff some VM of the product is on it,
        /// or is in its cluster, licensed for all the VM requires and not reserved for another
        /// department.
        #[test]
        fn licences_match_a_brute_force((hosts, vms, p) in arb_estate()) {
            let r = licences(std::slice::from_ref(&p), &vms, &hosts, &BTreeMap::new(), &BTreeMap::new()).remove(0);
            let runs_p = |v: &LicVm| v.tags.iter().any(|t| t == "p")
                || v.required.iter().any(|t| t == "p")
                || v.guest_os.as_ref().is_some_and(|g| g.os.starts_with("winsrv"));
            let users: Vec<&LicVm> = vms.iter().filter(|v| runs_p(v)).collect();
            let units = |h: &LicHost| match p.model {
                LicenceModel::PerCore => {
                    let mut cores = 0;
                    for _ in 0..h.topology.sockets { cores += h.topology.cores_per_socket.max(p.min_cores_per_socket); }
                    u64::from(cores.max(p.min_cores_per_host))
                }
                LicenceModel::PerSocket => u64::from(h.topology.sockets),
                LicenceModel::PerHost => 1,
                _ => 0,
            };
            let (mut now, mut all) = (0, 0);
            for h in &hosts {
                let on = users.iter().any(|v| v.host == Some(h.id));
                let may = users.iter().any(|v| v.cluster == Some(h.cluster)
                    && v.required.iter().all(|r| h.licensed.contains(r))
                    && (h.dedicated_to.is_none() || h.dedicated_to == v.department));
                if on { now += units(h); }
                if on || may { all += units(h); }
            }
            let (want_now, want) = match p.model {
                LicenceModel::PerVm => (users.len() as u64, users.len() as u64),
                LicenceModel::PerUser => (p.users, p.users),
                _ => (now, all),
            };
            prop_assert_eq!(r.vms.len(), users.len());
            prop_assert_eq!((r.needed_now, r.needed), (want_now, want));
            prop_assert_eq!(r.shortfall, want.saturating_sub(p.owned));
            prop_assert!(r.needed_now <= r.needed);
        }
    }
}
