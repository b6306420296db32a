//! The driver conformance suite: the contract every [`HostDriver`] keeps, written once
//! against `&dyn HostDriver` and run against the simulator (vdc-driver's tests), libvirt's
//! test driver and real QEMU (vdc-driver-libvirt's tests).
//!
//! Each check defines its own VMs (named from [`Fixture::prefix`], so runs never collide),
//! drives them, asserts with messages that say what broke, and removes them again, also when
//! an assertion fails. A [`Fixture`] says what the host can boot; its [`Capabilities`] say
//! which parts of the contract the driver can show at all. A capability is `false` only
//! where the hypervisor truly lacks the API; [`run_all`] then leaves out exactly those
//! assertions (never faking them), and each flag documents who lacks what.
//!
//! These functions panic on failure: they are test code, shipped in the library so that the
//! other driver crates' tests can run them.

use std::time::{Duration, Instant};

use uuid::Uuid;
use vdc_types::{PowerState, VmAction};

use crate::{
    DiskInfo, DriverError, HostDriver, InvalidStateTransition, KernelBoot, NicInfo, VmInfo,
    VmMetadata, VmSpec, VmStats,
};

/// Which parts of the contract a driver can show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// `all_vm_stats`/`vm_stats` carry counters (CPU time, balloon). libvirt's test driver
    /// returns only the `state` group from `virConnectGetAllDomainStats`.
    pub vm_counters: bool,
    /// Snapshots can be taken, listed, reverted and deleted.
    pub snapshots: bool,
    /// Starting a VM larger than the host's memory fails with `NoResources`. libvirt does
    /// not check (QEMU allocates guest memory lazily); vdc's placement does it above the
    /// driver.
    pub refuses_overcommit: bool,
}

impl Default for Capabilities {
    /// Everything, as the simulator does.
    fn default() -> Self {
        Capabilities {
            vm_counters: true,
            snapshots: true,
            refuses_overcommit: true,
        }
    }
}

/// What the host under test can define and boot.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// Storage pool of each VM's one disk.
    pub datastore: String,
    /// Network of each VM's one NIC; `None`: no NIC.
    pub network: Option<String>,
    /// Disk format, e.g. `qcow2` (snapshots need it on libvirt).
    pub format: String,
    pub disk_gib: u64,
    pub vcpus: u32,
    pub memory_mib: u64,
    /// Boot from a kernel on the host (a real guest that needs no disk image).
    pub boot: Option<KernelBoot>,
    /// How long a graceful shutdown, and the first counters of a started VM, may take.
    pub settle: Duration,
    pub caps: Capabilities,
    /// Prefix of every VM name the suite defines.
    pub prefix: String,
}

impl Fixture {
    /// One disk in `datastore`, no NIC, 1 vCPU, 128 MiB, disk boot, 30 s to settle, all
    /// capabilities, a random name prefix (`conf-xxxxxxxx-`).
    pub fn new(datastore: &str) -> Fixture {
        Fixture {
            datastore: datastore.to_string(),
            network: None,
            format: "qcow2".into(),
            disk_gib: 1,
            vcpus: 1,
            memory_mib: 128,
            boot: None,
            settle: Duration::from_secs(30),
            caps: Capabilities::default(),
            prefix: format!("conf-{}-", &Uuid::new_v4().simple().to_string()[..8]),
        }
    }

    /// The spec of a VM called `{prefix}{name}` with a fresh UUID and managed metadata.
    pub fn spec(&self, name: &str) -> VmSpec {
        let id = Uuid::new_v4();
        let b = id.as_bytes();
        VmSpec {
            id,
            name: format!("{}{name}", self.prefix),
            vcpus: self.vcpus,
            memory_mib: self.memory_mib,
            disks: vec![DiskInfo {
                path: None,
                device: "vda".into(),
                size_gib: self.disk_gib,
                datastore: self.datastore.clone(),
                format: self.format.clone(),
            }],
            nics: self
                .network
                .iter()
                .map(|n| NicInfo {
                    mac: format!("52:54:00:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2]),
                    network: n.clone(),
                })
                .collect(),
            metadata: VmMetadata {
                managed: true,
                owner: Some("alice".into()),
                department: Some("engineering".into()),
                purpose: Some("conformance".into()),
                tags: vec!["test".into()],
                lease_expires_at: None,
            },
            os_id: Some("http://debian.org/debian/12".into()),
            boot: self.boot.clone(),
        }
    }
}

/// Every single-host check the fixture's capabilities allow, in order.
pub fn run_all(d: &dyn HostDriver, fx: &Fixture) {
    host_info(d, fx);
    define_is_idempotent(d, fx);
    lifecycle(d, fx);
    invalid_transitions(d, fx);
    metadata(d, fx);
    vm_stats(d, fx);
    if fx.caps.snapshots {
        snapshots(d, fx);
    }
    if fx.caps.refuses_overcommit {
        no_resources(d, fx);
    }
}

/// Stops and undefines a VM the suite defined when a check panics, on every host it may be
/// on, so a failed run leaves nothing behind.
struct Cleanup<'a> {
    hosts: Vec<&'a dyn HostDriver>,
    id: Uuid,
}

