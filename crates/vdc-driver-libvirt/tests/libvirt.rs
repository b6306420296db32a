//! The libvirt driver against real libvirt, in three tiers:
//! - libvirt's in-process test driver (no daemon): `test:///default`, and the conformance
//!   suite on `test:///…/tests/fixtures/test-host.xml` (a host with a pool and a network);
//! - `qemu:///system` with real TCG guests booted from the lab's kernel, started by
//!   `scripts/libvirt-lab.sh` (which `scripts/test.sh` runs): the conformance suite, a
//!   vdc-defined guest end to end (console, stats, snapshots, live migration to the lab's
//!   second libvirtd and back), a libvirtd killed and restarted under a `LibvirtHost`, and
//!   lifecycle events of changes made behind vdc's back, across such a restart;
//! - the lab's second libvirtd ("host 2"), which these tests start themselves.
//!
//! A test that cannot reach libvirtd fails; it never skips. Tests named `qemu_*` share the
//! lab's daemons (one kills it), so they run one at a time: nextest's `libvirt-lab` test
//! group (.config/nextest.toml), and [`lab_lock`] under plain `cargo test`.
#![cfg(feature = "libvirt")]

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use uuid::Uuid;
use vdc_driver::conformance::{self, Capabilities, Fixture};
use vdc_driver::{DiskInfo, DriverError, HostDriver, VmEventSink, VmMetadata, VmSpec, lab};
use vdc_driver_libvirt::{LibvirtHost, Options};
use vdc_types::{PowerState, VmAction};

/// The shared dir pool of the qemu tests, defined with the same name and directory on both
/// lab daemons so a migrated VM finds its disk. Outside /var/lib/libvirt, which host 2
/// bind-mounts privately.
const LAB_POOL: &str = "vdc-lab-pool";
const LAB_POOL_DIR: &str = "/var/lib/vdc-lab/pool";
/// Console logs of the end-to-end guest: a directory both lab daemons see (host 2 has its
/// own, empty /var/log/libvirt), so the log follows the guest across migrations.
const CONSOLE_DIR: &str = "/var/lib/vdc-lab/console";

/// Serialises the `qemu_*` tests when the harness runs them as threads of one process.
fn lab_lock() -> MutexGuard<'static, ()> {
    static LAB: Mutex<()> = Mutex::new(());
    LAB.lock().unwrap_or_else(|e| e.into_inner())
}

fn qemu_opts() -> Options {
    Options {
        domain_type: "qemu".into(),
        ..Options::default()
    }
}

