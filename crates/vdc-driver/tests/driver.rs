//! Integration tests of vdc-driver, in one test binary:
//! - `shapes`: the parsers against the real fixture files under /work/shared/data, and the
//!   built-in shape table against what the parsers read from them;
//! - `conformance`: a driver-agnostic suite written against `&dyn HostDriver` (reusable for
//!   the libvirt driver), run here against the simulator;
//! - `sim`: simulator specifics (fault knobs, clock, generator, hooks);
//! - `props`: property tests of the simulator against the state machine.

use std::time::{Duration, Instant};

use uuid::Uuid;
use vdc_driver::shapes::HostShape;
use vdc_driver::sim::{SimClock, SimFleet, SimOp};
use vdc_driver::{
    DiskInfo, DriverError, HostDriver, InvalidStateTransition, NicInfo, VmInfo, VmMetadata, VmSpec,
};
use vdc_types::{HypervisorType, PowerState, VmAction};

/// A VM spec with one local disk and one NIC on `default`.
fn spec(name: &str, vcpus: u32, memory_mib: u64) -> VmSpec {
    VmSpec {
        id: Uuid::new_v4(),
        name: name.to_string(),
        vcpus,
        memory_mib,
        disks: vec![DiskInfo {
            device: "vda".into(),
            size_gib: 20,
            datastore: "local".into(),
            format: "qcow2".into(),
        }],
        nics: vec![NicInfo {
            mac: "52:54:00:aa:bb:cc".into(),
            network: "default".into(),
        }],
        metadata: VmMetadata {
            owner: Some("alice".into()),
            department: Some("engineering".into()),
            purpose: Some("web".into()),
            tags: vec!["dev".into()],
            lease_expires_at: None,
        },
    }
}

/// The RVTools Xeon Gold 5218 shape (256 GiB): roomy.
fn big_shape() -> HostShape {
    vdc_driver::shapes::builtin_shapes()
        .into_iter()
        .find(|s| s.sockets == 2 && s.cores_per_socket == 16)
        .expect("built-in Xeon shape")
}

fn small_shape(memory_mib: u64) -> HostShape {
    HostShape {
        label: "tiny".into(),
        hypervisor: HypervisorType::Kvm,
        hypervisor_version: String::new(),
        cpu_vendor: "Intel".into(),
        cpu_model: "tiny".into(),
        cpu_features: vec![],
        sockets: 1,
        cores_per_socket: 2,
        threads_per_core: 1,
        memory_mib,
        numa_cells: vec![],
    }
}

fn manual_fleet(hosts: usize) -> SimFleet {
    SimFleet::new(vec![big_shape(); hosts], SimClock::manual())
}

mod shapes {
    use super::*;
    use std::path::PathBuf;
    use vdc_driver::NumaCell;
    use vdc_driver::shapes::{
        ShapeError, TEST_QEMU_WITH_KVM_ASSUMED_MEMORY_MIB, builtin_shapes, from_capabilities_xml,
        from_capabilities_xml_assuming_memory, from_rvtools_vhost_csv,
    };

