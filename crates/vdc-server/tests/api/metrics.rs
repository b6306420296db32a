//! Host-side monitoring: the metric store's roll-ups against a direct computation, across a
//! restart and retention; collection from the simulated fleet and charts through the API.

use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;
use vdc_server::app::config::MetricsConfig;
use vdc_server::monitoring::metrics::MetricStore;
use vdc_test_utils::{PrometheusServer, Store, TestStack, wait_for_condition};
use vdc_types::Metric;

const S: i64 = 1000;
const DAY: i64 = 86_400 * S;

/// The test series: CPU cycles through 0–96, memory counts samples, one value missing now
/// and then.
fn sample(i: i64) -> [f32; Metric::COUNT] {
    let mut s = [f32::NAN; Metric::COUNT];
    s[Metric::Cpu.index()] = (i % 97) as f32;
    if i % 50 != 7 {
        s[Metric::MemoryMib.index()] = i as f32;
    }
    s
}

/// Min, mean, max and nearest-rank p95 computed directly.
fn oracle(values: &[f32]) -> [f32; 4] {
    let mut v: Vec<f32> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    v.sort_by(f32::total_cmp);
    let n = v.len();
    let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n as f64;
    let rank = (n * 95).div_ceil(100) - 1;
    [v[0], mean as f32, v[n - 1], v[rank]]
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-3 * b.abs().max(1.0)
}

pub(super) async fn metric_store_rolls_up_restarts_and_prunes(store: Store) {
    let s = TestStack::start(store).await;
    let db = s.app().db.clone();
    let t0 = 20_000 * DAY;
    let step = 20 * S;
    let total = 2 * 4320 + 180; // two days and an hour at 20 s
    let at = |i: i64| t0 + i * step;
    let a = MetricStore::new(db.clone(), Duration::from_secs(20));
    let cut = 2 * 4320 + 100; // a restart in the middle of the last hour
    for i in 0..cut {
        assert!(a.ingest("vm:t", at(i), sample(i)));
        if i % 15 == 14 {
            a.flush(at(i) + 1).await.unwrap();
        }
    }
    assert!(
        !a.ingest("vm:t", at(cut - 1), sample(0)),
        "not newer: dropped"
    );
    a.flush(at(cut - 1) + 1).await.unwrap();
    let b = MetricStore::new(db.clone(), Duration::from_secs(20));
    assert_eq!(
        b.load(at(cut - 1) + 1).await.unwrap(),
        1,
        "the open hour comes back"
    );
    for i in cut..total {
        assert!(b.ingest("vm:t", at(i), sample(i)));
    }
    let end = at(total);
    b.flush(end).await.unwrap();
    assert!(
        db.metric_chunks_in_parts(end, 100)
            .await
            .unwrap()
            .is_empty(),
        "the writes joined every past hour's parts into one chunk"
    );

    let every = Duration::from_secs(20);
    let cpu: Vec<f32> = (0..total).map(|i| sample(i)[Metric::Cpu.index()]).collect();
    let mem: Vec<f32> = (0..total)
        .map(|i| sample(i)[Metric::MemoryMib.index()])
        .collect();
    let check = |got: &vdc_types::MetricSeriesView, values: &[f32], per: usize| {
        assert_eq!(got.t.len(), values.len().div_ceil(per), "points");
        for (k, t) in got.t.iter().enumerate() {
            assert_eq!(*t, t0 + (k * per) as i64 * step);
            let want = oracle(&values[k * per..((k + 1) * per).min(values.len())]);
            let have = [got.min[k], got.mean[k], got.max[k], got.p95[k]];
            for (h, w) in have.iter().zip(want) {
                assert!(close(*h, w), "point {k}: {have:?} vs {want:?}");
            }
        }
    };
    // Two days and an hour: 5-minute roll-ups, across the restart.
    let got = b.series("vm:t", Metric::Cpu, t0, end, every).await.unwrap();
    assert_eq!(got.resolution_s, 300);
    check(&got, &cpu, 15);
    let got = b
        .series("vm:t", Metric::MemoryMib, t0, end, every)
        .await
        .unwrap();
    check(&got, &mem, 15);
    // Ten days: hourly.
    let got = b
        .series("vm:t", Metric::Cpu, end - 10 * DAY, end, every)
        .await
        .unwrap();
    assert_eq!(got.resolution_s, 3600);
    check(&got, &cpu, 180);
    // Two years: daily, for the two whole days.
    let got = b
        .series("vm:t", Metric::MemoryMib, end - 730 * DAY, end, every)
        .await
        .unwrap();
    assert_eq!(got.resolution_s, 86_400);
    check(&got, &mem[..2 * 4320], 4320);
    // An hour: the raw samples.
    let got = b
        .series("vm:t", Metric::Cpu, end - 3600 * S, end, every)
        .await
        .unwrap();
    assert_eq!(got.resolution_s, 0);
    assert_eq!(got.t.len(), 180);
    assert_eq!(got.mean[0], cpu[total as usize - 180]);

    // Retention: three days later raw samples of the first day are gone, roll-ups stay.
    let config = MetricsConfig::default();
    let pruned = b.prune(end + 3 * DAY, &config).await.unwrap();
    assert!(pruned >= 24, "the first day's chunks: {pruned}");
    let raw = b
        .series("vm:t", Metric::Cpu, t0, t0 + 3600 * S, every)
        .await
        .unwrap();
    assert!(raw.t.is_empty(), "raw samples pruned");
    let kept = b.series("vm:t", Metric::Cpu, t0, end, every).await.unwrap();
    check(&kept, &cpu, 15);
}

