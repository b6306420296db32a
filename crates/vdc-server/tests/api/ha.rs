//! High availability through the API: VM restart settings (priorities, policies, dependencies
//! without cycles) and a cluster's failover reserve with admission control.

use reqwest::StatusCode;
use serde_json::{Value, json};
use vdc_test_utils::{Store, TestStack, wait_for_condition};

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
    // So is a group whose started VMs together would.
    let group = json!({"vms": [
        {"name": "ha-g1", "vcpus": 1, "memory_mib": 256, "start": true},
        {"name": "ha-g2", "vcpus": n, "memory_mib": 256, "start": true},
    ]});
    let (st, e) = s
        .call(
            "POST",
            "/api/v1/vm-groups",
            Some(&s.admin_token),
            Some(group),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("failover reserve"),
        "{e}"
    );
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

pub(super) async fn failover_hosts_stay_empty_for_normal_placement(store: Store) {
    let s = TestStack::start(store).await;
    let hosts = s.get_ok("/api/v1/hosts?limit=100").await["items"]
        .as_array()
        .unwrap()
        .clone();
    let cluster = hosts[0]["cluster_id"].as_str().unwrap().to_string();
    let in_cluster: Vec<String> = hosts
        .iter()
        .filter(|h| h["cluster_id"] == cluster.as_str())
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect();
    assert!(in_cluster.len() >= 2, "{hosts:?}");
    let spare = in_cluster[0].clone();
    let ha = format!("/api/v1/clusters/{cluster}/ha");
    let (st, r) = put(
        &s,
        &ha,
        json!({"reserve": {"kind": "failover_hosts", "hosts": [spare]}}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let kept = "host kept empty for failover";
    let rate = || async {
        let (st, r) = s
            .call(
                "POST",
                "/api/v1/placement/ratings",
                Some(&s.admin_token),
                Some(json!({"vcpus": 1, "memory_mib": 256})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{r}");
        r
    };
    let r = rate().await;
    assert_eq!(r["rejected"][kept], 1, "{r}");
    assert_ne!(r["chosen"], spare.as_str(), "{r}");
    let why = r["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host_id"] == spare.as_str())
        .map(|h| h["rejected_by"].clone());
    assert_eq!(why, Some(json!(kept)), "{r}");
    // New VMs go anywhere but the failover host.
    for i in 0..4 {
        let (st, acc) = s
            .call(
                "POST",
                "/api/v1/vms",
                Some(&s.admin_token),
                Some(json!({"name": format!("fo-{i}"), "vcpus": 1, "memory_mib": 256})),
            )
            .await;
        assert_eq!(st, StatusCode::ACCEPTED, "{acc}");
        let v = s
            .get_ok(&format!("/api/v1/vms/{}", acc["vm_id"].as_str().unwrap()))
            .await;
        assert_ne!(v["host_id"], spare.as_str(), "{v}");
    }
    // Pinned there, the VM is refused with the reason.
    let (st, e) = s
        .call(
            "POST",
            "/api/v1/vms",
            Some(&s.admin_token),
            Some(json!({"name": "fo-pinned", "vcpus": 1, "memory_mib": 256, "host_id": spare})),
        )
        .await;
    assert!(
        st.is_client_error() || st == StatusCode::INSUFFICIENT_STORAGE,
        "{st} {e}"
    );
    assert!(e["message"].as_str().unwrap().contains(kept), "{e}");
    // Without the reserve the host takes VMs again.
    let (st, _) = put(&s, &ha, json!({"reserve": {"kind": "none"}})).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(rate().await["rejected"][kept], Value::Null);
}

/// Fast timers for tests: suspect after 100 ms, dead after 400 ms, leases of 300 ms.
fn fast_ha(c: &mut vdc_server::Config) {
    c.ha.detector.suspect_after_ms = 100;
    c.ha.detector.dead_after_ms = 400;
    c.ha.fence.lease_ttl_ms = 300;
    c.ha.fence.timeout_ms = 10_000;
}

/// Runs HA rounds every 50 ms until `host` gets `verdict` (at most 10 s).
async fn until_verdict(s: &TestStack, host: &str, verdict: vdc_engine::ha::Verdict) {
    wait_for_condition(
        std::time::Duration::from_millis(50),
        std::time::Duration::from_secs(10),
        || async {
            let v = s.app().ha_round().await.unwrap();
            v.iter()
                .any(|(h, x)| h.to_string() == host && *x == verdict)
                .then_some(())
        },
    )
    .await;
}

pub(super) async fn dead_host_vms_restart_elsewhere_by_priority(store: Store) {
    use vdc_engine::ha::Verdict;
    let s = TestStack::start_with(vdc_test_utils::StackOptions {
        configure: Some(fast_ha),
        ..vdc_test_utils::StackOptions::new(store)
    })
    .await;
    let hosts = s.get_ok("/api/v1/hosts?limit=100").await;
    let hosts = hosts["items"].as_array().unwrap();
    let victim = hosts[0]["id"].as_str().unwrap().to_string();
    let victim_uri = hosts[0]["uri"].as_str().unwrap().to_string();
    // Four VMs on shared storage on the victim: web needs db; batch is left off.
    let names = ["db", "web", "cache", "batch"];
    let created = shared_vms(&s, &victim, &names).await;
    let ids: std::collections::HashMap<&str, String> = names.into_iter().zip(created).collect();
    let (s, ids) = (&s, &ids);
    let set = |name: &str, body: Value| {
        let path = format!("/api/v1/vms/{}/ha", ids[name]);
        async move { put(s, &path, body).await }
    };
    assert_eq!(
        set(
            "web",
            json!({"priority": "high", "depends_on": [ids["db"]]})
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        set("db", json!({"priority": "low"})).await.0,
        StatusCode::OK
    );
    assert_eq!(
        set("cache", json!({"priority": "highest"})).await.0,
        StatusCode::OK
    );
    assert_eq!(
        set("batch", json!({"policy": "leave_off"})).await.0,
        StatusCode::OK
    );
    let local_vms: Vec<String> = super::all_vms(
        s,
        &s.admin_token,
        &format!("host_id={victim}&state=running"),
    )
    .await
    .iter()
    .map(|v| v["id"].as_str().unwrap().to_string())
    .filter(|id| !ids.values().any(|x| x == id))
    .collect();

    // Another host only cut off from vdc keeps writing its heartbeat: partitioned, untouched.
    let sim = s.sim.clone();
    let other = hosts[1]["id"].as_str().unwrap().to_string();
    let other_index = sim
        .host_index_of(hosts[1]["uri"].as_str().unwrap())
        .unwrap();
    sim.set_host_down(other_index, true);
    // The victim dies.
    sim.kill_host(sim.host_index_of(&victim_uri).unwrap());
    until_verdict(s, &victim, Verdict::Dead).await;
    until_verdict(s, &other, Verdict::Partitioned).await;
    // The failover job fences (the lease runs out) and restarts.
    let job = failover_ended(s, &victim).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["target_id"], victim.as_str());
    // The verdicts, with the death and fence times, are in the host views.
    let dead = s.get_ok(&format!("/api/v1/hosts/{victim}")).await;
    assert_eq!(dead["ha"]["verdict"], "dead", "{dead}");
    assert!(dead["ha"]["dead_at"].is_string(), "{dead}");
    assert!(dead["ha"]["fenced_at"].is_string(), "{dead}");
    let cut = s.get_ok(&format!("/api/v1/hosts/{other}")).await;
    assert_eq!(cut["ha"]["verdict"], "partitioned", "{cut}");
    assert_eq!(cut["ha"]["dead_at"], Value::Null, "{cut}");
    let jobs = s.get_ok("/api/v1/jobs?limit=50").await;
    assert_eq!(
        jobs["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| j["kind"] == "host.failover")
            .count(),
        1,
        "one failover, none for the partitioned host"
    );
    for name in ["db", "web", "cache"] {
        let v = s.get_ok(&format!("/api/v1/vms/{}", ids[name])).await;
        assert_eq!(v["power_state"], "running", "{name}: {v}");
        assert_ne!(v["host_id"], victim.as_str(), "{name}");
        assert_ne!(
            v["host_id"],
            other.as_str(),
            "{name} not on the partitioned host"
        );
    }
    let batch = s.get_ok(&format!("/api/v1/vms/{}", ids["batch"])).await;
    assert_eq!(batch["host_id"], victim.as_str(), "left off where it was");
    // Restarted in priority order: cache (highest), then db (raised to high by web), then web.
    let audit = s.get_ok("/api/v1/audit?action=ha.&limit=100").await;
    let items = audit["items"].as_array().unwrap();
    for (name, wave) in [
        ("cache", "wave 0, highest"),
        ("db", "wave 1, high"),
        ("web", "wave 2, high"),
    ] {
        assert!(
            items.iter().any(|a| a["action"] == "ha.restarted"
                && a["target_id"] == ids[name].as_str()
                && a["detail"].as_str().unwrap().contains(wave)),
            "{name} in {wave}: {audit}"
        );
    }
    assert!(
        items.iter().any(|a| a["action"] == "ha.fenced"
            && a["detail"].as_str().unwrap().contains("lease_expired")),
        "{audit}"
    );
    for id in &local_vms {
        assert!(
            items.iter().any(|a| a["action"] == "ha.not_restarted"
                && a["target_id"] == id.as_str()
                && a["detail"].as_str().unwrap().contains("do not share")),
            "{id}: {audit}"
        );
    }
}

/// Creates running VMs of these names on shared storage on `host`; their ids.
async fn shared_vms(s: &TestStack, host: &str, names: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for name in names {
        let (st, a) = s
            .call(
                "POST",
                "/api/v1/vms",
                Some(&s.admin_token),
                Some(
                    json!({"name": name, "vcpus": 1, "memory_mib": 256, "start": true,
                    "host_id": host, "disks": [{"size_gib": 1, "datastore": "san-01"}]}),
                ),
            )
            .await;
        assert_eq!(st, StatusCode::ACCEPTED, "{a}");
        s.wait_job(&s.admin_token, a["job"]["id"].as_str().unwrap())
            .await;
        ids.push(a["vm_id"].as_str().unwrap().to_string());
    }
    ids
}

/// The failover job of `host` once it ended.
async fn failover_ended(s: &TestStack, host: &str) -> Value {
    failover_job(s, host, |j| {
        j["state"] == "succeeded" || j["state"] == "failed"
    })
    .await
}

/// The failover job of `host` once `when` holds of it.
async fn failover_job(s: &TestStack, host: &str, when: impl Fn(&Value) -> bool) -> Value {
    vdc_test_utils::wait_for_condition(
        std::time::Duration::from_millis(20),
        std::time::Duration::from_secs(30),
        || async {
            let jobs = s.get_ok("/api/v1/jobs?limit=50").await;
            jobs["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|j| j["kind"] == "host.failover" && j["target_id"] == host && when(j))
                .cloned()
        },
    )
    .await
}

pub(super) async fn failover_resumes_after_a_server_crash_and_fencing_times_out(store: Store) {
    use vdc_engine::ha::Verdict;
    let mut s = TestStack::start_with(vdc_test_utils::StackOptions {
        configure: Some(fast_ha),
        ..vdc_test_utils::StackOptions::new(store)
    })
    .await;
    let hosts = s.get_ok("/api/v1/hosts?limit=100").await;
    let hosts = hosts["items"].as_array().unwrap().clone();
    let (victim, uri) = (
        hosts[0]["id"].as_str().unwrap().to_string(),
        hosts[0]["uri"].as_str().unwrap().to_string(),
    );
    let ids = shared_vms(&s, &victim, &["a1", "a2", "a3", "a4", "a5", "a6"]).await;
    // Slow restarts, and the server stops while the failover restarts them.
    s.sim.set_latency(std::time::Duration::from_millis(150));
    s.sim.kill_host(s.sim.host_index_of(&uri).unwrap());
    until_verdict(&s, &victim, Verdict::Dead).await;
    vdc_test_utils::wait_for_condition(
        std::time::Duration::from_millis(50),
        std::time::Duration::from_secs(10),
        || async {
            let a = s.get_ok("/api/v1/audit?action=ha.fenced").await;
            (!a["items"].as_array().unwrap().is_empty()).then_some(())
        },
    )
    .await;
    // The server stops in the middle of the restarts.
    failover_job(&s, &victim, |j| {
        j["state"] == "running" && j["progress"] == 50
    })
    .await;
    s.restart().await;
    let job = failover_ended(&s, &victim).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    // Every VM runs, once, on a live host.
    for id in &ids {
        let v = s.get_ok(&format!("/api/v1/vms/{id}")).await;
        assert_eq!(v["power_state"], "running", "{v}");
        assert_ne!(v["host_id"], victim.as_str());
        let uuid: uuid::Uuid = id.parse().unwrap();
        let copies: usize = (0..s.sim.len())
            .map(|h| {
                use vdc_driver::HostDriver;
                s.sim
                    .host(h)
                    .list_vms()
                    .unwrap_or_default()
                    .iter()
                    .filter(|x| x.id == uuid)
                    .count()
            })
            .sum();
        assert_eq!(copies, 1, "{id} runs on {copies} hosts");
    }
    s.sim.set_latency(std::time::Duration::ZERO);

    // A second host dies while neither its fence agent nor its lease can fence it: nothing
    // restarts, the job fails saying why.
    let uri2 = hosts[2]["uri"].as_str().unwrap().to_string();
    let mut s = {
        drop(s);
        TestStack::start_with(vdc_test_utils::StackOptions {
            configure: Some(|c| {
                fast_ha(c);
                c.ha.fence.lease_ttl_ms = 3_600_000;
                c.ha.fence.timeout_ms = 1_000;
                // An agent that hangs (and would then say it powered the host off) is
                // killed at fencing's deadline, which then fails.
                c.ha.fence_command = Some(vdc_server::app::config::Secret::new(
                    "echo \"BMC of $VDC_HOST_NAME unreachable\" >&2; sleep 30",
                ));
            }),
            ..vdc_test_utils::StackOptions::new(store)
        })
        .await
    };
    let hosts = s.get_ok("/api/v1/hosts?limit=100").await;
    let host = hosts["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["uri"] == uri2.as_str())
        .unwrap()
        .clone();
    let victim2 = host["id"].as_str().unwrap().to_string();
    let stuck = shared_vms(&s, &victim2, &["b1", "b2"]).await;
    s.sim.kill_host(s.sim.host_index_of(&uri2).unwrap());
    until_verdict(&s, &victim2, Verdict::Dead).await;
    let job = failover_ended(&s, &victim2).await;
    assert_eq!(job["state"], "failed", "{job}");
    let err = job["error"].as_str().unwrap();
    assert!(
        err.contains("not fenced within 1 s")
            && err.contains("the fence command did not finish")
            && err.contains("storage lease was still held"),
        "{err}"
    );
    for id in &stuck {
        let v = s.get_ok(&format!("/api/v1/vms/{id}")).await;
        assert_eq!(
            v["host_id"],
            victim2.as_str(),
            "not restarted unfenced: {v}"
        );
    }
    s.restart().await;
}