    /// The shared test data: `$VDC_TEST_DATA`, else `shared/data` beside the repository.
    /// Missing fixtures fail the test; they never skip it.
    fn data_dir() -> PathBuf {
        let dir = std::env::var_os("VDC_TEST_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
            });
        assert!(
            dir.join("libvirt-capabilities").is_dir() && dir.join("rvtools").is_dir(),
            "fixture directory {} (libvirt-capabilities/, rvtools/) is missing: these tests need \
             the shared test data and must not be skipped",
            dir.display()
        );
        dir
    }

    fn read(rel: &str) -> String {
        let path = data_dir().join(rel);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
    }

    fn caps(file: &str) -> HostShape {
        from_capabilities_xml(&read(&format!("libvirt-capabilities/{file}")))
            .unwrap_or_else(|e| panic!("{file}: {e}"))
    }

    fn rvtools() -> Vec<HostShape> {
        from_rvtools_vhost_csv(read("rvtools/example1.vHost.csv").as_bytes()).expect("vHost CSV")
    }

    #[test]
    fn builtin_table_matches_the_fixtures() {
        let table = builtin_shapes();
        let parsed = vec![
            caps("kvm-x86_64.xml"),
            from_capabilities_xml_assuming_memory(
                &read("libvirt-capabilities/test-qemu-with-kvm.xml"),
                TEST_QEMU_WITH_KVM_ASSUMED_MEMORY_MIB,
            )
            .expect("test-qemu-with-kvm.xml"),
            rvtools().remove(0),
            caps("kvm-aarch64.xml"),
        ];
        assert_eq!(table.len(), parsed.len());
        for (built, read) in table.iter().zip(&parsed) {
            assert_eq!(
                built, read,
                "built-in shape {:?} drifted from its fixture",
                built.label
            );
        }
    }

    #[test]
    fn kvm_x86_64() {
        let s = caps("kvm-x86_64.xml");
        assert_eq!(s.hypervisor, HypervisorType::Kvm);
        assert_eq!(s.label, "kvm x86_64 Skylake-Client-noTSX-IBRS");
        assert_eq!(s.cpu_vendor, "Intel");
        assert_eq!(s.cpu_model, "Skylake-Client-noTSX-IBRS");
        assert_eq!(
            (s.sockets, s.cores_per_socket, s.threads_per_core),
            (1, 4, 2)
        );
        assert_eq!(s.memory_mib, 32_731_708 / 1024);
        assert_eq!(
            s.numa_cells,
            vec![NumaCell {
                id: 0,
                cpus: 8,
                memory_mib: 31_964
            }]
        );
        assert_eq!(s.cpu_features.len(), 25);
        assert!(s.cpu_features.iter().any(|f| f == "vmx"));
        assert_eq!(s.hypervisor_version, "");
    }

    #[test]
    fn kvm_aarch64_counts_sockets_across_cells() {
        // <topology sockets='1' … cores='80'> is per cell here; the CPUs list two socket ids.
        let s = caps("kvm-aarch64.xml");
        assert_eq!(s.hypervisor, HypervisorType::Kvm);
        assert_eq!(s.cpu_vendor, "ARM");
        assert_eq!(s.cpu_model, "Neoverse-N1");
        assert_eq!(
            (s.sockets, s.cores_per_socket, s.threads_per_core),
            (2, 80, 1)
        );
        assert_eq!(s.numa_cells.len(), 2);
        assert_eq!(
            s.numa_cells[1],
            NumaCell {
                id: 1,
                cpus: 80,
                memory_mib: 262_082_520 / 1024
            }
        );
        assert_eq!(s.memory_mib, 263_763_320 / 1024 + 262_082_520 / 1024);
        assert_eq!(s.logical_cpus(), 160);
    }

    #[test]
    fn other_capabilities_files() {
        let s390 = caps("kvm-s390x.xml");
        assert_eq!(s390.hypervisor, HypervisorType::Kvm);
        assert_eq!(
            (s390.sockets, s390.cores_per_socket, s390.threads_per_core),
            (2, 2, 1)
        );
        assert_eq!(s390.memory_mib, 2_878_860 / 1024);
        assert_eq!(s390.cpu_model, "host");

        let lxc = caps("lxc.xml");
        assert_eq!(lxc.hypervisor, HypervisorType::Lxc);
        assert_eq!(lxc.label, "lxc x86_64");
        assert_eq!((lxc.cpu_vendor.as_str(), lxc.cpu_model.as_str()), ("", ""));
        // No <topology> attributes: from the sibling sets (0-1, 2,5, 3-4, 6-7).
        assert_eq!(
            (lxc.sockets, lxc.cores_per_socket, lxc.threads_per_core),
            (1, 4, 2)
        );
        assert_eq!(lxc.memory_mib, 16_414_548 / 1024);

        let riscv = caps("qemu-riscv64.xml");
        assert_eq!(riscv.hypervisor, HypervisorType::Qemu);
        assert_eq!(
            (
                riscv.sockets,
                riscv.cores_per_socket,
                riscv.threads_per_core
            ),
            (1, 4, 2)
        );
        assert_eq!(riscv.memory_mib, 16_298_176 / 1024);

        // Topology attributes say 7 × 5 × 3, its one cell lists 2 CPUs, and no memory.
        let xml = read("libvirt-capabilities/test-qemu-with-kvm.xml");
        let err = from_capabilities_xml(&xml).expect_err("no memory in test-qemu-with-kvm.xml");
        assert!(matches!(err, ShapeError::NoMemory), "{err}");
        assert!(err.to_string().contains("memory"), "{err}");
        let old = from_capabilities_xml_assuming_memory(&xml, 2048).expect("with assumed memory");
        assert_eq!(old.hypervisor, HypervisorType::Kvm);
        assert_eq!(
            (old.sockets, old.cores_per_socket, old.threads_per_core),
            (1, 2, 1)
        );
        assert_eq!(old.memory_mib, 2048);
        assert_eq!(
            old.numa_cells,
            vec![NumaCell {
                id: 0,
                cpus: 2,
                memory_mib: 2048
            }]
        );
        // Stated memory wins over the assumption.
        let kvm =
            from_capabilities_xml_assuming_memory(&read("libvirt-capabilities/kvm-x86_64.xml"), 1)
                .expect("kvm-x86_64.xml");
        assert_eq!(kvm.memory_mib, 31_964);

        let bhyve = from_capabilities_xml(&read("libvirt-capabilities/bhyve.xml"))
            .expect_err("bhyve is not a hypervisor vdc knows");
        match bhyve {
            ShapeError::UnsupportedHypervisor { found } => assert_eq!(found, vec!["bhyve"]),
            other => panic!("unexpected error {other}"),
        }
    }

    #[test]
    fn topology_matches_listed_cpus_in_every_capabilities_file() {
        let dir = data_dir().join("libvirt-capabilities");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).expect("read fixture dir") {
            let path = entry.expect("dir entry").path();
            if path.extension().and_then(|e| e.to_str()) != Some("xml") {
                continue;
            }
            let xml = std::fs::read_to_string(&path).expect("read fixture");
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            if name.contains("domcaps") {
                let err = from_capabilities_xml(&xml).expect_err("domcaps is not capabilities");
                assert!(matches!(err, ShapeError::WrongRoot { .. }), "{name}: {err}");
                assert!(err.to_string().contains("domainCapabilities"), "{err}");
                continue;
            }
            let Ok(s) = from_capabilities_xml_assuming_memory(&xml, 1024) else {
                assert_eq!(name, "bhyve.xml", "only bhyve.xml may fail");
                continue;
            };
            let listed: u32 = s.numa_cells.iter().map(|c| c.cpus).sum();
            assert!(listed > 0, "{name}: no CPUs listed");
            assert_eq!(s.logical_cpus(), listed, "{name}: {s:?}");
            assert_eq!(
                s.memory_mib,
                s.numa_cells.iter().map(|c| c.memory_mib).sum::<u64>()
            );
            checked += 1;
        }
        assert_eq!(
            checked,
            6,
            "expected 6 parseable capabilities files in {}",
            dir.display()
        );
    }

    #[test]
    fn rvtools_vhost() {
        let hosts = rvtools();
        assert_eq!(hosts.len(), 7);
        assert_eq!(hosts[0].label, "10.17.135.71");
        assert_eq!(hosts[6].label, "10.144.66.242");
        for h in &hosts {
            assert_eq!(h.hypervisor, HypervisorType::Esx);
            assert_eq!(h.cpu_vendor, "Intel");
            assert_eq!(h.cpu_model, "Intel(R) Xeon(R) Gold 5218 CPU @ 2.30GHz");
            assert_eq!(
                (h.sockets, h.cores_per_socket, h.threads_per_core),
                (2, 16, 2)
            );
            assert_eq!(h.memory_mib, 261_797);
            assert!(h.numa_cells.is_empty() && h.cpu_features.is_empty());
        }
    }

    #[test]
    fn rvtools_errors_name_what_and_where() {
        let csv = "Host,CPU Model,# CPU,Cores per CPU,HT Active\nh1,AMD EPYC 7763,2,64,True\n";
        let err = from_rvtools_vhost_csv(csv.as_bytes()).expect_err("missing column");
        assert!(
            matches!(err, ShapeError::MissingColumn { column: "# Memory" }),
            "{err}"
        );
        assert!(err.to_string().contains("# Memory"), "{err}");

        let csv = "Host,CPU Model,# CPU,Cores per CPU,HT Active,# Memory\n\
                   h1,AMD EPYC 7763,2,64,False,1048576\n\
                   h2,AMD EPYC 7763,two,64,True,1048576\n";
        let err = from_rvtools_vhost_csv(csv.as_bytes()).expect_err("bad cell");
        match &err {
            ShapeError::BadCell {
                line,
                column,
                value,
                ..
            } => {
                assert_eq!((*line, *column, value.as_str()), (3, "# CPU", "two"));
            }
            other => panic!("unexpected error {other}"),
        }

        let csv = "Host,CPU Model,# CPU,Cores per CPU,HT Active,# Memory\n\
                   h1,AMD EPYC 7763,2,64,False,1048576\n";
        let hosts = from_rvtools_vhost_csv(csv.as_bytes()).expect("valid");
        assert_eq!(hosts[0].cpu_vendor, "AMD");
        assert_eq!(hosts[0].threads_per_core, 1);
    }

    #[test]
    fn capabilities_errors() {
        let err = from_capabilities_xml("<capabilities><host>").expect_err("not XML");
        assert!(matches!(err, ShapeError::Xml(_)), "{err}");
        let err =
            from_capabilities_xml("<capabilities><guest/></capabilities>").expect_err("no host");
        assert!(
            matches!(err, ShapeError::MissingElement { path: "host" }),
            "{err}"
        );
        let xml = "<capabilities><host><cpu><arch>x86_64</arch></cpu><topology><cells num='1'>\
                   <cell id='0'><memory unit='GiB'>2</memory><cpus num='2'/></cell></cells>\
                   </topology></host><guest><os_type>hvm</os_type><arch name='x86_64'>\
                   <domain type='qemu'/></arch></guest></capabilities>";
        let s = from_capabilities_xml(xml).expect("minimal capabilities");
        assert_eq!(s.memory_mib, 2048);
        assert_eq!(
            (s.sockets, s.cores_per_socket, s.threads_per_core),
            (1, 2, 1)
        );
        assert_eq!(s.hypervisor, HypervisorType::Qemu);
    }
}

