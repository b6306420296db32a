//! Users from a real OpenLDAP (slapd started per test by `scripts/ldap-test-server.sh`):
//! logins over StartTLS and LDAPS, group-mapped roles, wrong passwords, disabled accounts,
//! users in no mapped group and an unreachable directory.

use reqwest::StatusCode;
use serde_json::{Value, json};
use vdc_test_utils::{LdapServer, StackOptions, Store, TestStack};

/// Tries a login; the status and body.
async fn try_login(s: &TestStack, user: &str, password: &str) -> (StatusCode, Value) {
    s.call(
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"username": user, "password": password})),
    )
    .await
}

async fn stack(store: Store, ldap: vdc_server::app::config::LdapConfig) -> TestStack {
    TestStack::start_with(StackOptions {
        ldap: Some(ldap),
        ..StackOptions::new(store)
    })
    .await
}

/// Runs `ldapmodify` as the directory's admin with this LDIF.
fn ldapmodify(d: &LdapServer, ldif: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("ldapmodify")
        .args(["-x", "-H", &d.url, "-D", &d.bind_dn, "-w", &d.bind_password])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("run ldapmodify (ldap-utils)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(ldif.as_bytes())
        .expect("write LDIF");
    assert!(child.wait().expect("ldapmodify").success(), "ldapmodify");
}

/// Denied logins recorded for `user`.
async fn denied_logins(s: &TestStack, user: &str) -> Vec<Value> {
    let page = s
        .get_ok(&format!(
            "/api/v1/audit?action=auth.login&actor={user}&result=denied&limit=50"
        ))
        .await;
    page["items"].as_array().unwrap().clone()
}

pub(super) async fn directory_users_log_in_with_their_groups_roles(store: Store) {
    let d = LdapServer::start();
    let mut config = d.config(
        &d.url,
        &[
            "vdc-admins=admin",
            "web-devs=requester@engineering",
            "cn=web-devs,ou=groups,dc=example,dc=test=operator@cluster:sim-cluster-01",
            "ghosts=viewer@no-such-department",
        ],
    );
    config.starttls = true;
    let s = stack(store, config).await;

    // alice: in vdc-admins, so a global admin; her record is made at her first login.
    let (st, body) = try_login(&s, "alice", "alicepw").await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let alice = &body["user"];
    assert_eq!(
        alice["directory_dn"],
        "uid=alice,ou=people,dc=example,dc=test"
    );
    assert_eq!(alice["roles"].as_array().unwrap().len(), 1, "{alice}");
    assert_eq!(alice["roles"][0]["role"], "admin");
    assert_eq!(alice["roles"][0]["from_group"], "vdc-admins");
    assert!(alice["roles"][0]["department_id"].is_null());
    let token = body["token"].as_str().unwrap();
    let (st, _) = s.call("GET", "/api/v1/users", Some(token), None).await;
    assert_eq!(st, StatusCode::OK, "a directory admin manages users");

    // bob: web-devs maps to requester in engineering (his department now) and operator in
    // one cluster (the group named by its DN).
    let (st, body) = try_login(&s, "bob", "bobpw").await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let bob = body["user"].clone();
    let engineering = super::department_id(&s, "engineering").await;
    assert_eq!(bob["department_id"], engineering, "{bob}");
    let mut roles: Vec<(String, bool, bool)> = bob["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["role"].as_str().unwrap().to_string(),
                r["department_id"] == engineering,
                r["cluster_id"].is_string(),
            )
        })
        .collect();
    roles.sort();
    assert_eq!(
        roles,
        vec![
            ("operator".into(), false, true),
            ("requester".into(), true, false)
        ],
        "{bob}"
    );
    // The mapping to a department vdc does not have is skipped, and said so.
    let logins = s
        .get_ok("/api/v1/audit?action=auth.login&actor=bob&limit=5")
        .await;
    let detail = logins["items"][0]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("source=ldap"), "{detail}");

    // A browser session works the same way.
    let (st, _) = s
        .call(
            "POST",
            "/api/v1/auth/session",
            None,
            Some(json!({"username": "bob", "password": "bobpw"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);

    // Wrong password, empty password, unknown user: 401, nothing learnt, no session.
    let before = s.audit_count().await;
    for (user, pw) in [
        ("bob", "wrong"),
        ("bob", ""),
        ("zed", "zedpw"),
        ("alice", "bobpw"),
    ] {
        let (st, body) = try_login(&s, user, pw).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{user}/{pw}: {body}");
        assert_eq!(body["code"], "bad_credentials");
        assert!(body.get("token").is_none());
    }
    assert_eq!(s.audit_count().await, before + 4, "every refusal audited");
    // Filter characters never reach the directory as such: not a valid name, so refused.
    for user in ["*", "alice)(uid=*", "a*"] {
        let (st, _) = try_login(&s, user, "alicepw").await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{user}");
    }

    // carol: right password, but her account expired in the directory.
    let (st, body) = try_login(&s, "carol", "carolpw").await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
    let msg = body["message"].as_str().unwrap();
    assert!(msg.contains("disabled in the directory"), "{msg}");
    // With a wrong password she learns nothing about the account.
    let (st, _) = try_login(&s, "carol", "nope").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let denied = denied_logins(&s, "carol").await;
    assert!(
        denied
            .iter()
            .any(|a| a["detail"].as_str().unwrap_or("").contains("disabled")),
        "{denied:?}"
    );

    // dave: in no mapped group, no role granted in vdc: no session.
    let (st, body) = try_login(&s, "dave", "davepw").await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("none of the directory groups"),
        "{body}"
    );
    // A role granted in vdc lets him in, and stays across logins.
    let dave = s
        .get_ok("/api/v1/users")
        .await
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "dave")
        .expect("dave recorded at his first login")
        .clone();
    let (st, _) = s
        .call(
            "POST",
            &format!("/api/v1/users/{}/roles", dave["id"].as_str().unwrap()),
            Some(&s.admin_token),
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    for _ in 0..2 {
        let (st, body) = try_login(&s, "dave", "davepw").await;
        assert_eq!(st, StatusCode::OK, "{body}");
        assert_eq!(body["user"]["roles"][0]["role"], "viewer");
        assert!(body["user"]["roles"][0]["from_group"].is_null());
    }

    // A role from a group cannot be revoked in vdc (it would come back): 409 says where.
    let bob_id = bob["id"].as_str().unwrap();
    let binding = bob["roles"][0]["id"].as_str().unwrap();
    let (st, body) = s
        .call(
            "DELETE",
            &format!("/api/v1/users/{bob_id}/roles/{binding}"),
            Some(&s.admin_token),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("directory group")
    );

    // Taking bob out of web-devs in the directory takes his roles at his next login.
    ldapmodify(
        &d,
        "dn: cn=web-devs,ou=groups,dc=example,dc=test\nchangetype: modify\nreplace: member\nmember: uid=alice,ou=people,dc=example,dc=test\n",
    );
    let (st, _) = try_login(&s, "bob", "bobpw").await;
    assert_eq!(st, StatusCode::FORBIDDEN, "no mapped group left");
    let synced = s
        .get_ok("/api/v1/audit?action=user.roles_synced&limit=50")
        .await;
    let bob_sync = synced["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["target_id"] == bob_id)
        .expect("the change of bob's roles is audited")
        .clone();
    assert!(
        bob_sync["detail"].as_str().unwrap().contains("after=[]"),
        "{bob_sync}"
    );

    // Local users still log in locally, and no directory password is in the store.
    s.login("admin", vdc_test_utils::ADMIN_PASSWORD).await;
    let store = s.fingerprint().await;
    for pw in ["alicepw", "bobpw", "carolpw", "davepw", &d.bind_password] {
        assert!(!store.contains(pw), "{pw} stored");
    }
}

pub(super) async fn ldaps_and_an_unreachable_directory(store: Store) {
    let d = LdapServer::start();
    // LDAPS, trusting the test CA.
    let s = stack(store, d.config(&d.ldaps_url, &["vdc-admins=auditor"])).await;
    let (st, body) = try_login(&s, "alice", "alicepw").await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["roles"][0]["role"], "auditor");
    let (st, _) = try_login(&s, "alice", "bobpw").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    drop(s);

    // A certificate vdc does not trust: the directory is unavailable, never used blindly.
    let mut untrusted = d.config(&d.ldaps_url, &["vdc-admins=auditor"]);
    untrusted.ca_file = None;
    let s = stack(store, untrusted).await;
    let (st, body) = try_login(&s, "alice", "alicepw").await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "unavailable");
    assert!(body.get("token").is_none());
    drop(s);

    // The directory goes away: logins through it say so (503) and the local admin still
    // logs in; a session opened before stays valid until it ends.
    let s = stack(store, d.config(&d.url, &["vdc-admins=auditor"])).await;
    let alice = s.login("alice", "alicepw").await;
    drop(d);
    let t = std::time::Instant::now();
    let (st, body) = try_login(&s, "alice", "alicepw").await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let msg = body["message"].as_str().unwrap();
    assert!(msg.contains("directory"), "{msg}");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(10),
        "bounded by the directory timeout"
    );
    let denied = denied_logins(&s, "alice").await;
    assert!(
        denied[0]["detail"]
            .as_str()
            .unwrap()
            .contains("directory unavailable"),
        "{denied:?}"
    );
    s.login("admin", vdc_test_utils::ADMIN_PASSWORD).await;
    let (st, _) = s.call("GET", "/api/v1/auth/me", Some(&alice), None).await;
    assert_eq!(st, StatusCode::OK);
}
