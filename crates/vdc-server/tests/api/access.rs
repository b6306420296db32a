//! Who may call what: the golden list of every API operation × every built-in role, and roles
//! at department and cluster scope, custom roles, grants and revocations.

use reqwest::StatusCode;
use serde_json::{Value, json};
use vdc_test_utils::{StackOptions, Store, TestStack};

const ADMIN: &[&str] = &["admin"];
const EVERYONE: &[&str] = &[
    "admin",
    "operator",
    "requester",
    "approver",
    "auditor",
    "viewer",
];
const OPERATORS: &[&str] = &["admin", "operator"];
const AUDITORS: &[&str] = &["admin", "auditor"];

/// Every operation of the API and the built-in roles (held globally) that may call it. An
/// operation missing here fails the test: a new endpoint needs its line.
const GOLDEN: &[(&str, &str, &[&str])] = &[
    ("GET", "/api/v1/health", EVERYONE),
    ("POST", "/api/v1/auth/login", EVERYONE),
    ("GET", "/api/v1/auth/me", EVERYONE),
    ("POST", "/api/v1/auth/logout", EVERYONE),
    ("POST", "/api/v1/auth/session", EVERYONE),
    ("GET", "/api/v1/tokens", EVERYONE),
    ("POST", "/api/v1/tokens", EVERYONE),
    ("DELETE", "/api/v1/tokens/{id}", EVERYONE),
    ("GET", "/api/v1/roles", EVERYONE),
    ("POST", "/api/v1/roles", ADMIN),
    ("GET", "/api/v1/users", ADMIN),
    ("POST", "/api/v1/users", ADMIN),
    ("POST", "/api/v1/users/{id}/roles", ADMIN),
    ("DELETE", "/api/v1/users/{id}/roles/{binding}", ADMIN),
    ("GET", "/api/v1/departments", EVERYONE),
    ("POST", "/api/v1/departments", ADMIN),
    ("GET", "/api/v1/departments/{id}/quota", EVERYONE),
    ("PUT", "/api/v1/departments/{id}/quota", ADMIN),
    ("GET", "/api/v1/price-list", EVERYONE),
    ("GET", "/api/v1/requests", EVERYONE),
    (
        "POST",
        "/api/v1/requests",
        &["admin", "operator", "requester"],
    ),
    ("GET", "/api/v1/requests/{id}", EVERYONE),
    (
        "POST",
        "/api/v1/requests/{id}/approve",
        &["admin", "approver"],
    ),
    (
        "POST",
        "/api/v1/requests/{id}/reject",
        &["admin", "approver"],
    ),
    ("PUT", "/api/v1/price-list", ADMIN),
    ("GET", "/api/v1/audit", AUDITORS),
    ("GET", "/api/v1/audit/export", AUDITORS),
    ("GET", "/api/v1/background-tasks", AUDITORS),
    ("GET", "/api/v1/jobs", EVERYONE),
    ("GET", "/api/v1/jobs/{id}", EVERYONE),
    ("GET", "/api/v1/sites", EVERYONE),
    ("GET", "/api/v1/clusters", EVERYONE),
    ("PATCH", "/api/v1/clusters/{id}", ADMIN),
    ("GET", "/api/v1/clusters/{id}/ha", EVERYONE),
    ("PUT", "/api/v1/clusters/{id}/ha", ADMIN),
    ("GET", "/api/v1/vms/{id}/ha", EVERYONE),
    ("PUT", "/api/v1/vms/{id}/ha", OPERATORS),
    ("GET", "/api/v1/datastores", EVERYONE),
    ("GET", "/api/v1/volumes", EVERYONE),
    ("GET", "/api/v1/networks", EVERYONE),
    ("GET", "/api/v1/hosts", EVERYONE),
    ("POST", "/api/v1/hosts", ADMIN),
    ("GET", "/api/v1/hosts/{id}", EVERYONE),
    ("PATCH", "/api/v1/hosts/{id}", ADMIN),
    ("DELETE", "/api/v1/hosts/{id}", ADMIN),
    ("GET", "/api/v1/hosts/{id}/stats", EVERYONE),
    ("GET", "/api/v1/hosts/{id}/metrics", EVERYONE),
    ("GET", "/metrics", EVERYONE),
    ("GET", "/api/v1/alerts", EVERYONE),
    ("GET", "/api/v1/reports/sprawl", EVERYONE),
    ("GET", "/api/v1/reports/chargeback", EVERYONE),
    ("GET", "/api/v1/reports/licences", EVERYONE),
    ("GET", "/api/v1/reports/patches", EVERYONE),
    ("GET", "/api/v1/licences", EVERYONE),
    ("PUT", "/api/v1/licences/{name}", ADMIN),
    ("DELETE", "/api/v1/licences/{name}", ADMIN),
    ("GET", "/api/v1/os-baselines", EVERYONE),
    ("PUT", "/api/v1/os-baselines/{os}", ADMIN),
    ("DELETE", "/api/v1/os-baselines/{os}", ADMIN),
    ("GET", "/api/v1/vms/{id}/guest-os", EVERYONE),
    ("PUT", "/api/v1/vms/{id}/guest-os", OPERATORS),
    ("DELETE", "/api/v1/vms/{id}/guest-os", OPERATORS),
    ("POST", "/api/v1/imports/rvtools", ADMIN),
    ("POST", "/api/v1/imports/vmx", ADMIN),
    ("POST", "/api/v1/hosts/{id}/evacuate", ADMIN),
    ("POST", "/api/v1/hosts/{id}/standby", ADMIN),
    ("POST", "/api/v1/hosts/{id}/wake", ADMIN),
    ("POST", "/api/v1/sync", ADMIN),
    ("GET", "/api/v1/physical-servers", EVERYONE),
    ("POST", "/api/v1/physical-servers", OPERATORS),
    ("GET", "/api/v1/vms", EVERYONE),
    ("POST", "/api/v1/vms", OPERATORS),
    ("POST", "/api/v1/vm-groups", OPERATORS),
    ("GET", "/api/v1/vms/{id}", EVERYONE),
    ("POST", "/api/v1/vms/{id}", OPERATORS),
    ("PATCH", "/api/v1/vms/{id}", OPERATORS),
    ("DELETE", "/api/v1/vms/{id}", OPERATORS),
    ("POST", "/api/v1/vms/{id}/actions/{action}", OPERATORS),
    ("POST", "/api/v1/vms/{id}/migrate", OPERATORS),
    ("GET", "/api/v1/vms/{id}/snapshots", EVERYONE),
    ("POST", "/api/v1/vms/{id}/snapshots", OPERATORS),
    (
        "POST",
        "/api/v1/vms/{id}/snapshots/{name}/revert",
        OPERATORS,
    ),
    ("DELETE", "/api/v1/vms/{id}/snapshots/{name}", OPERATORS),
    ("GET", "/api/v1/vms/{id}/stats", EVERYONE),
    ("GET", "/api/v1/vms/{id}/metrics", EVERYONE),
    ("GET", "/api/v1/vms/{id}/placement", EVERYONE),
    ("POST", "/api/v1/vms/{id}/adopt", ADMIN),
    ("POST", "/api/v1/vms/{id}/quarantine", ADMIN),
    ("POST", "/api/v1/placement/ratings", EVERYONE),
    ("GET", "/api/v1/plans/forecast", EVERYONE),
    ("GET", "/api/v1/plans/balance", EVERYONE),
    ("POST", "/api/v1/plans/consolidate", EVERYONE),
];

