//! The background registry: every activity listed with its schedule, runs recorded with their
//! outcome, the list readable by global admins and auditors only, and the docs generated from it.

use super::*;

/// Every activity on, every 100 ms (the hourly ones keep their hour but run once at start).
fn every_activity_on(c: &mut vdc_server::Config) {
    let fast = Some(Duration::from_millis(100));
    c.sync_interval = fast;
    c.metrics.interval = fast;
    c.metrics.flush_every = Duration::from_millis(100);
    c.ha.interval = fast;
}

pub(super) async fn background_tasks_are_registered_and_report_their_runs(store: Store) {
    let s = TestStack::start_with(StackOptions {
        configure: Some(every_activity_on),
        ..StackOptions::new(store)
    })
    .await;
    let names = [
        "inventory-sync",
        "event-sync",
        "metrics-collection",
        "metrics-write",
        "anomaly-learning",
        "metrics-pruning",
        "load-sampling",
        "balancing",
        "leases",
        "token-pruning",
        "ha",
    ];
    // Each periodic activity runs, and says what it did.
    let tasks = wait_for_condition(
        Duration::from_millis(50),
        Duration::from_secs(30),
        || async {
            let t = s.get_ok("/api/v1/background-tasks").await;
            let all = t.as_array().unwrap().clone();
            all.iter()
                .filter(|t| t["name"] != "event-sync")
                .all(|t| t["runs"].as_u64().unwrap() >= 1 && t["last_result"] == "ok")
                .then_some(all)
        },
    )
    .await;
    let listed: Vec<&str> = tasks.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(listed, names);
    let by = |n: &str| tasks.iter().find(|t| t["name"] == n).unwrap().clone();
    let sync = by("inventory-sync");
    assert_eq!(sync["schedule"], "every 100ms", "{sync}");
    assert_eq!(sync["period_s"], 0.1, "{sync}");
    assert!(
        sync["last_outcome"]
            .as_str()
            .unwrap()
            .starts_with("4 hosts (0 unreachable), 20 VMs"),
        "{sync}"
    );
    assert!(sync["last_started_at"].is_string() && sync["next_run_at"].is_string());
    assert!(
        sync["purpose"].as_str().unwrap().contains("rogue"),
        "{sync}"
    );
    assert_eq!(by("load-sampling")["schedule"], "every 1m");
    // Balancing and leases act on the loads just sampled, one after the other.
    assert_eq!(by("balancing")["schedule"], "after load-sampling");
    assert_eq!(by("leases")["schedule"], "after balancing");
    assert!(by("leases")["next_run_at"].is_null());
    assert_eq!(by("anomaly-learning")["schedule"], "every 1h");
    assert!(
        by("token-pruning")["last_outcome"]
            .as_str()
            .unwrap()
            .ends_with("ended tokens deleted")
    );
    assert_eq!(by("ha")["last_outcome"], "4 hosts judged: 4 alive");
    assert!(
        by("metrics-collection")["last_outcome"]
            .as_str()
            .unwrap()
            .ends_with("series sampled")
    );
    let events = by("event-sync");
    assert_eq!(events["schedule"], "on driver events", "{events}");
    assert!(events["period_s"].is_null() && events["next_run_at"].is_null());

    // Global auditors read it; a department's auditor and an operator may not.
    let auditor = create_user(&s, "bg-auditor", "auditor", None).await;
    let (st, _) = s
        .call("GET", "/api/v1/background-tasks", Some(&auditor), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    let fin = department_id(&s, "finance").await;
    for (name, role) in [("bg-fin-auditor", "auditor"), ("bg-operator", "operator")] {
        let dept = (role == "auditor").then_some(fin.as_str());
        let token = create_user(&s, name, role, dept).await;
        let (st, b) = s
            .call("GET", "/api/v1/background-tasks", Some(&token), None)
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{name}: {b}");
        assert!(!b.to_string().contains("inventory-sync"), "{b}");
    }
    let audit = s
        .get_ok("/api/v1/audit?action=background.read&result=denied")
        .await;
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["actor"] == "bg-fin-auditor"),
        "{audit}"
    );
}

/// A server whose controllers are off says so, and records nothing.
pub(super) async fn background_tasks_off_are_shown_off(store: Store) {
    let s = TestStack::start(store).await;
    let tasks = s.get_ok("/api/v1/background-tasks").await;
    for t in tasks.as_array().unwrap() {
        let expected = if t["name"] == "event-sync" {
            "on driver events"
        } else {
            "off"
        };
        assert_eq!(t["schedule"], expected, "{t}");
        assert_eq!(t["runs"], 0, "{t}");
        assert!(t["next_run_at"].is_null(), "{t}");
    }
}

/// `docs/background-tasks.md` is the registry of a default server
/// (`VDC_UPDATE_DOCS=1` rewrites it).
#[test]
fn background_tasks_doc_matches_the_registry() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/background-tasks.md"
    );
    let generated = vdc_server::background::markdown(&vdc_server::Config::new("sqlite://unused"));
    if std::env::var_os("VDC_UPDATE_DOCS").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/background-tasks.md differs from the registry; run VDC_UPDATE_DOCS=1 cargo nextest run -p vdc-server background"
    );
}
