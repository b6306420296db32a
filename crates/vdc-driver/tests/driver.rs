//! Integration tests of vdc-driver, in one test binary:
//! - `shapes`: the parsers against the real fixture files under testdata/, and the
//!   built-in shape table against what the parsers read from them;
//! - `sim`: the driver conformance suite ([`vdc_driver::conformance`], shared with the
//!   libvirt driver's tests) run against the simulator, then simulator specifics (fault
//!   knobs, clock, generator, hooks);
//! - `props`: property tests of the simulator against the state machine;
//! - `domxml`: the libvirt domain XML reader against the real corpus, plus property tests.

use std::time::{Duration, Instant};

use uuid::Uuid;
use vdc_driver::conformance::{self, Capabilities, Fixture};
use vdc_driver::shapes::HostShape;
use vdc_driver::sim::{SimClock, SimFleet, SimOp};
use vdc_driver::{DiskInfo, DriverError, HostDriver, NicInfo, VmInfo, VmMetadata, VmSpec};
use vdc_types::{CpuTopology, HypervisorType, PowerState, VmAction};

/// A VM spec with one local disk and one NIC on `default`.
fn spec(name: &str, vcpus: u32, memory_mib: u64) -> VmSpec {
    VmSpec {
        id: Uuid::new_v4(),
        name: name.to_string(),
        vcpus,
        memory_mib,
        disks: vec![DiskInfo {
            path: None,
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
            managed: true,
            owner: Some("alice".into()),
            department: Some("engineering".into()),
            purpose: Some("web".into()),
            tags: vec!["dev".into()],
            lease_expires_at: None,
        },
        os_id: None,
        boot: None,
    }
}

/// The RVTools Xeon Gold 5218 shape (256 GiB): roomy.
fn big_shape() -> HostShape {
    vdc_driver::shapes::builtin_shapes()
        .into_iter()
        .find(|s| s.topology.sockets == 2 && s.topology.cores_per_socket == 16)
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
        topology: CpuTopology::new(1, 2, 1),
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

    /// The test data: `$VDC_TEST_DATA`, else the repository's `testdata/`.
    /// Missing fixtures fail the test; they never skip it.
    pub(super) fn data_dir() -> PathBuf {
        let dir = std::env::var_os("VDC_TEST_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata"));
        assert!(
            dir.join("libvirt-capabilities").is_dir() && dir.join("rvtools").is_dir(),
            "fixture directory {} (libvirt-capabilities/, rvtools/) is missing: these tests need \
             the repository's test data and must not be skipped",
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
        assert_eq!(s.topology, CpuTopology::new(1, 4, 2));
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
        assert_eq!(s.topology, CpuTopology::new(2, 80, 1));
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
        assert_eq!(s.topology.logical_cpus(), 160);
    }

    #[test]
    fn other_capabilities_files() {
        let s390 = caps("kvm-s390x.xml");
        assert_eq!(s390.hypervisor, HypervisorType::Kvm);
        assert_eq!(s390.topology, CpuTopology::new(2, 2, 1));
        assert_eq!(s390.memory_mib, 2_878_860 / 1024);
        assert_eq!(s390.cpu_model, "host");

        let lxc = caps("lxc.xml");
        assert_eq!(lxc.hypervisor, HypervisorType::Lxc);
        assert_eq!(lxc.label, "lxc x86_64");
        assert_eq!((lxc.cpu_vendor.as_str(), lxc.cpu_model.as_str()), ("", ""));
        // No <topology> attributes: from the sibling sets (0-1, 2,5, 3-4, 6-7).
        assert_eq!(lxc.topology, CpuTopology::new(1, 4, 2));
        assert_eq!(lxc.memory_mib, 16_414_548 / 1024);

        let riscv = caps("qemu-riscv64.xml");
        assert_eq!(riscv.hypervisor, HypervisorType::Qemu);
        assert_eq!(riscv.topology, CpuTopology::new(1, 4, 2));
        assert_eq!(riscv.memory_mib, 16_298_176 / 1024);

        // Topology attributes say 7 × 5 × 3, its one cell lists 2 CPUs, and no memory.
        let xml = read("libvirt-capabilities/test-qemu-with-kvm.xml");
        let err = from_capabilities_xml(&xml).expect_err("no memory in test-qemu-with-kvm.xml");
        assert!(matches!(err, ShapeError::NoMemory), "{err}");
        assert!(err.to_string().contains("memory"), "{err}");
        let old = from_capabilities_xml_assuming_memory(&xml, 2048).expect("with assumed memory");
        assert_eq!(old.hypervisor, HypervisorType::Kvm);
        assert_eq!(old.topology, CpuTopology::new(1, 2, 1));
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
            assert_eq!(s.topology.logical_cpus(), listed, "{name}: {s:?}");
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
            assert_eq!(h.topology, CpuTopology::new(2, 16, 2));
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
        assert_eq!(hosts[0].topology.threads_per_core, 1);
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
        assert_eq!(s.topology, CpuTopology::new(1, 2, 1));
        assert_eq!(s.hypervisor, HypervisorType::Qemu);
    }
}

mod sim {
    use super::*;

    /// The whole contract, every capability: the simulator is the reference driver. The
    /// automatic clock lets shutdowns settle and CPU time grow in real time.
    #[test]
    fn conformance_suite_on_the_simulator() {
        let fleet = SimFleet::new(vec![big_shape(); 2], SimClock::automatic());
        fleet.set_shutdown_delay(Duration::from_millis(50));
        let (a, b) = (fleet.host(0), fleet.host(1));
        let fx = Fixture {
            network: Some("default".into()),
            vcpus: 2,
            memory_mib: 1024,
            settle: Duration::from_secs(5),
            ..Fixture::new("local")
        };
        assert_eq!(
            fx.caps,
            Capabilities::default(),
            "the simulator has them all"
        );
        conformance::run_all(&a, &fx);
        conformance::migrate(&a, &b, &fx);
        assert_eq!(fleet.vm_count(), 0, "the suite cleans up after itself");
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

        // A running VM does not live-migrate to a host with another CPU vendor.
        let arm = HostShape {
            cpu_vendor: "ARM".into(),
            ..big_shape()
        };
        let fleet = SimFleet::new(vec![big_shape(), arm], SimClock::manual());
        let (x86, arm) = (fleet.host(0), fleet.host(1));
        x86.define(&s).unwrap();
        x86.act(s.id, VmAction::Start).unwrap();
        let err = x86.migrate(s.id, arm.uri()).unwrap_err();
        assert!(
            err.to_string()
                .contains("across CPU vendors (Intel to ARM)"),
            "{err}"
        );
        assert_eq!(fleet.find_vm(s.id).unwrap().0, 0);
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
        assert_eq!(info.topology, CpuTopology::new(2, 16, 2));
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
    fn load_memory_pressure_power_and_clock() {
        let fleet = SimFleet::new(vec![small_shape(16_384); 2], SimClock::manual());
        let h = fleet.host(0);
        let (a, b) = (spec("a", 2, 4096), spec("b", 2, 4096));
        for s in [&a, &b] {
            h.define(s).unwrap();
            h.act(s.id, VmAction::Start).unwrap();
        }
        // A replayed trace sets the load: both VMs busy on all vCPUs want 4 CPUs of 2.
        fleet.set_vm_load(a.id, 1000).unwrap();
        fleet.set_vm_load(b.id, 1000).unwrap();
        assert_eq!(fleet.unserved_cpus(), 2.0);
        let c0 = h.vm_stats(a.id).unwrap().cpu_time_ns;
        let t0 = h.clock_ns();
        fleet.advance(Duration::from_secs(10));
        assert_eq!(h.clock_ns() - t0, 10_000_000_000, "sim time, not real time");
        assert_eq!(h.vm_stats(a.id).unwrap().cpu_time_ns - c0, 20_000_000_000);
        fleet.set_vm_load(a.id, 250).unwrap();
        fleet.set_vm_load(b.id, 250).unwrap();
        assert_eq!(fleet.unserved_cpus(), 0.0);
        fleet.advance(Duration::from_secs(10));
        assert_eq!(
            h.vm_stats(a.id).unwrap().cpu_time_ns - c0,
            25_000_000_000,
            "the CPU time used before the change is kept"
        );
        assert!(fleet.set_vm_load(Uuid::new_v4(), 1).is_err());

        // Memory pressure: the balloon holds back a share, the guests swap.
        let calm = h.vm_stats(a.id).unwrap();
        assert_eq!(calm.balloon_current_mib, Some(4096));
        assert_eq!((calm.swap_in_kib, calm.swap_out_kib), (Some(0), Some(0)));
        fleet.set_memory_pressure(0, 0.25, 1000);
        fleet.advance(Duration::from_secs(10));
        let squeezed = h.vm_stats(a.id).unwrap();
        assert_eq!(squeezed.balloon_current_mib, Some(3072));
        // 1000 KiB/s over two VMs, half in and half out, for 10 s.
        assert_eq!(
            (squeezed.swap_in_kib, squeezed.swap_out_kib),
            (Some(2500), Some(2500))
        );
        assert!(squeezed.memory_rss_mib <= 3072);
        assert_eq!(
            fleet.host(1).vm_stats(a.id).unwrap_err(),
            DriverError::NoSuchVm { id: a.id }
        );
        fleet.set_memory_pressure(0, 0.0, 0);
        assert_eq!(h.vm_stats(a.id).unwrap().balloon_current_mib, Some(4096));

        // Power: refused while VMs run; off makes the host unreachable; on brings it back.
        let err = h.set_power(false).unwrap_err();
        assert!(err.to_string().contains("runs 2 VMs"), "{err}");
        assert!(!fleet.is_host_down(0));
        let empty = fleet.host(1);
        empty.set_power(false).unwrap();
        assert!(fleet.is_host_down(1));
        assert!(matches!(
            empty.host_info(),
            Err(DriverError::HostUnreachable { .. })
        ));
        empty.set_power(true).unwrap();
        assert!(empty.host_info().is_ok());
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

/// `domxml`: the libvirt domain XML reader against the real corpus under
/// `libvirt-domains/` (expected values transcribed by reading the XML), the capabilities
/// files it must refuse, unit conversion, errors, and property tests that it never panics.
mod domxml {
    use std::path::{Path, PathBuf};

    use proptest::prelude::*;
    use proptest::test_runner::FileFailurePersistence;
    use vdc_driver::domxml::{
        DomainDisk, DomainNic, DomainXml, DomainXmlError, MAX_DEPTH, parse_domain_xml,
    };

    /// `libvirt-domains/` of the shared test data; missing data fails the test.
    fn corpus_dir() -> PathBuf {
        let dir = super::shapes::data_dir().join("libvirt-domains");
        assert!(
            dir.join("INDEX.tsv").is_file(),
            "{} (with INDEX.tsv) is missing: these tests need the shared test data",
            dir.display()
        );
        dir
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
    }

    /// Parses `virt-manager/<file>` of the corpus, which must succeed.
    fn doc(file: &str) -> DomainXml {
        let path = corpus_dir().join("virt-manager").join(file);
        parse_domain_xml(&read(&path)).unwrap_or_else(|e| panic!("{file}: {e}"))
    }

    fn disk(device: &str, target: &str, format: Option<&str>, source: Option<&str>) -> DomainDisk {
        DomainDisk {
            device: device.into(),
            target: Some(target.into()),
            format: format.map(Into::into),
            source: source.map(Into::into),
        }
    }

    fn nic(kind: &str, source: Option<&str>, mac: &str, model: Option<&str>) -> DomainNic {
        DomainNic {
            mac: Some(mac.into()),
            model: model.map(Into::into),
            source: source.map(Into::into),
            kind: kind.into(),
        }
    }

    /// A minimal domain with the given `<memory>` element (or none).
    fn with_memory(memory: &str) -> String {
        format!("<domain type='kvm'><name>m</name>{memory}<vcpu>1</vcpu></domain>")
    }

    fn memory_mib(value: &str, unit: Option<&str>) -> Result<u64, DomainXmlError> {
        let el = match unit {
            Some(u) => format!("<memory unit='{u}'>{value}</memory>"),
            None => format!("<memory>{value}</memory>"),
        };
        parse_domain_xml(&with_memory(&el)).map(|d| d.memory_mib)
    }

    #[test]
    fn every_corpus_document_is_handled() {
        let dir = corpus_dir();
        // INDEX.tsv lists every document, and only those.
        let index = read(&dir.join("INDEX.tsv"));
        let mut listed: Vec<String> = index
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.split('\t').next().unwrap().to_string())
            .collect();
        listed.sort();
        let mut present: Vec<String> = std::fs::read_dir(dir.join("virt-manager"))
            .unwrap()
            .map(|e| format!("virt-manager/{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
        present.sort();
        assert_eq!(listed, present, "INDEX.tsv and the files disagree");
        assert_eq!(present.len(), 135);

        let mut parsed = Vec::new();
        let mut failed = Vec::new();
        for rel in &present {
            match parse_domain_xml(&read(&dir.join(rel))) {
                Ok(d) => parsed.push((rel.clone(), d)),
                Err(e) => failed.push((rel.clone(), e)),
            }
        }
        // Two virt-manager XML round-trip fixtures (xmlparse/replace-child-*.xml) are
        // fragments without <name> or <memory>; libvirt refuses them too.
        let missing_name = DomainXmlError::MissingElement { element: "name" };
        assert_eq!(
            failed,
            vec![
                (
                    "virt-manager/replace-child-build.xml".to_string(),
                    missing_name.clone()
                ),
                (
                    "virt-manager/replace-child-parse.xml".to_string(),
                    missing_name
                ),
            ]
        );
        assert_eq!(failed[0].1.to_string(), "domain XML lacks <name>");
        assert_eq!(parsed.len(), 133);

        let count = |f: &dyn Fn(&DomainXml) -> bool| parsed.iter().filter(|(_, d)| f(d)).count();
        // README.md's counts (135 documents) minus the two `test` fragments.
        for (ty, n) in [
            ("kvm", 68),
            ("test", 44),
            ("qemu", 8),
            ("xen", 7),
            ("lxc", 2),
            ("bhyve", 2),
            ("hvf", 1),
            ("vz", 1),
        ] {
            assert_eq!(count(&|d| d.domain_type == ty), n, "domain type {ty}");
        }
        for (arch, n) in [
            (Some("i686"), 58),
            (Some("x86_64"), 52),
            (Some("loongarch64"), 5),
            (Some("aarch64"), 3),
            (Some("riscv64"), 3),
            (Some("armv7l"), 2),
            (Some("s390x"), 2),
            (None, 8),
        ] {
            assert_eq!(count(&|d| d.arch.as_deref() == arch), n, "arch {arch:?}");
        }
        for (file, d) in &parsed {
            assert!(!d.name.is_empty(), "{file}");
            assert!(d.vcpus >= 1, "{file}");
            assert!(d.memory_mib > 0, "{file}");
        }
        // 74 documents name their guest OS by libosinfo id (counted independently over the
        // XML); every real id gives an OS key, one virt-manager fixture's bogus "frib" none.
        let ids: Vec<(&String, &str)> = parsed
            .iter()
            .filter_map(|(f, d)| Some((f, d.os_id.as_deref()?)))
            .collect();
        assert_eq!(ids.len(), 74);
        let unread: Vec<&str> = ids
            .iter()
            .filter(|(_, id)| vdc_types::GuestOs::from_libosinfo(id).is_none())
            .map(|(_, id)| *id)
            .collect();
        assert_eq!(unread, ["frib"]);
        let key = |id: &str| vdc_types::GuestOs::from_libosinfo(id).map(|g| (g.os, g.version));
        assert_eq!(
            key("http://microsoft.com/win/2k3"),
            Some(("winsrv-2003".into(), None))
        );
        assert_eq!(
            key("http://redhat.com/rhel/5.4"),
            Some(("rhel".into(), Some("5.4".into())))
        );
        // Counted independently over the XML: <devices><disk> and <devices><interface>.
        let disks: usize = parsed.iter().map(|(_, d)| d.disks.len()).sum();
        let nics: usize = parsed.iter().map(|(_, d)| d.nics.len()).sum();
        assert_eq!((disks, nics), (223, 136));
        // Ten documents have no <vcpu> (libvirt's default of 1 applies), one no <memory>.
        let no_vcpu = [
            "change-devices-bootorder-fixed-out.xml",
            "change-devices-bootorder-in.xml",
            "change-devices-bootorder-out.xml",
            "testdriver.8.xml",
            "testdriver.9.xml",
            "testdriver.10.xml",
            "testdriver.11.xml",
            "testdriver.12.xml",
            "testdriver.13.xml",
            "testdriver.14.xml",
        ];
        for file in no_vcpu {
            assert_eq!(doc(file).vcpus, 1, "{file}");
        }
    }

    #[test]
    fn kvm_virt_install_centos7() {
        let d = doc("virt-install-kvm-centos7.2.xml");
        assert_eq!(
            d,
            DomainXml {
                name: "centos7.0".into(),
                domain_type: "kvm".into(),
                arch: Some("x86_64".into()),
                uuid: Some("00000000-1111-2222-3333-444444444444".into()),
                vcpus: 2,
                memory_mib: 64, // 65536 KiB
                disks: vec![disk(
                    "disk",
                    "vda",
                    Some("qcow2"),
                    Some("/pool-dir/testvol1.img")
                )],
                os_id: Some("http://centos.org/centos/7.0".into()),
                nics: vec![nic(
                    "bridge",
                    Some("testsuitebr0"),
                    "00:11:22:33:44:55",
                    Some("virtio")
                )],
            }
        );
    }

    #[test]
    fn kvm_many_devices() {
        let d = doc("virt-install-many-devices.xml");
        assert_eq!((d.name.as_str(), d.domain_type.as_str()), ("fedora", "kvm"));
        assert_eq!(d.arch.as_deref(), Some("x86_64"));
        assert_eq!((d.vcpus, d.memory_mib), (9, 64));
        assert_eq!((d.disks.len(), d.nics.len()), (31, 18));
        let by_target = |t: &str| {
            d.disks
                .iter()
                .find(|x| x.target.as_deref() == Some(t))
                .unwrap_or_else(|| panic!("no disk {t}"))
                .clone()
        };
        assert_eq!(
            by_target("vda"),
            disk("disk", "vda", Some("raw"), Some("/pool-dir/UPPER"))
        );
        assert_eq!(
            by_target("sdab"),
            disk("lun", "sdab", Some("raw"), Some("/pool-iscsi/diskvol1"))
        );
        assert_eq!(by_target("sdaa"), disk("cdrom", "sdaa", None, None));
        assert_eq!(
            by_target("vdf").source.as_deref(),
            Some("pool-rbd-ceph/some-rbd-vol")
        );
        assert_eq!(
            by_target("vdg").source.as_deref(),
            Some("rbd://ceph-mon-1.example.com:6789/rbd-sourcename/fedora")
        );
        assert_eq!(
            by_target("vdj").source.as_deref(),
            Some("nbd+unix:///?socket=/tmp/socket")
        );
        assert_eq!(
            by_target("vdl").source.as_deref(),
            Some("http://[1:2:3:4:1:2:3:4]:5522/my/path?query=foo")
        );
        assert_eq!(
            by_target("vdu"),
            disk(
                "disk",
                "vdu",
                None,
                Some("nvme pci 0001:02:00.0 namespace 2")
            )
        );
        assert_eq!(by_target("fda").source.as_deref(), Some("/var"));
        let vdpa = d.nics.iter().find(|n| n.kind == "vdpa").unwrap();
        assert_eq!(
            vdpa,
            &nic(
                "vdpa",
                Some("/dev/vhost-vdpa-0"),
                "12:34:56:78:9a:bc",
                Some("virtio")
            )
        );
        let hostdev: Vec<_> = d.nics.iter().filter(|n| n.kind == "hostdev").collect();
        assert_eq!(hostdev.len(), 3);
        assert_eq!(hostdev[0].source.as_deref(), Some("pci 0000:00:07.0"));
        let direct = d.nics.iter().find(|n| n.kind == "direct").unwrap();
        assert_eq!(direct.source.as_deref(), Some("eth5"));
    }

    #[test]
    fn qemu_convert_me_has_kib_unit_and_no_devices_of_interest() {
        let d = doc("convert-to-vnc-spice-manyopts-in.xml");
        assert_eq!(
            d,
            DomainXml {
                name: "convert-me".into(),
                domain_type: "qemu".into(),
                arch: Some("i686".into()),
                uuid: None,
                vcpus: 2,
                memory_mib: 8192, // 8388608 KiB
                disks: vec![],
                nics: vec![],
                os_id: None,
            }
        );
    }

    #[test]
    fn xen_hvm() {
        let d = doc("virt-install-xen-hvm.xml");
        assert_eq!((d.name.as_str(), d.domain_type.as_str()), ("vm1", "xen"));
        assert_eq!(d.arch.as_deref(), Some("x86_64"));
        assert_eq!((d.vcpus, d.memory_mib), (1, 64));
        assert_eq!(
            d.disks,
            vec![
                // <driver name="phy"/> names no format.
                disk("disk", "hda", None, Some("/pool-iscsi/diskvol1")),
                disk(
                    "cdrom",
                    "hdb",
                    Some("qcow2"),
                    Some("/pool-dir/testvol1.img")
                ),
            ]
        );
        assert_eq!(
            d.nics,
            vec![nic(
                "bridge",
                Some("testsuitebr0"),
                "00:11:22:33:44:55",
                Some("e1000")
            )]
        );

        let x = doc("change-nics-in.xml");
        assert_eq!((x.domain_type.as_str(), x.vcpus), ("xen", 5));
        assert_eq!(x.memory_mib, 400); // 409600 KiB
        assert_eq!(x.nics[0].kind, "user");
        assert_eq!(x.nics[0].source, None);
        assert_eq!(x.nics[0].mac.as_deref(), Some("22:11:11:11:11:11"));
        assert_eq!(
            x.nics[1],
            nic(
                "network",
                Some("default"),
                "22:22:33:44:55:66",
                Some("e1000")
            )
        );
        assert_eq!(x.nics[3].kind, "ethernet");
        assert_eq!(x.nics[3].source, None);
        assert_eq!(x.nics[4].source.as_deref(), Some("eth0.1"));
    }

    #[test]
    fn lxc_vz_bhyve_hvf() {
        let lxc = doc("virt-install-fs-default.xml");
        assert_eq!(
            (
                lxc.name.as_str(),
                lxc.domain_type.as_str(),
                lxc.arch.as_deref()
            ),
            ("foolxc", "lxc", Some("x86_64"))
        );
        assert_eq!((lxc.vcpus, lxc.memory_mib), (1, 128)); // 131072 KiB
        assert!(lxc.disks.is_empty(), "a <filesystem> is not a disk");
        assert_eq!(
            lxc.nics,
            vec![nic(
                "bridge",
                Some("testsuitebr0"),
                "00:11:22:33:44:55",
                None
            )]
        );

        let vz = doc("virt-install-vz-ct-template.xml");
        assert_eq!(
            (vz.name.as_str(), vz.domain_type.as_str()),
            ("container1", "vz")
        );
        assert_eq!((vz.vcpus, vz.memory_mib, vz.disks.len()), (1, 64, 0));
        assert_eq!(
            vz.nics,
            vec![nic("network", Some("Bridged"), "00:11:22:33:44:55", None)]
        );

        let bhyve = doc("virt-install-bhyve-uefi.2.xml");
        assert_eq!(
            (
                bhyve.name.as_str(),
                bhyve.domain_type.as_str(),
                bhyve.arch.as_deref()
            ),
            ("foobhyve", "bhyve", Some("x86_64"))
        );
        assert_eq!(
            (bhyve.vcpus, bhyve.memory_mib, bhyve.disks.len()),
            (1, 256, 0)
        );
        assert_eq!(bhyve.nics[0].model.as_deref(), Some("e1000"));

        let hvf = doc("virt-install-hvf-default-f27.xml");
        assert_eq!(
            (hvf.name.as_str(), hvf.domain_type.as_str()),
            ("foohvf", "hvf")
        );
        assert_eq!((hvf.vcpus, hvf.memory_mib), (2, 64));
        assert_eq!(
            hvf.disks,
            vec![disk(
                "disk",
                "vda",
                Some("qcow2"),
                Some("/var/lib/libvirt/images/foohvf.qcow2")
            )]
        );
    }

    #[test]
    fn test_driver_many_devices_takes_memory_from_numa_cells() {
        // testdriver.xml's test-many-devices has no <memory>: two NUMA cells of 219136 KiB.
        let d = doc("testdriver.3.xml");
        assert_eq!(d.name, "test-many-devices");
        assert_eq!(d.domain_type, "test");
        assert_eq!(d.arch.as_deref(), Some("i686"));
        assert_eq!(
            d.uuid.as_deref(),
            Some("12345678-12F4-1234-1234-A23456A89012")
        );
        assert_eq!(d.vcpus, 9);
        assert_eq!(d.memory_mib, 428);
        assert_eq!(
            d.disks,
            vec![
                disk("floppy", "fda", None, Some("/dev/fda")),
                disk("floppy", "fdb", None, Some("/tmp")),
                disk(
                    "floppy",
                    "fdc",
                    None,
                    Some("/pool-dir/test-clone-simple.img")
                ),
                disk("disk", "hda", None, Some("/tmp/virt-manager-uitests/tmp1")),
                disk("cdrom", "hdb", None, None),
                disk("disk", "hdc", Some("raw"), Some("/dev/null")),
                disk("cdrom", "sdb", None, Some("/pool-dir/sharevol.img")),
                disk(
                    "disk",
                    "sda",
                    Some("qcow2"),
                    Some(
                        "/tmp/foobar2/this_is_a_really_long_path_to_see_how_the_ui_handles_it/\
                         hopefully_it_doesnt_mess_things_up_too_bad/i_guess_we_will_see/\
                         in_fact_can_we_see_this_filename.img"
                    )
                ),
                disk("lun", "sdc", Some("raw"), Some("/dev/szz")),
                disk("cdrom", "sdf", None, Some("/pool-dir/testvol2.img")),
                disk("disk", "vdb", None, Some("pool-rbd-ceph/vol1")),
                disk("disk", "vdc", None, Some("idontexist/vol1")),
                disk(
                    "disk",
                    "vdaa",
                    Some("raw"),
                    Some("http://example.org/my-file.img")
                ),
                disk(
                    "disk",
                    "vdab",
                    Some("raw"),
                    Some("nbd+unix:///?socket=/var/run/nbdsock")
                ),
                disk(
                    "disk",
                    "vdac",
                    Some("raw"),
                    Some("rbd://mon1.example.org:6321/pool/image")
                ),
                disk(
                    "disk",
                    "vdad",
                    Some("raw"),
                    Some("gluster://192.168.1.100/test-volume/test-gluster2.raw")
                ),
                disk(
                    "disk",
                    "vdae",
                    Some("raw"),
                    Some("nbd+unix:///?socket=relative.sock")
                ),
                disk("disk", "sdd", None, Some("pool-dir/overlay.img")),
                disk(
                    "disk",
                    "xvdc",
                    Some("qcow"),
                    Some("/pool-dir/test-clone-simple.img")
                ),
            ]
        );
        let ethernet = DomainNic {
            mac: Some("00:11:7f:33:44:55".into()),
            model: None,
            source: None,
            kind: "ethernet".into(),
        };
        assert_eq!(
            d.nics,
            vec![
                nic(
                    "network",
                    Some("default"),
                    "22:22:33:54:32:10",
                    Some("e1000")
                ),
                nic(
                    "network",
                    Some("idontexistfool"),
                    "22:11:11:11:11:11",
                    Some("Am79C970A")
                ),
                nic("network", Some("dupmac"), "22:22:33:54:32:11", None),
                nic(
                    "network",
                    Some("plainbridge-portgroups"),
                    "22:22:00:54:32:11",
                    None
                ),
                nic(
                    "bridge",
                    Some("brempty"),
                    "22:22:33:44:AA:BB",
                    Some("virtio")
                ),
                nic("bridge", Some("br0"), "22:00:00:44:AA:BF", Some("e1000")),
                ethernet,
                nic("direct", Some("eth0.1"), "F0:11:22:33:44:5F", None),
                nic(
                    "vhostuser",
                    Some("/tmp/vhost1.sock"),
                    "00:11:22:33:44:66",
                    Some("virtio")
                ),
            ]
        );
    }

    #[test]
    fn test_driver_gib_unit_and_nested_snapshot_domains() {
        let d = doc("testdriver.4.xml");
        assert_eq!(d.name, "test-alternate-devs");
        assert_eq!((d.vcpus, d.memory_mib), (2, 128 * 1024)); // 128 GiB
        assert_eq!(d.arch.as_deref(), Some("i686"));
        assert_eq!(
            d.nics[0],
            nic("bridge", Some("blahbr0"), "22:11:11:11:72:72", None)
        );

        // test-snapshots holds <test:domainsnapshot> elements, each with a whole nested
        // <domain>: only the outer domain's own elements count.
        let s = doc("testdriver.14.xml");
        assert_eq!(s.name, "test-snapshots");
        assert_eq!((s.vcpus, s.memory_mib), (1, 400)); // no <vcpu>; 409600 KiB
        assert_eq!(s.arch, None);
        assert_eq!(
            s.disks,
            vec![disk(
                "disk",
                "hda",
                None,
                Some("/pool-dir/test-clone-simple.img")
            )]
        );
        assert!(s.nics.is_empty());

        // A test-driver domain with no <os> and no <vcpu> at all.
        let crashed = doc("testdriver.10.xml");
        assert_eq!(crashed.name, "test-state-crashed");
        assert_eq!((crashed.vcpus, crashed.memory_mib), (1, 1024));
        assert_eq!(crashed.arch, None);

        // <os><type> without arch=.
        assert_eq!(doc("change-guest-out.xml").arch, None);
    }

    #[test]
    fn capabilities_files_are_not_domains() {
        let dir = super::shapes::data_dir().join("libvirt-capabilities");
        let mut seen = 0;
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "xml"))
            .collect();
        files.sort();
        for path in files {
            let root = if path.to_string_lossy().contains("domcaps") {
                "domainCapabilities"
            } else {
                "capabilities"
            };
            let err = parse_domain_xml(&read(&path)).unwrap_err();
            assert_eq!(
                err,
                DomainXmlError::NotADomain { root: root.into() },
                "{}",
                path.display()
            );
            assert_eq!(
                err.to_string(),
                format!("not a domain document: root is <{root}>")
            );
            seen += 1;
        }
        assert_eq!(seen, 13);
    }

    #[test]
    fn unit_conversion_table() {
        const KIB: u64 = 1024;
        // (value, unit, MiB rounded to nearest, halves up)
        let table: &[(&str, Option<&str>, u64)] = &[
            ("1024", None, 1), // default unit KiB
            ("1024", Some(""), 1),
            ("1048576", Some("b"), 1),
            ("1048576", Some("bytes"), 1),
            ("1048576", Some("byte"), 1),
            ("1024", Some("k"), 1),
            ("1024", Some("KiB"), 1),
            ("1024", Some("kib"), 1), // libvirt compares case-insensitively
            ("1000", Some("KB"), 1),  // 1 000 000 B = 0.95 MiB
            ("1", Some("M"), 1),
            ("1", Some("MiB"), 1),
            ("1", Some("MB"), 1),
            ("1000", Some("MB"), 954), // 10^9 B = 953.67 MiB
            ("1000", Some("mb"), 954),
            ("1", Some("G"), KIB),
            ("1", Some("GiB"), KIB),
            ("1", Some("GB"), 954),
            ("1", Some("T"), KIB * KIB),
            ("1", Some("TiB"), KIB * KIB),
            ("1", Some("TB"), 953_674), // 10^12 B = 953 674.3 MiB
            ("1", Some("P"), KIB * KIB * KIB),
            ("1", Some("PiB"), KIB * KIB * KIB),
            ("1", Some("PB"), 953_674_316), // 10^15 B = 953 674 316.4 MiB
            ("1", Some("E"), KIB * KIB * KIB * KIB),
            ("15", Some("EiB"), 15 * KIB * KIB * KIB * KIB),
            ("1", Some("EB"), 953_674_316_406), // 10^18 B = 953 674 316 406.25 MiB
            // Rounding to the nearest MiB.
            ("1536", None, 2),
            ("1535", None, 1),
            ("512", None, 1),
            ("511", None, 0),
            ("1572863", Some("b"), 1),
            ("1572864", Some("b"), 2),
            // Surrounding whitespace is fine.
            (" 2048\n ", None, 2),
            // The largest byte count that fits in 64 bits.
            ("18446744073709551615", Some("b"), 1 << 44),
        ];
        for (value, unit, want) in table {
            assert_eq!(
                memory_mib(value, *unit),
                Ok(*want),
                "<memory unit={unit:?}>{value}"
            );
        }
    }

    #[test]
    fn bad_units_and_numbers_name_the_element() {
        for unit in ["XB", "kilobytes", "Ki", "MiBs", "%", "iB", "KiB "] {
            let err = memory_mib("1", Some(unit)).unwrap_err();
            assert_eq!(
                err,
                DomainXmlError::UnknownUnit {
                    element: "memory".into(),
                    unit: unit.into()
                }
            );
            let msg = err.to_string();
            assert!(
                msg.contains("<memory>") && msg.contains(&format!("{unit:?}")),
                "{msg}"
            );
        }
        for (value, unit) in [
            ("-1", None),
            ("1.5", None),
            ("0x10", None),
            ("1 024", None),
            ("lots", None),
            ("18446744073709551616", Some("b")), // 2^64
            ("16", Some("EiB")),                 // 2^64 bytes
        ] {
            let err = memory_mib(value, unit).unwrap_err();
            assert!(
                matches!(&err, DomainXmlError::BadValue { element, .. } if element == "memory"),
                "{value}: {err:?}"
            );
            assert!(err.to_string().contains("<memory>"), "{err}");
        }
        let err = memory_mib("0", None).unwrap_err();
        assert!(err.to_string().contains("<memory>"), "{err}");

        let vcpu = |v: &str| {
            parse_domain_xml(&format!(
                "<domain type='kvm'><name>v</name><memory>1024</memory><vcpu>{v}</vcpu></domain>"
            ))
        };
        assert_eq!(vcpu("4").unwrap().vcpus, 4);
        assert_eq!(
            vcpu("").unwrap().vcpus,
            1,
            "empty <vcpu> means 1, as in libvirt"
        );
        for bad in ["0", "-2", "two", "4294967296"] {
            let err = vcpu(bad).unwrap_err();
            assert!(
                matches!(&err, DomainXmlError::BadValue { element, .. } if element == "vcpu"),
                "{bad}: {err:?}"
            );
            assert!(err.to_string().contains("<vcpu>"), "{err}");
        }
    }

    #[test]
    fn numa_cells_and_memory_devices_size_a_domain_without_memory() {
        let numa = |cells: &str, devices: &str| {
            parse_domain_xml(&format!(
                "<domain type='kvm'><name>n</name><cpu><numa>{cells}</numa></cpu>\
                 <devices>{devices}</devices></domain>"
            ))
        };
        let d = numa(
            "<cell id='0' cpus='0' memory='1' unit='GiB'/><cell id='1' cpus='1' memory='524288'/>",
            "",
        )
        .unwrap();
        assert_eq!(d.memory_mib, 1536);
        let d = numa(
            "<cell cpus='0' memory='1024' unit='MiB'/>",
            "<memory model='dimm'><target><size unit='MiB'>512</size><node>0</node></target>\
             </memory>",
        )
        .unwrap();
        assert_eq!(d.memory_mib, 1536);
        let err = numa("<cell cpus='0' memory='1' unit='parsecs'/>", "").unwrap_err();
        assert_eq!(
            err,
            DomainXmlError::UnknownUnit {
                element: "cpu/numa/cell@memory".into(),
                unit: "parsecs".into()
            }
        );
        // <memory> wins over the cells when it is given.
        let d = parse_domain_xml(
            "<domain type='kvm'><name>n</name><memory unit='MiB'>2048</memory>\
             <cpu><numa><cell cpus='0' memory='1024' unit='MiB'/></numa></cpu></domain>",
        )
        .unwrap();
        assert_eq!(d.memory_mib, 2048);
    }

    #[test]
    fn structural_errors() {
        // Not well-formed: roxmltree's message with its line and column; a document that
        // stops early is placed at its end.
        let err = parse_domain_xml("<domain type='kvm'>\n  <name>x</name>\n").unwrap_err();
        assert!(
            matches!(
                err,
                DomainXmlError::Xml {
                    line: 3,
                    column: 1,
                    ..
                }
            ),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.starts_with("malformed XML: "), "{msg}");
        assert!(msg.ends_with(" at 3:1"), "{msg}");
        let err = parse_domain_xml("<domain type='kvm'>\n  <name>x</nam>\n</domain>").unwrap_err();
        assert!(
            matches!(err, DomainXmlError::Xml { line: 2, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains(" at 2:"), "{err}");
        for text in [
            "",
            "not xml at all",
            "<domain type='kvm'><name>x</name></domian>",
            "<domain type='kvm' type='xen'/>",
            "<!DOCTYPE domain [<!ENTITY a 'aaaa'>]><domain type='kvm'><name>&a;</name></domain>",
            "\u{0}",
        ] {
            let err = parse_domain_xml(text).unwrap_err();
            assert!(
                matches!(err, DomainXmlError::Xml { .. }),
                "{text:?}: {err:?}"
            );
        }
        let err = parse_domain_xml("<network><name>default</name></network>").unwrap_err();
        assert_eq!(err.to_string(), "not a domain document: root is <network>");

        let min = |body: &str| parse_domain_xml(&format!("<domain type='kvm'>{body}</domain>"));
        assert_eq!(
            min("<memory>1024</memory>").unwrap_err(),
            DomainXmlError::MissingElement { element: "name" }
        );
        assert_eq!(
            min("<name> \n </name><memory>1024</memory>").unwrap_err(),
            DomainXmlError::MissingElement { element: "name" }
        );
        let err = min("<name>a</name><vcpu>2</vcpu>").unwrap_err();
        assert_eq!(err, DomainXmlError::MissingElement { element: "memory" });
        assert_eq!(err.to_string(), "domain XML lacks <memory>");
        assert_eq!(
            parse_domain_xml("<domain><name>a</name><memory>1</memory></domain>").unwrap_err(),
            DomainXmlError::MissingAttribute {
                element: "domain",
                attribute: "type"
            }
        );
        assert_eq!(
            min("<name>a</name><memory>1024</memory><devices><interface/></devices>").unwrap_err(),
            DomainXmlError::MissingAttribute {
                element: "devices/interface",
                attribute: "type"
            }
        );
        // Elements in another namespace are not the domain's.
        let d = min(
            "<x:name xmlns:x='urn:x'>wrong</x:name><name>right</name><memory>2048</memory>\
             <x:vcpu xmlns:x='urn:x'>0</x:vcpu>",
        )
        .unwrap();
        assert_eq!((d.name.as_str(), d.vcpus, d.memory_mib), ("right", 1, 2));
        // Nesting: within libxml2's limit text is found at any depth (string()); beyond it
        // the document is refused before it can overflow the stack, even when the opening
        // tags hide among comments, CDATA and quoted '>'.
        let nested = |levels: usize| {
            format!(
                "<name>deep</name><memory>{}1048576{}</memory>",
                "<a>".repeat(levels),
                "</a>".repeat(levels)
            )
        };
        assert_eq!(MAX_DEPTH, 256);
        assert_eq!(min(&nested(MAX_DEPTH - 2)).unwrap().memory_mib, 1024);
        let too_deep = DomainXmlError::TooDeep { limit: MAX_DEPTH };
        assert_eq!(min(&nested(MAX_DEPTH - 1)).unwrap_err(), too_deep);
        assert_eq!(min(&nested(1_000_000)).unwrap_err(), too_deep);
        let tricky = "<!-- <x> --><![CDATA[<y>]]><?pi <z>?><a k='>' l=\"/>\"><b/>".repeat(100_000);
        assert_eq!(min(&tricky).unwrap_err(), too_deep);
        assert_eq!(
            too_deep.to_string(),
            "malformed XML: elements nested deeper than 256 levels"
        );
        // Comments inside numbers are skipped, as XPath string() does.
        assert_eq!(
            min("<name>c</name><memory><!-- 1 GiB -->1048576</memory>")
                .unwrap()
                .memory_mib,
            1024
        );
    }

    /// A document exercising every branch the parser has, for the mutation test.
    const RICH: &str = r#"<domain type='kvm' xmlns:q='urn:q'>
  <name>rich</name><uuid>u</uuid>
  <memory unit='MiB'>2048</memory><vcpu current='1'>4</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <cpu><numa><cell cpus='0' memory='1' unit='GiB'/></numa></cpu>
  <devices>
    <disk type='file' device='disk'><driver type='qcow2'/><source file='/a.qcow2'/><target dev='vda'/></disk>
    <disk type='network'><source protocol='rbd' name='p/i'><host name='::1' port='6789'/></source></disk>
    <disk type='network'><source protocol='nbd'><host transport='unix' socket='/s'/></source></disk>
    <disk type='nvme'><source namespace='1'><address domain='0x0' bus='1' slot='0' function='0'/></source></disk>
    <disk type='volume'><source pool='p' volume='v'/></disk>
    <memory model='dimm'><target><size unit='KiB'>1024</size></target></memory>
    <interface type='network'><source network='default'/><mac address='52:54:00:00:00:01'/><model type='virtio'/></interface>
    <interface type='hostdev'><source><address domain='0' bus='0' slot='7' function='0'/></source></interface>
    <interface type='udp'><source address='127.0.0.1' port='1234'/></interface>
    <q:x/>
  </devices>
</domain>"#;

    /// One edit of a document: at a character position, delete some characters and insert a
    /// fragment.
    fn edit() -> impl Strategy<Value = (usize, usize, String)> {
        let fragment = prop_oneof![
            Just(String::new()),
            Just("<".to_string()),
            Just(">".to_string()),
            Just("</".to_string()),
            Just("'".to_string()),
            Just("&amp;".to_string()),
            Just("<memory/>".to_string()),
            Just("<vcpu>0</vcpu>".to_string()),
            Just(" unit='EiB'".to_string()),
            Just("99999999999999999999".to_string()),
            Just("<source/>".to_string()),
            Just("<address bus='zz'/>".to_string()),
            Just("é\u{0}\u{FEFF}".to_string()),
            "\\PC{0,8}",
        ];
        (any::<prop::sample::Index>(), 0usize..12, fragment)
            .prop_map(|(at, del, ins)| (at.index(usize::MAX), del, ins))
    }

    fn apply(doc: &str, edits: &[(usize, usize, String)]) -> String {
        let mut chars: Vec<char> = doc.chars().collect();
        for (at, del, ins) in edits {
            let at = at % (chars.len() + 1);
            let end = (at + del).min(chars.len());
            chars.splice(at..end, ins.chars());
        }
        chars.into_iter().collect()
    }

    /// Whatever came out of the parser is internally consistent.
    fn check(result: Result<DomainXml, DomainXmlError>) -> Result<(), TestCaseError> {
        match result {
            Ok(d) => {
                prop_assert!(!d.name.is_empty());
                prop_assert!(!d.domain_type.is_empty());
                prop_assert!(d.vcpus >= 1);
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 512,
            failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
                "tests/driver.proptest-regressions",
            ))),
            ..ProptestConfig::default()
        })]

        /// Arbitrary text never panics the parser.
        #[test]
        fn random_text_never_panics(text in "\\PC*|<domain[ -~]{0,200}") {
            check(parse_domain_xml(&text))?;
        }

        /// Random edits of a rich document, and of real corpus documents, never panic it.
        #[test]
        fn mutated_documents_never_panic(
            which in any::<prop::sample::Index>(),
            edits in prop::collection::vec(edit(), 1..6),
        ) {
            check(parse_domain_xml(&apply(RICH, &edits)))?;
            let dir = corpus_dir().join("virt-manager");
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            let file: &PathBuf = which.get(&files);
            let original = read(file);
            check(parse_domain_xml(&apply(&original, &edits)))?;
        }

        /// Any value in any of the units libvirt knows converts exactly, rounded to the
        /// nearest MiB, or is refused as too large; any other unit is refused by name.
        #[test]
        fn memory_conversion_matches_an_oracle(
            value in prop_oneof![0u64..1 << 24, any::<u64>()],
            unit in prop_oneof![
                prop::sample::select(vec![
                    "b", "bytes", "KB", "k", "KiB", "MB", "M", "MiB", "GB", "G", "GiB", "TB",
                    "T", "TiB", "PB", "P", "PiB", "EB", "E", "EiB",
                ]).prop_map(str::to_string),
                "[a-zA-Z]{1,4}",
            ],
        ) {
            let scale: Option<u128> = match unit.to_ascii_lowercase().as_str() {
                "b" | "byte" | "bytes" => Some(1),
                "k" | "kib" => Some(1 << 10),
                "kb" => Some(1_000),
                "m" | "mib" => Some(1 << 20),
                "mb" => Some(1_000_000),
                "g" | "gib" => Some(1 << 30),
                "gb" => Some(1_000_000_000),
                "t" | "tib" => Some(1 << 40),
                "tb" => Some(1_000_000_000_000),
                "p" | "pib" => Some(1 << 50),
                "pb" => Some(1_000_000_000_000_000),
                "e" | "eib" => Some(1 << 60),
                "eb" => Some(1_000_000_000_000_000_000),
                _ => None,
            };
            let got = memory_mib(&value.to_string(), Some(&unit));
            match scale {
                None => prop_assert_eq!(
                    got,
                    Err(DomainXmlError::UnknownUnit { element: "memory".into(), unit })
                ),
                Some(scale) => {
                    let bytes = u128::from(value) * scale;
                    if value == 0 {
                        prop_assert!(got.is_err(), "zero memory is refused");
                    } else if bytes > u128::from(u64::MAX) {
                        let is_bad_memory = matches!(
                            &got,
                            Err(DomainXmlError::BadValue { element, .. }) if element == "memory"
                        );
                        prop_assert!(is_bad_memory, "{:?}", got);
                    } else {
                        let want = u64::try_from((bytes + (1 << 19)) >> 20).unwrap();
                        prop_assert_eq!(got, Ok(want));
                    }
                }
            }
        }
    }
}