fn qemu_host() -> LibvirtHost {
    LibvirtHost::connect("qemu:///system", qemu_opts())
        .expect("libvirtd must be running for this test: scripts/test.sh starts it (scripts/libvirt-lab.sh)")
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The qemu tier's fixture: the lab kernel, one qcow2 disk in the lab pool, TCG.
fn qemu_fixture() -> Fixture {
    Fixture {
        boot: Some(lab::kernel()),
        memory_mib: 128,
        // A TCG boot takes ~7 s here; a shutdown needs the guest's acpid up.
        settle: Duration::from_secs(120),
        caps: Capabilities {
            vm_counters: true,
            snapshots: true,
            // libvirt has no admission control: QEMU allocates guest memory lazily.
            refuses_overcommit: false,
        },
        ..Fixture::new(LAB_POOL)
    }
}

/// Destroys and undefines a VM (on each host given) and deletes its volumes when a test
/// ends, passed or failed.
struct VmGuard {
    uris: Vec<String>,
    name: String,
}

impl Drop for VmGuard {
    fn drop(&mut self) {
        let volume = format!("{}-vda.qcow2", self.name);
        for uri in &self.uris {
            for cmd in [
                vec!["destroy", self.name.as_str()],
                vec!["undefine", self.name.as_str(), "--snapshots-metadata"],
                vec!["vol-delete", "--pool", LAB_POOL, volume.as_str()],
            ] {
                let _ = std::process::Command::new("virsh")
                    .arg("-c")
                    .arg(uri)
                    .args(&cmd)
                    .output();
            }
        }
        let _ = std::fs::remove_file(format!("{LAB_POOL_DIR}/{volume}"));
        for log in [
            format!("/var/log/libvirt/qemu/{}-console.log", self.name),
            format!("/var/log/libvirt/qemu/{}.log", self.name),
            format!("{CONSOLE_DIR}/{}-console.log", self.name),
        ] {
            let _ = std::fs::remove_file(log);
        }
    }
}

/// The VMs a watched `LibvirtHost` reports to its sink, with the time of each report.
struct Reports(Receiver<(Uuid, Instant)>);

/// How long an event may take to reach the sink.
const EVENT_LIMIT: Duration = Duration::from_secs(5);

impl Reports {
    /// A sink for [`HostDriver::watch`] and what it receives.
    fn new() -> (VmEventSink, Reports) {
        let (tx, rx) = mpsc::channel();
        let sink: VmEventSink = Arc::new(move |id| {
            let _ = tx.send((id, Instant::now()));
        });
        (sink, Reports(rx))
    }

    /// Forgets what was reported so far, once the reports of earlier changes have stopped
    /// (nothing new for 200 ms), so a late one is not taken for the next change's.
    fn settle(&self) {
        while self.0.recv_timeout(Duration::from_millis(200)).is_ok() {}
    }

    /// Waits for a report of `id`, at most [`EVENT_LIMIT`]; returns when the sink got it.
    fn expect(&self, id: Uuid, what: &str) -> Instant {
        let deadline = Instant::now() + EVENT_LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.0.recv_timeout(left) {
                Ok((got, at)) if got == id => return at,
                Ok(_) => {}
                Err(_) => panic!("{what}: no event for {id} within {EVENT_LIMIT:?}"),
            }
        }
    }

    /// Makes one change (`act`) and asserts that it reaches the sink; prints how long after
    /// the change began the sink was called, and how that compares with `act` returning
    /// (negative: the event came before the command had finished, e.g. virsh exiting).
    fn step(&self, id: Uuid, what: &str, act: impl FnOnce()) {
        self.settle();
        let began = Instant::now();
        act();
        let done = Instant::now();
        let at = self.expect(id, what);
        let after_done_ms = if at >= done {
            (at - done).as_secs_f64() * 1000.0
        } else {
            -((done - at).as_secs_f64() * 1000.0)
        };
        eprintln!(
            "TIMING event {what}: sink called {:.1} ms after the change began, {after_done_ms:+.1} ms after it returned (took {:.1} ms)",
            (at - began).as_secs_f64() * 1000.0,
            (done - began).as_secs_f64() * 1000.0,
        );
    }
}

#[test]
fn test_driver_lifecycle_without_a_daemon() {
    let h = LibvirtHost::connect("test:///default", Options::default())
        .expect("test:///default opens in-process");
    let info = h.host_info().unwrap();
    assert!(info.memory_mib > 0);
    assert!(info.topology.logical_cpus() > 0);
    let vms = h.list_vms().unwrap();
    let test = vms
        .iter()
        .find(|v| v.name == "test")
        .expect("the test driver's domain");
    assert_eq!(test.state, PowerState::Running);
    assert_eq!(
        test.metadata,
        VmMetadata::default(),
        "defined outside vdc: unmanaged"
    );
    let id = test.id;
    let g0 = test.generation;
    let paused = h.act(id, VmAction::Suspend).unwrap();
    assert_eq!(paused.state, PowerState::Paused);
    assert!(paused.generation > g0);
    assert!(matches!(
        h.act(id, VmAction::Suspend),
        Err(DriverError::InvalidTransition(_))
    ));
    assert_eq!(
        h.act(id, VmAction::Resume).unwrap().state,
        PowerState::Running
    );
    assert!(
        matches!(h.undefine(id), Err(DriverError::InvalidTransition(_))),
        "a running domain cannot be undefined"
    );
    assert_eq!(
        h.act(id, VmAction::Stop).unwrap().state,
        PowerState::Shutoff
    );
    assert_eq!(
        h.act(id, VmAction::Start).unwrap().state,
        PowerState::Running
    );
    assert!(matches!(
        h.vm_info(Uuid::new_v4()),
        Err(DriverError::NoSuchVm { .. })
    ));
    assert!(
        h.all_vm_stats().unwrap().iter().any(|(v, _)| *v == id),
        "the running domain has a stats record"
    );
}