impl<'a> Cleanup<'a> {
    fn new(hosts: &[&'a dyn HostDriver], id: Uuid) -> Cleanup<'a> {
        Cleanup {
            hosts: hosts.to_vec(),
            id,
        }
    }
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for h in &self.hosts {
                let _ = h.act(self.id, VmAction::Stop);
                let _ = h.undefine(self.id);
            }
        }
    }
}

/// Asserts `info` is a newer generation than `prev` and returns it.
fn newer(prev: u64, info: &VmInfo, what: &str) -> u64 {
    assert!(
        info.generation > prev,
        "{what}: generation {} not above {prev}",
        info.generation
    );
    info.generation
}

fn expect_transition(r: Result<VmInfo, DriverError>, from: PowerState, to: PowerState) {
    match r {
        Err(DriverError::InvalidTransition(e)) => {
            assert_eq!(e, InvalidStateTransition { from, to })
        }
        other => panic!("expected InvalidTransition {from} -> {to}, got {other:?}"),
    }
}

/// Polls `f` until it holds, failing after `limit`.
fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `vm_info` and `list_vms` both report exactly `info`.
fn agrees(d: &dyn HostDriver, info: &VmInfo) {
    assert_eq!(&d.vm_info(info.id).expect("vm_info"), info, "vm_info");
    let listed = d.list_vms().expect("list_vms");
    assert_eq!(
        listed.iter().find(|v| v.id == info.id),
        Some(info),
        "list_vms"
    );
}

/// Asks for a graceful shutdown and waits (up to `settle`) until the VM is off. A guest that
/// has not finished booting ignores the ACPI button, so a VM still running after a few
/// seconds is asked again, as an operator would. Returns the shut-off VM.
pub fn shut_down(d: &dyn HostDriver, id: Uuid, fx: &Fixture) -> VmInfo {
    let info = d.act(id, VmAction::Shutdown).expect("shutdown");
    match info.state {
        PowerState::ShuttingDown | PowerState::Shutoff => {}
        other => panic!("after shutdown: {other}"),
    }
    let mut asked = Instant::now();
    let mut off = None;
    wait_for("graceful shutdown", fx.settle, || {
        let v = d.vm_info(id).expect("vm_info while shutting down");
        match v.state {
            PowerState::Shutoff => {
                off = Some(v);
                return true;
            }
            PowerState::ShuttingDown if asked.elapsed() > Duration::from_secs(3) => {
                // The guest missed the button (still booting): press it again.
                let _ = d.act(id, VmAction::Shutdown);
                asked = Instant::now();
            }
            _ => {}
        }
        false
    });
    off.expect("shut off")
}

/// The host describes itself sanely and offers the fixture's datastore and network.
pub fn host_info(d: &dyn HostDriver, fx: &Fixture) {
    let h = d.host_info().expect("host_info");
    assert!(h.memory_mib > 0, "memory {}", h.memory_mib);
    assert!(h.topology.logical_cpus() > 0, "no CPUs: {h:?}");
    assert!(
        h.datastores.iter().any(|s| s.name == fx.datastore),
        "datastore {} missing from {:?}",
        fx.datastore,
        h.datastores
    );
    if let Some(net) = &fx.network {
        assert!(
            h.networks.iter().any(|n| &n.name == net),
            "network {net} missing from {:?}",
            h.networks
        );
    }
    let s = d.host_stats().expect("host_stats");
    assert!(
        (0.0..=1.0).contains(&s.cpu_utilisation),
        "cpu_utilisation {}",
        s.cpu_utilisation
    );
}

