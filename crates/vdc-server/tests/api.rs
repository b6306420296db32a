//! API integration tests: a whole stack per test (fresh store, server on port 0, simulated
//! hosts), each run against SQLite and against PostgreSQL.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;
use vdc_test_utils::{StackOptions, Store, TestStack, wait_for_condition};

#[path = "api/ops.rs"]
mod ops;
use ops::*;

#[path = "api/placement.rs"]
mod placement;
use placement::*;

#[path = "api/access.rs"]
mod access;
use access::*;

#[path = "api/balancing.rs"]
mod balancing;
use balancing::*;

#[path = "api/ldap.rs"]
mod ldap;
use ldap::*;

#[path = "api/metrics.rs"]
mod metrics;
use metrics::*;

#[path = "api/ha.rs"]
mod ha;
use ha::*;

#[path = "api/reports.rs"]
mod reports;
use reports::*;

#[path = "api/compliance.rs"]
mod compliance;
use compliance::*;

#[path = "api/layout.rs"]
mod layout;

#[path = "api/background.rs"]
mod background;
use background::*;

#[cfg(feature = "libvirt")]
#[path = "api/lab.rs"]
mod lab;

/// Defines `<name>_sqlite` and `<name>_postgres` tests from one async body taking a `Store`.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(vdc_test_utils::Store::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(vdc_test_utils::Store::Postgres).await;
            }
        }
    )*};
}

on_both_stores!(
    login_and_sessions,
    every_endpoint_but_login_and_health_needs_a_token,
    roles_and_department_scope,
    list_filters_and_pagination,
    lifecycle_through_jobs,
    invalid_transitions_are_refused_and_write_nothing,
    generation_conflicts,
    bad_input_is_rejected_and_leaves_the_store_unchanged,
    mutations_are_audited,
    unreachable_host_is_reported,
    jobs_resume_after_a_restart,
    physical_servers_and_inventory_lists,
    rogue_vms_are_flagged_adopted_and_quarantined,
    migration_snapshots_and_stats,
    placement_ratings_explain_and_drive_creation,
    placement_settings_constraints_and_groups,
    host_loads_are_sampled_and_rated,
    capacity_forecast_from_daily_peaks,
    balancer_plans_moves_and_evacuates,
    consolidation_plans_and_what_ifs,
    balancer_memory_pressure_and_power,
    every_endpoint_by_every_role,
    roles_at_department_and_cluster_scope,
    audit_log_search_and_export,
    directory_users_log_in_with_their_groups_roles,
    ldaps_and_an_unreachable_directory,
    metric_store_rolls_up_restarts_and_prunes,
    vm_and_host_metrics_through_the_api,
    prometheus_scrapes_hosts_and_vms_with_their_labels,
    anomalies_open_and_close_against_the_profile,
    vm_restart_settings_refuse_cycles,
    failover_reserve_refuses_starts_with_the_figures,
    failover_hosts_stay_empty_for_normal_placement,
    reports_with_known_answers,
    licences_and_patches_with_known_answers,
    rvtools_export_imports_as_a_read_only_estate,
    vmx_files_import_as_vms_without_hosts,
    dead_host_vms_restart_elsewhere_by_priority,
    failover_resumes_after_a_server_crash_and_fencing_times_out,
    leases_warn_power_off_and_delete,
    money_quotas_warn_grace_deny_and_audit_mode,
    requests_auto_approved_or_approved_in_order,
    scoped_tokens_and_cookie_sessions_with_csrf,
    balancer_replays_bitbrains_on_the_simulator,
    background_tasks_are_registered_and_report_their_runs,
    background_tasks_off_are_shown_off,
);

#[cfg(feature = "libvirt")]
on_both_stores!(libvirt_hosts_are_added_by_uri);

async fn create_user(s: &TestStack, name: &str, role: &str, department: Option<&str>) -> String {
    let (st, b) = s
        .call("POST", "/api/v1/users", Some(&s.admin_token), Some(json!({"username": name, "password": "password-123", "role": role, "department_id": department})))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    s.login(name, "password-123").await
}