/// A driver-agnostic conformance suite: every function takes `&dyn HostDriver` so it can run
/// against any driver. Each expects a host with room for a few small VMs.
mod conformance {
    use super::*;

    fn err_transition(r: Result<VmInfo, DriverError>, from: PowerState, to: PowerState) {
        match r {
            Err(DriverError::InvalidTransition(e)) => {
                assert_eq!(e, InvalidStateTransition { from, to })
            }
            other => panic!("expected InvalidTransition {from} -> {to}, got {other:?}"),
        }
    }

    /// Asserts `next` is a newer generation than `prev` and returns it.
    fn newer(prev: u64, info: &VmInfo) -> u64 {
        assert!(
            info.generation > prev,
            "generation {} not above {prev}",
            info.generation
        );
        info.generation
    }

    /// define → start → suspend → resume → shutdown (→ ShuttingDown, settles to Shutoff after
    /// `let_shutdown_finish`) → start → stop → undefine.
    pub fn lifecycle(d: &dyn HostDriver, let_shutdown_finish: &dyn Fn()) {
        let s = spec("conf-lifecycle", 1, 1024);
        let vm = d.define(&s).expect("define");
        assert_eq!(vm.state, PowerState::Shutoff);
        assert_eq!(
            (vm.id, vm.name.as_str(), vm.vcpus, vm.memory_mib),
            (s.id, s.name.as_str(), 1, 1024)
        );
        assert_eq!(vm.metadata, s.metadata);
        assert_eq!(vm.disks, s.disks);
        assert_eq!(vm.nics, s.nics);
        let mut g = vm.generation;
        assert!(d.list_vms().expect("list").iter().any(|v| v.id == s.id));

        for (action, expect) in [
            (VmAction::Start, PowerState::Running),
            (VmAction::Suspend, PowerState::Paused),
            (VmAction::Resume, PowerState::Running),
            (VmAction::Shutdown, PowerState::ShuttingDown),
        ] {
            let info = d
                .act(s.id, action)
                .unwrap_or_else(|e| panic!("{action}: {e}"));
            assert_eq!(info.state, expect, "after {action}");
            g = newer(g, &info);
            assert_eq!(d.vm_info(s.id).expect("vm_info"), info);
        }
        let_shutdown_finish();
        let info = d.vm_info(s.id).expect("vm_info");
        assert_eq!(info.state, PowerState::Shutoff);
        g = newer(g, &info);
        for (action, expect) in [
            (VmAction::Start, PowerState::Running),
            (VmAction::Stop, PowerState::Shutoff),
        ] {
            let info = d
                .act(s.id, action)
                .unwrap_or_else(|e| panic!("{action}: {e}"));
            assert_eq!(info.state, expect, "after {action}");
            g = newer(g, &info);
        }
        d.undefine(s.id).expect("undefine");
        assert_eq!(d.vm_info(s.id), Err(DriverError::NoSuchVm { id: s.id }));
        assert!(!d.list_vms().expect("list").iter().any(|v| v.id == s.id));
    }