/// Defining the same UUID and name again returns the VM unchanged; the same UUID under
/// another name, or the same name under another UUID, is `AlreadyExists`.
pub fn define_is_idempotent(d: &dyn HostDriver, fx: &Fixture) {
    let s = fx.spec("idem");
    let _cleanup = Cleanup::new(&[d], s.id);
    let first = d.define(&s).expect("define");
    assert_eq!(
        d.define(&s).expect("define again"),
        first,
        "same UUID and name"
    );
    let mut bigger = s.clone();
    bigger.vcpus += 1;
    assert_eq!(
        d.define(&bigger).expect("define changed spec"),
        first,
        "the existing VM comes back unchanged"
    );
    let mut other_uuid = fx.spec("idem");
    other_uuid.name = s.name.clone();
    assert!(
        matches!(
            d.define(&other_uuid),
            Err(DriverError::AlreadyExists { .. })
        ),
        "same name, other UUID"
    );
    let mut other_name = s.clone();
    other_name.name = format!("{}-renamed", s.name);
    assert!(
        matches!(
            d.define(&other_name),
            Err(DriverError::AlreadyExists { .. })
        ),
        "same UUID, other name"
    );
    let ours = d
        .list_vms()
        .expect("list")
        .into_iter()
        .filter(|v| v.name.starts_with(&s.name))
        .count();
    assert_eq!(ours, 1, "refused definitions left nothing behind");
    d.undefine(s.id).expect("undefine");
}

/// define → start → suspend → resume → graceful shutdown → start → stop → undefine; each
/// change is visible through `vm_info` and `list_vms` alike and takes a newer generation.
pub fn lifecycle(d: &dyn HostDriver, fx: &Fixture) {
    let s = fx.spec("life");
    let _cleanup = Cleanup::new(&[d], s.id);
    let vm = d.define(&s).expect("define");
    assert_eq!(vm.state, PowerState::Shutoff);
    assert_eq!(
        (vm.id, vm.name.as_str(), vm.vcpus, vm.memory_mib),
        (s.id, s.name.as_str(), s.vcpus, s.memory_mib)
    );
    assert_eq!(vm.metadata, s.metadata);
    assert_os_as_defined(&vm, &s);
    assert_disks_as_defined(&vm, &s);
    assert_eq!(vm.nics, s.nics);
    agrees(d, &vm);
    let mut g = vm.generation;

    for (action, expect) in [
        (VmAction::Start, PowerState::Running),
        (VmAction::Suspend, PowerState::Paused),
        (VmAction::Resume, PowerState::Running),
    ] {
        let info = d
            .act(s.id, action)
            .unwrap_or_else(|e| panic!("{action}: {e}"));
        assert_eq!(info.state, expect, "after {action}");
        g = newer(g, &info, action.as_str());
        agrees(d, &info);
    }
    let off = shut_down(d, s.id, fx);
    g = newer(g, &off, "shut down");
    agrees(d, &off);
    for (action, expect) in [
        (VmAction::Start, PowerState::Running),
        (VmAction::Stop, PowerState::Shutoff),
    ] {
        let info = d
            .act(s.id, action)
            .unwrap_or_else(|e| panic!("{action}: {e}"));
        assert_eq!(info.state, expect, "after {action}");
        g = newer(g, &info, action.as_str());
    }
    d.undefine(s.id).expect("undefine");
    assert_eq!(d.vm_info(s.id), Err(DriverError::NoSuchVm { id: s.id }));
    assert!(!d.list_vms().expect("list").iter().any(|v| v.id == s.id));
    assert_eq!(d.undefine(s.id), Err(DriverError::NoSuchVm { id: s.id }));
}