async fn department_id(s: &TestStack, name: &str) -> String {
    let ds = s.get_ok("/api/v1/departments").await;
    ds.as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Each of `actions` is among the newest 200 audit records.
async fn assert_audited(s: &TestStack, actions: &[&str]) {
    let audit = s.get_ok("/api/v1/audit?limit=200").await;
    let seen: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    for a in actions {
        assert!(seen.contains(a), "{a} audited: {seen:?}");
    }
}

async fn all_vms(s: &TestStack, token: &str, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut page_token: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/vms?{query}");
        if let Some(t) = &page_token {
            path.push_str(&format!("&page_token={t}"));
        }
        let (st, page) = s.call("GET", &path, Some(token), None).await;
        assert_eq!(st, StatusCode::OK, "{page}");
        out.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_page_token"].as_str() {
            Some(t) => page_token = Some(t.to_string()),
            None => return out,
        }
    }
}

async fn create_vm(s: &TestStack, token: &str, body: Value) -> (String, Value) {
    let (st, acc) = s.call("POST", "/api/v1/vms", Some(token), Some(body)).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{acc}");
    let job = s.wait_job(token, acc["job"]["id"].as_str().unwrap()).await;
    (acc["vm_id"].as_str().unwrap().to_string(), job)
}

async fn act(s: &TestStack, vm: &str, action: &str) -> Value {
    let (st, acc) = s
        .call(
            "POST",
            &format!("/api/v1/vms/{vm}/actions/{action}"),
            Some(&s.admin_token),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{action}: {acc}");
    let job = s
        .wait_job(&s.admin_token, acc["job"]["id"].as_str().unwrap())
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["progress"], 100);
    s.get_ok(&format!("/api/v1/vms/{vm}")).await
}

async fn login_and_sessions(store: Store) {
    let s = TestStack::start(store).await;
    let (st, b) = s
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "admin", "password": "wrong"})),
        )
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(b["code"], "bad_credentials");
    let (st, _) = s
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "nobody", "password": "x"})),
        )
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let token = s.login("admin", vdc_test_utils::ADMIN_PASSWORD).await;
    let (st, me) = s.call("GET", "/api/v1/auth/me", Some(&token), None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(me["username"], "admin");
    assert_eq!(me["roles"][0]["role"], "admin", "{me}");
    assert!(me["roles"][0]["department_id"].is_null(), "global: {me}");
    let (st, _) = s
        .call("POST", "/api/v1/auth/logout", Some(&token), None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = s.call("GET", "/api/v1/auth/me", Some(&token), None).await;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "a revoked token must not work"
    );
    // Only the hash is stored: the token itself appears nowhere in the store.
    assert!(!s.fingerprint().await.contains(&token));
}