    pub fn invalid_transitions(d: &dyn HostDriver) {
        use PowerState::*;
        let s = spec("conf-invalid", 1, 1024);
        d.define(&s).expect("define");
        err_transition(d.act(s.id, VmAction::Stop), Shutoff, Shutoff);
        err_transition(d.act(s.id, VmAction::Shutdown), Shutoff, Shutoff);
        err_transition(d.act(s.id, VmAction::Suspend), Shutoff, Paused);
        err_transition(d.act(s.id, VmAction::Resume), Shutoff, Running);
        let g = d.act(s.id, VmAction::Start).expect("start").generation;
        err_transition(d.act(s.id, VmAction::Start), Running, Running);
        err_transition(d.act(s.id, VmAction::Resume), Running, Running);
        assert_eq!(
            d.vm_info(s.id).expect("vm_info").generation,
            g,
            "a refused action changes nothing"
        );
        // Undefining a running VM is refused as a move to Shutoff.
        assert_eq!(
            d.undefine(s.id),
            Err(DriverError::InvalidTransition(InvalidStateTransition {
                from: Running,
                to: Shutoff
            }))
        );
        d.act(s.id, VmAction::Suspend).expect("suspend");
        err_transition(d.act(s.id, VmAction::Shutdown), Paused, Shutoff);
        err_transition(d.act(s.id, VmAction::Suspend), Paused, Paused);
        d.act(s.id, VmAction::Stop).expect("stop from paused");
        d.undefine(s.id).expect("undefine");
        let ghost = Uuid::new_v4();
        assert_eq!(
            d.act(ghost, VmAction::Start),
            Err(DriverError::NoSuchVm { id: ghost })
        );
        assert_eq!(d.undefine(ghost), Err(DriverError::NoSuchVm { id: ghost }));
    }

    pub fn idempotent_define(d: &dyn HostDriver) {
        let s = spec("conf-idem", 1, 1024);
        let first = d.define(&s).expect("define");
        let again = d.define(&s).expect("define again");
        assert_eq!(first, again, "same UUID and name: unchanged");
        // Changed fields do not matter: the existing VM comes back unchanged.
        let mut bigger = s.clone();
        bigger.vcpus = 4;
        assert_eq!(d.define(&bigger).expect("define bigger"), first);

        let mut other_uuid = s.clone();
        other_uuid.id = Uuid::new_v4();
        assert!(matches!(
            d.define(&other_uuid),
            Err(DriverError::AlreadyExists { .. })
        ));
        let mut other_name = s.clone();
        other_name.name = "conf-idem-renamed".into();
        assert!(matches!(
            d.define(&other_name),
            Err(DriverError::AlreadyExists { .. })
        ));
        assert_eq!(
            d.list_vms()
                .expect("list")
                .iter()
                .filter(|v| v.name.starts_with("conf-idem"))
                .count(),
            1
        );
        d.undefine(s.id).expect("undefine");
    }

    /// A VM bigger than the host can be defined (it consumes nothing while shut off) but not
    /// started.
    pub fn no_resources(d: &dyn HostDriver) {
        let host_memory = d.host_info().expect("host_info").memory_mib;
        let s = spec("conf-huge", 2, host_memory + 1024);
        let vm = d.define(&s).expect("define");
        match d.act(s.id, VmAction::Start) {
            Err(DriverError::NoResources { reason }) => assert!(reason.contains("MiB"), "{reason}"),
            other => panic!("expected NoResources, got {other:?}"),
        }
        assert_eq!(d.vm_info(s.id).expect("vm_info"), vm, "nothing changed");
        d.undefine(s.id).expect("undefine");
    }

    /// Moves a running VM from `src` to `dst`.
    pub fn migrate(src: &dyn HostDriver, dst: &dyn HostDriver) {
        let s = spec("conf-migrate", 1, 1024);
        src.define(&s).expect("define");
        let before = src.act(s.id, VmAction::Start).expect("start");
        let moved = src.migrate(s.id, dst.uri()).expect("migrate");
        assert_eq!(moved.state, PowerState::Running);
        assert!(moved.generation > before.generation);
        assert_eq!((moved.id, moved.name.as_str()), (s.id, s.name.as_str()));
        assert_eq!(src.vm_info(s.id), Err(DriverError::NoSuchVm { id: s.id }));
        assert_eq!(dst.vm_info(s.id).expect("on target"), moved);
        let stopped = dst.act(s.id, VmAction::Stop).expect("stop on target");
        assert!(stopped.generation > moved.generation);
        dst.undefine(s.id).expect("undefine");
    }
}

mod sim {
    use super::*;