/// Actions the state does not allow are refused with the state they came from and the one
/// they asked for, and change nothing; a VM that holds resources cannot be undefined.
pub fn invalid_transitions(d: &dyn HostDriver, fx: &Fixture) {
    use PowerState::*;
    let s = fx.spec("invalid");
    let _cleanup = Cleanup::new(&[d], s.id);
    d.define(&s).expect("define");
    expect_transition(d.act(s.id, VmAction::Stop), Shutoff, Shutoff);
    expect_transition(d.act(s.id, VmAction::Shutdown), Shutoff, Shutoff);
    expect_transition(d.act(s.id, VmAction::Suspend), Shutoff, Paused);
    expect_transition(d.act(s.id, VmAction::Resume), Shutoff, Running);
    let running = d.act(s.id, VmAction::Start).expect("start");
    expect_transition(d.act(s.id, VmAction::Start), Running, Running);
    expect_transition(d.act(s.id, VmAction::Resume), Running, Running);
    assert_eq!(
        d.vm_info(s.id).expect("vm_info").generation,
        running.generation,
        "a refused action changes nothing"
    );
    assert_eq!(
        d.undefine(s.id),
        Err(DriverError::InvalidTransition(InvalidStateTransition {
            from: Running,
            to: Shutoff
        })),
        "a running VM cannot be undefined"
    );
    d.act(s.id, VmAction::Suspend).expect("suspend");
    expect_transition(d.act(s.id, VmAction::Shutdown), Paused, Shutoff);
    expect_transition(d.act(s.id, VmAction::Suspend), Paused, Paused);
    assert_eq!(
        d.undefine(s.id),
        Err(DriverError::InvalidTransition(InvalidStateTransition {
            from: Paused,
            to: Shutoff
        })),
        "a paused VM cannot be undefined"
    );
    d.act(s.id, VmAction::Stop).expect("stop from paused");
    d.undefine(s.id).expect("undefine");
    let ghost = Uuid::new_v4();
    assert_eq!(
        d.act(ghost, VmAction::Start),
        Err(DriverError::NoSuchVm { id: ghost })
    );
    assert_eq!(d.undefine(ghost), Err(DriverError::NoSuchVm { id: ghost }));
}

/// `set_metadata` round-trips ownership on a shut-off and on a running VM (where it also
/// survives a stop), bumps the generation, and unmanaged metadata clears it.
pub fn metadata(d: &dyn HostDriver, fx: &Fixture) {
    let s = fx.spec("meta");
    let _cleanup = Cleanup::new(&[d], s.id);
    let mut g = d.define(&s).expect("define").generation;
    let m = VmMetadata {
        managed: true,
        owner: Some("bob".into()),
        department: Some("finance & ops".into()),
        purpose: Some("ledger <2026>".into()),
        tags: vec!["prod".into(), "pci".into()],
        lease_expires_at: Some(1_900_000_000_000),
    };
    let info = d.set_metadata(s.id, &m).expect("set_metadata");
    assert_eq!(info.metadata, m);
    assert_os_as_defined(&info, &s);
    g = newer(g, &info, "set_metadata");
    agrees(d, &info);

    g = newer(g, &d.act(s.id, VmAction::Start).expect("start"), "start");
    let live = VmMetadata {
        managed: true,
        owner: Some("carol".into()),
        tags: vec![],
        ..VmMetadata::default()
    };
    let info = d.set_metadata(s.id, &live).expect("set_metadata running");
    assert_eq!(info.metadata, live);
    g = newer(g, &info, "set_metadata running");
    let stopped = d.act(s.id, VmAction::Stop).expect("stop");
    assert_eq!(
        stopped.metadata, live,
        "kept in the definition, not only live"
    );
    g = newer(g, &stopped, "stop");

    let info = d
        .set_metadata(s.id, &VmMetadata::default())
        .expect("set unmanaged");
    assert_eq!(
        info.metadata,
        VmMetadata::default(),
        "unmanaged: no ownership"
    );
    newer(g, &info, "set unmanaged");
    let ghost = Uuid::new_v4();
    assert_eq!(
        d.set_metadata(ghost, &m),
        Err(DriverError::NoSuchVm { id: ghost })
    );
    d.undefine(s.id).expect("undefine");
}