pub(super) async fn every_endpoint_by_every_role(store: Store) {
    let s = TestStack::start(store).await;
    let spec = s.get_ok("/api/v1/openapi.json").await;
    let mut ops: Vec<(String, String)> = Vec::new();
    for (path, methods) in spec["paths"].as_object().unwrap() {
        for m in methods.as_object().unwrap().keys() {
            ops.push((m.to_uppercase(), path.clone()));
        }
    }
    for (m, p) in &ops {
        assert!(
            GOLDEN.iter().any(|(gm, gp, _)| gm == m && gp == p),
            "{m} {p} has no line in the golden list of endpoints × roles"
        );
    }
    for (gm, gp, _) in GOLDEN {
        assert!(
            ops.iter().any(|(m, p)| m == gm && p == gp),
            "{gm} {gp} is in the golden list but not in the API"
        );
    }
    // Logout last: it ends the session it is called with.
    ops.sort_by_key(|(m, p)| (p == "/api/v1/auth/logout", p.clone(), m.clone()));
    let mut checked = 0;
    for role in EVERYONE {
        let token = super::create_user(&s, &format!("golden-{role}"), role, None).await;
        for (m, p) in &ops {
            let allowed = GOLDEN
                .iter()
                .find(|(gm, gp, _)| gm == m && gp == p)
                .unwrap()
                .2
                .contains(role);
            // Ids that exist nowhere and no body: an allowed call gets no further than
            // 400/404, so nothing changes.
            let url = p
                .replace("{id}", &super::uuid_like())
                .replace("{action}", "start")
                .replace("{name}", "s1")
                .replace("{binding}", "b1");
            let (st, b) = s.call(m, &url, Some(&token), None).await;
            if allowed {
                assert!(
                    st != StatusCode::FORBIDDEN && st != StatusCode::UNAUTHORIZED,
                    "{role} may call {m} {p}: {st} {b}"
                );
            } else {
                assert_eq!(
                    st,
                    StatusCode::FORBIDDEN,
                    "{role} may not call {m} {p}: {b}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 6 * 50, "{checked} calls");
    methods_a_path_lacks_are_405(&s, &spec).await;
    answers_carry_the_security_headers(&s).await;
}

/// A method a path does not have (TRACE, or one of the usual five it lacks) is a 405 whose
/// `Allow` names exactly the documented methods (and HEAD with GET), never a 500 or a handler.
async fn methods_a_path_lacks_are_405(s: &TestStack, spec: &Value) {
    let mut checked = 0;
    for (path, methods) in spec["paths"].as_object().unwrap() {
        let mut documented: Vec<String> = methods
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        if documented.iter().any(|m| m == "GET") {
            documented.push("HEAD".into());
        }
        documented.sort();
        let url = path
            .replace("{id}", &super::uuid_like())
            .replace("{action}", "start")
            .replace("{name}", "s1")
            .replace("{binding}", "b1");
        for m in ["TRACE", "GET", "POST", "PUT", "PATCH", "DELETE"] {
            if documented.iter().any(|d| d == m) {
                continue;
            }
            let resp = s
                .http
                .request(m.parse().unwrap(), format!("{}{url}", s.base))
                .bearer_auth(&s.admin_token)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{m} {path}");
            let allow = resp.headers()["allow"].to_str().unwrap().to_string();
            let mut allow: Vec<String> = allow.split(", ").map(String::from).collect();
            allow.sort();
            assert_eq!(allow, documented, "Allow of {path}");
            let b: Value = resp.json().await.unwrap();
            assert_eq!(b["code"], "method_not_allowed", "{m} {path}: {b}");
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked} calls");
}

/// Every answer — an API body, an error, the web UI's login page, a 405 — carries the
/// security headers (content security policy, no framing, no sniffing, no referrer).
async fn answers_carry_the_security_headers(s: &TestStack) {
    for (m, path) in [
        ("GET", "/api/v1/health"),
        ("GET", "/api/v1/vms"),
        ("GET", "/api/v1/no-such-thing"),
        ("TRACE", "/api/v1/health"),
        ("GET", "/login"),
        ("GET", "/"),
    ] {
        let resp = s
            .http
            .request(m.parse().unwrap(), format!("{}{path}", s.base))
            .send()
            .await
            .unwrap();
        for (name, value) in &vdc_server::http::SECURITY_HEADERS {
            assert_eq!(
                resp.headers().get(name).map(|v| v.to_str().unwrap()),
                Some(*value),
                "{name} of {m} {path} ({})",
                resp.status()
            );
        }
        let csp = resp.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"));
    }
}

async fn call(s: &TestStack, token: &str, m: &str, path: &str, body: Value) -> (StatusCode, Value) {
    s.call(m, path, Some(token), Some(body)).await
}

/// Calls and checks the status; returns the body.
async fn expect(
    s: &TestStack,
    token: &str,
    m: &str,
    path: &str,
    body: Value,
    status: StatusCode,
) -> Value {
    let (st, b) = call(s, token, m, path, body).await;
    assert_eq!(st, status, "{m} {path}: {b}");
    b
}

async fn user_id(s: &TestStack, name: &str) -> String {
    let users = s.get_ok("/api/v1/users").await;
    users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == name)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

pub(super) async fn roles_at_department_and_cluster_scope(store: Store) {
    let s = TestStack::start_with(StackOptions {
        hosts_per_cluster: 2,
        ..StackOptions::new(store)
    })
    .await;
    let admin = s.admin_token.clone();
    let clusters = s.get_ok("/api/v1/clusters").await;
    let cid = |i: usize| clusters[i]["id"].as_str().unwrap().to_string();
    assert_eq!(clusters.as_array().unwrap().len(), 2, "{clusters}");
    let all = super::all_vms(&s, &admin, "limit=1000").await;
    let hosts = s.get_ok("/api/v1/hosts").await["items"]
        .as_array()
        .unwrap()
        .clone();
    let cluster_of = |v: &Value| -> String {
        hosts.iter().find(|h| h["id"] == v["host_id"]).unwrap()["cluster_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let in_cluster = |c: &str| -> Vec<&Value> {
        all.iter()
            .filter(|v| cluster_of(v) == c && v["power_state"] == "running")
            .collect()
    };
    let (c0, c1) = (cid(0), cid(1));
    assert!(!in_cluster(&c0).is_empty() && !in_cluster(&c1).is_empty());

    // An operator in cluster 0: sees and operates its VMs only.
    let u = expect(
        &s,
        &admin,
        "POST",
        "/api/v1/users",
        json!({
        "username": "clara", "password": "password-123", "role": "operator", "cluster_id": c0}),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(u["roles"][0]["cluster_id"], c0.as_str(), "{u}");
    let clara = s.login("clara", "password-123").await;
    let seen = super::all_vms(&s, &clara, "limit=1000").await;
    assert!(!seen.is_empty() && seen.iter().all(|v| cluster_of(v) == c0));
    let mine = in_cluster(&c0)[0]["id"].as_str().unwrap().to_string();
    let theirs = in_cluster(&c1)[0]["id"].as_str().unwrap().to_string();
    let b = expect(
        &s,
        &clara,
        "POST",
        &format!("/api/v1/vms/{mine}/actions/suspend"),
        json!({}),
        StatusCode::ACCEPTED,
    )
    .await;
    s.wait_job(&clara, b["job"]["id"].as_str().unwrap()).await;
    let (st, _) = call(
        &s,
        &clara,
        "POST",
        &format!("/api/v1/vms/{theirs}/actions/suspend"),
        json!({}),
    )
    .await;
    assert_eq!(
        st,
        StatusCode::NOT_FOUND,
        "another cluster's VM is not even visible"
    );
    expect(
        &s,
        &clara,
        "PATCH",
        &format!("/api/v1/clusters/{c0}"),
        json!({"vcpu_ratio": 8}),
        StatusCode::FORBIDDEN,
    )
    .await;

    // Moving a VM to another department needs the right in that department itself.
    let finance = super::department_id(&s, "finance").await;
    let (st, b) = call(
        &s,
        &clara,
        "PATCH",
        &format!("/api/v1/vms/{mine}"),
        json!({"department_id": finance}),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{b}");

    // A custom role that manages hosts, held in cluster 1 only.
    expect(
        &s,
        &admin,
        "POST",
        "/api/v1/roles",
        json!({
        "name": "host-keeper", "description": "hosts of one cluster",
        "permissions": ["inventory.read", "host.manage"]}),
        StatusCode::CREATED,
    )
    .await;
    let roles = s.get_ok("/api/v1/roles").await;
    assert_eq!(roles.as_array().unwrap().len(), 7, "{roles}");
    let (st, _) = call(
        &s,
        &admin,
        "POST",
        "/api/v1/users",
        json!({
        "username": "hank", "password": "password-123", "role": "host-keeper", "cluster_id": c1}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let hank = s.login("hank", "password-123").await;
    let host_in = |c: &str| {
        hosts.iter().find(|h| h["cluster_id"] == c).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    expect(
        &s,
        &hank,
        "PATCH",
        &format!("/api/v1/hosts/{}", host_in(&c1)),
        json!({"licence_cost_per_vcpu": 3}),
        StatusCode::OK,
    )
    .await;
    let b = expect(
        &s,
        &hank,
        "PATCH",
        &format!("/api/v1/hosts/{}", host_in(&c0)),
        json!({"licence_cost_per_vcpu": 3}),
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("host-keeper in cluster"),
        "{b}"
    );
    let (st, _) = call(
        &s,
        &hank,
        "POST",
        "/api/v1/vms",
        json!({"name": "x", "vcpus": 1, "memory_mib": 256}),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "no vm.create in the role");

    // Grant and revoke: a global viewer role widens what clara sees; revoking narrows it.
    let clara_id = user_id(&s, "clara").await;
    let u = expect(
        &s,
        &admin,
        "POST",
        &format!("/api/v1/users/{clara_id}/roles"),
        json!({"role": "viewer"}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        super::all_vms(&s, &clara, "limit=1000").await.len(),
        all.len()
    );
    let binding = u["roles"][1]["id"].as_str().unwrap().to_string();
    let u = expect(
        &s,
        &admin,
        "DELETE",
        &format!("/api/v1/users/{clara_id}/roles/{binding}"),
        json!({}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(u["roles"].as_array().unwrap().len(), 1);
    assert_eq!(
        super::all_vms(&s, &clara, "limit=1000").await.len(),
        seen.len()
    );
    let (st, _) = call(
        &s,
        &admin,
        "DELETE",
        &format!("/api/v1/users/{clara_id}/roles/{binding}"),
        json!({}),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Bad input names the field and writes nothing.
    let before = s.fingerprint().await;
    for (path, body, field) in [
        (
            "/api/v1/roles",
            json!({"name": "admin", "permissions": ["inventory.read"]}),
            "name",
        ),
        (
            "/api/v1/roles",
            json!({"name": "empty", "permissions": []}),
            "permissions",
        ),
        (
            "/api/v1/roles",
            json!({"name": "bad", "permissions": ["vm.fly"]}),
            "permissions",
        ),
        (
            &format!("/api/v1/users/{clara_id}/roles"),
            json!({"role": "pilot"}),
            "role",
        ),
        (
            &format!("/api/v1/users/{clara_id}/roles"),
            json!({"role": "viewer", "cluster_id": c0, "department_id": c1}),
            "cluster_id",
        ),
        (
            &format!("/api/v1/users/{clara_id}/roles"),
            json!({"role": "viewer", "cluster_id": super::uuid_like()}),
            "cluster_id",
        ),
    ] {
        let (st, b) = call(&s, &admin, "POST", path, body).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{path}: {b}");
        assert!(
            b["field"].as_str().unwrap_or("").starts_with(field),
            "{path}: {b}"
        );
    }
    assert_eq!(s.fingerprint().await, before);
    super::assert_audited(
        &s,
        &["role.create", "user.grant", "user.revoke", "user.create"],
    )
    .await;
}

pub(super) async fn audit_log_search_and_export(store: Store) {
    let s = TestStack::start(store).await;
    let admin = s.admin_token.clone();
    let viewer = super::create_user(&s, "vic", "viewer", None).await;
    let auditor = super::create_user(&s, "aude", "auditor", None).await;
    let (st, _) = call(
        &s,
        &viewer,
        "POST",
        "/api/v1/departments",
        json!({"name": "x", "cost_centre": "y"}),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    expect(
        &s,
        &admin,
        "POST",
        "/api/v1/departments",
        json!({"name": "legal", "cost_centre": "CC-7"}),
        StatusCode::CREATED,
    )
    .await;

    let list = |q: &'static str| {
        let s = &s;
        let auditor = auditor.clone();
        async move {
            let (st, b) = s
                .call(
                    "GET",
                    &format!("/api/v1/audit?limit=500&{q}"),
                    Some(&auditor),
                    None,
                )
                .await;
            assert_eq!(st, StatusCode::OK, "{q}: {b}");
            b["items"].as_array().unwrap().clone()
        }
    };
    let users = list("action=user.").await;
    assert_eq!(users.len(), 2, "{users:?}");
    assert!(users.iter().all(|a| a["action"] == "user.create"));
    let denied = list("result=denied").await;
    assert!(
        !denied.is_empty()
            && denied
                .iter()
                .all(|a| a["result"] == "denied" && a["actor"] == "vic"),
        "{denied:?}"
    );
    let legal = list("text=name%3Dlegal").await;
    assert_eq!(legal.len(), 1, "{legal:?}");
    assert_eq!(legal[0]["action"], "department.create");
    assert!(list("since=2999-01-01T00:00:00Z").await.is_empty());
    assert!(
        !list("until=2999-01-01T00:00:00Z&actor=admin")
            .await
            .is_empty()
    );
    for (q, field) in [
        ("since=yesterday", "since"),
        ("format=csv", "format"),
        ("colour=red", "colour"),
    ] {
        let (st, b) = s
            .call("GET", &format!("/api/v1/audit?{q}"), Some(&auditor), None)
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{q}: {b}");
        assert_eq!(b["field"], field, "{q}: {b}");
    }

    // Export: every matching record, as CSV or JSON.
    let all = list("").await;
    let res = s
        .http
        .get(format!("{}/api/v1/audit/export", s.base))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = res.text().await.unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("id,at,actor,action,target_kind,target_id,result,detail")
    );
    assert_eq!(lines.count(), all.len(), "{csv}");
    let (st, json) = s
        .call(
            "GET",
            "/api/v1/audit/export?format=json&action=user.",
            Some(&auditor),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(json.as_array().unwrap().len(), 2, "{json}");
    let (st, b) = s
        .call(
            "GET",
            "/api/v1/audit/export?format=xml",
            Some(&auditor),
            None,
        )
        .await;
    assert_eq!(
        (st, b["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("format"))
    );
    assert_eq!(
        list("action=audit.export").await.len(),
        2,
        "exports are audited"
    );

    // Append-only: the API offers no call that changes or deletes a record.
    let spec = s.get_ok("/api/v1/openapi.json").await;
    for (path, ops) in spec["paths"].as_object().unwrap() {
        if path.starts_with("/api/v1/audit") {
            assert_eq!(
                ops.as_object().unwrap().keys().collect::<Vec<_>>(),
                vec!["get"],
                "{path}"
            );
        }
    }
}

/// RFC 3339 of now plus `secs`.
fn in_secs(secs: i64) -> String {
    vdc_types::rfc3339(vdc_db::now_ms() + secs * 1000)
}

/// Sets a VM's lease to end in `secs` and checks the status; returns the body.
async fn set_lease(
    s: &TestStack,
    token: &str,
    vm_path: &str,
    secs: i64,
    status: StatusCode,
) -> Value {
    let body = json!({"lease_expires_at": in_secs(secs)});
    expect(s, token, "PATCH", vm_path, body, status).await
}

pub(super) async fn leases_warn_power_off_and_delete(store: Store) {
    let s = TestStack::start(store).await;
    let admin = s.admin_token.clone();
    let op = super::create_user(&s, "olga", "operator", None).await;
    let day = 86_400;

    // The policy: an operator may lease for at most 90 days, and may not remove a lease.
    let b = expect(
        &s,
        &op,
        "POST",
        "/api/v1/vms",
        json!({"name": "too-long", "vcpus": 1, "memory_mib": 256,
        "lease_expires_at": in_secs(100 * day)}),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(b["field"], "lease_expires_at", "{b}");
    let (id, job) = super::create_vm(
        &s,
        &op,
        json!({"name": "leased", "vcpus": 1, "memory_mib": 256,
        "start": true, "lease_expires_at": in_secs(2)}),
    )
    .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let vm_path = format!("/api/v1/vms/{id}");
    expect(
        &s,
        &op,
        "PATCH",
        &vm_path,
        json!({"lease_expires_at": ""}),
        StatusCode::FORBIDDEN,
    )
    .await;
    let b = set_lease(&s, &op, &vm_path, -60, StatusCode::BAD_REQUEST).await;
    assert!(b["message"].as_str().unwrap().contains("future"), "{b}");
    // An admin holds lease.override.
    set_lease(&s, &admin, &vm_path, 200 * day, StatusCode::OK).await;
    set_lease(&s, &op, &vm_path, 2, StatusCode::OK).await;

    // Within the warning window: warned once.
    let app = s.app();
    let now = vdc_db::now_ms();
    let r = app.lease_round(now).await.unwrap();
    assert_eq!((r.warned, r.expired, r.deleted), (1, 0, 0), "{r:?}");
    assert_eq!(
        app.lease_round(now).await.unwrap(),
        Default::default(),
        "warned only once"
    );

    let snap = expect(
        &s,
        &op,
        "POST",
        &format!("{vm_path}/snapshots"),
        json!({"name": "s1"}),
        StatusCode::ACCEPTED,
    )
    .await;
    s.wait_job(&op, snap["job"]["id"].as_str().unwrap()).await;
    // At expiry: powered off by the controller, and it cannot be started.
    app.clock().advance(std::time::Duration::from_millis(2100));
    let r = app.lease_round(app.clock().now_ms()).await.unwrap();
    assert_eq!(r.expired, 1, "{r:?}");
    let jobs = s.get_ok("/api/v1/jobs?limit=5").await;
    let stop = &jobs["items"][0];
    assert_eq!(
        (stop["kind"].as_str(), stop["created_by"].as_str()),
        (Some("vm.stop"), Some("lease")),
        "{stop}"
    );
    s.wait_job(&admin, stop["id"].as_str().unwrap()).await;
    assert_eq!(s.get_ok(&vm_path).await["power_state"], "shutoff");
    let b = expect(
        &s,
        &op,
        "POST",
        &format!("{vm_path}/actions/start"),
        json!({}),
        StatusCode::CONFLICT,
    )
    .await;
    assert!(b["message"].as_str().unwrap().contains("extend it"), "{b}");

    let b = expect(
        &s,
        &op,
        "POST",
        &format!("{vm_path}/snapshots/s1/revert"),
        json!({}),
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        b["message"].as_str().unwrap().contains("extend it"),
        "a revert does not run it either: {b}"
    );

    // Reversible: a new lease, and the VM starts again.
    set_lease(&s, &op, &vm_path, 2 * day, StatusCode::OK).await;
    let acc = expect(
        &s,
        &op,
        "POST",
        &format!("{vm_path}/actions/start"),
        json!({}),
        StatusCode::ACCEPTED,
    )
    .await;
    s.wait_job(&op, acc["job"]["id"].as_str().unwrap()).await;
    assert_eq!(s.get_ok(&vm_path).await["power_state"], "running");
    let later = vdc_db::now_ms() + 2 * day * 1000;
    assert_eq!(
        app.lease_round(later - day * 1000).await.unwrap().warned,
        1,
        "the new lease warns again"
    );

    // Expired and kept for the retention (30 days), then deleted.
    assert_eq!(app.lease_round(later + 1000).await.unwrap().expired, 1);
    let stop = &s.get_ok("/api/v1/jobs?limit=1").await["items"][0];
    s.wait_job(&admin, stop["id"].as_str().unwrap()).await;
    assert_eq!(
        app.lease_round(later + 29 * day * 1000).await.unwrap(),
        Default::default()
    );
    assert_eq!(
        app.lease_round(later + 31 * day * 1000)
            .await
            .unwrap()
            .deleted,
        1
    );
    let del = &s.get_ok("/api/v1/jobs?limit=1").await["items"][0];
    assert_eq!(
        (del["kind"].as_str(), del["created_by"].as_str()),
        (Some("vm.delete"), Some("lease")),
        "{del}"
    );
    s.wait_job(&admin, del["id"].as_str().unwrap()).await;
    assert_eq!(
        s.call("GET", &vm_path, Some(&admin), None).await.0,
        StatusCode::NOT_FOUND
    );
    let audit = s.get_ok("/api/v1/audit?actor=lease&limit=50").await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    for a in [
        "lease.warn",
        "lease.expire",
        "lease.delete",
        "vm.stop",
        "vm.delete",
    ] {
        assert!(actions.contains(&a), "{a}: {actions:?}");
    }
}

pub(super) async fn money_quotas_warn_grace_deny_and_audit_mode(store: Store) {
    let s = TestStack::start(store).await;
    let admin = s.admin_token.clone();
    expect(
        &s,
        &admin,
        "PUT",
        "/api/v1/price-list",
        json!({"currency": "EUR", "vcpu_month": 10.0,
        "memory_gib_month": 5.0, "disk_gib_month": 0.1, "licences": {"sql-server": 100.0}}),
        StatusCode::OK,
    )
    .await;
    let d = expect(
        &s,
        &admin,
        "POST",
        "/api/v1/departments",
        json!({"name": "labs", "cost_centre": "CC-9"}),
        StatusCode::CREATED,
    )
    .await;
    let labs = d["id"].as_str().unwrap().to_string();
    let quota_path = format!("/api/v1/departments/{labs}/quota");
    let op = super::create_user(&s, "quinn", "operator", Some(&labs)).await;
    let q = expect(&s, &op, "GET", &quota_path, json!({}), StatusCode::OK).await;
    assert!(q["money_month"].is_null() && q["usage"]["vms"] == 0, "{q}");
    expect(
        &s,
        &op,
        "PUT",
        &quota_path,
        json!({"money_month": 100.0}),
        StatusCode::FORBIDDEN,
    )
    .await;
    expect(
        &s,
        &admin,
        "PUT",
        &quota_path,
        json!({"money_month": 100.0, "vms": 5, "warn_percent": 80,
        "grace_percent": 10}),
        StatusCode::OK,
    )
    .await;

    let vm = |name: &str, mem: u64| json!({"name": name, "vcpus": 2, "memory_mib": mem});
    // 40 EUR a month each: the second reaches the warning threshold (80 %).
    for name in ["q1", "q2"] {
        expect(
            &s,
            &op,
            "POST",
            "/api/v1/vms",
            vm(name, 4096),
            StatusCode::ACCEPTED,
        )
        .await;
    }
    let audited = |action: &'static str| {
        let s = &s;
        async move {
            s.get_ok(&format!("/api/v1/audit?action={action}&limit=10"))
                .await["items"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    assert_eq!(audited("quota.warn").await.len(), 1);
    // A third would make 120 > 100 + 10 %: refused with the figures, nothing written.
    super::balancing::finish_jobs(&s).await;
    let before = s.fingerprint().await;
    let b = expect(
        &s,
        &op,
        "POST",
        "/api/v1/vms",
        vm("q3", 4096),
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(b["code"], "quota_exceeded", "{b}");
    assert!(
        b["message"].as_str().unwrap().contains(
            "money: 80.00 in use + 40.00 requested = 120.00 EUR/month, limit 100.00 (+10 % grace)"
        ),
        "{b}"
    );
    let group = json!({"vms": [vm("g1", 1024), vm("g2", 1024)]});
    let b = expect(
        &s,
        &op,
        "POST",
        "/api/v1/vm-groups",
        group,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        b["code"], "quota_exceeded",
        "a group counts as a whole: {b}"
    );
    assert_eq!(s.fingerprint().await, before);
    assert_eq!(audited("quota.deny").await.len(), 2);
    // 30 EUR fits within the grace.
    expect(
        &s,
        &op,
        "POST",
        "/api/v1/vms",
        vm("q3", 2048),
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(audited("quota.grace").await.len(), 1);
    let q = expect(&s, &op, "GET", &quota_path, json!({}), StatusCode::OK).await;
    assert_eq!(
        (
            q["usage"]["vms"].as_u64(),
            q["usage"]["money_month"].as_f64()
        ),
        (Some(3), Some(110.0)),
        "{q}"
    );

    // Audit mode: the same excess passes and is recorded with the figures.
    expect(
        &s,
        &admin,
        "PUT",
        &quota_path,
        json!({"money_month": 100.0, "grace_percent": 10, "mode": "audit"}),
        StatusCode::OK,
    )
    .await;
    expect(
        &s,
        &op,
        "POST",
        "/api/v1/vms",
        vm("q4", 4096),
        StatusCode::ACCEPTED,
    )
    .await;
    let would = audited("quota.would_deny").await;
    assert_eq!(would.len(), 1, "{would:?}");
    assert!(
        would[0]["detail"]
            .as_str()
            .unwrap()
            .contains("= 150.00 EUR/month"),
        "{would:?}"
    );

    // Bad input names the field.
    for (path, body, field) in [
        (
            quota_path.as_str(),
            json!({"warn_percent": 0}),
            "warn_percent",
        ),
        (
            quota_path.as_str(),
            json!({"money_month": -1.0}),
            "money_month",
        ),
        (
            "/api/v1/price-list",
            json!({"currency": "euro", "vcpu_month": 1.0, "memory_gib_month": 1.0, "disk_gib_month": 1.0}),
            "currency",
        ),
    ] {
        let b = expect(&s, &admin, "PUT", path, body, StatusCode::BAD_REQUEST).await;
        assert_eq!(b["field"], field, "{b}");
    }
}

/// The webhook the requests test's server notifies (one test per process under nextest).
static HOOK_URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// A webhook receiver on loopback: every JSON body POSTed to it.
async fn webhook() -> std::sync::Arc<std::sync::Mutex<Vec<Value>>> {
    let got: std::sync::Arc<std::sync::Mutex<Vec<Value>>> = Default::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(v);
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    HOOK_URL
        .set(format!("http://{}/hook", listener.local_addr().unwrap()))
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    got
}

/// Files a request and checks the status; returns the body.
async fn ask(s: &TestStack, token: &str, body: Value, status: StatusCode) -> Value {
    expect(s, token, "POST", "/api/v1/requests", body, status).await
}

pub(super) async fn requests_auto_approved_or_approved_in_order(store: Store) {
    let hook = webhook().await;
    let s = TestStack::start_with(StackOptions {
        configure: Some(|c| {
            c.requests.approvals = 2;
            c.requests.auto_max_cost = Some(100.0);
            c.notify_url = HOOK_URL.get().cloned();
        }),
        ..StackOptions::new(store)
    })
    .await;
    let admin = s.admin_token.clone();
    expect(
        &s,
        &admin,
        "PUT",
        "/api/v1/price-list",
        json!({"currency": "EUR", "vcpu_month": 10.0,
        "memory_gib_month": 5.0, "disk_gib_month": 0.0}),
        StatusCode::OK,
    )
    .await;
    let d = expect(
        &s,
        &admin,
        "POST",
        "/api/v1/departments",
        json!({"name": "labs", "cost_centre": "CC-9"}),
        StatusCode::CREATED,
    )
    .await;
    let labs = d["id"].as_str().unwrap().to_string();
    expect(
        &s,
        &admin,
        "PUT",
        &format!("/api/v1/departments/{labs}/quota"),
        json!({"money_month": 500.0}),
        StatusCode::OK,
    )
    .await;
    let finance = super::department_id(&s, "finance").await;
    let rita = super::create_user(&s, "rita", "requester", Some(&labs)).await;
    let alan = super::create_user(&s, "alan", "approver", Some(&labs)).await;
    let beth = super::create_user(&s, "beth", "approver", None).await;
    let carl = super::create_user(&s, "carl", "approver", Some(&finance)).await;
    let vm =
        |name: &str, vcpus: u32, mem: u64| json!({"name": name, "vcpus": vcpus, "memory_mib": mem});

    // Under 100 EUR and 4 vCPUs: approved by the rule and created at once.
    let r = ask(
        &s,
        &rita,
        json!({"purpose": "a test box",
        "vms": [vm("rq-small", 2, 2048)]}),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(r["state"], "created", "{r}");
    assert_eq!(r["approvals"][0]["approver"], "auto", "{r}");
    assert_eq!(r["cost_month"], 30.0);
    let small = r["vm_ids"][0].as_str().unwrap().to_string();
    let v = s.get_ok(&format!("/api/v1/vms/{small}")).await;
    assert_eq!(
        (v["owner"].as_str(), v["department_id"].as_str()),
        (Some("rita"), Some(labs.as_str())),
        "{v}"
    );

    // Bigger: pending until two approvers of the department (or global) agree, in order.
    let r = ask(
        &s,
        &rita,
        json!({"purpose": "a database pair",
        "vms": [vm("rq-db-1", 8, 8192), vm("rq-db-2", 8, 8192)]}),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(r["state"], "pending", "{r}");
    assert!(
        r["rule"]
            .as_str()
            .unwrap()
            .contains("240.00 EUR/month is over"),
        "{r}"
    );
    let id = r["id"].as_str().unwrap().to_string();
    let approve = format!("/api/v1/requests/{id}/approve");
    expect(
        &s,
        &rita,
        "POST",
        &approve,
        json!({}),
        StatusCode::FORBIDDEN,
    )
    .await;
    // Another department's approver: the request does not exist for them (a 403 would
    // confirm it and name its department).
    let b = expect(
        &s,
        &carl,
        "POST",
        &approve,
        json!({}),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(!b.to_string().contains(&labs), "{b}");
    let r = expect(
        &s,
        &alan,
        "POST",
        &approve,
        json!({"reason": "fine"}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (
            r["state"].as_str(),
            r["approvals"].as_array().unwrap().len()
        ),
        (Some("pending"), 1),
        "{r}"
    );
    expect(&s, &alan, "POST", &approve, json!({}), StatusCode::CONFLICT).await;
    let r = expect(&s, &beth, "POST", &approve, json!({}), StatusCode::OK).await;
    assert_eq!(r["state"], "created", "{r}");
    assert_eq!(r["vm_ids"].as_array().unwrap().len(), 2, "{r}");
    expect(&s, &beth, "POST", &approve, json!({}), StatusCode::CONFLICT).await;

    // Rejected, with a reason.
    let r = ask(
        &s,
        &rita,
        json!({"purpose": "a GPU box",
        "vms": [vm("rq-gpu", 16, 4096)]}),
        StatusCode::CREATED,
    )
    .await;
    let id = r["id"].as_str().unwrap().to_string();
    let reject = format!("/api/v1/requests/{id}/reject");
    let b = expect(
        &s,
        &beth,
        "POST",
        &reject,
        json!({}),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(b["field"], "reason");
    let b = expect(
        &s,
        &beth,
        "POST",
        &reject,
        json!({"reason": "x".repeat(513)}),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(b["field"], "reason", "{b}");
    // A request id is a typed path id: one that is not a UUID is a 400 naming it, an unknown
    // one a 404.
    let b = expect(
        &s,
        &beth,
        "POST",
        "/api/v1/requests/not-a-request/reject",
        json!({"reason": "x"}),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(b["field"], "id", "{b}");
    expect(
        &s,
        &beth,
        "POST",
        &format!("/api/v1/requests/{}/reject", uuid::Uuid::now_v7()),
        json!({"reason": "x"}),
        StatusCode::NOT_FOUND,
    )
    .await;
    let r = expect(
        &s,
        &beth,
        "POST",
        &reject,
        json!({"reason": "=HYPERLINK(\"http://x\", \"no GPUs this quarter\")"}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (r["state"].as_str(), r["reason"].as_str()),
        (
            Some("rejected"),
            Some("=HYPERLINK(\"http://x\", \"no GPUs this quarter\")")
        )
    );
    // The reason is the audit record's detail: a spreadsheet opening the CSV export must not
    // run it as a formula.
    let csv = s
        .http
        .get(format!(
            "{}/api/v1/audit/export?action=request.reject",
            s.base
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        csv.contains("\"'=HYPERLINK(\"\"http://x\"\", \"\"no GPUs this quarter\"\")\""),
        "{csv}"
    );
    expect(
        &s,
        &alan,
        "POST",
        &format!("/api/v1/requests/{id}/approve"),
        json!({}),
        StatusCode::CONFLICT,
    )
    .await;

    // Beyond the money quota: refused with the figures, nothing written.
    super::balancing::finish_jobs(&s).await;
    let before = s.fingerprint().await;
    let b = ask(
        &s,
        &rita,
        json!({"purpose": "too much",
        "vms": [vm("rq-x1", 8, 8192), vm("rq-x2", 8, 8192)]}),
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(b["code"], "quota_exceeded", "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("270.00 in use + 240.00 requested = 510.00 EUR/month"),
        "{b}"
    );
    assert_eq!(s.fingerprint().await, before);
    let b = ask(
        &s,
        &rita,
        json!({"purpose": " ", "vms": [vm("rq-y", 1, 512)]}),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(b["field"], "purpose");

    // A request belongs to a department, and its VMs boot from their disks.
    let ned = super::create_user(&s, "ned", "requester", None).await;
    let b = ask(
        &s,
        &ned,
        json!({"purpose": "x", "vms": [vm("rq-n", 1, 512)]}),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(b["field"], "vms[0].department_id", "{b}");
    let mut booting = vm("rq-b", 1, 512);
    booting["boot"] = json!({"kernel": "/etc/shadow"});
    let b = ask(
        &s,
        &rita,
        json!({"purpose": "x", "vms": [booting]}),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(b["field"], "vms[0].boot", "{b}");

    // Who sees what.
    let seen = |t: &str| {
        let (s, t) = (&s, t.to_string());
        async move {
            expect(s, &t, "GET", "/api/v1/requests", json!({}), StatusCode::OK)
                .await
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(seen(&rita).await, 3);
    assert_eq!(seen(&beth).await, 3);
    assert_eq!(seen(&carl).await, 0);
    expect(
        &s,
        &carl,
        "GET",
        &format!("/api/v1/requests/{id}"),
        json!({}),
        StatusCode::NOT_FOUND,
    )
    .await;
    // Each event reached the webhook.
    let events = vdc_test_utils::wait_for_condition(
        std::time::Duration::from_millis(50),
        std::time::Duration::from_secs(10),
        || async {
            let got = hook.lock().unwrap().clone();
            let mut events: Vec<String> = got
                .iter()
                .map(|e| e["event"].as_str().unwrap().to_string())
                .collect();
            events.sort();
            (events.len() >= 5).then_some(events)
        },
    )
    .await;
    assert_eq!(
        events,
        [
            "request.created",
            "request.created",
            "request.pending",
            "request.pending",
            "request.rejected"
        ],
    );
    assert!(
        hook.lock()
            .unwrap()
            .iter()
            .all(|e| e["request"]["requester"] == "rita")
    );
    let audit = s.get_ok("/api/v1/audit?action=request.&limit=50").await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    for a in [
        "request.create",
        "request.approve",
        "request.reject",
        "request.fulfil",
    ] {
        assert!(actions.contains(&a), "{a}: {actions:?}");
    }
}

/// A request with a bearer token or a cookie (and optional CSRF header); status and body.
async fn raw(
    s: &TestStack,
    m: reqwest::Method,
    path: &str,
    auth: (&str, Option<&str>),
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = s.http.request(m, format!("{}{path}", s.base));
    req = match auth {
        (token, None) => req.bearer_auth(token),
        (cookie, Some(csrf)) => {
            let r = req.header("cookie", format!("other=1; vdc_session={cookie}"));
            if csrf.is_empty() {
                r
            } else {
                r.header("x-csrf-token", csrf)
            }
        }
    };
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let st = res.status();
    (st, res.json().await.unwrap_or(Value::Null))
}

pub(super) async fn scoped_tokens_and_cookie_sessions_with_csrf(store: Store) {
    let s = TestStack::start(store).await;
    let admin = s.admin_token.clone();
    use reqwest::Method;

    // A token limited to reading: reads work, changes do not, then it is revoked.
    let t = expect(
        &s,
        &admin,
        "POST",
        "/api/v1/tokens",
        json!({"name": "dashboard",
        "permissions": ["inventory.read"], "expires_in_days": 30}),
        StatusCode::CREATED,
    )
    .await;
    let ro = t["token"].as_str().unwrap().to_string();
    let id = t["id"].as_str().unwrap().to_string();
    assert_eq!(
        s.call("GET", "/api/v1/vms", Some(&ro), None).await.0,
        StatusCode::OK
    );
    let (st, b) = s
        .call(
            "POST",
            "/api/v1/departments",
            Some(&ro),
            Some(json!({"name": "x", "cost_centre": "y"})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{b}");
    // A limited token makes only tokens within its limit.
    let (st, child) = s
        .call(
            "POST",
            "/api/v1/tokens",
            Some(&ro),
            Some(json!({"name": "child"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{child}");
    assert_eq!(child["permissions"], json!(["inventory.read"]), "{child}");
    // … and none that outlives it: asked for the default 90 days, it ends with its parent.
    assert_eq!(child["expires_at"], t["expires_at"], "{child} {t}");
    let child_token = child["token"].as_str().unwrap().to_string();
    let (st, _) = s
        .call(
            "POST",
            "/api/v1/departments",
            Some(&child_token),
            Some(json!({"name": "x", "cost_centre": "y"})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = s
        .call(
            "DELETE",
            &format!("/api/v1/tokens/{}", child["id"].as_str().unwrap()),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let list = expect(
        &s,
        &admin,
        "GET",
        "/api/v1/tokens",
        json!({}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert!(
        list[0].get("token").is_none(),
        "secrets are never listed: {list}"
    );
    assert_eq!(list[0]["permissions"], json!(["inventory.read"]));
    let viewer = super::create_user(&s, "vince", "viewer", None).await;
    let b = expect(
        &s,
        &viewer,
        "POST",
        "/api/v1/tokens",
        json!({"name": "up", "permissions": ["host.manage"]}),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("you do not hold host.manage"),
        "{b}"
    );
    expect(
        &s,
        &viewer,
        "DELETE",
        &format!("/api/v1/tokens/{id}"),
        json!({}),
        StatusCode::NOT_FOUND,
    )
    .await;
    let (st, _) = raw(
        &s,
        Method::DELETE,
        &format!("/api/v1/tokens/{id}"),
        (&admin, None),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(
        s.call("GET", "/api/v1/vms", Some(&ro), None).await.0,
        StatusCode::UNAUTHORIZED
    );

    // A browser session: the token in a secure cookie, the CSRF token in the answer.
    let res = s
        .http
        .post(format!("{}/api/v1/auth/session", s.base))
        .json(&json!({"username": "admin", "password": vdc_test_utils::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let set = res.headers()["set-cookie"].to_str().unwrap().to_string();
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    let cookie = set
        .split(';')
        .next()
        .unwrap()
        .strip_prefix("vdc_session=")
        .unwrap()
        .to_string();
    let session: Value = res.json().await.unwrap();
    let csrf = session["csrf_token"].as_str().unwrap().to_string();
    assert_ne!(csrf, cookie);
    let (st, _) = raw(&s, Method::GET, "/api/v1/vms", (&cookie, Some("")), None).await;
    assert_eq!(st, StatusCode::OK, "reads need no CSRF token");
    let dept = json!({"name": "web", "cost_centre": "CC-W"});
    let (st, b) = raw(
        &s,
        Method::POST,
        "/api/v1/departments",
        (&cookie, Some("")),
        Some(dept.clone()),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{b}");
    assert!(b["message"].as_str().unwrap().contains("CSRF"), "{b}");
    let (st, _) = raw(
        &s,
        Method::POST,
        "/api/v1/departments",
        (&cookie, Some("wrong")),
        Some(dept.clone()),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let refused = s
        .get_ok("/api/v1/audit?action=auth.csrf&result=denied")
        .await;
    assert_eq!(
        refused["items"].as_array().unwrap().len(),
        2,
        "CSRF refusals are audited: {refused}"
    );
    let (st, b) = raw(
        &s,
        Method::POST,
        "/api/v1/departments",
        (&cookie, Some(&csrf)),
        Some(dept),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    // A bearer session's token is not accepted as a cookie.
    let (st, _) = raw(&s, Method::GET, "/api/v1/vms", (&admin, Some("")), None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _) = raw(
        &s,
        Method::POST,
        "/api/v1/auth/logout",
        (&cookie, Some(&csrf)),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = raw(&s, Method::GET, "/api/v1/vms", (&cookie, Some("")), None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let audit = s.get_ok("/api/v1/audit?action=token.&limit=10").await;
    assert_eq!(
        audit["items"].as_array().unwrap().len(),
        4,
        "two created and revoked: {audit}"
    );
}