/// The conformance suite on libvirt's test driver, with a host from a fixture file.
///
/// What the test driver (libvirt 11.3) lacks, so the suite leaves it out:
/// - counters: `virConnectGetAllDomainStats` returns only the `state` group (CPU time,
///   balloon, vCPU, block and interface groups are "not supported by this daemon" when
///   enforced), so `vm_counters` is off;
/// - admission: it starts a domain of any size (`refuses_overcommit` off);
/// - migration: no `virDomainMigrate*` at all, checked below.
///
/// Its node CPU counters are constants, so `host_stats` reports 0 utilisation.
#[test]
fn test_driver_conformance() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/test-host.xml");
    let uri = format!("test://{}", file.display());
    let h = LibvirtHost::connect(
        &uri,
        Options {
            domain_type: "test".into(),
            ..Options::default()
        },
    )
    .unwrap_or_else(|e| panic!("{uri}: {e}"));
    let fx = Fixture {
        datastore: "vdc-pool".into(),
        network: Some("vdc-net".into()),
        settle: Duration::from_secs(5),
        caps: Capabilities {
            vm_counters: false,
            snapshots: true,
            refuses_overcommit: false,
        },
        ..Fixture::new("vdc-pool")
    };
    conformance::run_all(&h, &fx);
    assert_eq!(h.host_stats().unwrap().cpu_utilisation, 0.0);

    let s = fx.spec("no-migration");
    h.define(&s).unwrap();
    h.act(s.id, VmAction::Start).unwrap();
    match h.migrate(s.id, "test:///default") {
        Err(DriverError::OperationFailed { op, reason }) => {
            assert_eq!(op, "migrate");
            assert!(reason.contains("not supported"), "{reason}");
        }
        other => panic!("the test driver cannot migrate, got {other:?}"),
    }
    assert_eq!(h.vm_info(s.id).unwrap().state, PowerState::Running);
}

/// libvirt's test driver emits lifecycle events too (queued in-process, dispatched by the
/// driver's event loop thread), and `test:///default` is one host shared by every
/// connection of the process: a VM driven through a second `LibvirtHost` reaches the sink
/// of the first at each change.
#[test]
fn test_driver_reports_lifecycle_events() {
    let opts = Options {
        domain_type: "test".into(),
        console_log_dir: None,
    };
    let watched = LibvirtHost::connect("test:///default", opts.clone()).unwrap();
    let (sink, reports) = Reports::new();
    assert!(watched.watch(sink).unwrap(), "the test driver has events");
    let other = LibvirtHost::connect("test:///default", opts).unwrap();
    let spec = VmSpec {
        disks: vec![],
        ..Fixture::new("unused").spec("events")
    };
    let id = spec.id;
    reports.step(id, "define", || {
        other.define(&spec).unwrap();
    });
    for action in [
        VmAction::Start,
        VmAction::Suspend,
        VmAction::Resume,
        VmAction::Stop,
    ] {
        reports.step(id, action.as_str(), || {
            other.act(id, action).unwrap();
        });
    }
    reports.step(id, "undefine", || other.undefine(id).unwrap());
    // The watched host's own calls are reported as well.
    reports.step(id, "define (through the watched host)", || {
        watched.define(&spec).unwrap();
    });
    reports.step(id, "undefine (through the watched host)", || {
        watched.undefine(id).unwrap()
    });
}