pub(super) async fn vm_and_host_metrics_through_the_api(store: Store) {
    let mut s = TestStack::start(store).await;
    let vms = s.get_ok("/api/v1/vms?state=running&limit=1").await;
    let vm = vms["items"][0]["id"].as_str().unwrap().to_string();
    let host = vms["items"][0]["host_id"].as_str().unwrap().to_string();
    for _ in 0..3 {
        assert!(s.app().collect_metrics().await.unwrap() > 0);
        s.sim.advance(Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let url = |what: &str, q: &str| format!("/api/v1/{what}/metrics?{q}");
    let cpu = s
        .get_ok(&url(&format!("vms/{vm}"), "metric=cpu&range=1h"))
        .await;
    assert_eq!(cpu["resolution_s"], 0);
    assert_eq!(cpu["unit"], "%");
    // The first reading has no rate yet: two CPU points from three readings.
    assert_eq!(cpu["t"].as_array().unwrap().len(), 2, "{cpu}");
    let busy = cpu["mean"][1].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&busy), "{cpu}");
    let mem = s
        .get_ok(&url(&format!("vms/{vm}"), "metric=memory_mib"))
        .await;
    assert_eq!(mem["t"].as_array().unwrap().len(), 3, "{mem}");
    let hcpu = s.get_ok(&url(&format!("hosts/{host}"), "range=30m")).await;
    assert_eq!(hcpu["metric"], "cpu");
    assert_eq!(hcpu["t"].as_array().unwrap().len(), 3, "{hcpu}");

    // Bad input names its field.
    for (q, field) in [
        ("metric=loudness", "metric"),
        ("range=forever", "range"),
        ("range=1s", "range"),
        ("until=yesterday", "until"),
    ] {
        let (st, b) = s
            .call(
                "GET",
                &url(&format!("vms/{vm}"), q),
                Some(&s.admin_token),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{q}: {b}");
        assert_eq!(b["field"], field, "{q}: {b}");
    }
    // An unknown VM is 404.
    let (st, _) = s
        .call(
            "GET",
            &url(&format!("vms/{}", uuid::Uuid::new_v4()), ""),
            Some(&s.admin_token),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // The samples survive a restart (written at stop, taken back at start).
    s.restart().await;
    let mem = s
        .get_ok(&url(&format!("vms/{vm}"), "metric=memory_mib"))
        .await;
    assert_eq!(mem["t"].as_array().unwrap().len(), 3, "{mem}");
}

/// The value of `metric` in the OpenMetrics text for the series whose labels include
/// `label`.
fn exposed_value(text: &str, metric: &str, label: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")) && l.contains(label))
        .find_map(|l| l.rsplit_once(' ')?.1.parse().ok())
}

pub(super) async fn prometheus_scrapes_hosts_and_vms_with_their_labels(store: Store) {
    let s = TestStack::start(store).await;
    for _ in 0..2 {
        assert!(s.app().collect_metrics().await.unwrap() > 0);
        s.sim.advance(Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let names = |list: Value| {
        list.as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["id"].as_str().unwrap().to_string(),
                    x["name"].as_str().unwrap().to_string(),
                )
            })
            .collect::<std::collections::HashMap<_, _>>()
    };
    let departments = names(s.get_ok("/api/v1/departments").await);
    let clusters = names(s.get_ok("/api/v1/clusters").await);
    let vms = super::all_vms(&s, &s.admin_token, "limit=1000").await;
    let vm = vms
        .iter()
        .find(|v| {
            v["power_state"] == "running"
                && v["department_id"].is_string()
                && v["owner"].is_string()
        })
        .expect("a running VM with an owner and a department")
        .clone();
    let id = vm["id"].as_str().unwrap();
    let department = &departments[vm["department_id"].as_str().unwrap()];
    let host = s
        .get_ok(&format!(
            "/api/v1/hosts/{}",
            vm["host_id"].as_str().unwrap()
        ))
        .await;
    let cluster = &clusters[host["cluster_id"].as_str().unwrap()];
    let cpu = s
        .get_ok(&format!("/api/v1/vms/{id}/metrics?metric=cpu&range=1h"))
        .await;
    let last_cpu = cpu["mean"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_f64()
        .unwrap();

    // Without a token: 401. With one: the OpenMetrics text.
    let (st, _) = s.call("GET", "/metrics", None, None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let r = s
        .http
        .get(format!("{}/metrics", s.base))
        .bearer_auth(&s.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = r.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let label = format!("vm_id=\"{id}\"");
    let line = text
        .lines()
        .find(|l| l.starts_with("vdc_vm_cpu_percent{") && l.contains(&label))
        .unwrap_or_else(|| panic!("no CPU line of {id}: {text}"));
    for (k, v) in [
        ("owner", vm["owner"].as_str().unwrap()),
        ("department", department.as_str()),
        ("cluster", cluster.as_str()),
        ("vm", vm["name"].as_str().unwrap()),
    ] {
        assert!(line.contains(&format!("{k}=\"{v}\"")), "{k}: {line}");
    }
    let exposed = exposed_value(&text, "vdc_vm_cpu_percent", &label).unwrap();
    assert!(
        (exposed - last_cpu).abs() < 1e-3 * last_cpu.max(1.0),
        "{exposed} vs {last_cpu}"
    );
    assert_eq!(
        exposed_value(&text, "vdc_vm_vcpus", &label),
        vm["vcpus"].as_f64()
    );
    assert_eq!(
        exposed_value(&text, "vdc_vm_memory_allocated_bytes", &label),
        Some(vm["memory_mib"].as_f64().unwrap() * 1048576.0)
    );
    let running = vms.iter().filter(|v| v["power_state"] == "running").count();
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("vdc_vm_running{") && l.ends_with(" 1.0"))
            .count(),
        running
    );
    let hosts = s.get_ok("/api/v1/hosts?limit=1000").await;
    let hosts = hosts["items"].as_array().unwrap();
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("vdc_host_cpu_percent{"))
            .count(),
        hosts.len(),
        "every host has its CPU"
    );

    // A department's operator sees that department's VMs only.
    let op = super::create_user(&s, "mona", "operator", vm["department_id"].as_str()).await;
    let r = s
        .http
        .get(format!("{}/metrics", s.base))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let theirs = r.text().await.unwrap();
    let seen: Vec<&str> = theirs
        .lines()
        .filter(|l| l.starts_with("vdc_vm_vcpus{"))
        .collect();
    let expected = vms
        .iter()
        .filter(|v| v["department_id"] == vm["department_id"])
        .count();
    assert_eq!(seen.len(), expected);
    assert!(
        seen.iter()
            .all(|l| l.contains(&format!("department=\"{department}\"")))
    );

    // A real Prometheus scrapes it with a token and stores the series with their labels.
    let target = s.base.trim_start_matches("http://").to_string();
    let prom = PrometheusServer::start(&target, &s.admin_token).await;
    let found = wait_for_condition(Duration::from_millis(200), Duration::from_secs(30), || {
        let q = format!("vdc_vm_cpu_percent{{vm_id=\"{id}\"}}");
        let prom = &prom;
        async move {
            let r = prom.query(&q).await;
            (!r.is_empty()).then_some(r)
        }
    })
    .await;
    let m = &found[0]["metric"];
    assert_eq!(m["owner"], vm["owner"]);
    assert_eq!(m["department"], department.as_str());
    assert_eq!(m["cluster"], cluster.as_str());
    assert_eq!(m["job"], "vdc");
    let scraped: f64 = found[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!((scraped - last_cpu).abs() < 1e-3 * last_cpu.max(1.0));
    let up = prom.query("up{job=\"vdc\"}").await;
    assert_eq!(up[0]["value"][1], "1", "{up:?}");
    let count = prom.query("count(vdc_vm_running == 1)").await;
    assert_eq!(count[0]["value"][1], running.to_string());
}

pub(super) async fn anomalies_open_and_close_against_the_profile(store: Store) {
    let s = TestStack::start(store).await;
    let vms = super::all_vms(&s, &s.admin_token, "state=running&limit=1000").await;
    let vm = vms
        .iter()
        .find(|v| v["department_id"].is_string())
        .expect("a running VM of a department");
    let id = vm["id"].as_str().unwrap();
    let entity = format!("vm:{id}");
    let m = s.app().metric_store();
    let now = vdc_db::now_ms();
    let base = now - now % (300 * S) - 1800 * S;
    let at = |cpu: f32| {
        let mut x = [f32::NAN; Metric::COUNT];
        x[Metric::Cpu.index()] = cpu;
        x[Metric::MemoryMib.index()] = 1000.0;
        x
    };
    // Two days at a steady 20 % (± 3) every minute.
    let mut t = base - 2 * DAY;
    let mut i = 0;
    while t < base {
        assert!(m.ingest(&entity, t, at(20.0 + (i % 7) as f32 - 3.0)));
        t += 60 * S;
        i += 1;
    }
    m.flush(base).await.unwrap();
    assert_eq!(
        s.app().learn_profiles(now).await.unwrap(),
        1,
        "one VM has a day of history"
    );
    let alerts = || async { s.get_ok("/api/v1/alerts").await.as_array().unwrap().clone() };
    // A 5-minute bucket at 95 %, closed by the next bucket's first sample.
    for k in 0..5 {
        assert!(m.ingest(&entity, base + k * 60 * S, at(95.0)));
    }
    assert!(m.ingest(&entity, base + 300 * S, at(95.0)));
    m.flush(base + 300 * S + 1).await.unwrap();
    assert_eq!(
        s.app().detect_anomalies(),
        0,
        "one diverging bucket is not an anomaly"
    );
    assert!(alerts().await.is_empty());
    for k in 1..5 {
        assert!(m.ingest(&entity, base + 300 * S + k * 60 * S, at(95.0)));
    }
    assert!(m.ingest(&entity, base + 600 * S, at(20.0)));
    m.flush(base + 600 * S + 1).await.unwrap();
    assert_eq!(s.app().detect_anomalies(), 1);
    let open = alerts().await;
    assert_eq!(open.len(), 1, "{open:?}");
    let a = &open[0];
    assert_eq!(a["vm_id"], id);
    assert_eq!(a["remedy"], "add_vcpu", "{a}");
    let d = &a["dimensions"][0];
    assert_eq!(d["metric"], "cpu", "{a}");
    assert_eq!(d["unit"], "%");
    assert!((d["value"].as_f64().unwrap() - 95.0).abs() < 0.01, "{a}");
    assert!((d["expected"].as_f64().unwrap() - 20.0).abs() <= 3.0, "{a}");
    assert!(d["score"].as_f64().unwrap() >= 4.0, "{a}");
    assert_eq!(
        a["dimensions"].as_array().unwrap().len(),
        1,
        "memory stayed usual: {a}"
    );
    assert!(a["reason"].as_str().unwrap().contains("95 %"), "{a}");
    // Another department's operator does not see it.
    let departments = s.get_ok("/api/v1/departments").await;
    let other = departments
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] != vm["department_id"])
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let op = super::create_user(&s, "otto", "operator", Some(&other)).await;
    let (st, theirs) = s.call("GET", "/api/v1/alerts", Some(&op), None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(theirs, serde_json::json!([]));
    // Back to usual: the alert closes.
    for k in 1..5 {
        assert!(m.ingest(&entity, base + 600 * S + k * 60 * S, at(20.0)));
    }
    assert!(m.ingest(&entity, base + 900 * S, at(20.0)));
    m.flush(base + 900 * S + 1).await.unwrap();
    assert_eq!(s.app().detect_anomalies(), 0);
    assert!(alerts().await.is_empty());
}