    #[test]
    fn conformance_suite_on_the_simulator() {
        let fleet = manual_fleet(2);
        let (a, b) = (fleet.host(0), fleet.host(1));
        let delay = fleet.shutdown_delay();
        conformance::lifecycle(&a, &|| fleet.advance(delay));
        conformance::invalid_transitions(&a);
        conformance::idempotent_define(&a);
        conformance::no_resources(&a);
        conformance::migrate(&a, &b);
        assert_eq!(fleet.vm_count(), 0);
    }

    #[test]
    fn shutdown_waits_for_the_delay_in_sim_time() {
        let fleet = manual_fleet(1);
        let h = fleet.host(0);
        fleet.set_shutdown_delay(Duration::from_secs(5));
        let s = spec("slow-guest", 1, 1024);
        h.define(&s).unwrap();
        h.act(s.id, VmAction::Start).unwrap();
        let g = h.act(s.id, VmAction::Shutdown).unwrap().generation;
        fleet.advance(Duration::from_millis(4_999));
        assert_eq!(h.vm_info(s.id).unwrap().state, PowerState::ShuttingDown);
        assert_eq!(h.vm_info(s.id).unwrap().generation, g);
        fleet.advance(Duration::from_millis(1));
        let info = h.vm_info(s.id).unwrap();
        assert_eq!(info.state, PowerState::Shutoff);
        assert!(info.generation > g);
        // A hard stop during a shutdown wins, and the stale settlement is ignored.
        h.act(s.id, VmAction::Start).unwrap();
        h.act(s.id, VmAction::Shutdown).unwrap();
        let stopped = h.act(s.id, VmAction::Stop).unwrap();
        let started = h.act(s.id, VmAction::Start).unwrap();
        fleet.advance(Duration::from_secs(10));
        assert!(stopped.generation < started.generation);
        assert_eq!(h.vm_info(s.id).unwrap(), started);
    }