/// A running VM appears in `all_vm_stats` (with CPU time and a balloon where the driver has
/// counters); a shut-off one does not and holds no memory; an unknown one is `NoSuchVm`.
pub fn vm_stats(d: &dyn HostDriver, fx: &Fixture) {
    let s = fx.spec("stats");
    let _cleanup = Cleanup::new(&[d], s.id);
    d.define(&s).expect("define");
    d.act(s.id, VmAction::Start).expect("start");
    let mut seen = VmStats::default();
    wait_for("the running VM in all_vm_stats", fx.settle, || {
        let all = d.all_vm_stats().expect("all_vm_stats");
        match all.into_iter().find(|(id, _)| *id == s.id) {
            Some((_, st)) => {
                let ready = !fx.caps.vm_counters || st.cpu_time_ns > 0;
                seen = st;
                ready
            }
            None => false,
        }
    });
    if fx.caps.vm_counters {
        assert!(seen.cpu_time_ns > 0);
        let one = d.vm_stats(s.id).expect("vm_stats");
        assert!(
            one.cpu_time_ns >= seen.cpu_time_ns,
            "CPU time is cumulative"
        );
        assert!(
            one.vcpu_delay_ns.is_empty() || one.vcpu_delay_ns.len() == s.vcpus as usize,
            "one delay per vCPU: {:?}",
            one.vcpu_delay_ns
        );
        assert!(
            one.balloon_current_mib
                .is_some_and(|m| m > 0 && m <= s.memory_mib),
            "balloon {:?} of {} MiB",
            one.balloon_current_mib,
            s.memory_mib
        );
        assert!(
            one.balloon_maximum_mib.is_none_or(|m| m == s.memory_mib),
            "balloon maximum {:?} is the VM's {} MiB",
            one.balloon_maximum_mib,
            s.memory_mib
        );
    }
    assert!(
        d.host_stats().expect("host_stats").running_vms >= 1,
        "host_stats counts the running VM"
    );
    d.act(s.id, VmAction::Stop).expect("stop");
    assert!(
        !d.all_vm_stats()
            .expect("all_vm_stats")
            .iter()
            .any(|(id, _)| *id == s.id),
        "a shut-off VM has no live counters"
    );
    let off = d.vm_stats(s.id).expect("vm_stats of a shut-off VM");
    assert_eq!(
        (off.memory_rss_mib, off.balloon_current_mib),
        (0, None),
        "a shut-off VM holds no memory"
    );
    let ghost = Uuid::new_v4();
    assert_eq!(d.vm_stats(ghost), Err(DriverError::NoSuchVm { id: ghost }));
    d.undefine(s.id).expect("undefine");
}

/// Snapshots of a shut-off and of a running VM: creating is idempotent, the list is oldest
/// first with the state each was taken in, reverting returns to that state (a newer
/// generation), a missing one is `NoSuchSnapshot` to revert and fine to delete.
pub fn snapshots(d: &dyn HostDriver, fx: &Fixture) {
    let s = fx.spec("snap");
    let _cleanup = Cleanup::new(&[d], s.id);
    d.define(&s).expect("define");
    let cold = d
        .snapshot_create(s.id, "cold")
        .expect("snapshot shut-off VM");
    assert_eq!(
        (cold.name.as_str(), cold.state),
        ("cold", PowerState::Shutoff)
    );
    assert!(cold.created_at > 0);
    assert_eq!(
        d.snapshot_create(s.id, "cold").expect("again"),
        cold,
        "an existing name returns the existing snapshot"
    );
    d.act(s.id, VmAction::Start).expect("start");
    let hot = d.snapshot_create(s.id, "hot").expect("snapshot running VM");
    assert_eq!((hot.name.as_str(), hot.state), ("hot", PowerState::Running));
    let list = d.snapshot_list(s.id).expect("snapshot_list");
    assert_eq!(list, vec![cold.clone(), hot.clone()], "oldest first");
    assert!(cold.created_at <= hot.created_at);

    let mut g = d.vm_info(s.id).expect("vm_info").generation;
    let info = d.snapshot_revert(s.id, "cold").expect("revert to cold");
    assert_eq!(
        info.state,
        PowerState::Shutoff,
        "back to the snapshot's state"
    );
    g = newer(g, &info, "revert to cold");
    let info = d.snapshot_revert(s.id, "hot").expect("revert to hot");
    assert_eq!(
        info.state,
        PowerState::Running,
        "back to the snapshot's state"
    );
    newer(g, &info, "revert to hot");
    assert_eq!(d.vm_info(s.id).expect("vm_info"), info);
    assert_eq!(
        d.snapshot_revert(s.id, "missing"),
        Err(DriverError::NoSuchSnapshot {
            id: s.id,
            name: "missing".into()
        })
    );

    d.snapshot_delete(s.id, "cold").expect("delete cold");
    assert_eq!(d.snapshot_list(s.id).expect("list"), vec![hot]);
    d.snapshot_delete(s.id, "cold")
        .expect("deleting a missing snapshot succeeds");
    d.snapshot_delete(s.id, "hot").expect("delete hot");
    assert_eq!(d.snapshot_list(s.id).expect("list"), vec![]);
    let ghost = Uuid::new_v4();
    assert_eq!(
        d.snapshot_create(ghost, "x"),
        Err(DriverError::NoSuchVm { id: ghost })
    );
    assert_eq!(
        d.snapshot_list(ghost),
        Err(DriverError::NoSuchVm { id: ghost })
    );
    d.act(s.id, VmAction::Stop).expect("stop");
    d.undefine(s.id).expect("undefine");
}

