//! High availability through the API: VM restart settings (priorities, policies, dependencies
//! without cycles) and a cluster's failover reserve with admission control.

use reqwest::StatusCode;
use serde_json::{Value, json};
use vdc_test_utils::{Store, TestStack};

async fn put(s: &TestStack, path: &str, body: Value) -> (StatusCode, Value) {
    s.call("PUT", path, Some(&s.admin_token), Some(body)).await
}

pub(super) async fn vm_restart_settings_refuse_cycles(store: Store) {
    let s = TestStack::start(store).await;
    let vms = super::all_vms(&s, &s.admin_token, "limit=1000").await;
    let id = |i: usize| vms[i]["id"].as_str().unwrap().to_string();
    let (a, b, c) = (id(0), id(1), id(2));
    // Defaults before anything is set.
    let d = s.get_ok(&format!("/api/v1/vms/{a}/ha")).await;
    assert_eq!(
        d,
        json!({"vm_id": a, "priority": "medium", "policy": "restart", "depends_on": []})
    );
    // a (highest) needs b; b needs c.
    let (st, v) = put(
        &s,
        &format!("/api/v1/vms/{a}/ha"),
        json!({"priority": "highest", "depends_on": [b]}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["priority"], "highest");
    assert_eq!(v["depends_on"], json!([b]));
    let (st, _) = put(
        &s,
        &format!("/api/v1/vms/{b}/ha"),
        json!({"depends_on": [c], "policy": "leave_off"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let got = s.get_ok(&format!("/api/v1/vms/{b}/ha")).await;
    assert_eq!(got["policy"], "leave_off");
    assert_eq!(got["priority"], "medium", "left out: unchanged");
    // c needing a would close a → b → c → a: refused, naming the VMs, nothing written.
    let before = s.fingerprint().await;
    let (st, e) = put(
        &s,
        &format!("/api/v1/vms/{c}/ha"),
        json!({"depends_on": [a]}),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["field"], "depends_on");
    let msg = e["message"].as_str().unwrap();
    for v in [0, 1, 2] {
        assert!(msg.contains(vms[v]["name"].as_str().unwrap()), "{msg}");
    }
    assert_eq!(
        s.get_ok(&format!("/api/v1/vms/{c}/ha")).await["depends_on"],
        json!([])
    );
    for (body, field) in [
        (json!({"depends_on": [c]}), "depends_on"),
        (json!({"depends_on": [uuid::Uuid::new_v4()]}), "depends_on"),
        (json!({"priority": "urgent"}), "priority"),
        (json!({"restart": true}), "restart"),
    ] {
        let (st, e) = put(&s, &format!("/api/v1/vms/{c}/ha"), body.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {e}");
        assert_eq!(e["field"], field, "{body}: {e}");
    }
    assert_eq!(s.fingerprint().await, before);
    let audit = s.get_ok("/api/v1/audit?action=vm.ha.update").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 2, "{audit}");
}

pub(super) async fn failover_reserve_refuses_starts_with_the_figures(store: Store) {
    let s = TestStack::start(store).await;
    let vms = super::all_vms(&s, &s.admin_token, "state=running&limit=1000").await;
    let vm = &vms[0];
    let id = vm["id"].as_str().unwrap();
    let host = s
        .get_ok(&format!(
            "/api/v1/hosts/{}",
            vm["host_id"].as_str().unwrap()
        ))
        .await;
    let cluster = host["cluster_id"].as_str().unwrap().to_string();
    let ha = format!("/api/v1/clusters/{cluster}/ha");
    let start = || async {
        let path = format!("/api/v1/vms/{id}/actions/start");
        s.call("POST", &path, Some(&s.admin_token), None).await
    };
    let none = s.get_ok(&ha).await;
    assert_eq!(none["reserve"], json!({"kind": "none"}));
    assert_eq!(none["reserved"], json!({"vcpus": 0, "memory_mib": 0}));
    let cap = |v: &Value, k: &str| v[k]["vcpus"].as_u64().unwrap();
    assert_eq!(
        cap(&none, "headroom"),
        cap(&none, "capacity") - cap(&none, "used")
    );

    // Stop the VM, then keep all but (its vCPUs − 1) of the free room in reserve.
    let (st, j) = s
        .call(
            "POST",
            &format!("/api/v1/vms/{id}/actions/stop"),
            Some(&s.admin_token),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{j}");
    s.wait_job(&s.admin_token, j["job"]["id"].as_str().unwrap())
        .await;
    let free = s.get_ok(&ha).await;
    let (c, u) = (cap(&free, "capacity"), cap(&free, "used"));
    let n = vm["vcpus"].as_u64().unwrap();
    assert!(
        c - u >= n,
        "the cluster has room for the VM without a reserve"
    );
    let pct = (c - u - (n - 1)) as f64 / c as f64 * 100.0;
    assert!(pct <= 100.0, "{pct} % of {c}");
    let (st, set) = put(
        &s,
        &ha,
        json!({"reserve": {"kind": "percent", "cpu": pct, "memory": 0.0}}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{set}");
    assert!(cap(&set, "headroom") < n, "{set}");
    let before = s.fingerprint().await;
    let (st, e) = start().await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("failover reserve"), "{msg}");
    assert!(
        msg.contains(&format!("{n} vCPUs asked")) && msg.contains(&format!("{c} capacity")),
        "{msg}"
    );
    // Creating and starting a VM there is refused the same way; created stopped it is not.
    let create = |start: bool| {
        json!({"name": format!("ha-{start}"), "vcpus": n, "memory_mib": 256, "start": start,
               "host_id": host["id"]})
    };
    let (st, e) = s
        .call(
            "POST",
            "/api/v1/vms",
            Some(&s.admin_token),
            Some(create(true)),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    assert_eq!(s.fingerprint().await, before, "nothing written");
    let (st, e) = s
        .call(
            "POST",
            "/api/v1/vms",
            Some(&s.admin_token),
            Some(create(false)),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{e}");

    // A reserve that what runs already breaks is refused; bad ones name their field.
    let (st, e) = put(
        &s,
        &ha,
        json!({"reserve": {"kind": "percent", "cpu": 100.0, "memory": 100.0}}),
    )
    .await;
    if u > 0 {
        assert_eq!(st, StatusCode::CONFLICT, "{e}");
    }
    for (body, field) in [
        (
            json!({"reserve": {"kind": "host_failures", "hosts": 0}}),
            "reserve.hosts",
        ),
        (
            json!({"reserve": {"kind": "failover_hosts", "hosts": [uuid::Uuid::new_v4()]}}),
            "reserve.hosts",
        ),
        (
            json!({"reserve": {"kind": "percent", "cpu": 120.0, "memory": 0.0}}),
            "reserve",
        ),
    ] {
        let (st, e) = put(&s, &ha, body.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {e}");
        assert_eq!(e["field"], field, "{body}: {e}");
    }
    // One host failure: the largest host's capacity is reserved.
    let hosts = s
        .get_ok(&format!("/api/v1/hosts?cluster_id={cluster}&limit=100"))
        .await;
    let clusters = s.get_ok("/api/v1/clusters").await;
    let ratio = clusters
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == cluster.as_str())
        .unwrap()["vcpu_ratio"]
        .as_f64()
        .unwrap();
    let largest = hosts["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let cpus = h["sockets"].as_u64().unwrap()
                * h["cores_per_socket"].as_u64().unwrap()
                * h["threads_per_core"].as_u64().unwrap();
            (cpus as f64 * ratio).floor() as u64
        })
        .max()
        .unwrap();
    let (st, one) = put(
        &s,
        &ha,
        json!({"reserve": {"kind": "host_failures", "hosts": 1}}),
    )
    .await;
    if st == StatusCode::OK {
        assert_eq!(cap(&one, "reserved"), largest, "{one}");
    } else {
        assert_eq!(st, StatusCode::CONFLICT, "{one}");
        assert!(
            c - largest < u,
            "refused only when the rest cannot hold what runs: {one}"
        );
    }
    // Without a reserve the VM starts.
    let (st, _) = put(&s, &ha, json!({"reserve": {"kind": "none"}})).await;
    assert_eq!(st, StatusCode::OK);
    let (st, e) = start().await;
    assert_eq!(st, StatusCode::ACCEPTED, "{e}");
}