    #[test]
    fn automatic_clock_settles_a_shutdown_after_the_delay() {
        let fleet = SimFleet::new(vec![big_shape()], SimClock::automatic());
        fleet.set_shutdown_delay(Duration::from_millis(50));
        let h = fleet.host(0);
        let s = spec("auto", 1, 1024);
        h.define(&s).unwrap();
        h.act(s.id, VmAction::Start).unwrap();
        let asked = Instant::now();
        assert_eq!(
            h.act(s.id, VmAction::Shutdown).unwrap().state,
            PowerState::ShuttingDown
        );
        let deadline = asked + Duration::from_secs(5);
        loop {
            let state = h.vm_info(s.id).unwrap().state;
            if state == PowerState::Shutoff {
                break;
            }
            assert_eq!(state, PowerState::ShuttingDown);
            assert!(
                Instant::now() < deadline,
                "shutdown did not settle within 5 s"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            asked.elapsed() >= Duration::from_millis(50),
            "settled before the delay"
        );
    }

    #[test]
    fn host_down_fails_every_call_until_it_is_back() {
        let fleet = manual_fleet(2);
        let h = fleet.host(0);
        let s = spec("survivor", 1, 1024);
        h.define(&s).unwrap();
        let running = h.act(s.id, VmAction::Start).unwrap();
        fleet.set_host_down(0, true);
        assert!(fleet.is_host_down(0));
        let down = DriverError::HostUnreachable {
            uri: "sim:///host-0001".into(),
            reason: "simulated host failure".into(),
        };
        let other = spec("new", 1, 1024);
        assert_eq!(h.host_info().unwrap_err(), down);
        assert_eq!(h.list_vms().unwrap_err(), down);
        assert_eq!(h.vm_info(s.id).unwrap_err(), down);
        assert_eq!(h.define(&other).unwrap_err(), down);
        for action in VmAction::ALL {
            assert_eq!(h.act(s.id, *action).unwrap_err(), down);
        }
        assert_eq!(h.undefine(s.id).unwrap_err(), down);
        assert_eq!(h.migrate(s.id, "sim:///host-0002").unwrap_err(), down);
        assert_eq!(h.host_stats().unwrap_err(), down);
        assert_eq!(h.vm_stats(s.id).unwrap_err(), down);
        // The other host is fine, but will not take a migration from a down host's peer
        // either way; migrating *to* the down host fails as an operation failure.
        let b = fleet.host(1);
        b.define(&other).unwrap();
        match b.migrate(other.id, "sim:///host-0001") {
            Err(DriverError::OperationFailed {
                op: "migrate",
                reason,
            }) => {
                assert!(reason.contains("unreachable"), "{reason}")
            }
            r => panic!("unexpected {r:?}"),
        }
        fleet.set_host_down(0, false);
        assert_eq!(
            h.vm_info(s.id).unwrap(),
            running,
            "the VM carried on unchanged"
        );
        assert_eq!(h.list_vms().unwrap().len(), 1);
    }

    #[test]
    fn fail_next_fails_exactly_count_times() {
        let fleet = manual_fleet(2);
        let (a, b) = (fleet.host(0), fleet.host(1));
        let s = spec("flaky", 1, 1024);
        let defined = a.define(&s).unwrap();
        fleet.fail_next(SimOp::Start, 2);
        let failed = DriverError::OperationFailed {
            op: "start",
            reason: "simulated failure".into(),
        };
        assert_eq!(a.act(s.id, VmAction::Start).unwrap_err(), failed);
        assert_eq!(a.act(s.id, VmAction::Start).unwrap_err(), failed);
        assert_eq!(
            a.vm_info(s.id).unwrap(),
            defined,
            "failed calls change nothing"
        );
        assert_eq!(
            a.act(s.id, VmAction::Start).unwrap().state,
            PowerState::Running
        );

        // Counts are fleet-wide and per operation.
        fleet.fail_next(SimOp::ListVms, 1);
        a.vm_info(s.id).unwrap();
        assert!(matches!(
            b.list_vms(),
            Err(DriverError::OperationFailed { op: "list_vms", .. })
        ));
        a.list_vms().unwrap();
        for op in SimOp::ALL {
            fleet.fail_next(*op, 1);
        }
        assert!(matches!(
            a.host_info(),
            Err(DriverError::OperationFailed {
                op: "host_info",
                ..
            })
        ));
        assert!(matches!(
            a.define(&spec("x", 1, 1)),
            Err(DriverError::OperationFailed { op: "define", .. })
        ));
        assert!(matches!(
            a.undefine(s.id),
            Err(DriverError::OperationFailed { op: "undefine", .. })
        ));
        assert!(matches!(
            a.migrate(s.id, b.uri()),
            Err(DriverError::OperationFailed { op: "migrate", .. })
        ));
        for action in VmAction::ALL {
            let op = SimOp::from_action(*action).as_str();
            assert!(
                matches!(a.act(s.id, *action), Err(DriverError::OperationFailed { op: o, .. }) if o == op)
            );
        }
        // A count of 0 cancels.
        fleet.fail_next(SimOp::Stop, 3);
        fleet.fail_next(SimOp::Stop, 0);
        assert_eq!(
            a.act(s.id, VmAction::Stop).unwrap().state,
            PowerState::Shutoff
        );
    }

    #[test]
    fn latency_slows_every_call() {
        let fleet = manual_fleet(1);
        let h = fleet.host(0);
        fleet.set_latency(Duration::from_millis(30));
        let t = Instant::now();
        h.list_vms().unwrap();
        assert!(t.elapsed() >= Duration::from_millis(30));
        fleet.set_latency(Duration::ZERO);
        let t = Instant::now();
        h.list_vms().unwrap();
        assert!(t.elapsed() < Duration::from_millis(30));
    }

    #[test]
    fn migrate_refusals() {
        let fleet = SimFleet::new(
            vec![big_shape(), small_shape(2048), big_shape()],
            SimClock::manual(),
        );
        let (a, small, c) = (fleet.host(0), fleet.host(1), fleet.host(2));
        let s = spec("mover", 2, 4096);
        a.define(&s).unwrap();
        a.act(s.id, VmAction::Start).unwrap();
        let op_failed = |r: Result<VmInfo, DriverError>| {
            assert!(
                matches!(r, Err(DriverError::OperationFailed { op: "migrate", .. })),
                "{r:?}"
            )
        };
        op_failed(a.migrate(s.id, "sim:///host-9999"));
        op_failed(a.migrate(s.id, "qemu:///system"));
        op_failed(a.migrate(s.id, a.uri()));
        assert!(matches!(
            a.migrate(s.id, small.uri()),
            Err(DriverError::NoResources { .. })
        ));
        // Name clash on the target.
        let mut twin = spec("mover", 1, 1024);
        twin.id = Uuid::new_v4();
        c.define(&twin).unwrap();
        assert!(matches!(
            a.migrate(s.id, c.uri()),
            Err(DriverError::AlreadyExists { .. })
        ));
        c.undefine(twin.id).unwrap();
        // A shut-off VM needs no memory on the target.
        a.act(s.id, VmAction::Stop).unwrap();
        assert_eq!(
            a.migrate(s.id, small.uri()).unwrap().state,
            PowerState::Shutoff
        );
        assert_eq!(fleet.find_vm(s.id).unwrap().0, 1);
        // A shutdown in progress settles on the new host.
        small.migrate(s.id, c.uri()).unwrap();
        c.act(s.id, VmAction::Start).unwrap();
        c.act(s.id, VmAction::Shutdown).unwrap();
        let moved = c.migrate(s.id, a.uri()).unwrap();
        assert_eq!(moved.state, PowerState::ShuttingDown);
        fleet.advance(fleet.shutdown_delay());
        let (host, info) = fleet.find_vm(s.id).unwrap();
        assert_eq!((host, info.state), (0, PowerState::Shutoff));
        assert!(info.generation > moved.generation);
    }

    #[test]
    fn uuids_are_unique_across_the_fleet() {
        let fleet = manual_fleet(2);
        let s = spec("one", 1, 1024);
        fleet.host(0).define(&s).unwrap();
        assert!(matches!(
            fleet.host(1).define(&s),
            Err(DriverError::AlreadyExists { .. })
        ));
        // Same name on another host is fine.
        let mut same_name = s.clone();
        same_name.id = Uuid::new_v4();
        fleet.host(1).define(&same_name).unwrap();
    }

    #[test]
    fn define_validates_the_spec() {
        let fleet = manual_fleet(1);
        let h = fleet.host(0);
        let mut s = spec("bad-pool", 1, 1024);
        s.disks[0].datastore = "nowhere".into();
        assert!(matches!(
            h.define(&s),
            Err(DriverError::OperationFailed { op: "define", .. })
        ));
        let mut s = spec("bad-net", 1, 1024);
        s.nics[0].network = "nowhere".into();
        assert!(matches!(
            h.define(&s),
            Err(DriverError::OperationFailed { op: "define", .. })
        ));
        let mut s = spec("huge-disk", 1, 1024);
        s.disks[0].size_gib = 1 << 40;
        assert!(matches!(h.define(&s), Err(DriverError::NoResources { .. })));
        let mut s = spec("shared-disk", 1, 1024);
        s.disks[0].datastore = "san-01".into();
        s.nics[0].network = "vlan-100".into();
        h.define(&s).unwrap();
        assert!(h.list_vms().unwrap().len() == 1);
    }

    #[test]
    fn host_info_and_stats() {
        let fleet = manual_fleet(2);
        let h = fleet.host(1);
        assert_eq!(h.uri(), "sim:///host-0002");
        assert_eq!(fleet.host_index_of("sim:///host-0002"), Some(1));
        let info = h.host_info().unwrap();
        assert_eq!(info.hostname, "sim-host-0002");
        assert_eq!(info.hypervisor, HypervisorType::Sim);
        assert_eq!(
            (info.sockets, info.cores_per_socket, info.threads_per_core),
            (2, 16, 2)
        );
        assert_eq!(info.memory_mib, 261_797);
        let names: Vec<_> = info
            .datastores
            .iter()
            .map(|d| (d.name.as_str(), d.kind.as_str()))
            .collect();
        assert_eq!(names, vec![("local", "dir"), ("san-01", "netfs")]);
        assert_eq!(info.networks[1].vlan, Some(100));

        let s = spec("busy", 4, 8192);
        h.define(&s).unwrap();
        let free_after = h.host_info().unwrap().datastores[0].free_gib;
        assert_eq!(free_after, info.datastores[0].free_gib - 20);
        assert_eq!(
            h.host_stats().unwrap().memory_used_mib,
            0,
            "shut off consumes nothing"
        );
        assert_eq!(h.vm_stats(s.id).unwrap().cpu_time_ns, 0);
        h.act(s.id, VmAction::Start).unwrap();
        let stats = h.host_stats().unwrap();
        assert_eq!((stats.memory_used_mib, stats.running_vms), (8192, 1));
        assert!(stats.cpu_utilisation > 0.0 && stats.cpu_utilisation <= 1.0);
        fleet.advance(Duration::from_secs(10));
        let t1 = h.vm_stats(s.id).unwrap();
        assert!(t1.cpu_time_ns > 0 && t1.memory_rss_mib > 0 && t1.memory_rss_mib <= 8192);
        // Paused: no CPU time.
        h.act(s.id, VmAction::Suspend).unwrap();
        fleet.advance(Duration::from_secs(10));
        assert_eq!(h.vm_stats(s.id).unwrap().cpu_time_ns, t1.cpu_time_ns);
        h.act(s.id, VmAction::Resume).unwrap();
        fleet.advance(Duration::from_secs(10));
        let t2 = h.vm_stats(s.id).unwrap().cpu_time_ns;
        assert_eq!(
            t2,
            2 * t1.cpu_time_ns,
            "deterministic: same load for the same sim time"
        );
        assert!(
            t1.cpu_time_ns <= 4 * 10_000_000_000,
            "at most 4 vCPUs × 10 s"
        );
    }

    #[test]
    fn hooks_for_tests_and_demos() {
        let fleet = manual_fleet(2);
        let s = spec("rogue", 2, 2048);
        let vm = fleet.inject_vm(1, s.clone(), PowerState::Running).unwrap();
        assert_eq!(vm.state, PowerState::Running);
        let (host, found) = fleet.find_vm(s.id).unwrap();
        assert_eq!((host, &found), (1, &vm));
        assert_eq!(fleet.host(1).list_vms().unwrap(), vec![vm.clone()]);
        let crashed = fleet.poke_state(s.id, PowerState::Crashed).unwrap();
        assert_eq!(crashed.state, PowerState::Crashed);
        assert!(crashed.generation > vm.generation);
        assert_eq!(fleet.host(1).host_stats().unwrap().memory_used_mib, 0);
        // Crashed → Start is allowed; undefine from Crashed too.
        fleet.host(1).undefine(s.id).unwrap();
        assert!(fleet.find_vm(s.id).is_none());
        let ghost = Uuid::new_v4();
        assert_eq!(
            fleet.poke_state(ghost, PowerState::Running),
            Err(DriverError::NoSuchVm { id: ghost })
        );
        // Generations keep growing across undefine and redefine.
        let again = fleet.host(0).define(&s).unwrap();
        assert!(again.generation > crashed.generation);
    }

    #[test]
    fn generate_10k_hosts_200k_vms() {
        const HOSTS: usize = 10_000;
        const VMS: usize = 200_000;
        let t = Instant::now();
        let fleet = SimFleet::generate(HOSTS, VMS, 42, SimClock::manual());
        let took = t.elapsed();
        eprintln!("generate({HOSTS}, {VMS}) took {took:?}");
        assert_eq!(fleet.len(), HOSTS);
        assert_eq!(fleet.vm_count(), VMS);
        let again = SimFleet::generate(HOSTS, VMS, 42, SimClock::manual());
        eprintln!("two generations took {:?}", t.elapsed());

        let t = Instant::now();
        let mut total = 0;
        let mut running = 0;
        // Names are vm-000001 … vm-200000 and MACs unique: one bit per name / per MAC.
        let mut names = vec![false; VMS + 1];
        let mut macs = vec![0u64; (1 << 24) / 64];
        for (a, b) in fleet.hosts().iter().zip(again.hosts()) {
            let vms = a.list_vms().unwrap();
            assert_eq!(
                vms,
                b.list_vms().unwrap(),
                "same seed, same VMs on {}",
                a.uri()
            );
            let info = a.host_info().unwrap();
            let all: u64 = vms.iter().map(|v| v.memory_mib).sum();
            assert!(
                all <= info.memory_mib,
                "{} overcommitted: {all} > {}",
                a.uri(),
                info.memory_mib
            );
            let disks: u64 = vms.iter().flat_map(|v| &v.disks).map(|d| d.size_gib).sum();
            assert!(
                disks <= info.datastores[0].capacity_gib,
                "{} local pool overcommitted",
                a.uri()
            );
            let running_mib: u64 = vms
                .iter()
                .filter(|v| v.state == PowerState::Running)
                .map(|v| v.memory_mib)
                .sum();
            assert_eq!(a.host_stats().unwrap().memory_used_mib, running_mib);
            for v in &vms {
                assert!(v.vcpus >= 1 && v.memory_mib >= 512);
                assert_eq!(v.id.get_version_num(), 4);
                let n: usize = v
                    .name
                    .strip_prefix("vm-")
                    .and_then(|n| n.parse().ok())
                    .expect("vm-NNNNNN");
                assert!(
                    !std::mem::replace(&mut names[n], true),
                    "duplicate name {}",
                    v.name
                );
                let mac = v.nics[0]
                    .mac
                    .strip_prefix("52:54:00:")
                    .expect("local MAC")
                    .replace(':', "");
                let mac = usize::from_str_radix(&mac, 16).expect("hex MAC");
                assert_eq!(
                    macs[mac / 64] & (1 << (mac % 64)),
                    0,
                    "duplicate MAC {}",
                    v.nics[0].mac
                );
                macs[mac / 64] |= 1 << (mac % 64);
                assert!(v.metadata.owner.is_some() && v.metadata.department.is_some());
                running += usize::from(v.state == PowerState::Running);
            }
            total += vms.len();
        }
        eprintln!("checking 10k hosts took {:?}", t.elapsed());
        assert_eq!(total, VMS);
        let share = running as f64 / VMS as f64;
        assert!((0.75..0.85).contains(&share), "running share {share}");
        assert!(
            fleet.host(0).list_vms().unwrap().len() > 1,
            "every shape gets VMs"
        );
        assert!(
            !fleet.host(1).list_vms().unwrap().is_empty(),
            "even the 4 GiB host"
        );
    }

    #[test]
    fn generate_depends_on_the_seed() {
        let a = SimFleet::generate(100, 1000, 1, SimClock::manual());
        let b = SimFleet::generate(100, 1000, 2, SimClock::manual());
        let ids = |f: &SimFleet| {
            f.hosts()
                .iter()
                .flat_map(|h| h.list_vms().unwrap())
                .map(|v| v.id)
                .collect::<Vec<_>>()
        };
        assert_ne!(ids(&a), ids(&b));
        assert_eq!(
            ids(&a),
            ids(&SimFleet::generate(100, 1000, 1, SimClock::manual()))
        );
        // A tiny fleet that cannot hold the VMs still creates them all, overflow shut off.
        let tight = SimFleet::generate(1, 200, 7, SimClock::manual());
        assert_eq!(tight.vm_count(), 200);
        let h = tight.host(0);
        let running: u64 = h
            .list_vms()
            .unwrap()
            .iter()
            .filter(|v| v.state == PowerState::Running)
            .map(|v| v.memory_mib)
            .sum();
        assert!(running <= h.host_info().unwrap().memory_mib);
    }
}

mod props {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::FileFailurePersistence;
    use vdc_driver::state::{settle, transition};

