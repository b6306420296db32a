//! The libvirt driver against real libvirt: the in-process `test:///default` driver (no
//! daemon) and `qemu:///system` with a real TCG guest started by `scripts/libvirt-lab.sh`
//! (which `scripts/test.sh` runs). A test that cannot reach libvirtd fails; it never skips.
#![cfg(feature = "libvirt")]

use std::path::PathBuf;
use std::time::{Duration, Instant};
use uuid::Uuid;
use vdc_driver::{DiskInfo, DriverError, HostDriver, VmMetadata, VmSpec};
use vdc_driver_libvirt::{LibvirtHost, Options};
use vdc_types::{PowerState, VmAction};

fn qemu_host() -> LibvirtHost {
    LibvirtHost::connect("qemu:///system", Options { domain_type: "qemu".into() })
        .expect("libvirtd must be running for this test: scripts/test.sh starts it (scripts/libvirt-lab.sh)")
}

fn lab_guest_dir() -> PathBuf {
    let dir = PathBuf::from(
        std::env::var("VDC_LAB_GUEST").unwrap_or_else(|_| "/var/lib/vdc-lab/guest".into()),
    );
    assert!(
        dir.join("vmlinuz").is_file(),
        "the lab guest is missing in {}: run scripts/libvirt-lab.sh up {}",
        dir.display(),
        dir.display()
    );
    dir
}

/// Runs `virsh -c qemu:///system ARGS…`, as an administrator would behind vdc's back.
fn virsh(args: &[&str]) -> String {
    let out = std::process::Command::new("virsh")
        .arg("-c")
        .arg("qemu:///system")
        .args(args)
        .output()
        .expect("virsh runs");
    assert!(
        out.status.success(),
        "virsh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn test_driver_lifecycle_without_a_daemon() {
    let h = LibvirtHost::connect("test:///default", Options::default())
        .expect("test:///default opens in-process");
    let info = h.host_info().unwrap();
    assert!(info.memory_mib > 0);
    assert!(info.sockets * info.cores_per_socket * info.threads_per_core > 0);
    let vms = h.list_vms().unwrap();
    let test = vms
        .iter()
        .find(|v| v.name == "test")
        .expect("the test driver's domain");
    assert_eq!(test.state, PowerState::Running);
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
    assert!(h.vm_stats(id).unwrap().memory_rss_mib > 0);
}

/// A domain defined behind vdc's back (as `virsh define` would) is discovered with no vdc
/// metadata, then driven through its whole life on real QEMU (TCG).
#[test]
fn qemu_guest_discovered_and_driven_through_its_life() {
    let h = qemu_host();
    let dir = lab_guest_dir();
    let name = format!("vdc-test-{}", &Uuid::new_v4().simple().to_string()[..8]);
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
    virsh(&["define", &xml_file.display().to_string()]);
    let id = Uuid::parse_str(virsh(&["domuuid", &name]).trim()).unwrap();
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

    let t = Instant::now();
    h.act(id, VmAction::Shutdown).unwrap();
    wait_until("ACPI shutdown", Duration::from_secs(60), || {
        h.vm_info(id)
            .map(|v| v.state == PowerState::Shutoff)
            .unwrap_or(false)
    });
    eprintln!("TIMING ACPI shutdown: {:.2} s", t.elapsed().as_secs_f64());
    h.undefine(id).unwrap();
    assert!(matches!(h.vm_info(id), Err(DriverError::NoSuchVm { .. })));
    let _ = std::fs::remove_file(&serial);
}

/// vdc defines a domain from its own spec: the disk volume is created in the named storage
/// pool, the ownership metadata is written into the domain and read back.
#[test]
fn vdc_defines_a_domain_with_a_pool_volume_and_metadata() {
    let h = qemu_host();
    let pool_name = "vdc-test-pool";
    if !virsh(&["pool-list", "--all", "--name"])
        .lines()
        .any(|l| l.trim() == pool_name)
    {
        let path = std::env::temp_dir().join(pool_name);
        std::fs::create_dir_all(&path).unwrap();
        virsh(&[
            "pool-define-as",
            pool_name,
            "dir",
            "--target",
            &path.display().to_string(),
        ]);
    }
    if !virsh(&["pool-list", "--name"])
        .lines()
        .any(|l| l.trim() == pool_name)
    {
        virsh(&["pool-start", pool_name]);
    }
    let spec = VmSpec {
        id: Uuid::new_v4(),
        name: format!("vdc-made-{}", &Uuid::new_v4().simple().to_string()[..8]),
        vcpus: 1,
        memory_mib: 96,
        disks: vec![DiskInfo {
            device: "vda".into(),
            size_gib: 1,
            datastore: pool_name.into(),
            format: "qcow2".into(),
        }],
        nics: vec![],
        metadata: VmMetadata {
            owner: Some("alice".into()),
            department: Some("finance".into()),
            purpose: Some("ledger".into()),
            tags: vec!["prod".into()],
            lease_expires_at: None,
        },
    };
    let v = h.define(&spec).unwrap();
    assert_eq!(v.id, spec.id);
    assert_eq!(v.state, PowerState::Shutoff);
    assert_eq!(v.metadata, spec.metadata);
    assert_eq!(v.disks.len(), 1);
    assert_eq!(v.disks[0].size_gib, 1);
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
            .any(|d| d.name == pool_name)
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
    virsh(&[
        "vol-delete",
        "--pool",
        pool_name,
        &format!("{}-vda.qcow2", spec.name),
    ]);
}