async fn every_endpoint_but_login_and_health_needs_a_token(store: Store) {
    let s = TestStack::start(store).await;
    let spec = s.get_ok("/api/v1/openapi.json").await;
    let paths = spec["paths"].as_object().unwrap();
    let mut checked = 0;
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let url = path
                .replace("{id}", &uuid_like())
                .replace("{action}", "start");
            let public = matches!(
                path.as_str(),
                "/api/v1/auth/login" | "/api/v1/auth/session" | "/api/v1/health"
            );
            for token in [None, Some("not-a-valid-token")] {
                let (st, b) = s.call(&method.to_uppercase(), &url, token, None).await;
                if public {
                    assert_ne!(
                        st,
                        StatusCode::UNAUTHORIZED,
                        "{method} {path} must be public"
                    );
                } else {
                    assert_eq!(
                        st,
                        StatusCode::UNAUTHORIZED,
                        "{method} {path} without a valid token: {b}"
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 25, "only {checked} operations in the spec");
}

fn uuid_like() -> String {
    "0190a000-0000-7000-8000-000000000000".into()
}

async fn roles_and_department_scope(store: Store) {
    let s = TestStack::start(store).await;
    let finance = department_id(&s, "finance").await;
    let viewer = create_user(&s, "vera", "viewer", None).await;
    let fin_op = create_user(&s, "fiona", "operator", Some(&finance)).await;

    // A viewer reads but cannot create, and the refusal is audited.
    let (st, _) = s.call("GET", "/api/v1/vms", Some(&viewer), None).await;
    assert_eq!(st, StatusCode::OK);
    let before = s.fingerprint().await;
    let (st, b) = s
        .call(
            "POST",
            "/api/v1/vms",
            Some(&viewer),
            Some(json!({"name": "v1", "vcpus": 1, "memory_mib": 512})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{b}");
    assert_eq!(s.fingerprint().await, before);
    let audit = s.get_ok("/api/v1/audit?limit=5").await;
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["actor"] == "vera" && a["result"] == "denied")
    );
    // Non-admins cannot read users or the audit log.
    assert_eq!(
        s.call("GET", "/api/v1/users", Some(&viewer), None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.call("GET", "/api/v1/audit", Some(&fin_op), None).await.0,
        StatusCode::FORBIDDEN
    );

    // A department-scoped operator sees only that department's VMs.
    let all = all_vms(&s, &s.admin_token, "limit=1000").await;
    let mine = all_vms(&s, &fin_op, "limit=1000").await;
    assert!(
        !mine.is_empty() && mine.len() < all.len(),
        "finance sees {} of {}",
        mine.len(),
        all.len()
    );
    assert!(mine.iter().all(|v| v["department_id"] == finance.as_str()));
    let other = all
        .iter()
        .find(|v| v["department_id"] != finance.as_str())
        .unwrap();
    let other_id = other["id"].as_str().unwrap();
    assert_eq!(
        s.call(
            "GET",
            &format!("/api/v1/vms/{other_id}"),
            Some(&fin_op),
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let (st, _) = s
        .call(
            "POST",
            &format!("/api/v1/vms/{other_id}/actions/stop"),
            Some(&fin_op),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // Creating in another department is forbidden; in its own it works.
    let engineering = department_id(&s, "engineering").await;
    let (st, _) = s
        .call(
            "POST",
            "/api/v1/vms",
            Some(&fin_op),
            Some(
                json!({"name": "x1", "vcpus": 1, "memory_mib": 512, "department_id": engineering}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (vm, job) = create_vm(
        &s,
        &fin_op,
        json!({"name": "fin-app", "vcpus": 1, "memory_mib": 512}),
    )
    .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let v = s.get_ok(&format!("/api/v1/vms/{vm}")).await;
    assert_eq!(v["department_id"], finance.as_str());
    assert_eq!(v["owner"], "fiona");
    // An admin-only action by an operator.
    let (st, _) = s
        .call(
            "POST",
            "/api/v1/departments",
            Some(&fin_op),
            Some(json!({"name": "x", "cost_centre": "1"})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

async fn list_filters_and_pagination(store: Store) {
    let s = TestStack::start_with(StackOptions {
        vms: 60,
        ..StackOptions::new(store)
    })
    .await;
    let t = s.admin_token.clone();
    let all = all_vms(&s, &t, "limit=1000").await;
    assert_eq!(all.len(), 60);

    // Walking pages of 7 returns every VM once, in (name, id) order.
    let paged = all_vms(&s, &t, "limit=7").await;
    let names: Vec<&str> = paged.iter().map(|v| v["name"].as_str().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let ids: BTreeSet<&str> = paged.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 60);

    // Each filter returns exactly the VMs the oracle (a scan of the full list) says.
    let host = all[0]["host_id"].as_str().unwrap().to_string();
    let owner = all[0]["owner"].as_str().unwrap().to_string();
    let dept = all[0]["department_id"].as_str().unwrap().to_string();
    let tag = all[0]["tags"][0].as_str().unwrap().to_string();
    type Pred = Box<dyn Fn(&Value) -> bool>;
    let cases: Vec<(String, Pred)> = vec![
        (
            format!("host_id={host}"),
            Box::new(move |v: &Value| v["host_id"] == host.as_str()),
        ),
        (
            "state=running".into(),
            Box::new(|v: &Value| v["power_state"] == "running"),
        ),
        (
            "state=shutoff".into(),
            Box::new(|v: &Value| v["power_state"] == "shutoff"),
        ),
        (
            format!("owner={owner}"),
            Box::new(move |v: &Value| v["owner"] == owner.as_str()),
        ),
        (
            format!("department_id={dept}"),
            Box::new(move |v: &Value| v["department_id"] == dept.as_str()),
        ),
        (
            format!("tag={tag}"),
            Box::new(move |v: &Value| {
                v["tags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x == tag.as_str())
            }),
        ),
        (
            "name_prefix=vm-00001".into(),
            Box::new(|v: &Value| v["name"].as_str().unwrap().starts_with("vm-00001")),
        ),
    ];
    for (q, pred) in cases {
        let got: BTreeSet<String> = all_vms(&s, &t, &format!("{q}&limit=5"))
            .await
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect();
        let want: BTreeSet<String> = all
            .iter()
            .filter(|v| pred(v))
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect();
        assert!(!want.is_empty(), "{q} matches nothing; pick another sample");
        assert_eq!(got, want, "filter {q}");
    }
    // Cluster filter: every VM of the first cluster's hosts.
    let clusters = s.get_ok("/api/v1/clusters").await;
    let c = clusters[0]["id"].as_str().unwrap();
    let in_cluster = all_vms(&s, &t, &format!("cluster_id={c}")).await;
    assert_eq!(in_cluster.len(), 60, "4 hosts form one cluster");
    // Combined filters intersect.
    let running_dept = all_vms(
        &s,
        &t,
        &format!(
            "state=running&department_id={}",
            all[0]["department_id"].as_str().unwrap()
        ),
    )
    .await;
    assert!(running_dept.iter().all(|v| v["power_state"] == "running" && v["department_id"] == all[0]["department_id"]));

    // Hosts paginate too.
    let (st, page) = s.call("GET", "/api/v1/hosts?limit=3", Some(&t), None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    let next = page["next_page_token"].as_str().unwrap();
    let page2 = s
        .get_ok(&format!("/api/v1/hosts?limit=3&page_token={next}"))
        .await;
    assert_eq!(page2["items"].as_array().unwrap().len(), 1);
    assert!(page2.get("next_page_token").is_none());

    // Bad pagination input names the field.
    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=100000", "limit"),
        ("page_token=garbage", "page_token"),
        ("state=sleeping", "state"),
        ("colour=red", "colour"),
    ] {
        let (st, b) = s
            .call("GET", &format!("/api/v1/vms?{q}"), Some(&t), None)
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{q}: {b}");
        assert_eq!(b["field"], field, "{q}: {b}");
    }
}

async fn lifecycle_through_jobs(store: Store) {
    let s = TestStack::start(store).await;
    let (vm, job) = create_vm(
        &s,
        &s.admin_token,
        json!({"name": "web-01", "vcpus": 2, "memory_mib": 2048, "disks": [{"size_gib": 20}], "nics": [{"network": "default"}], "tags": ["web"], "start": true}),
    )
    .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["steps"].as_array().unwrap().len(), 3);
    let v = s.get_ok(&format!("/api/v1/vms/{vm}")).await;
    assert_eq!(v["power_state"], "running");
    assert_eq!(v["created_by"], "admin");
    assert_eq!(v["disks"][0]["size_gib"], 20);
    let uuid: uuid::Uuid = vm.parse().unwrap();
    let (_, on_host) = s
        .sim
        .find_vm(uuid)
        .expect("the VM is defined on a simulated host");
    assert_eq!(on_host.state, vdc_types::PowerState::Running);
    assert_eq!(on_host.metadata.owner.as_deref(), Some("admin"));

    assert_eq!(act(&s, &vm, "suspend").await["power_state"], "paused");
    assert_eq!(act(&s, &vm, "resume").await["power_state"], "running");
    // A graceful shutdown goes through shutting_down; the job waits for the guest.
    assert_eq!(act(&s, &vm, "shutdown").await["power_state"], "shutoff");
    assert_eq!(act(&s, &vm, "start").await["power_state"], "running");
    assert_eq!(act(&s, &vm, "stop").await["power_state"], "shutoff");

    let (st, acc) = s
        .call(
            "DELETE",
            &format!("/api/v1/vms/{vm}"),
            Some(&s.admin_token),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    let job = s
        .wait_job(&s.admin_token, acc["job"]["id"].as_str().unwrap())
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(
        s.call(
            "GET",
            &format!("/api/v1/vms/{vm}"),
            Some(&s.admin_token),
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert!(
        s.sim.find_vm(uuid).is_none(),
        "the VM is gone from the host too"
    );

    // A client-chosen id makes creation retry-safe: the same request again is a conflict.
    let chosen = "0190a000-0000-7000-8000-00000000c0de";
    let body = json!({"name": "chosen-id", "vcpus": 1, "memory_mib": 256});
    let (st, acc) = s
        .call(
            "POST",
            &format!("/api/v1/vms/{chosen}"),
            Some(&s.admin_token),
            Some(body.clone()),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{acc}");
    assert_eq!(acc["vm_id"], chosen);
    s.wait_job(&s.admin_token, acc["job"]["id"].as_str().unwrap())
        .await;
    let (st, b) = s
        .call(
            "POST",
            &format!("/api/v1/vms/{chosen}"),
            Some(&s.admin_token),
            Some(body),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{b}");
    assert!(s.sim.find_vm(chosen.parse().unwrap()).is_some());

    // The jobs list shows them, newest first.
    let jobs = s.get_ok("/api/v1/jobs?limit=3").await;
    assert_eq!(jobs["items"][0]["kind"], "vm.create");
    assert_eq!(jobs["items"][1]["kind"], "vm.delete");

    // A driver failure fails the job and undoes the creation: nothing left behind.
    s.sim.fail_next(vdc_driver::sim::SimOp::Start, 1);
    let (bad, job) = create_vm(
        &s,
        &s.admin_token,
        json!({"name": "doomed", "vcpus": 1, "memory_mib": 512, "start": true}),
    )
    .await;
    assert_eq!(job["state"], "failed");
    assert!(
        job["error"].as_str().unwrap().contains("simulated failure"),
        "{job}"
    );
    assert_eq!(
        s.call(
            "GET",
            &format!("/api/v1/vms/{bad}"),
            Some(&s.admin_token),
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert!(
        s.sim.find_vm(bad.parse().unwrap()).is_none(),
        "the failed VM was undefined"
    );
}

async fn invalid_transitions_are_refused_and_write_nothing(store: Store) {
    let s = TestStack::start(store).await;
    let vms = all_vms(&s, &s.admin_token, "state=running&limit=1").await;
    let running = vms[0]["id"].as_str().unwrap();
    let before = s.fingerprint().await;
    for action in ["start", "resume"] {
        let (st, b) = s
            .call(
                "POST",
                &format!("/api/v1/vms/{running}/actions/{action}"),
                Some(&s.admin_token),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "{action}: {b}");
        assert_eq!(b["code"], "invalid_state_transition");
        assert!(b["message"].as_str().unwrap().contains("running"), "{b}");
    }
    let off = all_vms(&s, &s.admin_token, "state=shutoff&limit=1").await;
    let off = off[0]["id"].as_str().unwrap();
    for action in ["shutdown", "stop", "suspend", "resume"] {
        let (st, b) = s
            .call(
                "POST",
                &format!("/api/v1/vms/{off}/actions/{action}"),
                Some(&s.admin_token),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "{action}: {b}");
    }
    let (st, b) = s
        .call(
            "POST",
            &format!("/api/v1/vms/{off}/actions/explode"),
            Some(&s.admin_token),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(b["field"], "action");
    assert_eq!(
        s.fingerprint().await,
        before,
        "refused transitions must not write"
    );
}

async fn generation_conflicts(store: Store) {
    let s = TestStack::start(store).await;
    let vm = all_vms(&s, &s.admin_token, "state=running&limit=1")
        .await
        .remove(0);
    let id = vm["id"].as_str().unwrap().to_string();
    let g = vm["generation"].as_i64().unwrap();
    let path = format!("/api/v1/vms/{id}");
    let (st, v) = s
        .call(
            "PATCH",
            &path,
            Some(&s.admin_token),
            Some(json!({"purpose": "billing", "generation": g})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["generation"], g + 1);
    assert_eq!(v["purpose"], "billing");
    // The same (now stale) generation is refused and changes nothing.
    let before = s.fingerprint().await;
    let (st, b) = s
        .call(
            "PATCH",
            &path,
            Some(&s.admin_token),
            Some(json!({"purpose": "lost update", "generation": g})),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{b}");
    assert_eq!(s.fingerprint().await, before);

    // Driver reports: a late (older) report never overwrites a fresher one.
    let uuid: uuid::Uuid = id.parse().unwrap();
    s.sim
        .poke_state(uuid, vdc_types::PowerState::Crashed)
        .unwrap();
    let r = s.sync().await;
    assert!(r.updated >= 1, "{r:?}");
    let v = s.get_ok(&path).await;
    assert_eq!(v["power_state"], "crashed");
    let fresh_gen = v["runtime_generation"].as_i64().unwrap();
    let vm_row = s.app().db.get_vm(vdc_types::VmId(uuid)).await.unwrap();
    let late = vdc_db::VmReport {
        id: vm_row.id,
        name: vm_row.name.clone(),
        host_id: vm_row.host_id.unwrap(),
        cluster_id: vm_row.cluster_id.unwrap(),
        vcpus: vm_row.vcpus,
        memory_mib: vm_row.memory_mib,
        disks: vm_row.disks.clone(),
        nics: vm_row.nics.clone(),
        power_state: vdc_types::PowerState::Running,
        runtime_gen: fresh_gen - 1,
        guest_os: vdc_types::GuestOs::from_libosinfo("http://opensuse.org/opensuse/15.4"),
    };
    let os_before = s.app().db.guest_os(vm_row.id).await.unwrap();
    assert!(
        !s.app().db.apply_vm_report(&late).await.unwrap(),
        "an older report must not apply"
    );
    assert!(
        !s.app()
            .db
            .apply_vm_report(&vdc_db::VmReport {
                runtime_gen: fresh_gen,
                ..late.clone()
            })
            .await
            .unwrap(),
        "an equal one neither"
    );
    assert_eq!(s.get_ok(&path).await["power_state"], "crashed");
    assert_eq!(
        s.app().db.guest_os(vm_row.id).await.unwrap(),
        os_before,
        "nor its guest OS"
    );
    assert!(
        s.app()
            .db
            .apply_vm_report(&vdc_db::VmReport {
                runtime_gen: fresh_gen + 1,
                ..late
            })
            .await
            .unwrap()
    );
    assert_eq!(s.get_ok(&path).await["power_state"], "running");
    assert_eq!(
        s.app().db.guest_os(vm_row.id).await.unwrap().map(|g| g.os),
        Some("opensuse".to_string()),
        "a fresh report brings its guest OS"
    );
    // A resync then reports the host's (older) generation: stale, ignored.
    let r = s.sync().await;
    assert!(r.stale >= 1, "{r:?}");
}

async fn bad_input_is_rejected_and_leaves_the_store_unchanged(store: Store) {
    let s = TestStack::start(store).await;
    let t = s.admin_token.clone();
    let before = s.fingerprint().await;
    let audit_before = s.audit_count().await;
    let good = json!({"name": "ok-name", "vcpus": 1, "memory_mib": 512});
    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        b[k] = v;
        b
    };
    let cases: Vec<(Value, &str)> = vec![
        (with("colour", json!("red")), "colour"),
        (with("vcpus", json!(-1)), "vcpus"),
        (with("vcpus", json!(0)), "vcpus"),
        (with("vcpus", json!(100000)), "vcpus"),
        (with("memory_mib", json!(1u64 << 50)), "memory_mib"),
        (with("memory_mib", json!("lots")), "memory_mib"),
        (with("name", json!("x".repeat(64))), "name"),
        (with("name", json!("")), "name"),
        (with("name", json!("bad name")), "name"),
        (with("disks", json!([{"size_gib": 0}])), "disks[0].size_gib"),
        (
            with("disks", json!([{"size_gib": 10, "iops": 5}])),
            "disks[0].iops",
        ),
        (with("tags", json!(["ok", ""])), "tags[1]"),
        (
            with("lease_expires_at", json!("next tuesday")),
            "lease_expires_at",
        ),
        (with("host_id", json!("not-a-uuid")), "host_id"),
        (
            with("host_id", json!("0190a000-0000-7000-8000-000000000000")),
            "host_id",
        ),
        (
            with(
                "department_id",
                json!("0190a000-0000-7000-8000-000000000000"),
            ),
            "department_id",
        ),
        (json!({"vcpus": 1, "memory_mib": 512}), "name"),
    ];
    for (body, field) in cases {
        let (st, b) = s
            .call("POST", "/api/v1/vms", Some(&t), Some(body.clone()))
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {b}");
        assert_eq!(b["field"], field, "{body}: {b}");
        assert_eq!(b["code"], "invalid_input");
    }
    for (ct, raw, field) in [
        ("application/json", "{\"name\": ", "name"),
        ("application/json", "not json", "body"),
        ("text/plain", "{}", "content-type"),
        ("application/json", "[1,2]", "body"),
    ] {
        let (st, b) = s.call_raw("POST", "/api/v1/vms", &t, ct, raw).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{raw}: {b}");
        assert_eq!(b["field"], field, "{raw}: {b}");
    }
    // Unknown and malformed ids.
    let missing = "0190a000-0000-7000-8000-000000000000";
    for (m, p) in [
        ("GET", format!("/api/v1/vms/{missing}")),
        ("DELETE", format!("/api/v1/vms/{missing}")),
        ("GET", format!("/api/v1/hosts/{missing}")),
        ("GET", format!("/api/v1/jobs/{missing}")),
    ] {
        assert_eq!(
            s.call(m, &p, Some(&t), None).await.0,
            StatusCode::NOT_FOUND,
            "{m} {p}"
        );
    }
    let (st, b) = s.call("GET", "/api/v1/vms/12345", Some(&t), None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(b["field"], "id");
    let (st, _) = s
        .call(
            "PATCH",
            &format!("/api/v1/vms/{missing}"),
            Some(&t),
            Some(json!({"purpose": "x"})),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let vm = all_vms(&s, &t, "limit=1").await.remove(0);
    let (st, b) = s
        .call(
            "PATCH",
            &format!("/api/v1/vms/{}", vm["id"].as_str().unwrap()),
            Some(&t),
            Some(json!({"tags": vec!["a"; 40]})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{b}");
    // Duplicate names and users are conflicts.
    let (st, _) = s
        .call(
            "POST",
            "/api/v1/vms",
            Some(&t),
            Some(with("name", vm["name"].clone())),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    for (user, field) in [
        (
            json!({"username": "u1", "password": "short", "role": "viewer"}),
            "password",
        ),
        (
            json!({"username": "u1", "password": "long-enough", "role": "emperor"}),
            "role",
        ),
    ] {
        let (st, b) = s.call("POST", "/api/v1/users", Some(&t), Some(user)).await;
        assert_eq!(
            (st, b["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field))
        );
    }
    // No capacity: 507 with the reasons.
    let (st, b) = s
        .call(
            "POST",
            "/api/v1/vms",
            Some(&t),
            Some(with("memory_mib", json!(12 * 1024 * 1024))),
        )
        .await;
    assert_eq!(st.as_u16(), 507, "{b}");
    assert!(b["message"].as_str().unwrap().contains("not enough"), "{b}");

    assert_eq!(
        s.fingerprint().await,
        before,
        "rejected requests must not write anything"
    );
    assert_eq!(
        s.audit_count().await,
        audit_before,
        "input errors are refused before anything is recorded"
    );
}

async fn mutations_are_audited(store: Store) {
    let s = TestStack::start(store).await;
    let (vm, _) = create_vm(
        &s,
        &s.admin_token,
        json!({"name": "audited", "vcpus": 1, "memory_mib": 256}),
    )
    .await;
    let (st, _) = s
        .call(
            "PATCH",
            &format!("/api/v1/vms/{vm}"),
            Some(&s.admin_token),
            Some(json!({"owner": "carol"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    act(&s, &vm, "start").await;
    let (_, acc) = s
        .call(
            "DELETE",
            &format!("/api/v1/vms/{vm}"),
            Some(&s.admin_token),
            None,
        )
        .await;
    s.wait_job(&s.admin_token, acc["job"]["id"].as_str().unwrap())
        .await;
    let (st, _) = s
        .call(
            "POST",
            "/api/v1/departments",
            Some(&s.admin_token),
            Some(json!({"name": "legal", "cost_centre": "CC-9"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let audit = s.get_ok("/api/v1/audit?limit=100").await;
    let items = audit["items"].as_array().unwrap();
    for action in [
        "vm.create",
        "vm.update",
        "vm.start",
        "vm.delete",
        "department.create",
        "auth.login",
    ] {
        let rec = items
            .iter()
            .find(|a| a["action"] == action)
            .unwrap_or_else(|| panic!("no audit record for {action}: {audit}"));
        assert_eq!(rec["actor"], "admin");
        assert_eq!(rec["result"], "ok");
        assert!(rec["at"].as_str().unwrap().ends_with('Z'));
    }
    let create = items.iter().find(|a| a["action"] == "vm.create").unwrap();
    assert_eq!(create["target_kind"], "vm");
    assert_eq!(create["target_id"], vm.as_str());
    // Newest first.
    assert_eq!(items[0]["action"], "department.create");
}

async fn unreachable_host_is_reported(store: Store) {
    let s = TestStack::start(store).await;
    s.sim.set_host_down(1, true);
    let r = s.sync().await;
    assert_eq!(r.unreachable, 1);
    let hosts = s.get_ok("/api/v1/hosts?state=unreachable").await;
    let items = hosts["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert!(
        items[0]["state_reason"]
            .as_str()
            .unwrap()
            .contains("simulated host failure")
    );
    // Placement avoids it: a VM pinned there is refused with the reason.
    let (st, b) = s
        .call(
            "POST",
            "/api/v1/vms",
            Some(&s.admin_token),
            Some(
                json!({"name": "pinned", "vcpus": 1, "memory_mib": 256, "host_id": items[0]["id"]}),
            ),
        )
        .await;
    assert_eq!(st.as_u16(), 507, "{b}");
    assert!(b["message"].as_str().unwrap().contains("unreachable"));
    s.sim.set_host_down(1, false);
    s.sync().await;
    let hosts = s.get_ok("/api/v1/hosts?state=unreachable").await;
    assert!(hosts["items"].as_array().unwrap().is_empty());
}

async fn jobs_resume_after_a_restart(store: Store) {
    let mut s = TestStack::start(store).await;
    let (vm, _) = create_vm(
        &s,
        &s.admin_token,
        json!({"name": "resumable", "vcpus": 1, "memory_mib": 256}),
    )
    .await;
    let vm_id: vdc_types::VmId = vm.parse().unwrap();
    // A start job that "crashed" after being journaled but before any step ran, and a create
    // job for a VM already defined on its host (the define step will be replayed).
    let start = vdc_server::jobs::new_job(
        vdc_server::jobs::JobSpec::VmAction {
            vm_id,
            action: vdc_types::VmAction::Start,
        },
        "admin",
    );
    s.app().db.insert_job(&start).await.unwrap();
    s.app()
        .db
        .update_job(start.id, vdc_types::JobState::Running, 0, None)
        .await
        .unwrap();
    let replay = vdc_server::jobs::new_job(
        vdc_server::jobs::JobSpec::VmCreate {
            vm_id,
            start: false,
            boot: None,
        },
        "admin",
    );
    s.app().db.insert_job(&replay).await.unwrap();
    s.restart().await;
    let j = s.wait_job(&s.admin_token, &start.id.to_string()).await;
    assert_eq!(j["state"], "succeeded", "{j}");
    let j = s.wait_job(&s.admin_token, &replay.id.to_string()).await;
    assert_eq!(
        j["state"], "succeeded",
        "replaying define must be harmless: {j}"
    );
    let v = wait_for_condition(
        Duration::from_millis(50),
        Duration::from_secs(10),
        || async {
            let v = s.get_ok(&format!("/api/v1/vms/{vm}")).await;
            (v["power_state"] == "running").then_some(v)
        },
    )
    .await;
    assert_eq!(v["name"], "resumable");
}

async fn physical_servers_and_inventory_lists(store: Store) {
    let s = TestStack::start(store).await;
    let t = s.admin_token.clone();
    let (st, p) = s
        .call("POST", "/api/v1/physical-servers", Some(&t), Some(json!({"name": "db-metal-1", "serial": "SN123", "cpu_model": "EPYC 7543", "sockets": 2, "cores_per_socket": 32, "memory_mib": 524288, "purpose": "oracle"})))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    let list = s.get_ok("/api/v1/physical-servers").await;
    assert_eq!(list[0]["name"], "db-metal-1");
    let (st, _) = s
        .call(
            "POST",
            "/api/v1/physical-servers",
            Some(&t),
            Some(
                json!({"name": "db-metal-1", "sockets": 1, "cores_per_socket": 1, "memory_mib": 1}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(s.get_ok("/api/v1/sites").await.as_array().unwrap().len(), 1);
    let ds = s.get_ok("/api/v1/datastores").await;
    assert!(!ds.as_array().unwrap().is_empty());
    let nets = s.get_ok("/api/v1/networks").await;
    assert!(
        nets.as_array()
            .unwrap()
            .iter()
            .any(|n| n["name"] == "default")
    );
    let host = s.get_ok("/api/v1/hosts?limit=1").await["items"][0].clone();
    assert!(host["memory_mib"].as_u64().unwrap() > 0);
    assert!(host["sockets"].as_u64().unwrap() > 0);
    assert!(!host["cpu_model"].as_str().unwrap().is_empty());
    assert!(!host["numa_cells"].as_array().unwrap().is_empty());
    assert_eq!(
        s.get_ok("/api/v1/health").await["store"],
        if store == Store::Sqlite {
            "sqlite"
        } else {
            "postgres"
        }
    );
}

#[test]
fn openapi_document_is_checked_in() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/vdc.json");
    let generated = vdc_server::http::openapi_json();
    if std::env::var_os("VDC_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "openapi/vdc.json differs from the API the code serves; run `VDC_UPDATE_OPENAPI=1 cargo nextest run -p vdc-server openapi` and commit it"
    );
}