/// The conformance suite on real QEMU (TCG guests booted from the lab kernel, one qcow2
/// disk each), including live migration to the lab's second libvirtd and back.
#[test]
fn qemu_conformance() {
    let _lab = lab_lock();
    let h2_uri = lab::host2_uri();
    lab::ensure_pool("qemu:///system", LAB_POOL, LAB_POOL_DIR);
    lab::ensure_pool(&h2_uri, LAB_POOL, LAB_POOL_DIR);
    // No console log here (the end-to-end test has one): the option's other branch.
    let opts = Options {
        console_log_dir: None,
        ..qemu_opts()
    };
    let h = LibvirtHost::connect("qemu:///system", opts.clone()).expect("host 1");
    let h2 = LibvirtHost::connect(&h2_uri, opts).expect("host 2");
    let fx = Fixture {
        prefix: format!("vdc-conf-{}-", &Uuid::new_v4().simple().to_string()[..8]),
        ..qemu_fixture()
    };
    let _guards: Vec<VmGuard> = [
        "idem", "life", "invalid", "meta", "stats", "snap", "migrate",
    ]
    .iter()
    .map(|n| VmGuard {
        uris: vec!["qemu:///system".into(), h2_uri.clone()],
        name: format!("{}{n}", fx.prefix),
    })
    .collect();
    let t = Instant::now();
    conformance::run_all(&h, &fx);
    eprintln!(
        "TIMING qemu conformance (single host): {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    conformance::migrate(&h, &h2, &fx);
    eprintln!(
        "TIMING qemu conformance (migration there and back): {:.1} s",
        t.elapsed().as_secs_f64()
    );
}

/// A domain defined behind vdc's back (as `virsh define` would) is discovered with no vdc
/// metadata, then driven through its whole life on real QEMU (TCG).
#[test]
fn qemu_guest_discovered_and_driven_through_its_life() {
    let _lab = lab_lock();
    let h = qemu_host();
    let dir = lab::guest_dir();
    let name = format!("vdc-test-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let _guard = VmGuard {
        uris: vec!["qemu:///system".into()],
        name: name.clone(),
    };
    let serial = std::env::temp_dir().join(format!("{name}.serial.log"));
    let xml = std::fs::read_to_string(dir.join("domain-qemu.xml"))
        .unwrap()
        .replace(
            "<name>vdc-tiny-qemu</name>",
            &format!("<name>{name}</name>"),
        )
        .replace(
            &format!("{}/serial-vdc-tiny-qemu.log", dir.display()),
            &serial.display().to_string(),
        );
    let xml_file = std::env::temp_dir().join(format!("{name}.xml"));
    std::fs::write(&xml_file, xml).unwrap();
    lab::virsh(lab::HOST1, &["define", &xml_file.display().to_string()]);
    let id = Uuid::parse_str(lab::virsh(lab::HOST1, &["domuuid", &name]).trim()).unwrap();
    let _ = std::fs::remove_file(&xml_file);

    let seen = h
        .list_vms()
        .unwrap()
        .into_iter()
        .find(|v| v.id == id)
        .expect("discovered");
    assert_eq!(seen.name, name);
    assert_eq!(seen.state, PowerState::Shutoff);
    assert_eq!(
        seen.metadata,
        VmMetadata::default(),
        "created outside vdc: no owner"
    );
    assert_eq!(seen.vcpus, 1);
    assert_eq!(seen.memory_mib, 128);
    assert_eq!(seen.disks.len(), 1);
    assert_eq!(seen.disks[0].device, "vda");
    assert_eq!(seen.disks[0].format, "qcow2");
    assert_eq!(
        seen.disks[0].datastore,
        dir.join("disk.qcow2").display().to_string(),
        "a disk outside any pool is named by its path"
    );

    let started = Instant::now();
    let running = h.act(id, VmAction::Start).unwrap();
    assert_eq!(running.state, PowerState::Running);
    assert!(running.generation > seen.generation);
    wait_until("guest boot marker", Duration::from_secs(120), || {
        std::fs::read_to_string(&serial)
            .unwrap_or_default()
            .contains("VDC-GUEST-UP")
    });
    eprintln!(
        "TIMING start->guest up: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        h.act(id, VmAction::Suspend).unwrap().state,
        PowerState::Paused
    );
    assert_eq!(
        h.act(id, VmAction::Resume).unwrap().state,
        PowerState::Running
    );
    assert!(h.vm_stats(id).unwrap().cpu_time_ns > 0);
    let stats = h.host_stats().unwrap();
    assert!(stats.running_vms >= 1);
    assert!((0.0..=1.0).contains(&stats.cpu_utilisation));

    // Adopting it: vdc's metadata makes it managed.
    let adopted = VmMetadata {
        managed: true,
        owner: Some("ops".into()),
        ..VmMetadata::default()
    };
    assert_eq!(h.set_metadata(id, &adopted).unwrap().metadata, adopted);

    let t = Instant::now();
    h.act(id, VmAction::Shutdown).unwrap();
    wait_until("ACPI shutdown", Duration::from_secs(60), || {
        h.vm_info(id)
            .map(|v| v.state == PowerState::Shutoff)
            .unwrap_or(false)
    });
    eprintln!("TIMING ACPI shutdown: {:.2} s", t.elapsed().as_secs_f64());
    assert_eq!(h.vm_info(id).unwrap().metadata, adopted, "persistent");
    h.undefine(id).unwrap();
    assert!(matches!(h.vm_info(id), Err(DriverError::NoSuchVm { .. })));
    let _ = std::fs::remove_file(&serial);
}

/// A vdc-defined TCG guest end to end: kernel boot, a qcow2 volume in the lab pool, the
/// console logged by virtlogd; bulk stats; a snapshot of the running guest; live migration
/// to host 2 and back; ACPI shutdown; undefine.
#[test]
fn qemu_vdc_guest_end_to_end() {
    let _lab = lab_lock();
    let h2_uri = lab::host2_uri();
    lab::ensure_pool("qemu:///system", LAB_POOL, LAB_POOL_DIR);
    lab::ensure_pool(&h2_uri, LAB_POOL, LAB_POOL_DIR);
    std::fs::create_dir_all(CONSOLE_DIR).unwrap();
    let opts = Options {
        console_log_dir: Some(CONSOLE_DIR.into()),
        ..qemu_opts()
    };
    let h = LibvirtHost::connect("qemu:///system", opts.clone()).expect("host 1");
    let h2 = LibvirtHost::connect(&h2_uri, opts).expect("host 2");
    let fx = qemu_fixture();
    let spec = VmSpec {
        name: format!("vdc-e2e-{}", &Uuid::new_v4().simple().to_string()[..8]),
        metadata: VmMetadata {
            managed: true,
            owner: Some("alice".into()),
            department: Some("finance".into()),
            purpose: Some("ledger".into()),
            tags: vec!["prod".into()],
            lease_expires_at: None,
        },
        ..fx.spec("unused")
    };
    let id = spec.id;
    let _guard = VmGuard {
        uris: vec!["qemu:///system".into(), h2_uri.clone()],
        name: spec.name.clone(),
    };
    let console = PathBuf::from(format!("{CONSOLE_DIR}/{}-console.log", spec.name));

    let created = Instant::now();
    let v = h.define(&spec).unwrap();
    assert_eq!(v.metadata, spec.metadata);
    assert_eq!(
        v.disks,
        vec![DiskInfo {
            path: Some(format!("{LAB_POOL_DIR}/{}-vda.qcow2", spec.name)),
            device: "vda".into(),
            size_gib: 1,
            datastore: LAB_POOL.into(),
            format: "qcow2".into(),
        }]
    );
    assert_eq!(
        h.act(id, VmAction::Start).unwrap().state,
        PowerState::Running
    );
    wait_until(
        "VDC-GUEST-UP on the console log",
        Duration::from_secs(120),
        || {
            std::fs::read_to_string(&console)
                .unwrap_or_default()
                .contains("VDC-GUEST-UP")
        },
    );
    eprintln!(
        "TIMING create->VDC-GUEST-UP: {:.2} s",
        created.elapsed().as_secs_f64()
    );
    let marker = std::fs::read_to_string(&console).unwrap();
    assert!(
        marker.contains("disks=vda"),
        "the guest sees its disk: {marker}"
    );

    let stats = h
        .all_vm_stats()
        .unwrap()
        .into_iter()
        .find(|(v, _)| *v == id)
        .expect("the running guest in all_vm_stats")
        .1;
    assert!(stats.cpu_time_ns > 0, "{stats:?}");
    assert_eq!(stats.vcpu_delay_ns.len(), 1, "{stats:?}");
    assert!(
        stats.balloon_current_mib.is_some_and(|m| m > 0),
        "{stats:?}"
    );
    assert!(stats.memory_rss_mib > 0, "{stats:?}");
    assert!(
        stats.block_rd_bytes > 0,
        "the guest read its disk: {stats:?}"
    );

    let t = Instant::now();
    let snap = h.snapshot_create(id, "booted").unwrap();
    eprintln!(
        "TIMING snapshot create (running, with memory): {:.2} s",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(snap.state, PowerState::Running);
    assert_eq!(h.snapshot_list(id).unwrap(), vec![snap]);
    let t = Instant::now();
    let reverted = h.snapshot_revert(id, "booted").unwrap();
    eprintln!("TIMING snapshot revert: {:.2} s", t.elapsed().as_secs_f64());
    assert_eq!(reverted.state, PowerState::Running);
    let t = Instant::now();
    h.snapshot_delete(id, "booted").unwrap();
    eprintln!("TIMING snapshot delete: {:.2} s", t.elapsed().as_secs_f64());
    assert_eq!(h.snapshot_list(id).unwrap(), vec![]);

    let before = h.vm_info(id).unwrap();
    let t = Instant::now();
    let there = h.migrate(id, &h2_uri).unwrap();
    eprintln!(
        "TIMING live migration host1->host2: {:.2} s",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(there.state, PowerState::Running);
    assert!(there.generation > before.generation);
    assert_eq!(there.disks, v.disks, "the same pool on host 2");
    assert_eq!(there.metadata, spec.metadata);
    assert!(
        !h.list_vms().unwrap().iter().any(|v| v.id == id),
        "gone from host 1"
    );
    assert!(
        h2.list_vms()
            .unwrap()
            .iter()
            .any(|v| v.id == id && v.state == PowerState::Running)
    );
    assert!(
        h2.vm_stats(id).unwrap().cpu_time_ns > 0,
        "the guest runs on host 2"
    );

    let t = Instant::now();
    let back = h2.migrate(id, "qemu:///system").unwrap();
    eprintln!(
        "TIMING live migration host2->host1: {:.2} s",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(back.state, PowerState::Running);
    assert!(back.generation > there.generation);
    assert!(
        !h2.list_vms().unwrap().iter().any(|v| v.id == id),
        "gone from host 2"
    );
    assert_eq!(h.vm_info(id).unwrap().state, PowerState::Running);

    let t = Instant::now();
    let off = conformance::shut_down(&h, id, &fx);
    eprintln!("TIMING ACPI shutdown: {:.2} s", t.elapsed().as_secs_f64());
    assert!(off.generation > back.generation);
    h.undefine(id).unwrap();
    assert_eq!(h.vm_info(id), Err(DriverError::NoSuchVm { id }));
}

/// libvirtd is killed (SIGKILL) under a `LibvirtHost`: calls fail with `HostUnreachable`
/// while it is down; once it is back the same `LibvirtHost` reconnects by itself, and the
/// guest that ran through it all (QEMU does not depend on libvirtd) is still running.
#[test]
fn qemu_libvirtd_killed_and_restarted() {
    let _lab = lab_lock();
    let h = qemu_host();
    let fx = qemu_fixture();
    let spec = VmSpec {
        disks: vec![],
        ..fx.spec("restart")
    };
    let _guard = VmGuard {
        uris: vec!["qemu:///system".into()],
        name: spec.name.clone(),
    };
    h.define(&spec).unwrap();
    assert_eq!(
        h.act(spec.id, VmAction::Start).unwrap().state,
        PowerState::Running
    );
    let qemu_pid = std::fs::read_to_string(format!("/run/libvirt/qemu/{}.pid", spec.name))
        .expect("QEMU's pid file")
        .trim()
        .to_string();

    let restart = lab::kill_libvirtd();

    for attempt in ["on the dead connection", "reconnecting to no daemon"] {
        match h.list_vms() {
            Err(DriverError::HostUnreachable { uri, reason }) => {
                assert_eq!(uri, "qemu:///system");
                assert!(!reason.is_empty());
            }
            other => panic!("{attempt}: expected HostUnreachable, got {other:?}"),
        }
    }
    assert!(lab::pid_alive(&qemu_pid), "QEMU outlives libvirtd");

    let t = Instant::now();
    lab::start_libvirtd();
    drop(restart);
    let vms = h.list_vms().expect("the same LibvirtHost reconnects");
    eprintln!(
        "TIMING libvirtd restart -> first answer: {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let vm = vms
        .iter()
        .find(|v| v.id == spec.id)
        .expect("the guest is still known");
    assert_eq!(vm.state, PowerState::Running);
    assert!(lab::pid_alive(&qemu_pid), "the same QEMU process");
    assert!(h.vm_stats(spec.id).unwrap().cpu_time_ns > 0);

    assert_eq!(
        h.act(spec.id, VmAction::Stop).unwrap().state,
        PowerState::Shutoff
    );
    h.undefine(spec.id).unwrap();
}

/// How many sockets this process has open.
fn open_sockets() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

/// A watched `LibvirtHost` reports each lifecycle change of a domain made behind vdc's back
/// with virsh (start, suspend, resume, destroy, undefine) within [`EVENT_LIMIT`]; when
/// libvirtd is killed and restarted, the first call after it reconnects, reports every
/// domain once (events of the downtime are lost) and events flow again on the new
/// connection. Dropping the watched `LibvirtHost` closes its connection.
#[test]
fn qemu_events_follow_virsh_across_a_libvirtd_restart() {
    let _lab = lab_lock();
    lab::start_libvirtd();
    let sockets = open_sockets();
    let h = qemu_host();
    let (sink, reports) = Reports::new();
    assert!(h.watch(sink).unwrap(), "qemu:///system has events");
    let spec = VmSpec {
        disks: vec![],
        ..qemu_fixture().spec("events")
    };
    let _guard = VmGuard {
        uris: vec![lab::HOST1.into()],
        name: spec.name.clone(),
    };
    let (id, name) = (spec.id, spec.name.as_str());
    reports.step(id, "define (by vdc)", || {
        h.define(&spec).unwrap();
    });
    for action in ["start", "suspend", "resume", "destroy"] {
        reports.step(id, &format!("virsh {action}"), || {
            lab::virsh(lab::HOST1, &[action, name]);
        });
    }

    let restart = lab::kill_libvirtd();
    assert!(
        matches!(h.list_vms(), Err(DriverError::HostUnreachable { .. })),
        "no daemon"
    );
    lab::start_libvirtd();
    drop(restart);
    reports.settle();
    let t = Instant::now();
    let vms = h.list_vms().expect("the same LibvirtHost reconnects");
    assert!(
        vms.iter()
            .any(|v| v.id == id && v.state == PowerState::Shutoff)
    );
    let reported: Vec<Uuid> = reports.0.try_iter().map(|(v, _)| v).collect();
    assert!(
        reported.contains(&id),
        "the reconnect reports every domain, before the call returns: {reported:?}"
    );
    eprintln!(
        "TIMING reconnect with re-registration and {} VMs reported: {:.1} ms",
        reported.len(),
        t.elapsed().as_secs_f64() * 1000.0
    );

    for action in ["start", "destroy"] {
        reports.step(id, &format!("virsh {action} (after the restart)"), || {
            lab::virsh(lab::HOST1, &[action, name]);
        });
    }
    reports.step(id, "virsh undefine (after the restart)", || {
        lab::virsh(lab::HOST1, &["undefine", name]);
    });

    // A registered callback holds a reference on its connection: unless the driver
    // deregisters it first, dropping the driver would leave the connection open.
    // The last reference goes on libvirt's event thread, a moment later.
    drop(h);
    wait_until("the connection closed", Duration::from_secs(5), || {
        open_sockets() == sockets
    });
}

/// vdc defines a domain from its own spec: the disk volume is created in the named storage
/// pool, the ownership metadata is written into the domain and read back.
#[test]
fn qemu_vdc_defines_a_domain_with_a_pool_volume_and_metadata() {
    let _lab = lab_lock();
    let h = qemu_host();
    lab::ensure_pool("qemu:///system", LAB_POOL, LAB_POOL_DIR);
    let spec = VmSpec {
        id: Uuid::new_v4(),
        name: format!("vdc-made-{}", &Uuid::new_v4().simple().to_string()[..8]),
        vcpus: 1,
        memory_mib: 96,
        disks: vec![DiskInfo {
            path: None,
            device: "vda".into(),
            size_gib: 1,
            datastore: LAB_POOL.into(),
            format: "qcow2".into(),
        }],
        nics: vec![],
        metadata: VmMetadata {
            managed: true,
            owner: Some("alice".into()),
            department: Some("finance".into()),
            purpose: Some("ledger".into()),
            tags: vec!["prod".into()],
            lease_expires_at: None,
        },
        os_id: None,
        boot: None,
    };
    let _guard = VmGuard {
        uris: vec!["qemu:///system".into()],
        name: spec.name.clone(),
    };
    let v = h.define(&spec).unwrap();
    assert_eq!(v.id, spec.id);
    assert_eq!(v.state, PowerState::Shutoff);
    assert_eq!(v.metadata, spec.metadata);
    vdc_driver::conformance::assert_disks_as_defined(&v, &spec);
    assert_eq!(
        h.define(&spec).unwrap().id,
        spec.id,
        "defining the same VM again is harmless"
    );
    assert!(
        h.host_info()
            .unwrap()
            .datastores
            .iter()
            .any(|d| d.name == LAB_POOL)
    );
    assert_eq!(
        h.act(spec.id, VmAction::Start).unwrap().state,
        PowerState::Running
    );
    assert_eq!(
        h.act(spec.id, VmAction::Stop).unwrap().state,
        PowerState::Shutoff
    );
    h.undefine(spec.id).unwrap();
    lab::virsh(
        lab::HOST1,
        &[
            "vol-delete",
            "--pool",
            LAB_POOL,
            &format!("{}-vda.qcow2", spec.name),
        ],
    );
}
