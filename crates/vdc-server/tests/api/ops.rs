//! Rogue VMs, migration, snapshots, stats and hosts added by URI, through the API.

use reqwest::StatusCode;
use serde_json::{Value, json};
use vdc_driver::{DiskInfo, VmMetadata, VmSpec};
use vdc_test_utils::{Store, TestStack};
use vdc_types::PowerState;

use super::{act, create_user, create_vm, department_id};

/// The audit records with this action, newest first.
async fn audited(s: &TestStack, action: &str) -> Vec<Value> {
    let page = s.get_ok("/api/v1/audit?limit=1000").await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == action)
        .cloned()
        .collect()
}

/// A VM defined on a simulated host behind vdc's back (no vdc metadata).
fn rogue(s: &TestStack, host: usize, name: &str, state: PowerState) -> uuid::Uuid {
    let spec = VmSpec {
        id: uuid::Uuid::new_v4(),
        name: name.into(),
        vcpus: 1,
        memory_mib: 512,
        disks: vec![DiskInfo {
            path: None,
            device: "vda".into(),
            size_gib: 10,
            datastore: "local".into(),
            format: "qcow2".into(),
        }],
        nics: vec![],
        metadata: VmMetadata::default(),
        os_id: None,
        boot: None,
    };
    s.sim.inject_vm(host, spec, state).unwrap().id
}

async fn post(s: &TestStack, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    s.call("POST", path, Some(token), Some(body)).await
}

