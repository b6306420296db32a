//! Licence compliance and patch levels on estates with known answers: VMs on the test stack's
//! hosts with guest OSes, tags and use written to the store, a catalogue and baselines set
//! through the API, and every figure checked against what the hosts' shapes give.

use reqwest::StatusCode;
use serde_json::{Value, json};
use vdc_db as db;
use vdc_test_utils::{StackOptions, Store, TestStack};
use vdc_types::*;

use super::reports::{DAY, rollup, vm};

async fn put(s: &TestStack, path: &str, body: Value) -> Value {
    let (st, r) = s.call("PUT", path, Some(&s.admin_token), Some(body)).await;
    assert_eq!(st, StatusCode::OK, "{path}: {r}");
    r
}

/// Licences a host needs per core: every core, at least 8 a socket and 16 a host.
fn per_core(h: &Value) -> u64 {
    let (sockets, cores) = (
        h["sockets"].as_u64().unwrap(),
        h["cores_per_socket"].as_u64().unwrap(),
    );
    (sockets * cores.max(8)).max(16)
}

pub(super) async fn licences_and_patches_with_known_answers(store: Store) {
    let s = TestStack::start_with(StackOptions {
        hosts: 3,
        vms: 0,
        ..StackOptions::new(store)
    })
    .await;
    put(
        &s,
        "/api/v1/price-list",
        json!({"currency": "EUR", "vcpu_month": 10.0, "memory_gib_month": 5.0,
            "disk_gib_month": 0.1, "licences": {"sql": 100.0}}),
    )
    .await;
    let hosts = s.get_ok("/api/v1/hosts?limit=100").await["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(hosts.len(), 3);
    let host_a = hosts[0].clone();
    let cluster_a = host_a["cluster_id"].as_str().unwrap().to_string();
    let same_cluster: Vec<&Value> = hosts
        .iter()
        .filter(|h| h["cluster_id"] == cluster_a.as_str())
        .collect();
    let db = &s.app().db;
    let now = db::now_ms();
    let today = now.div_euclid(DAY) * DAY;
    let placed = |name: &str, h: &Value| {
        let mut v = vm(name, None, PowerState::Running, now - 100 * DAY);
        v.owner = Some(if name == "deb" { "alice" } else { "bob" }.into());
        v.host_id = Some(h["id"].as_str().unwrap().parse().unwrap());
        v.cluster_id = Some(h["cluster_id"].as_str().unwrap().parse().unwrap());
        v
    };
    let win = placed("win", &host_a);
    let mut sql = placed("sql", &hosts[1]);
    sql.tags = vec!["sql".into()];
    let deb = placed("deb", &hosts[2]);
    for v in [&win, &sql, &deb] {
        db.insert_vm(v).await.unwrap();
    }
    // What the host reported for the Windows VM (libosinfo), and two weeks idle for the SQL one.
    db.set_guest_os(
        win.id,
        GuestOs::from_libosinfo("http://microsoft.com/win/2k19").as_ref(),
    )
    .await
    .unwrap();
    let rows: Vec<_> = (1..=14)
        .map(|k| {
            rollup(
                sql.id,
                86_400,
                today - k * DAY,
                &[(Metric::Cpu, 1.0), (Metric::MemoryMib, 500.0)],
            )
        })
        .collect();
    db.write_metrics(&[], &rows).await.unwrap();

    // The catalogue: bad input refused with nothing written.
    let before = s.fingerprint().await;
    for (path, body, field) in [
        (
            "/api/v1/licences/windows-dc",
            json!({"name": "other", "model": "per_core", "owned": 1}),
            "name",
        ),
        (
            "/api/v1/licences/x",
            json!({"name": "x", "model": "per_moon", "owned": 1}),
            "model",
        ),
        (
            "/api/v1/licences/x",
            json!({"name": "x", "model": "per_vm", "owned": 1, "guest_os": "no way"}),
            "guest_os",
        ),
        (
            "/api/v1/os-baselines/debian",
            json!({"os": "debian", "min_version": ""}),
            "min_version",
        ),
    ] {
        let (st, e) = s.call("PUT", path, Some(&s.admin_token), Some(body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{path}: {e}");
        assert!(
            e["field"].as_str().unwrap_or_default().contains(field)
                || e["message"].as_str().unwrap_or_default().contains(field),
            "{e}"
        );
    }
    assert_eq!(s.fingerprint().await, before, "nothing written");
    let (st, _) = s
        .call(
            "DELETE",
            "/api/v1/licences/nothing",
            Some(&s.admin_token),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    let owned_dc = 16;
    put(
        &s,
        "/api/v1/licences/windows-dc",
        json!({"name": "windows-dc", "model": "per_core", "owned": owned_dc,
            "min_cores_per_socket": 8, "min_cores_per_host": 16, "guest_os": "winsrv"}),
    )
    .await;
    put(
        &s,
        "/api/v1/licences/sql",
        json!({"name": "sql", "model": "per_vm", "owned": 0}),
    )
    .await;
    put(
        &s,
        "/api/v1/licences/office",
        json!({"name": "office", "model": "per_user", "owned": 10, "users": 12}),
    )
    .await;
    let catalogue = s.get_ok("/api/v1/licences").await;
    assert_eq!(catalogue.as_array().unwrap().len(), 3, "{catalogue}");

    let r = s.get_ok("/api/v1/reports/licences").await;
    let product = |name: &str| {
        r["products"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["product"] == name)
            .unwrap()
            .clone()
    };
    // Windows Server Datacenter: the host it runs on now, and every host of its cluster it
    // may be moved to; none is marked licensed.
    let dc = product("windows-dc");
    let needed: u64 = same_cluster.iter().map(|h| per_core(h)).sum();
    assert_eq!(dc["needed_now"].as_u64(), Some(per_core(&host_a)), "{dc}");
    assert_eq!(dc["needed"].as_u64(), Some(needed), "{dc}");
    assert_eq!(dc["shortfall"].as_u64(), Some(needed - owned_dc), "{dc}");
    assert_eq!(dc["vms"][0]["name"], "win");
    assert_eq!(dc["vms"][0]["why"], "guest OS winsrv-2019");
    assert_eq!(
        dc["vms"][0]["may_run_on"].as_u64(),
        Some(same_cluster.len() as u64)
    );
    assert_eq!(dc["hosts"].as_array().unwrap().len(), same_cluster.len());
    assert!(
        dc["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["licensed"] == false)
    );
    // SQL per VM: one needed, none owned, and the VM holding it is idle.
    let sq = product("sql");
    assert_eq!(
        (sq["needed"].as_u64(), sq["shortfall"].as_u64()),
        (Some(1), Some(1)),
        "{sq}"
    );
    assert_eq!(sq["vms"][0]["why"], "tagged");
    assert_eq!(sq["idle"][0]["name"], "sql", "{sq}");
    assert!(
        sq["idle"][0]["evidence"]
            .as_str()
            .unwrap()
            .starts_with("idle: running, idle")
    );
    assert_eq!(sq["idle"][0]["monthly_cost"], 100.0);
    assert_eq!(r["idle_monthly_cost"], 100.0);
    let office = product("office");
    assert_eq!(
        (office["needed"].as_u64(), office["shortfall"].as_u64()),
        (Some(12), Some(2))
    );
    assert_eq!(r["short"], 3, "{r}");
    assert_eq!(r["whole_estate"], true);
    let eng = super::department_id(&s, "engineering").await;
    let scoped = s
        .get_ok(&format!("/api/v1/reports/licences?department_id={eng}"))
        .await;
    assert_eq!(scoped["whole_estate"], false, "{scoped}");

    // Marking the cluster's hosts licensed for it: the hosts say so; the shortfall is the same
    // (licences owned are what counts), and the VM may be confined to them by placement.
    for h in &same_cluster {
        let (st, e) = s
            .call(
                "PATCH",
                &format!("/api/v1/hosts/{}", h["id"].as_str().unwrap()),
                Some(&s.admin_token),
                Some(json!({"licensed_software": ["windows-dc"]})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{e}");
    }
    let r = s.get_ok("/api/v1/reports/licences").await;
    let dc = &r["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["product"] == "windows-dc")
        .unwrap();
    assert!(
        dc["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["licensed"] == true),
        "{dc}"
    );

    let csv = s
        .get_text("/api/v1/reports/licences?format=csv", "text/csv")
        .await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "product,model,owned,needed_now,needed,shortfall,kind,name,units,detail"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("sql,per_vm,0,1,1,1,idle,sql,100.00 EUR,")),
        "{csv}"
    );

    // Patch levels: Debian 11 set by hand against Debian 12, Windows without a build.
    let (st, g) = s
        .call(
            "PUT",
            &format!("/api/v1/vms/{}/guest-os", deb.id),
            Some(&s.admin_token),
            Some(json!({"os": "debian", "version": "11.9"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{g}");
    assert_eq!(g["source"], "manual");
    // What the host reports later does not replace what was set by hand.
    db.set_guest_os(
        deb.id,
        GuestOs::from_libosinfo("http://debian.org/debian/10").as_ref(),
    )
    .await
    .unwrap();
    let kept = db.guest_os(deb.id).await.unwrap().unwrap();
    assert_eq!(
        (kept.version.as_deref(), kept.source),
        (Some("11.9"), GuestOsSource::Manual)
    );
    put(
        &s,
        "/api/v1/os-baselines/debian",
        json!({"os": "debian", "min_version": "12"}),
    )
    .await;
    put(
        &s,
        "/api/v1/os-baselines/winsrv-2019",
        json!({"os": "winsrv-2019", "min_version": "10.0.17763.5000"}),
    )
    .await;
    let p = s.get_ok("/api/v1/reports/patches").await;
    assert_eq!(
        (
            p["behind"].as_u64(),
            p["unknown"].as_u64(),
            p["unchecked"].as_u64(),
            p["current"].as_u64()
        ),
        (Some(1), Some(1), Some(1), Some(0)),
        "{p}"
    );
    assert_eq!(p["vms"][0]["name"], "deb", "behind first");
    assert_eq!(p["vms"][0]["baseline"]["min_version"], "12");
    assert_eq!(
        p["behind_by_owner"],
        json!([{"owner": "alice", "behind": 1}])
    );
    // Upgraded: current.
    put(
        &s,
        &format!("/api/v1/vms/{}/guest-os", deb.id),
        json!({"os": "debian", "version": "12.8"}),
    )
    .await;
    let p = s.get_ok("/api/v1/reports/patches").await;
    assert_eq!(
        (p["behind"].as_u64(), p["current"].as_u64()),
        (Some(0), Some(1)),
        "{p}"
    );
    let csv = s
        .get_text("/api/v1/reports/patches?format=csv", "text/csv")
        .await;
    assert!(
        csv.lines()
            .any(|l| l.starts_with("current,deb,") && l.contains(",debian,12.8,12,")),
        "{csv}"
    );
    // A VM created with its guest OS (a libosinfo id): defined with it, reported back by its
    // host, current against Debian 12.
    let create = |os: &str| json!({"name": "deb-new", "vcpus": 1, "memory_mib": 256, "guest_os": os, "start": false});
    let before = s.fingerprint().await;
    let (st, e) = s
        .call(
            "POST",
            "/api/v1/vms",
            Some(&s.admin_token),
            Some(create("debian12")),
        )
        .await;
    assert_eq!(
        (st, e["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("guest_os")),
        "{e}"
    );
    assert_eq!(s.fingerprint().await, before, "nothing written");
    let (st, j) = s
        .call(
            "POST",
            "/api/v1/vms",
            Some(&s.admin_token),
            Some(create("http://debian.org/debian/12")),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{j}");
    let job = s
        .wait_job(&s.admin_token, j["job"]["id"].as_str().unwrap())
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let id = j["vm_id"].as_str().unwrap();
    s.sync().await;
    let g = s.get_ok(&format!("/api/v1/vms/{id}/guest-os")).await;
    assert_eq!(
        (&g["os"], &g["version"], &g["source"], &g["name"]),
        (
            &json!("debian"),
            &json!("12"),
            &json!("libosinfo"),
            &json!("http://debian.org/debian/12")
        ),
        "{g}"
    );
    let p = s.get_ok("/api/v1/reports/patches").await;
    let line = p["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "deb-new")
        .unwrap()
        .clone();
    assert_eq!(line["status"], "current", "{line}");
    // Set by hand, then forgotten: the host is asked again, and its libosinfo id — kept all
    // along for defining the VM elsewhere — is back.
    put(
        &s,
        &format!("/api/v1/vms/{id}/guest-os"),
        json!({"os": "debian", "version": "12.8"}),
    )
    .await;
    assert_eq!(
        db.guest_os_id(id.parse().unwrap())
            .await
            .unwrap()
            .as_deref(),
        Some("http://debian.org/debian/12"),
        "what a redefinition would use"
    );
    let (st, _) = s
        .call(
            "DELETE",
            &format!("/api/v1/vms/{id}/guest-os"),
            Some(&s.admin_token),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let g = s.get_ok(&format!("/api/v1/vms/{id}/guest-os")).await;
    assert_eq!(
        (&g["version"], &g["source"]),
        (&json!("12"), &json!("libosinfo")),
        "{g}"
    );
    // Forgetting what was set by hand on a VM whose host (in the store's records) said
    // Debian 10 meanwhile: back to what the host said. Again: unknown, as nothing else is known.
    let s = &s;
    let forget = |vm: VmId| async move {
        let (st, _) = s
            .call(
                "DELETE",
                &format!("/api/v1/vms/{vm}/guest-os"),
                Some(&s.admin_token),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        s.call(
            "GET",
            &format!("/api/v1/vms/{vm}/guest-os"),
            Some(&s.admin_token),
            None,
        )
        .await
    };
    let (st, g) = forget(deb.id).await;
    assert_eq!(st, StatusCode::OK, "{g}");
    assert_eq!(
        (&g["version"], &g["source"]),
        (&json!("10"), &json!("libosinfo")),
        "{g}"
    );
    let (st, _) = forget(sql.id).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "no guest OS was ever known");

    // Every change is in the audit log.
    super::assert_audited(s, &["licence.set", "os_baseline.set", "vm.guest_os"]).await;
}