/// A VM bigger than the host can be defined (it consumes nothing while shut off) but not
/// started.
pub fn no_resources(d: &dyn HostDriver, fx: &Fixture) {
    let host_memory = d.host_info().expect("host_info").memory_mib;
    let mut s = fx.spec("huge");
    s.memory_mib = host_memory + 1024;
    let _cleanup = Cleanup::new(&[d], s.id);
    let vm = d.define(&s).expect("define");
    match d.act(s.id, VmAction::Start) {
        Err(DriverError::NoResources { reason }) => assert!(reason.contains("MiB"), "{reason}"),
        other => panic!("expected NoResources, got {other:?}"),
    }
    assert_eq!(d.vm_info(s.id).expect("vm_info"), vm, "nothing changed");
    d.undefine(s.id).expect("undefine");
}

/// Live-migrates a running VM from `src` to `dst` and back. The fixture's datastore must
/// be shared by both hosts. After each move the VM is only on its new host, unchanged but
/// for a newer generation.
pub fn migrate(src: &dyn HostDriver, dst: &dyn HostDriver, fx: &Fixture) {
    let s = fx.spec("migrate");
    let _cleanup = Cleanup::new(&[src, dst], s.id);
    src.define(&s).expect("define");
    let mut last = src.act(s.id, VmAction::Start).expect("start");
    for (from, to) in [(src, dst), (dst, src)] {
        let moved = from.migrate(s.id, to.uri()).expect("migrate");
        assert_eq!(moved.state, PowerState::Running);
        newer(last.generation, &moved, "migrated");
        assert_eq!(
            (&moved.name, moved.vcpus, moved.memory_mib, &moved.metadata),
            (&s.name, s.vcpus, s.memory_mib, &s.metadata),
            "the same VM on {}",
            to.uri()
        );
        assert_disks_as_defined(&moved, &s);
        assert_os_as_defined(&moved, &s);
        assert_eq!(
            from.vm_info(s.id),
            Err(DriverError::NoSuchVm { id: s.id }),
            "gone from {}",
            from.uri()
        );
        assert!(!from.list_vms().expect("list").iter().any(|v| v.id == s.id));
        // The target's own view: the same VM; its generation is at least the one migrate
        // reported (a driver may take a fresh one when it first sees the VM).
        let there = to.vm_info(s.id).expect("on the target");
        assert_eq!(
            VmInfo {
                generation: moved.generation,
                ..there.clone()
            },
            moved
        );
        assert!(there.generation >= moved.generation);
        assert!(to.list_vms().expect("list").iter().any(|v| v.id == s.id));
        last = there;
    }
    let stopped = src.act(s.id, VmAction::Stop).expect("stop");
    newer(last.generation, &stopped, "stop after migrating back");
    src.undefine(s.id).expect("undefine");
}

/// The VM reports the guest OS of its spec's libosinfo id.
pub fn assert_os_as_defined(vm: &VmInfo, s: &VmSpec) {
    let want = s
        .os_id
        .as_deref()
        .and_then(vdc_types::GuestOs::from_libosinfo);
    assert!(want.is_some(), "the fixture names a guest OS");
    assert_eq!(vm.guest_os, want, "guest OS of {}", vm.name);
}

/// The VM's disks are the spec's; a driver that reports where a disk is names the volume it
/// made for it (`NAME-DEVICE.FORMAT`).
pub fn assert_disks_as_defined(vm: &VmInfo, s: &VmSpec) {
    let without_path: Vec<DiskInfo> = vm
        .disks
        .iter()
        .map(|d| DiskInfo {
            path: None,
            ..d.clone()
        })
        .collect();
    assert_eq!(without_path, s.disks);
    for d in &vm.disks {
        if let Some(p) = &d.path {
            let file = format!("{}-{}.{}", s.name, d.device, d.format);
            assert!(p.ends_with(&file), "disk {} at {p}, not {file}", d.device);
        }
    }
}