    #[derive(Debug, Clone)]
    enum Step {
        Act(VmAction),
        Advance(u64),
        /// Live-migrate to the other host.
        Migrate,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            6 => prop::sample::select(VmAction::ALL.to_vec()).prop_map(Step::Act),
            2 => (0u64..1500).prop_map(Step::Advance),
            1 => Just(Step::Migrate),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
                "tests/driver.proptest-regressions",
            ))),
            ..ProptestConfig::default()
        })]

        /// Random actions, time steps and migrations on one VM: its state is always what
        /// `transition` and `settle` predict, refused actions change nothing, and every
        /// change raises the generation.
        #[test]
        fn actions_follow_the_state_machine(steps in prop::collection::vec(step(), 1..40)) {
            let fleet = manual_fleet(2);
            let delay = fleet.shutdown_delay();
            let s = spec("prop", 2, 2048);
            let mut at = 0usize;
            let mut generation = fleet.host(at).define(&s).unwrap().generation;
            let mut state = PowerState::Shutoff;
            let mut now = Duration::ZERO;
            let mut settles_at: Option<Duration> = None;
            for step in steps {
                let h = fleet.host(at);
                match step {
                    Step::Act(action) => match (transition(state, action), h.act(s.id, action)) {
                        (Ok(next), Ok(info)) => {
                            prop_assert_eq!(info.state, next);
                            prop_assert!(info.generation > generation);
                            generation = info.generation;
                            state = next;
                            settles_at =
                                (next == PowerState::ShuttingDown).then_some(now + delay);
                        }
                        (Err(want), Err(DriverError::InvalidTransition(got))) => {
                            prop_assert_eq!(want, got)
                        }
                        (want, got) => prop_assert!(false, "model {:?}, driver {:?}", want, got),
                    },
                    Step::Advance(ms) => {
                        now += Duration::from_millis(ms);
                        fleet.advance(Duration::from_millis(ms));
                        if settles_at.is_some_and(|t| t <= now) {
                            state = settle(state);
                            settles_at = None;
                            let info = h.vm_info(s.id).unwrap();
                            prop_assert!(info.generation > generation);
                            generation = info.generation;
                        }
                    }
                    Step::Migrate => {
                        let to = 1 - at;
                        let info = h.migrate(s.id, fleet.host(to).uri()).unwrap();
                        prop_assert_eq!(info.state, state);
                        prop_assert!(info.generation > generation);
                        generation = info.generation;
                        at = to;
                    }
                }
                let info = fleet.host(at).vm_info(s.id).unwrap();
                prop_assert_eq!(info.state, state);
                prop_assert_eq!(info.generation, generation, "no change without a cause");
            }
        }
    }
}
