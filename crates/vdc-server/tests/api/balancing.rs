//! The balancer beyond CPU: memory pressure (balloon, swap) read from the hosts, power
//! management (standby and wake, by hand and by the automatic balancer), and a day of real VM
//! load (Bitbrains) replayed through the simulator's VMs with the balancer in the loop.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use vdc_test_utils::{Store, TestStack};

async fn call(s: &TestStack, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
    s.call(method, path, Some(&s.admin_token), Some(body)).await
}

/// `POST /api/v1/hosts/{id}/{action}` as admin.
async fn host_action(s: &TestStack, id: &str, action: &str) -> (StatusCode, Value) {
    call(
        s,
        "POST",
        &format!("/api/v1/hosts/{id}/{action}"),
        json!({}),
    )
    .await
}

async fn hosts(s: &TestStack) -> Vec<Value> {
    s.get_ok("/api/v1/hosts").await["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// Two load samples `gap` of sim time apart (rates need two readings).
async fn sample_twice(s: &TestStack, gap: Duration) {
    vdc_server::monitoring::load::sample_all(s.app())
        .await
        .unwrap();
    s.sim.advance(gap);
    vdc_server::monitoring::load::sample_all(s.app())
        .await
        .unwrap();
}

/// Sets every running VM's load (thousandths of each vCPU).
async fn set_loads(s: &TestStack, permille: u64) {
    for v in super::all_vms(s, &s.admin_token, "state=running&limit=1000").await {
        let uuid: uuid::Uuid = v["id"].as_str().unwrap().parse().unwrap();
        s.sim.set_vm_load(uuid, permille).unwrap();
    }
}

/// Waits for every unfinished job to end, and checks each succeeded.
pub(super) async fn finish_jobs(s: &TestStack) -> usize {
    let jobs = s.get_ok("/api/v1/jobs?limit=500").await;
    let mut n = 0;
    for j in jobs["items"].as_array().unwrap() {
        if matches!(j["state"].as_str(), Some("queued" | "running")) {
            let done = s.wait_job(&s.admin_token, j["id"].as_str().unwrap()).await;
            assert_eq!(done["state"], "succeeded", "{done}");
            n += 1;
        }
    }
    n
}

pub(super) async fn balancer_memory_pressure_and_power(store: Store) {
    let s = TestStack::start(store).await;
    let hs = hosts(&s).await;
    let id = |i: usize| hs[i]["id"].as_str().unwrap().to_string();
    let name0 = hs[0]["name"].as_str().unwrap().to_string();
    let cluster_path = format!("/api/v1/clusters/{}", hs[0]["cluster_id"].as_str().unwrap());

    // Memory pressure on host 0: the sampler reads the balloon and the swap rate.
    s.sim.set_memory_pressure(0, 0.2, 4096);
    sample_twice(&s, Duration::from_secs(10)).await;
    let h0 = s.get_ok(&format!("/api/v1/hosts/{}", id(0))).await;
    let balloon = h0["balloon_share"].as_f64().unwrap();
    let swap = h0["swap_kib_s"].as_f64().unwrap();
    assert!((balloon - 0.2).abs() < 0.01, "{h0}");
    assert!((swap - 4096.0).abs() < 50.0, "{h0}");
    let h1 = s.get_ok(&format!("/api/v1/hosts/{}", id(1))).await;
    assert_eq!(h1["balloon_share"], 0.0, "{h1}");
    assert_eq!(h1["swap_kib_s"], 0.0, "{h1}");
    let plans = s.get_ok("/api/v1/plans/balance").await;
    let plan = &plans[0];
    assert!(plan["hot_before"].as_u64().unwrap() >= 1, "{plan}");
    let moves = plan["moves"].as_array().unwrap();
    assert!(
        moves.iter().any(|m| m["from_host_id"] == id(0).as_str()
            && m["reason"]
                .as_str()
                .unwrap()
                .contains(&format!("{name0} is short of memory"))),
        "{plan}"
    );
    assert!(
        moves.iter().all(|m| m["to_host_id"] != id(0).as_str()),
        "a host under memory pressure takes no VM: {plan}"
    );
    assert!(plan["power"].is_null(), "power saving is off: {plan}");
    s.sim.set_memory_pressure(0, 0.0, 0);
    sample_twice(&s, Duration::from_secs(10)).await;
    assert_eq!(
        s.get_ok(&format!("/api/v1/hosts/{}", id(0))).await["swap_kib_s"],
        0.0
    );

    // Standby by hand: refused while VMs run, for non-admins, and for a host not in standby.
    let running3 = super::all_vms(
        &s,
        &s.admin_token,
        &format!("host_id={}&state=running", id(3)),
    )
    .await;
    assert!(!running3.is_empty());
    let (code, b) = host_action(&s, &id(3), "standby").await;
    assert_eq!(code, StatusCode::CONFLICT, "{b}");
    assert!(
        b["message"].as_str().unwrap().contains("evacuate it first"),
        "{b}"
    );
    let viewer = super::create_user(&s, "power-viewer", "viewer", None).await;
    let (code, _) = s
        .call(
            "POST",
            &format!("/api/v1/hosts/{}/standby", id(3)),
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let (code, b) = host_action(&s, &id(3), "wake").await;
    assert_eq!(code, StatusCode::CONFLICT, "{b}");

    // Evacuate host 1 (its VMs can only go to the other Intel hosts), then put it in standby: powered off, neither synced nor offered.
    let (code, _) = host_action(&s, &id(1), "evacuate").await;
    assert_eq!(code, StatusCode::ACCEPTED);
    finish_jobs(&s).await;
    let (code, h1x) = host_action(&s, &id(1), "standby").await;
    assert_eq!(code, StatusCode::OK, "{h1x}");
    assert_eq!(h1x["state"], "standby", "{h1x}");
    assert!(s.sim.is_host_down(1), "the simulator powered it off");
    s.sync().await;
    assert_eq!(
        s.get_ok(&format!("/api/v1/hosts/{}", id(1))).await["state"],
        "standby",
        "sync leaves a host in standby alone"
    );
    let r = call(
        &s,
        "POST",
        "/api/v1/placement/ratings",
        json!({"vcpus": 1, "memory_mib": 256}),
    )
    .await
    .1;
    let rated1 = r["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host_id"] == id(1).as_str());
    assert!(
        rated1.is_none_or(|h| !h["rejected_by"].is_null()),
        "a host in standby takes no VM: {r}"
    );
    let (code, h1x) = host_action(&s, &id(1), "wake").await;
    assert_eq!(code, StatusCode::OK, "{h1x}");
    assert_eq!(h1x["state"], "unreachable");
    assert_eq!(h1x["state_reason"], "waking from standby");
    s.sync().await;
    assert_eq!(
        s.get_ok(&format!("/api/v1/hosts/{}", id(1))).await["state"],
        "connected"
    );

    // The automatic balancer with power saving: host 1 (empty, out of maintenance) goes to
    // standby while the others carry the load easily (every VM at 5 % of its vCPUs) …
    call(
        &s,
        "PATCH",
        &format!("/api/v1/hosts/{}", id(1)),
        json!({"maintenance": false}),
    )
    .await;
    set_loads(&s, 50).await;
    let (code, c) = call(
        &s,
        "PATCH",
        &cluster_path,
        json!({"balance_mode": "automatic", "power_saving": true}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{c}");
    assert_eq!(c["power_saving"], true);
    sample_twice(&s, Duration::from_secs(10)).await;
    let plan = &s.get_ok("/api/v1/plans/balance").await[0];
    assert_eq!(plan["power"]["action"], "standby", "{plan}");
    assert_eq!(plan["power"]["host_id"], id(1).as_str(), "{plan}");
    s.app().balance_round().await.unwrap();
    finish_jobs(&s).await;
    assert_eq!(
        s.get_ok(&format!("/api/v1/hosts/{}", id(1))).await["state"],
        "standby"
    );
    // … and is woken when busy VMs overload host 0 more than one round of moves can fix.
    let logical = |h: &Value| {
        ["sockets", "cores_per_socket", "threads_per_core"]
            .iter()
            .map(|k| h[k].as_u64().unwrap())
            .product::<u64>()
    };
    call(&s, "PATCH", &cluster_path, json!({"vcpu_ratio": 64})).await;
    let mut vcpus = 0;
    while vcpus < 12 * logical(&hs[0]) {
        let n = logical(&hs[0]);
        let (_, job) = super::create_vm(
            &s,
            &s.admin_token,
            json!({"name": format!("busy-{vcpus}"), "vcpus": n, "memory_mib": 256, "host_id": id(0), "start": true}),
        )
        .await;
        assert_eq!(job["state"], "succeeded", "{job}");
        vcpus += n;
    }
    set_loads(&s, 1000).await;
    sample_twice(&s, Duration::from_secs(10)).await;
    s.app().balance_round().await.unwrap();
    let h1x = s.get_ok(&format!("/api/v1/hosts/{}", id(1))).await;
    assert_eq!(h1x["state_reason"], "waking from standby", "{h1x}");
    assert!(!s.sim.is_host_down(1));
    finish_jobs(&s).await;
    s.sync().await;
    assert_eq!(
        s.get_ok(&format!("/api/v1/hosts/{}", id(1))).await["state"],
        "connected"
    );
    let audit = s.get_ok("/api/v1/audit?limit=200").await;
    let by_balancer: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["actor"] == "balancer")
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert!(by_balancer.contains(&"host.standby"), "{by_balancer:?}");
    assert!(by_balancer.contains(&"host.wake"), "{by_balancer:?}");
}

/// What one replay measured.
#[derive(Debug)]
struct Replay {
    /// Share of the demanded CPU time the hosts could not give.
    unserved: f64,
    migrations: usize,
    /// The most migrations of any one VM.
    most_moves_of_a_vm: usize,
    /// Every VM ended on a host of the CPU vendor it started on.
    same_vendor: bool,
}

/// Five-minute steps replayed (8 hours), and the balancer's round every 3 steps (15 min).
const STEPS: usize = 96;
const ROUND: usize = 3;

/// Replays the first `STEPS` of the Bitbrains week through simulated VMs: 16 busy VMs of
/// that window, half on the 8-CPU host and half on the 64-CPU host, each step's measured
/// demand set as the VM's load, sampled every step; the balancer in `mode` every `ROUND`.
async fn replay_bitbrains(store: Store, mode: &str) -> Replay {
    let dir = vdc_test_utils::test_data().join("bitbrains-rnd/week/2013-7");
    let texts: Vec<String> = (1..=250)
        .map(|n| vdc_test_utils::read_gz(&dir.join(format!("{n}.csv.gz"))))
        .collect();
    let (week, steps) = vdc_engine::load::week_demand(&texts, 300, 2600.0).unwrap();
    assert!(steps >= STEPS);
    // The 16 busiest VMs that average at most 3 CPUs: about 32 CPUs of demand, which the
    // x86 hosts (8 + 2 + 64 CPUs) carry once spread.
    let mean = |i: usize| week[i].demand[..STEPS].iter().sum::<f64>() / STEPS as f64;
    let mut busiest: Vec<usize> = (0..week.len()).filter(|&i| mean(i) <= 3.0).collect();
    busiest.sort_by(|&a, &b| mean(b).total_cmp(&mean(a)).then(a.cmp(&b)));
    busiest.truncate(16);

    let s = TestStack::start_with(vdc_test_utils::StackOptions {
        vms: 0,
        ..vdc_test_utils::StackOptions::new(store)
    })
    .await;
    let hs = hosts(&s).await;
    let logical = |h: &Value| {
        ["sockets", "cores_per_socket", "threads_per_core"]
            .iter()
            .map(|k| h[k].as_u64().unwrap())
            .product::<u64>()
    };
    let small = hs.iter().find(|h| logical(h) == 8).expect("an 8-CPU host");
    let big = hs.iter().find(|h| logical(h) == 64).expect("a 64-CPU host");
    assert_eq!(small["cpu_vendor"], big["cpu_vendor"]);
    let cluster_path = format!("/api/v1/clusters/{}", small["cluster_id"].as_str().unwrap());
    let (code, b) = call(
        &s,
        "PATCH",
        &cluster_path,
        json!({"vcpu_ratio": 64, "balance_mode": mode}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{b}");
    let mut vms: Vec<(uuid::Uuid, u32, usize)> = Vec::new();
    for (k, &i) in busiest.iter().enumerate() {
        let vcpus = week[i].vcpus.min(8);
        let host = if k % 2 == 0 { small } else { big };
        let (id, job) = super::create_vm(
            &s,
            &s.admin_token,
            json!({"name": format!("bitbrains-{}", i + 1), "vcpus": vcpus, "memory_mib": 256,
                   "host_id": host["id"], "start": true}),
        )
        .await;
        assert_eq!(job["state"], "succeeded", "{job}");
        vms.push((id.parse().unwrap(), vcpus, i));
    }
    let (mut demanded, mut unserved) = (0.0, 0.0);
    for step in 0..STEPS {
        for &(id, vcpus, i) in &vms {
            let share = (week[i].demand[step] / f64::from(vcpus)).clamp(0.0, 1.0);
            s.sim
                .set_vm_load(id, (share * 1000.0).round() as u64)
                .unwrap();
            demanded += (share * 1000.0).round() / 1000.0 * f64::from(vcpus);
        }
        unserved += s.sim.unserved_cpus();
        s.sim.advance(Duration::from_secs(300));
        vdc_server::monitoring::load::sample_all(s.app())
            .await
            .unwrap();
        if step % ROUND == ROUND - 1 {
            s.app().balance_round().await.unwrap();
            finish_jobs(&s).await;
        }
    }
    let jobs = s.get_ok("/api/v1/jobs?limit=1000").await;
    let mut per_vm: std::collections::HashMap<String, usize> = Default::default();
    for j in jobs["items"].as_array().unwrap() {
        if j["kind"] == "vm.migrate" {
            assert_eq!(j["created_by"], "balancer", "{j}");
            *per_vm.entry(j["target_id"].to_string()).or_default() += 1;
        }
    }
    let vendor = small["cpu_vendor"].clone();
    let mut same_vendor = true;
    for v in super::all_vms(&s, &s.admin_token, "limit=1000").await {
        let h = s
            .get_ok(&format!("/api/v1/hosts/{}", v["host_id"].as_str().unwrap()))
            .await;
        same_vendor &= h["cpu_vendor"] == vendor;
    }
    Replay {
        unserved: unserved / demanded,
        migrations: per_vm.values().sum(),
        most_moves_of_a_vm: per_vm.values().copied().max().unwrap_or(0),
        same_vendor,
    }
}

pub(super) async fn balancer_replays_bitbrains_on_the_simulator(store: Store) {
    let off = replay_bitbrains(store, "recommend").await;
    let auto = replay_bitbrains(store, "automatic").await;
    eprintln!("Bitbrains replay ({store:?}): recommend-only {off:?}; automatic {auto:?}");
    assert_eq!(off.migrations, 0, "recommend never migrates");
    assert!(off.unserved > 0.05, "the start is overloaded: {off:?}");
    assert!(
        auto.unserved < 0.5 * off.unserved,
        "automatic halves the unserved demand at least: {auto:?} vs {off:?}"
    );
    let rounds = STEPS / ROUND;
    assert!(
        auto.migrations > 0 && auto.migrations <= 8 * rounds,
        "{auto:?}"
    );
    assert!(
        auto.same_vendor,
        "no migration across CPU vendors: {auto:?}"
    );
    assert!(
        auto.most_moves_of_a_vm <= 2,
        "VMs are not moved back and forth: {auto:?}"
    );
}
