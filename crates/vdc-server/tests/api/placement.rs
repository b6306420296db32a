//! Placement settings and decisions through the API: cluster overcommit ratios, host
//! maintenance / department / licences, VM constraints, the stored decision, and groups.

use reqwest::StatusCode;
use serde_json::{Value, json};
use vdc_test_utils::{Store, TestStack};

use super::{create_vm, department_id};

async fn call(s: &TestStack, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
    s.call(method, path, Some(&s.admin_token), Some(body)).await
}

async fn rate(s: &TestStack, body: Value) -> Value {
    let (code, r) = call(s, "POST", "/api/v1/placement/ratings", body).await;
    assert_eq!(code, StatusCode::OK, "{r}");
    r
}

fn refused(r: &Value, reason: &str) -> u64 {
    r["rejected"][reason].as_u64().unwrap_or(0)
}

async fn vm_count(s: &TestStack) -> usize {
    super::all_vms(s, &s.admin_token, "limit=1000").await.len()
}

pub(super) async fn placement_settings_constraints_and_groups(store: Store) {
    let s = TestStack::start(store).await;
    let hosts: Vec<Value> = s.get_ok("/api/v1/hosts").await["items"]
        .as_array()
        .unwrap()
        .clone();
    let n = hosts.len();
    let host = |i: usize| hosts[i]["id"].as_str().unwrap().to_string();
    let clusters = s.get_ok("/api/v1/clusters").await;
    let clusters = clusters.as_array().unwrap();
    assert!(
        clusters
            .iter()
            .all(|c| c["vcpu_ratio"] == 4.0 && c["memory_ratio"] == 1.0)
    );
    let small = json!({"vcpus": 1, "memory_mib": 2048});

    // Cluster ratios are what placement applies: a tiny memory ratio refuses every host.
    for c in clusters {
        let path = format!("/api/v1/clusters/{}", c["id"].as_str().unwrap());
        let (code, b) = call(&s, "PATCH", &path, json!({"memory_ratio": 0.001})).await;
        assert_eq!(code, StatusCode::OK, "{b}");
        assert_eq!(b["memory_ratio"], 0.001, "{b}");
    }
    let r = rate(&s, small.clone()).await;
    assert!(r["chosen"].is_null(), "{r}");
    assert_eq!(
        refused(&r, "not enough memory room under the overcommit ratio"),
        n as u64,
        "{r}"
    );
    let (code, b) = call(
        &s,
        "POST",
        "/api/v1/vms",
        json!({"name": "no-room", "vcpus": 1, "memory_mib": 2048}),
    )
    .await;
    assert_eq!(code, StatusCode::INSUFFICIENT_STORAGE, "{b}");
    for c in clusters {
        let path = format!("/api/v1/clusters/{}", c["id"].as_str().unwrap());
        call(&s, "PATCH", &path, json!({"memory_ratio": 1.0})).await;
    }
    assert!(!rate(&s, small.clone()).await["chosen"].is_null());
    let path = format!("/api/v1/clusters/{}", clusters[0]["id"].as_str().unwrap());
    for (body, field) in [
        (json!({}), "vcpu_ratio"),
        (json!({"vcpu_ratio": 0}), "vcpu_ratio"),
        (json!({"vcpu_ratio": 65}), "vcpu_ratio"),
        (json!({"memory_ratio": -1}), "memory_ratio"),
    ] {
        let (code, b) = call(&s, "PATCH", &path, body).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{b}");
        assert_eq!(b["field"], field, "{b}");
    }
    let (code, b) = call(
        &s,
        "PATCH",
        "/api/v1/clusters/00000000-0000-0000-0000-000000000000",
        json!({"vcpu_ratio": 2}),
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{b}");

    // Host settings: maintenance, a department, licences.
    let finance = department_id(&s, "finance").await;
    let engineering = department_id(&s, "engineering").await;
    let (code, b) = call(
        &s,
        "PATCH",
        &format!("/api/v1/hosts/{}", host(0)),
        json!({"maintenance": true}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{b}");
    assert_eq!(
        refused(&rate(&s, small.clone()).await, "host in maintenance"),
        1
    );
    call(
        &s,
        "PATCH",
        &format!("/api/v1/hosts/{}", host(0)),
        json!({"maintenance": false}),
    )
    .await;
    let (code, b) = call(
        &s,
        "PATCH",
        &format!("/api/v1/hosts/{}", host(1)),
        json!({"dedicated_to": finance, "licensed_software": ["oracle-ee"], "licence_cost_per_vcpu": 12.5}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{b}");
    assert_eq!(b["dedicated_to"], finance.as_str(), "{b}");
    assert_eq!(b["licensed_software"], json!(["oracle-ee"]), "{b}");
    let theirs = rate(
        &s,
        json!({"vcpus": 1, "memory_mib": 2048, "department_id": engineering}),
    )
    .await;
    assert_eq!(
        refused(&theirs, "host dedicated to another department"),
        1,
        "{theirs}"
    );
    let ours = rate(
        &s,
        json!({"vcpus": 1, "memory_mib": 2048, "department_id": finance}),
    )
    .await;
    assert_eq!(
        ours["chosen"],
        host(1).as_str(),
        "department hosts first: {ours}"
    );
    let licensed = json!({"vcpus": 1, "memory_mib": 2048, "department_id": finance,
        "placement": {"licensed_software": ["oracle-ee"]}});
    let r = rate(&s, licensed.clone()).await;
    assert_eq!(r["chosen"], host(1).as_str(), "{r}");
    assert_eq!(
        refused(&r, "required software not licensed on host"),
        n as u64 - 1,
        "{r}"
    );
    for (body, field) in [
        (json!({}), "maintenance"),
        (
            json!({"licence_cost_per_vcpu": -1}),
            "licence_cost_per_vcpu",
        ),
        (
            json!({"licensed_software": ["bad name"]}),
            "licensed_software[0]",
        ),
        (
            json!({"dedicated_to": "00000000-0000-0000-0000-000000000000"}),
            "dedicated_to",
        ),
    ] {
        let (code, b) = call(&s, "PATCH", &format!("/api/v1/hosts/{}", host(1)), body).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{b}");
        assert_eq!(b["field"], field, "{b}");
    }
    let viewer = super::create_user(&s, "placement-viewer", "viewer", None).await;
    let (code, _) = s
        .call(
            "PATCH",
            &format!("/api/v1/hosts/{}", host(1)),
            Some(&viewer),
            Some(json!({"maintenance": true})),
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN);

    // The decision is stored with the VM and shown later, constraints included.
    let mut body = licensed.clone();
    body["name"] = json!("oracle-1");
    let (vm, _) = create_vm(&s, &s.admin_token, body).await;
    let p = s.get_ok(&format!("/api/v1/vms/{vm}/placement")).await;
    assert_eq!(p["host_id"], host(1).as_str(), "{p}");
    assert_eq!(p["pinned"], false);
    assert_eq!(p["decided_by"], "admin");
    assert_eq!(p["constraints"]["licensed_software"], json!(["oracle-ee"]));
    assert_eq!(p["rating"]["chosen"], host(1).as_str());
    assert_eq!(p["rating"]["hosts"][0]["host_id"], host(1).as_str());
    assert_eq!(
        refused(&p["rating"], "required software not licensed on host"),
        n as u64 - 1
    );
    // Rating that VM again uses its stored constraints (and its host's CPU vendor, a filter
    // that runs before the licence one).
    let again = rate(&s, json!({"vm_id": vm})).await;
    assert_eq!(again["chosen"], host(1).as_str(), "{again}");
    assert!(
        refused(&again, "required software not licensed on host") >= 1,
        "{again}"
    );
    assert_eq!(
        refused(&again, "required software not licensed on host")
            + refused(&again, "CPU vendor, model or features incompatible"),
        n as u64 - 1,
        "{again}"
    );
    call(
        &s,
        "PATCH",
        &format!("/api/v1/hosts/{}", host(1)),
        json!({"dedicated_to": null, "licensed_software": []}),
    )
    .await;
    let pre_existing = super::all_vms(&s, &s.admin_token, "limit=1000")
        .await
        .into_iter()
        .find(|v| v["id"] != vm.as_str())
        .expect("the simulated fleet's VMs")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, b) = s
        .call(
            "GET",
            &format!("/api/v1/vms/{pre_existing}/placement"),
            Some(&s.admin_token),
            None,
        )
        .await;
    assert_eq!(
        code,
        StatusCode::NOT_FOUND,
        "a discovered VM has no decision: {b}"
    );

    // A group: all or none, anti-affinity within it.
    let member = |name: &str| {
        json!({"name": name, "vcpus": 1, "memory_mib": 256,
        "placement": {"anti_affinity_group": "web"}})
    };
    let before = vm_count(&s).await;
    let too_many: Vec<Value> = (0..=n).map(|i| member(&format!("web-x{i}"))).collect();
    let (code, b) = call(&s, "POST", "/api/v1/vm-groups", json!({"vms": too_many})).await;
    assert_eq!(code, StatusCode::INSUFFICIENT_STORAGE, "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("anti-affinity group member already on host"),
        "{b}"
    );
    assert_eq!(vm_count(&s).await, before, "nothing written");
    for (body, field) in [
        (json!({"vms": []}), "vms"),
        (
            json!({"vms": [member("dup"), member("dup")]}),
            "vms[1].name",
        ),
        (
            json!({"vms": [member("ok"), {"name": "bad", "vcpus": 0, "memory_mib": 256}]}),
            "vms[1].vcpus",
        ),
        (
            json!({"vms": [{"name": "pinned", "vcpus": 1, "memory_mib": 256, "host_id": host(0)}]}),
            "vms[0].host_id",
        ),
    ] {
        let (code, b) = call(&s, "POST", "/api/v1/vm-groups", body).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{b}");
        assert_eq!(b["field"], field, "{b}");
    }
    let group: Vec<Value> = (1..n).map(|i| member(&format!("web-{i}"))).collect();
    let (code, acc) = call(&s, "POST", "/api/v1/vm-groups", json!({"vms": group})).await;
    assert_eq!(code, StatusCode::ACCEPTED, "{acc}");
    let mut placed = std::collections::BTreeSet::new();
    for a in acc["vms"].as_array().unwrap() {
        let job = s
            .wait_job(&s.admin_token, a["job"]["id"].as_str().unwrap())
            .await;
        assert_eq!(job["state"], "succeeded", "{job}");
        let v = s
            .get_ok(&format!("/api/v1/vms/{}", a["vm_id"].as_str().unwrap()))
            .await;
        assert!(
            placed.insert(v["host_id"].as_str().unwrap().to_string()),
            "two web VMs share a host"
        );
    }
    // One host is left for the group, then none.
    let (last, _) = create_vm(&s, &s.admin_token, member(&format!("web-{n}"))).await;
    let v = s.get_ok(&format!("/api/v1/vms/{last}")).await;
    assert!(!placed.contains(v["host_id"].as_str().unwrap()));
    let full = rate(
        &s,
        json!({"vcpus": 1, "memory_mib": 256, "placement": {"anti_affinity_group": "web"}}),
    )
    .await;
    assert!(full["chosen"].is_null(), "{full}");
    assert_eq!(
        refused(&full, "anti-affinity group member already on host"),
        n as u64,
        "{full}"
    );

    // Affinity: the next member goes where the first is.
    let db = |name: &str| json!({"name": name, "vcpus": 1, "memory_mib": 256, "placement": {"affinity_group": "db"}});
    let (a, _) = create_vm(&s, &s.admin_token, db("db-1")).await;
    let (b2, _) = create_vm(&s, &s.admin_token, db("db-2")).await;
    let ha = s.get_ok(&format!("/api/v1/vms/{a}")).await["host_id"].clone();
    let hb = s.get_ok(&format!("/api/v1/vms/{b2}")).await["host_id"].clone();
    assert_eq!(ha, hb);
}

pub(super) async fn host_loads_are_sampled_and_rated(store: Store) {
    let s = TestStack::start(store).await;
    let hosts: Vec<Value> = s.get_ok("/api/v1/hosts").await["items"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        hosts.iter().all(|h| h["cpu_load"].is_null()),
        "no sample yet"
    );
    // Overcommit host 0's CPUs: vCPUs enough that even the quietest VMs want more CPU than
    // it has.
    let h0 = &hosts[0];
    let id0 = h0["id"].as_str().unwrap().to_string();
    let logical = ["sockets", "cores_per_socket", "threads_per_core"]
        .iter()
        .map(|k| h0[k].as_u64().unwrap())
        .product::<u64>();
    call(
        &s,
        "PATCH",
        &format!("/api/v1/clusters/{}", h0["cluster_id"].as_str().unwrap()),
        json!({"vcpu_ratio": 64}),
    )
    .await;
    let mut vcpus = 0;
    let mut i = 0;
    while vcpus < 12 * logical {
        let n = logical.min(12 * logical - vcpus);
        i += 1;
        let (_, job) = create_vm(
            &s,
            &s.admin_token,
            json!({"name": format!("busy-{i}"), "vcpus": n, "memory_mib": 256, "host_id": id0, "start": true}),
        )
        .await;
        assert_eq!(job["state"], "succeeded", "{job}");
        vcpus += n;
    }
    let app = s.app();
    assert_eq!(
        vdc_server::monitoring::load::sample_all(app).await.unwrap(),
        hosts.len()
    );
    let first = s.get_ok(&format!("/api/v1/hosts/{id0}")).await;
    assert!(first["cpu_load"].as_f64().unwrap() > 0.99, "{first}");
    assert!(
        first["vcpu_wait"].is_null(),
        "one reading gives no rate: {first}"
    );
    // The rates are measured on the driver's clock: the simulator's, moved forward.
    s.sim.advance(std::time::Duration::from_millis(300));
    vdc_server::monitoring::load::sample_all(app).await.unwrap();
    let busy = s.get_ok(&format!("/api/v1/hosts/{id0}")).await;
    let wait = busy["vcpu_wait"].as_f64().unwrap();
    assert!(wait > 0.01 && wait <= 1.0, "{busy}");
    assert!(busy["load_sampled_at"].is_string());

    // Contention counts against the busy host.
    let r = rate(&s, json!({"vcpus": 1, "memory_mib": 256})).await;
    let contention = |id: &str| {
        r["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["host_id"] == id)
            .unwrap()["contributions"]["low vCPU contention"]
            .as_f64()
            .unwrap()
    };
    let calm: Vec<String> = calm_hosts(&s, &hosts[1..]).await;
    assert!(!calm.is_empty(), "some host has no vCPU wait");
    assert!(contention(&id0) < contention(&calm[0]), "{r}");

    // After enough samples each host has an hourly profile: a VM's profile then changes its
    // complementary value (neutral 0.5 without profiles).
    let neutral = rate(
        &s,
        json!({"vcpus": 1, "memory_mib": 256, "placement": {"hourly_load": vec![0.5; 24]}}),
    )
    .await;
    let comp = |r: &Value| -> Vec<f64> {
        r["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["rejected_by"].is_null())
            .map(|h| {
                h["contributions"]["complementary load profile"]
                    .as_f64()
                    .unwrap()
            })
            .collect()
    };
    let before = comp(&neutral);
    assert!(
        before.windows(2).all(|w| w[0] == w[1]),
        "no host profile yet: {before:?}"
    );
    for _ in 0..30 {
        vdc_server::monitoring::load::sample_all(app).await.unwrap();
    }
    let after = comp(
        &rate(
            &s,
            json!({"vcpus": 1, "memory_mib": 256, "placement": {"hourly_load": vec![0.5; 24]}}),
        )
        .await,
    );
    assert!(
        after.iter().zip(&before).any(|(a, b)| a != b),
        "{after:?} vs {before:?}"
    );
    let (code, b) = call(
        &s,
        "POST",
        "/api/v1/placement/ratings",
        json!({"vcpus": 1, "memory_mib": 256, "placement": {"hourly_load": [0.5]}}),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["field"], "placement.hourly_load");
}

/// The hosts among `hosts` whose measured vCPU wait is 0.
async fn calm_hosts(s: &TestStack, hosts: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for h in hosts {
        let id = h["id"].as_str().unwrap();
        let v = s.get_ok(&format!("/api/v1/hosts/{id}")).await;
        if v["vcpu_wait"].as_f64() == Some(0.0) {
            out.push(id.to_string());
        }
    }
    out
}

pub(super) async fn capacity_forecast_from_daily_peaks(store: Store) {
    let s = TestStack::start(store).await;
    let app = s.app();
    vdc_server::monitoring::load::sample_all(app).await.unwrap();
    let f = s.get_ok("/api/v1/plans/forecast").await;
    let clusters = f.as_array().unwrap();
    assert!(!clusters.is_empty(), "{f}");
    for c in clusters {
        assert_eq!(c["days_of_history"], 1, "{c}");
        let metrics: Vec<&str> = c["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["metric"].as_str().unwrap())
            .collect();
        assert_eq!(
            metrics,
            ["vcpus_allocated", "memory_allocated_mib", "cpu_demand"]
        );
    }
    let allocated: f64 = clusters
        .iter()
        .map(|c| c["metrics"][1]["current"].as_f64().unwrap())
        .sum();
    assert!(allocated > 0.0, "the simulated fleet's running VMs: {f}");

    // A cluster whose memory grows 1,000 MiB a day for 30 days towards 100,000 MiB, and whose
    // vCPUs stay flat: memory is full 61 days after today, vCPUs never.
    let site = app.db.ensure_site("forecast-site").await.unwrap();
    let cluster = app.db.ensure_cluster(site, "growing").await.unwrap();
    let today = vdc_db::now_ms().div_euclid(86_400_000);
    let days: Vec<vdc_db::ClusterDay> = (0..30)
        .map(|i| vdc_db::ClusterDay {
            cluster_id: cluster,
            day: today - 29 + i,
            vcpus_allocated: 40,
            vcpu_capacity: 400,
            memory_allocated_mib: 10_000 + 1_000 * i as u64,
            memory_capacity_mib: 100_000,
            cpu_demand: 2.0,
            cpu_capacity: 100.0,
        })
        .collect();
    app.db.record_cluster_days(&days).await.unwrap();
    // A lower reading later today keeps the day's peak.
    let mut later = days[29];
    later.memory_allocated_mib = 5_000;
    app.db.record_cluster_days(&[later]).await.unwrap();
    let f = s.get_ok("/api/v1/plans/forecast?days=30").await;
    let growing = f
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "growing")
        .unwrap()
        .clone();
    assert_eq!(growing["days_of_history"], 30, "{growing}");
    let m = &growing["metrics"];
    assert_eq!(m[1]["current"], 39_000.0, "{growing}");
    assert_eq!(m[1]["trend_per_day"], 1_000.0, "{growing}");
    assert_eq!(m[1]["days_until_full"], 61.0, "{growing}");
    assert_eq!(m[0]["trend_per_day"], 0.0, "{growing}");
    assert!(m[0]["days_until_full"].is_null(), "{growing}");
    let (code, b) = s
        .call(
            "GET",
            "/api/v1/plans/forecast?days=3",
            Some(&s.admin_token),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["field"], "days");
}

/// Running VMs on `host`.
async fn running_on(s: &TestStack, host: &str) -> Vec<Value> {
    super::all_vms(
        s,
        &s.admin_token,
        &format!("host_id={host}&state=running&limit=1000"),
    )
    .await
}

pub(super) async fn balancer_plans_moves_and_evacuates(store: Store) {
    let s = TestStack::start(store).await;
    let app = s.app();
    let hosts: Vec<Value> = s.get_ok("/api/v1/hosts").await["items"]
        .as_array()
        .unwrap()
        .clone();
    let id = |i: usize| hosts[i]["id"].as_str().unwrap().to_string();
    let h0 = &hosts[0];
    let logical = ["sockets", "cores_per_socket", "threads_per_core"]
        .iter()
        .map(|k| h0[k].as_u64().unwrap())
        .product::<u64>();
    let cluster_path = format!("/api/v1/clusters/{}", h0["cluster_id"].as_str().unwrap());
    call(&s, "PATCH", &cluster_path, json!({"vcpu_ratio": 64})).await;
    for i in 0..12 {
        let (_, job) = create_vm(
            &s,
            &s.admin_token,
            json!({"name": format!("hot-{i}"), "vcpus": logical, "memory_mib": 256, "host_id": id(0), "start": true}),
        )
        .await;
        assert_eq!(job["state"], "succeeded", "{job}");
    }
    vdc_server::monitoring::load::sample_all(app).await.unwrap();
    // The rates are measured on the driver's clock: the simulator's, moved forward.
    s.sim.advance(std::time::Duration::from_millis(300));
    vdc_server::monitoring::load::sample_all(app).await.unwrap();

    // Recommend (the default): a plan with reasons, nothing started.
    let plans = s.get_ok("/api/v1/plans/balance").await;
    let plan = &plans[0];
    assert_eq!(plan["mode"], "recommend", "{plan}");
    assert!(plan["hot_before"].as_u64().unwrap() >= 1, "{plan}");
    let moves = plan["moves"].as_array().unwrap();
    assert!(!moves.is_empty() && moves.len() <= 8, "{plan}");
    assert_eq!(moves[0]["from_host_id"], id(0).as_str(), "{plan}");
    let name0 = h0["name"].as_str().unwrap();
    assert!(
        moves[0]["reason"].as_str().unwrap().contains(name0),
        "{plan}"
    );
    assert!(
        plan["imbalance_after"].as_f64() < plan["imbalance_before"].as_f64(),
        "{plan}"
    );
    assert_eq!(app.balance_round().await.unwrap(), 0);

    // Automatic: the controller starts the migrations, and they land where planned.
    let (code, b) = call(
        &s,
        "PATCH",
        &cluster_path,
        json!({"balance_mode": "automatic"}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{b}");
    assert_eq!(b["balance_mode"], "automatic");
    let before = running_on(&s, &id(0)).await.len();
    let started = app.balance_round().await.unwrap();
    assert_eq!(started, moves.len());
    let jobs = s.get_ok("/api/v1/jobs?limit=50").await;
    for j in jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["kind"] == "vm.migrate")
    {
        assert_eq!(j["created_by"], "balancer", "{j}");
        let done = s.wait_job(&s.admin_token, j["id"].as_str().unwrap()).await;
        assert_eq!(done["state"], "succeeded", "{done}");
    }
    assert_eq!(running_on(&s, &id(0)).await.len(), before - started);
    for m in moves {
        let v = s
            .get_ok(&format!("/api/v1/vms/{}", m["vm_id"].as_str().unwrap()))
            .await;
        assert_eq!(v["host_id"], m["to_host_id"], "{m}");
    }

    // Evacuation: maintenance, and every running VM of the host leaves it.
    call(&s, "PATCH", &cluster_path, json!({"balance_mode": "off"})).await;
    assert!(
        s.get_ok("/api/v1/plans/balance")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
    let viewer = super::create_user(&s, "evac-viewer", "viewer", None).await;
    let (code, _) = s
        .call(
            "POST",
            &format!("/api/v1/hosts/{}/evacuate", id(1)),
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let on1 = running_on(&s, &id(1)).await.len();
    let (code, acc) = s
        .call(
            "POST",
            &format!("/api/v1/hosts/{}/evacuate", id(1)),
            Some(&s.admin_token),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{acc}");
    let accepted = acc["vms"].as_array().unwrap();
    assert_eq!(accepted.len(), on1, "{acc}");
    for a in accepted {
        let done = s
            .wait_job(&s.admin_token, a["job"]["id"].as_str().unwrap())
            .await;
        assert_eq!(done["state"], "succeeded", "{done}");
    }
    assert!(running_on(&s, &id(1)).await.is_empty());
    assert_eq!(
        s.get_ok(&format!("/api/v1/hosts/{}", id(1))).await["maintenance"],
        true
    );
}

pub(super) async fn consolidation_plans_and_what_ifs(store: Store) {
    let s = TestStack::start(store).await;
    let vms_before = super::all_vms(&s, &s.admin_token, "limit=1000").await;
    let (code, plans) = call(&s, "POST", "/api/v1/plans/consolidate", json!({})).await;
    assert_eq!(code, StatusCode::OK, "{plans}");
    let p = &plans[0];
    let (before, after) = (
        p["hosts_before"].as_u64().unwrap(),
        p["hosts_after"].as_u64().unwrap(),
    );
    assert!(after < before, "the simulated fleet is spread thin: {p}");
    assert_eq!(
        p["freed"].as_array().unwrap().len() as u64,
        before - after,
        "{p}"
    );
    assert!(
        p["power_after_w"].as_f64() < p["power_before_w"].as_f64(),
        "{p}"
    );
    let steps = p["steps"].as_array().unwrap();
    assert!(
        !steps.is_empty()
            && steps
                .iter()
                .all(|st| st["reason"].as_str().unwrap().starts_with("empties ")),
        "{p}"
    );
    assert!(p["assumptions"].as_str().unwrap().contains("W idle"), "{p}");
    let (code, p99) = call(
        &s,
        "POST",
        "/api/v1/plans/consolidate",
        json!({"percentile": 99}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{p99}");
    assert!(
        p99[0]["assumptions"]
            .as_str()
            .unwrap()
            .contains("99th percentile"),
        "{p99}"
    );

    // What-ifs: a host taken out; VMs too big to fit anywhere.
    let hosts: Vec<Value> = s.get_ok("/api/v1/hosts").await["items"]
        .as_array()
        .unwrap()
        .clone();
    // The busiest host whose CPU vendor another host shares (its VMs can live-migrate).
    let busiest = hosts
        .iter()
        .filter(|h| {
            hosts
                .iter()
                .any(|o| o["id"] != h["id"] && o["cpu_vendor"] == h["cpu_vendor"])
        })
        .max_by_key(|h| {
            vms_before
                .iter()
                .filter(|v| v["host_id"] == h["id"] && v["power_state"] == "running")
                .count()
        })
        .unwrap();
    let (_, out) = call(
        &s,
        "POST",
        "/api/v1/plans/consolidate",
        json!({"remove_host": busiest["id"]}),
    )
    .await;
    let name = busiest["name"].as_str().unwrap();
    let rehomed: Vec<&Value> = out[0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|st| st["from_host"] == name)
        .collect();
    assert!(
        !rehomed.is_empty()
            && rehomed
                .iter()
                .all(|st| st["reason"].as_str().unwrap().contains("cannot keep it")),
        "{out}"
    );
    assert!(
        out[0]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|st| st["to_host"] != name)
    );
    let (_, big) = call(
        &s,
        "POST",
        "/api/v1/plans/consolidate",
        json!({"add": {"count": 3, "vcpus": 288, "memory_mib": 12 * 1024 * 1024}}),
    )
    .await;
    assert_eq!(
        big[0]["unplaced"],
        json!(["new-1", "new-2", "new-3"]),
        "{big}"
    );
    let (_, small) = call(
        &s,
        "POST",
        "/api/v1/plans/consolidate",
        json!({"add": {"count": 2, "vcpus": 1, "memory_mib": 512, "cpu_demand": 0.5}}),
    )
    .await;
    let new_steps = small[0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|st| st["vm_id"].is_null())
        .count();
    assert_eq!(new_steps, 2, "{small}");
    for (body, field) in [
        (json!({"high_water": 2}), "high_water"),
        (json!({"percentile": 20}), "percentile"),
        (
            json!({"remove_host": "00000000-0000-0000-0000-000000000000"}),
            "remove_host",
        ),
        (
            json!({"add": {"count": 0, "vcpus": 1, "memory_mib": 512}}),
            "add.count",
        ),
    ] {
        let (code, b) = call(&s, "POST", "/api/v1/plans/consolidate", body).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{b}");
        assert_eq!(b["field"], field, "{b}");
    }
    // A plan changes nothing.
    let vms_after = super::all_vms(&s, &s.admin_token, "limit=1000").await;
    let hosts_of = |vms: &[Value]| vms.iter().map(|v| v["host_id"].clone()).collect::<Vec<_>>();
    assert_eq!(hosts_of(&vms_before), hosts_of(&vms_after));
}
