use super::*;

fn vm(name: &str) -> VmCreateParams {
    VmCreateParams {
        name: name.into(),
        vcpus: 2,
        memory_mib: 2048,
        disks: vec![DiskSpec {
            size_gib: 20,
            datastore: None,
        }],
        nics: vec![],
        host_id: None,
        owner: None,
        department_id: None,
        purpose: None,
        tags: vec![],
        lease_expires_at: None,
        start: false,
        boot: None,
        placement: PlacementConstraints::default(),
        guest_os: None,
    }
}

#[test]
fn validation_names_the_offending_field() {
    assert!(vm("web-01").validate().is_ok());
    let field = |p: VmCreateParams| match p.validate() {
        Err(Error::InvalidInput { field, .. }) => field,
        other => panic!("expected invalid input, got {other:?}"),
    };
    assert_eq!(field(vm("")), "name");
    assert_eq!(field(vm(&"a".repeat(64))), "name");
    assert_eq!(field(vm("-bad")), "name");
    assert_eq!(field(vm("sp ace")), "name");
    assert_eq!(
        field(VmCreateParams {
            vcpus: 0,
            ..vm("a")
        }),
        "vcpus"
    );
    assert_eq!(
        field(VmCreateParams {
            memory_mib: u64::MAX,
            ..vm("a")
        }),
        "memory_mib"
    );
    let big_disk = vec![DiskSpec {
        size_gib: 0,
        datastore: None,
    }];
    assert_eq!(
        field(VmCreateParams {
            disks: big_disk,
            ..vm("a")
        }),
        "disks[0].size_gib"
    );
    let lease = Some("tomorrow".to_string());
    assert_eq!(
        field(VmCreateParams {
            lease_expires_at: lease,
            ..vm("a")
        }),
        "lease_expires_at"
    );
    let boot = |kernel: &str, initrd: Option<&str>| VmCreateParams {
        boot: Some(KernelBootSpec {
            kernel: kernel.into(),
            initrd: initrd.map(str::to_string),
            cmdline: None,
        }),
        ..vm("a")
    };
    assert!(
        boot("/boot/vmlinuz", Some("/boot/initrd.img"))
            .validate()
            .is_ok()
    );
    assert_eq!(field(boot("vmlinuz", None)), "boot.kernel");
    assert_eq!(field(boot("/boot/vmlinuz", Some("initrd"))), "boot.initrd");
}

#[test]
fn host_uris_must_name_a_libvirt_driver() {
    let host = |uri: &str| HostAddParams {
        uri: uri.into(),
        cluster: None,
        name: None,
        domain_type: None,
    };
    for ok in [
        "qemu:///system",
        "qemu+ssh://root@kvm1/system",
        "qemu+tcp://10.0.0.5/system",
        "xen:///system",
        "lxc:///",
        "esx://vc1/?no_verify=1",
        "hyperv://hv1/",
        "test:///default",
    ] {
        assert!(host(ok).validate().is_ok(), "{ok}");
    }
    for bad in [
        "",
        "http://x",
        "kvm1",
        "qemu:///system now",
        "/var/run/libvirt",
    ] {
        assert!(host(bad).validate().is_err(), "{bad}");
    }
    let typed = HostAddParams {
        domain_type: Some("vmware".into()),
        ..host("qemu:///system")
    };
    assert!(
        matches!(typed.validate(), Err(Error::InvalidInput { field, .. }) if field == "domain_type")
    );
}

#[test]
fn unknown_body_fields_are_rejected() {
    let err = serde_json::from_str::<LoginParams>(r#"{"username":"a","password":"b","x":1}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `x`"), "{err}");
}