pub(super) async fn rogue_vms_are_flagged_adopted_and_quarantined(store: Store) {
    let s = TestStack::start(store).await;
    let before = s.get_ok("/api/v1/vms?management=unmanaged").await;
    assert!(before["items"].as_array().unwrap().is_empty(), "{before}");
    let a = rogue(&s, 0, "rogue-a", PowerState::Running);
    let b = rogue(&s, 1, "rogue-b", PowerState::Running);
    let r = s.sync().await;
    assert_eq!(r.unmanaged_found, 2, "{r:?}");
    let listed = s.get_ok("/api/v1/vms?management=unmanaged").await;
    let names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["rogue-a", "rogue-b"]);
    let found = audited(&s, "vm.unmanaged_found").await;
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.iter().any(|f| f["target_id"] == a.to_string()));
    // A second sync does not report them again.
    assert_eq!(s.sync().await.unmanaged_found, 0);

    // Only admins adopt or quarantine; operators are refused and audited.
    let eng = department_id(&s, "engineering").await;
    let op = create_user(&s, "op", "operator", None).await;
    let (st, body) = post(
        &s,
        &op,
        &format!("/api/v1/vms/{a}/adopt"),
        json!({"owner": "carol", "department_id": eng}),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
    let (st, _) = post(&s, &op, &format!("/api/v1/vms/{b}/quarantine"), json!({})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, body) = post(
        &s,
        &s.admin_token,
        &format!("/api/v1/vms/{a}/adopt"),
        json!({"owner": "carol", "department_id": "00000000-0000-0000-0000-000000000000"}),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");

    // Adoption: managed in the store and on the hypervisor, so a rebuilt store knows it.
    let (st, v) = post(
        &s,
        &s.admin_token,
        &format!("/api/v1/vms/{a}/adopt"),
        json!({"owner": "carol", "department_id": eng, "purpose": "found on host 1"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["management"], "managed");
    assert_eq!(v["owner"], "carol");
    assert_eq!(v["department_id"], eng.as_str());
    let (_, on_host) = s.sim.find_vm(a).unwrap();
    assert!(on_host.metadata.managed);
    assert_eq!(on_host.metadata.owner.as_deref(), Some("carol"));
    assert_eq!(on_host.metadata.department.as_deref(), Some("engineering"));
    let (st, _) = post(
        &s,
        &s.admin_token,
        &format!("/api/v1/vms/{a}/adopt"),
        json!({"owner": "carol", "department_id": eng}),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT, "adopting twice");
    let (st, _) = post(
        &s,
        &s.admin_token,
        &format!("/api/v1/vms/{a}/quarantine"),
        json!({}),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT, "a managed VM is not quarantined");

    // Quarantine: suspended and kept; it cannot run again until adopted.
    let (st, acc) = post(
        &s,
        &s.admin_token,
        &format!("/api/v1/vms/{b}/quarantine"),
        json!({}),
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{acc}");
    let job = s
        .wait_job(&s.admin_token, acc["job"]["id"].as_str().unwrap())
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let v = s.get_ok(&format!("/api/v1/vms/{b}")).await;
    assert_eq!(v["management"], "quarantined");
    assert_eq!(v["power_state"], "paused");
    assert_eq!(s.sim.find_vm(b).unwrap().1.state, PowerState::Paused);
    let (st, body) = post(
        &s,
        &s.admin_token,
        &format!("/api/v1/vms/{b}/actions/resume"),
        json!({}),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT, "{body}");
    assert!(body["message"].as_str().unwrap().contains("quarantined"));
    let (st, v) = post(
        &s,
        &s.admin_token,
        &format!("/api/v1/vms/{b}/adopt"),
        json!({"owner": "dave", "department_id": eng}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        act(&s, &b.to_string(), "resume").await["power_state"],
        "running"
    );
    // Both were refused to an operator (who lacks vm.adopt anywhere) and audited.
    let denied = audited(&s, "vm.adopt").await;
    for (action, route) in [("vm.adopt", "/adopt"), ("vm.quarantine", "/quarantine")] {
        let ok = audited(&s, action).await;
        assert!(ok.iter().any(|r| r["result"] == "ok"), "{action}: {ok:?}");
        assert!(
            denied.iter().any(|r| r["result"] == "denied"
                && r["target_id"].as_str().unwrap_or("").ends_with(route)),
            "{action}: {denied:?}"
        );
    }
}

pub(super) async fn migration_snapshots_and_stats(store: Store) {
    let s = TestStack::start(store).await;
    let t = s.admin_token.clone();
    let hosts = s.get_ok("/api/v1/hosts").await;
    let hosts: Vec<String> = hosts["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect();
    let (vm, _) = create_vm(&s, &t, json!({"name": "mover", "vcpus": 1, "memory_mib": 512, "host_id": hosts[0], "disks": [{"size_gib": 10}], "start": true})).await;

    // Stats come from the host.
    let st = s.get_ok(&format!("/api/v1/vms/{vm}/stats")).await;
    assert_eq!(st["power_state"], "running");
    assert_eq!(st["vcpu_delay_ns"].as_array().unwrap().len(), 1);
    assert!(st["memory_rss_mib"].as_u64().unwrap() > 0, "{st}");
    let hs = s.get_ok(&format!("/api/v1/hosts/{}/stats", hosts[0])).await;
    assert!(hs["running_vms"].as_u64().unwrap() >= 1, "{hs}");

    // Migration: refused to the same host, to an unknown host, and for a stopped VM.
    let (code, _) = post(
        &s,
        &t,
        &format!("/api/v1/vms/{vm}/migrate"),
        json!({"host_id": hosts[0]}),
    )
    .await;
    assert_eq!(code, StatusCode::CONFLICT);
    let (code, _) = post(
        &s,
        &t,
        &format!("/api/v1/vms/{vm}/migrate"),
        json!({"host_id": "00000000-0000-0000-0000-000000000000"}),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let (code, acc) = post(
        &s,
        &t,
        &format!("/api/v1/vms/{vm}/migrate"),
        json!({"host_id": hosts[1]}),
    )
    .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{acc}");
    let job = s.wait_job(&t, acc["job"]["id"].as_str().unwrap()).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["kind"], "vm.migrate");
    let v = s.get_ok(&format!("/api/v1/vms/{vm}")).await;
    assert_eq!(v["host_id"], hosts[1].as_str());
    assert_eq!(v["power_state"], "running");
    let id: uuid::Uuid = vm.parse().unwrap();
    assert_eq!(s.sim.find_vm(id).unwrap().0, 1);
    // A full sync agrees.
    s.sync().await;
    assert_eq!(
        s.get_ok(&format!("/api/v1/vms/{vm}")).await["host_id"],
        hosts[1].as_str()
    );

    // Snapshots: create (running), change state, revert, delete.
    let snap = |name: &str| json!({"name": name});
    let (code, acc) = post(
        &s,
        &t,
        &format!("/api/v1/vms/{vm}/snapshots"),
        snap("before-upgrade"),
    )
    .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{acc}");
    assert_eq!(
        s.wait_job(&t, acc["job"]["id"].as_str().unwrap()).await["state"],
        "succeeded"
    );
    let (code, _) = post(
        &s,
        &t,
        &format!("/api/v1/vms/{vm}/snapshots"),
        snap("bad name!"),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let list = s.get_ok(&format!("/api/v1/vms/{vm}/snapshots")).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["name"], "before-upgrade");
    assert_eq!(list[0]["state"], "running");
    act(&s, &vm, "stop").await;
    let (code, _) = post(
        &s,
        &t,
        &format!("/api/v1/vms/{vm}/snapshots/nope/revert"),
        json!({}),
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, acc) = post(
        &s,
        &t,
        &format!("/api/v1/vms/{vm}/snapshots/before-upgrade/revert"),
        json!({}),
    )
    .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{acc}");
    assert_eq!(
        s.wait_job(&t, acc["job"]["id"].as_str().unwrap()).await["state"],
        "succeeded"
    );
    assert_eq!(
        s.get_ok(&format!("/api/v1/vms/{vm}")).await["power_state"],
        "running"
    );
    let (code, acc) = s
        .call(
            "DELETE",
            &format!("/api/v1/vms/{vm}/snapshots/before-upgrade"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{acc}");
    assert_eq!(
        s.wait_job(&t, acc["job"]["id"].as_str().unwrap()).await["state"],
        "succeeded"
    );
    assert!(
        s.get_ok(&format!("/api/v1/vms/{vm}/snapshots"))
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );

    // A viewer may read stats but not migrate.
    let viewer = create_user(&s, "watcher", "viewer", None).await;
    let (code, _) = s
        .call(
            "GET",
            &format!("/api/v1/vms/{vm}/stats"),
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = post(
        &s,
        &viewer,
        &format!("/api/v1/vms/{vm}/migrate"),
        json!({"host_id": hosts[0]}),
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
}

/// Adding libvirt hosts by URI: libvirt's in-process test driver answers like a host.
#[cfg(feature = "libvirt")]
pub(super) async fn libvirt_hosts_are_added_by_uri(store: Store) {
    let s = TestStack::start(store).await;
    let t = s.admin_token.clone();
    let fp = s.fingerprint().await;
    for (body, field) in [
        (json!({"uri": "http://example.com"}), "uri"),
        (json!({"uri": "qemu:///system extra"}), "uri"),
        (
            json!({"uri": "test:///default", "domain_type": "vmware"}),
            "domain_type",
        ),
        (
            json!({"uri": "test:///default", "cluster": "no spaces"}),
            "cluster",
        ),
    ] {
        let (code, b) = post(&s, &t, "/api/v1/hosts", body).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{b}");
        assert_eq!(b["field"], field, "{b}");
    }
    let (code, b) = post(
        &s,
        &t,
        "/api/v1/hosts",
        json!({"uri": "qemu+unix:///system?socket=/nonexistent/sock"}),
    )
    .await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{b}");
    let op = create_user(&s, "hostop", "operator", None).await;
    let fp_users = s.fingerprint().await;
    assert_ne!(fp, fp_users);
    let (code, _) = post(&s, &op, "/api/v1/hosts", json!({"uri": "test:///default"})).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert_eq!(s.fingerprint().await, fp_users, "refusals write nothing");

    let (code, added) = post(
        &s,
        &t,
        "/api/v1/hosts",
        json!({"uri": "test:///default", "cluster": "lab", "name": "testhost"}),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{added}");
    assert_eq!(added["host"]["name"], "testhost");
    assert_eq!(added["host"]["hypervisor"], "test");
    assert_eq!(added["host"]["state"], "connected");
    assert!(added["host"]["memory_mib"].as_u64().unwrap() > 0);
    // libvirt's test driver starts with one domain, "test", which vdc did not create.
    assert_eq!(added["sync"]["unmanaged_found"], 1, "{added}");
    let host_id = added["host"]["id"].as_str().unwrap().to_string();
    let vms = s.get_ok(&format!("/api/v1/vms?host_id={host_id}")).await;
    let items = vms["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["name"], "test");
    assert_eq!(items[0]["management"], "unmanaged");
    assert_eq!(items[0]["power_state"], "running");
    let (code, _) = post(&s, &t, "/api/v1/hosts", json!({"uri": "test:///default"})).await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert!(!audited(&s, "host.add").await.is_empty());

    let (code, _) = s
        .call(
            "DELETE",
            &format!("/api/v1/hosts/{host_id}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::NO_CONTENT);
    let (code, _) = s
        .call("GET", &format!("/api/v1/hosts/{host_id}"), Some(&t), None)
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let vms = s.get_ok(&format!("/api/v1/vms?host_id={host_id}")).await;
    assert!(vms["items"].as_array().unwrap().is_empty());
}

pub(super) async fn placement_ratings_explain_and_drive_creation(store: Store) {
    let s = TestStack::start(store).await;
    let t = s.admin_token.clone();
    let hosts = s.get_ok("/api/v1/hosts").await["items"]
        .as_array()
        .unwrap()
        .len();
    s.sim.set_host_down(0, true);
    s.sync().await;
    let (code, r) = post(
        &s,
        &t,
        "/api/v1/placement/ratings",
        json!({"vcpus": 2, "memory_mib": 2048, "nics": [{"network": "default"}]}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{r}");
    let rated = r["hosts"].as_array().unwrap();
    assert_eq!(rated.len(), hosts, "every host is rated");
    assert_eq!(r["chosen"], rated[0]["host_id"], "{r}");
    for h in rated {
        let stars = h["stars"].as_f64().unwrap();
        assert!(
            (0.0..=5.0).contains(&stars) && (stars * 2.0).fract() == 0.0,
            "{h}"
        );
        match h["rejected_by"].as_str() {
            Some(reason) => assert_eq!(stars, 0.0, "{reason}"),
            None => assert!(!h["contributions"].as_object().unwrap().is_empty(), "{h}"),
        }
    }
    assert_eq!(r["rejected"]["host unreachable"], 1, "{r}");
    let scores: Vec<f64> = rated
        .iter()
        .filter(|h| h["rejected_by"].is_null())
        .map(|h| h["score"].as_f64().unwrap())
        .collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "best first: {scores:?}"
    );

    // Nothing fits: no choice, every host refused with its reason.
    let (_, none) = post(
        &s,
        &t,
        "/api/v1/placement/ratings",
        json!({"vcpus": 1, "memory_mib": 12 * 1024 * 1024}),
    )
    .await;
    assert!(none["chosen"].is_null(), "{none}");
    let refused: u64 = none["rejected"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(refused as usize, hosts);

    // Bad input names the field.
    for (body, field) in [
        (json!({}), "vcpus"),
        (json!({"vcpus": 1}), "memory_mib"),
        (json!({"vcpus": 0, "memory_mib": 512}), "vcpus"),
        (
            json!({"vm_id": "00000000-0000-0000-0000-000000000000", "vcpus": 1}),
            "vm_id",
        ),
    ] {
        let (code, b) = post(&s, &t, "/api/v1/placement/ratings", body).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{b}");
        assert_eq!(b["field"], field, "{b}");
    }

    // Creation goes where the rating says, and the audit record keeps the top hosts.
    let (vm, _) = create_vm(&s, &t, json!({"name": "rated-vm", "vcpus": 2, "memory_mib": 2048, "nics": [{"network": "default"}]})).await;
    let v = s.get_ok(&format!("/api/v1/vms/{vm}")).await;
    assert_eq!(v["host_id"], r["chosen"], "{v}");
    let created = audited(&s, "vm.create").await;
    assert!(
        created[0]["detail"].as_str().unwrap().contains("rated: "),
        "{created:?}"
    );
    // An existing VM can be rated too.
    let (code, by_id) = post(&s, &t, "/api/v1/placement/ratings", json!({"vm_id": vm})).await;
    assert_eq!(code, StatusCode::OK, "{by_id}");
    assert!(!by_id["chosen"].is_null());
}
