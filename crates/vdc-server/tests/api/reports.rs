//! Reports on an estate built with known answers: VMs recorded months ago with daily and
//! hourly use written to the metric store, a price list, and every figure checked.

use reqwest::StatusCode;
use serde_json::{Value, json};
use vdc_db::{self as db, metrics::RollupRow};
use vdc_test_utils::{StackOptions, Store, TestStack};
use vdc_types::*;

pub(super) const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;

/// A roll-up of one VM where every metric's min, mean, max and p95 are 0 but these.
pub(super) fn rollup(
    vm: VmId,
    resolution_s: i64,
    start_ms: i64,
    set: &[(Metric, f32)],
) -> RollupRow {
    let mut summaries = [[0.0f32; 4]; Metric::COUNT];
    for (m, v) in set {
        summaries[m.index()] = [*v; 4];
    }
    RollupRow {
        entity: format!("vm:{vm}"),
        resolution_s,
        start_ms,
        summaries,
    }
}

pub(super) fn vm(
    name: &str,
    department: Option<DepartmentId>,
    state: PowerState,
    created: i64,
) -> db::Vm {
    db::Vm {
        id: VmId(uuid::Uuid::new_v4()),
        name: name.into(),
        host_id: None,
        cluster_id: None,
        vcpus: 4,
        memory_mib: 8192,
        disks: vec![db::DiskRec {
            device: "vda".into(),
            size_gib: 100,
            datastore: "ds".into(),
            format: "qcow2".into(),
            path: None,
        }],
        nics: Vec::new(),
        power_state: state,
        owner: department.map(|_| "alice".to_string()),
        department_id: department,
        purpose: None,
        tags: Vec::new(),
        lease_expires_at: None,
        created_by: None,
        created_at: created,
        updated_at: created,
        generation: 1,
        runtime_gen: 0,
        management: Management::Managed,
    }
}

fn close(a: &Value, b: f64) -> bool {
    (a.as_f64().unwrap_or(f64::NAN) - b).abs() < 1e-6
}

pub(super) async fn reports_with_known_answers(store: Store) {
    let s = TestStack::start_with(StackOptions {
        hosts: 1,
        vms: 0,
        ..StackOptions::new(store)
    })
    .await;
    let (st, p) = s
        .call(
            "PUT",
            "/api/v1/price-list",
            Some(&s.admin_token),
            Some(json!({"currency": "EUR", "vcpu_month": 10.0, "memory_gib_month": 5.0,
                "disk_gib_month": 0.1, "licences": {"sql": 100.0}, "vm_month": 2.0, "department_month": 50.0})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{p}");
    let eng: DepartmentId = super::department_id(&s, "engineering")
        .await
        .parse()
        .unwrap();
    let db = &s.app().db;
    let now = db::now_ms();
    let today = now.div_euclid(DAY) * DAY;
    let long_ago = now - 100 * DAY;
    // Idle: two weeks under 1 % CPU. Oversized: busy 20 % one day, 1000 MiB. Lease ended
    // yesterday, busy. Off since it was recorded, of no one.
    let idle = vm("idle", Some(eng), PowerState::Running, long_ago);
    let big = vm("big", Some(eng), PowerState::Running, long_ago);
    let mut leased = vm("leased", Some(eng), PowerState::Running, long_ago);
    leased.lease_expires_at = Some(now - DAY);
    let zombie = vm("zombie", None, PowerState::Shutoff, long_ago);
    for v in [&idle, &big, &leased, &zombie] {
        db.insert_vm(v).await.unwrap();
    }
    let mut rows = Vec::new();
    for k in 1..=14 {
        let day = today - k * DAY;
        rows.push(rollup(
            idle.id,
            86_400,
            day,
            &[(Metric::Cpu, 1.0), (Metric::MemoryMib, 500.0)],
        ));
        let cpu = if k == 6 { 20.0 } else { 3.0 };
        rows.push(rollup(
            big.id,
            86_400,
            day,
            &[
                (Metric::Cpu, cpu),
                (Metric::MemoryMib, 1000.0),
                (Metric::DiskWriteBytesS, 1e6),
            ],
        ));
        rows.push(rollup(
            leased.id,
            86_400,
            day,
            &[
                (Metric::Cpu, 50.0),
                (Metric::MemoryMib, 7000.0),
                (Metric::NetRxBytesS, 1e6),
            ],
        ));
    }
    // Last month, the idle VM ran 10 hours at 50 % CPU with 2 GiB resident.
    let this_month = &rfc3339(now)[..7];
    let (y, m): (i32, u32) = (
        this_month[..4].parse().unwrap(),
        this_month[5..].parse().unwrap(),
    );
    let last_month = if m == 1 {
        format!("{}-12", y - 1)
    } else {
        format!("{y}-{:02}", m - 1)
    };
    let start = parse_rfc3339("m", &format!("{last_month}-01T00:00:00Z")).unwrap();
    let end = parse_rfc3339("m", &format!("{this_month}-01T00:00:00Z")).unwrap();
    let month_hours = ((end - start) / HOUR) as f64;
    for h in 0..10 {
        rows.push(rollup(
            idle.id,
            3600,
            start + h * HOUR,
            &[(Metric::Cpu, 50.0), (Metric::MemoryMib, 2048.0)],
        ));
    }
    db.write_metrics(&[], &rows).await.unwrap();

    // Sprawl: every finding, its waste, and each VM counted once in the totals.
    let r = s.get_ok("/api/v1/reports/sprawl").await;
    assert_eq!(r["currency"], "EUR");
    let find = |kind: &str, name: &str| -> Value {
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["kind"] == kind && f["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {kind} {name} in {r}"))
    };
    let full = 4.0 * 10.0 + 8.0 * 5.0 + 100.0 * 0.1 + 2.0;
    let f = find("idle", "idle");
    assert!(close(&f["monthly_waste"], full), "{f}");
    assert_eq!(f["department"], "engineering");
    assert!(f["evidence"].as_str().unwrap().contains("14 days"), "{f}");
    let f = find("oversized", "big");
    assert_eq!(
        f["right_size"],
        json!({"vcpus": 1, "memory_mib": 1280}),
        "{f}"
    );
    let big_waste = 3.0 * 10.0 + (8192.0 - 1280.0) / 1024.0 * 5.0;
    assert!(close(&f["monthly_waste"], big_waste), "{f}");
    let f = find("lease_expired", "leased");
    assert!(close(&f["monthly_waste"], full), "{f}");
    let f = find("zombie", "zombie");
    assert!(close(&f["monthly_waste"], 10.0), "{f}");
    assert!(f["evidence"].as_str().unwrap().contains("100 days"), "{f}");
    let f = find("unowned", "zombie");
    assert!(close(&f["monthly_waste"], full), "{f}");
    assert_eq!(r["findings"].as_array().unwrap().len(), 5, "{r}");
    assert!(
        close(&r["total_waste"], full + big_waste + full + full),
        "{r}"
    );
    let by: Vec<(Value, f64)> = r["waste_by_department"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["department"].clone(), d["amount"].as_f64().unwrap()))
        .collect();
    assert!(by.contains(&(Value::Null, full)), "{by:?}");
    assert!(
        by.iter()
            .any(|(d, a)| d == "engineering" && (a - (2.0 * full + big_waste)).abs() < 1e-6),
        "{by:?}"
    );
    // Asked for leases, the three managed VMs without one are named; one department only.
    let r2 = s
        .get_ok(&format!(
            "/api/v1/reports/sprawl?missing_leases=true&department_id={eng}"
        ))
        .await;
    let kinds: Vec<&str> = r2["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "no_lease").count(),
        2,
        "{kinds:?}"
    );
    assert!(!kinds.contains(&"zombie"), "{kinds:?}");
    // CSV: a header and a row per finding.
    let csv = s
        .get_text("/api/v1/reports/sprawl?format=csv", "text/csv")
        .await;
    assert!(
        csv.starts_with("kind,name,vm_id,department,owner,monthly_cost,monthly_waste"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 6, "{csv}");
    assert!(csv.contains("oversized,big,"), "{csv}");

    // Chargeback for last month, allocated: every VM existed all month.
    let departments = s
        .get_ok("/api/v1/departments")
        .await
        .as_array()
        .unwrap()
        .len() as f64;
    let c = s
        .get_ok(&format!("/api/v1/reports/chargeback?month={last_month}"))
        .await;
    assert_eq!(c["model"], "allocated");
    assert_eq!(c["from"], rfc3339(start));
    assert_eq!(c["to"], rfc3339(end));
    let st = |c: &Value, d: &str| -> Value {
        c["statements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["department"] == d || (d == "none" && s["department"].is_null()))
            .cloned()
            .unwrap()
    };
    let e = st(&c, "engineering");
    assert_eq!(e["vms"].as_array().unwrap().len(), 3, "{e}");
    assert!(close(&e["total"], 3.0 * full + 50.0), "{e}");
    assert!(close(&e["fixed"]["amount"], 50.0), "{e}");
    assert!(close(&st(&c, "none")["total"], full), "{c}");
    assert!(close(&c["total"], 4.0 * full + 50.0 * departments), "{c}");
    // Used: the idle VM's 20 vCPU-hours and 20 GiB-hours, everyone's disks and fixed charges.
    let u = s
        .get_ok(&format!(
            "/api/v1/reports/chargeback?month={last_month}&model=used"
        ))
        .await;
    let e = st(&u, "engineering");
    let idle_bill = e["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "idle")
        .unwrap()
        .clone();
    let line = |item: &str| {
        idle_bill["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["item"] == item)
            .unwrap()
            .clone()
    };
    assert!(close(&line("vCPU")["quantity"], 20.0), "{idle_bill}");
    assert!(close(&line("memory")["quantity"], 20.0), "{idle_bill}");
    let idle_used = 20.0 * 10.0 / month_hours + 20.0 * 5.0 / month_hours + 10.0 + 2.0;
    assert!(close(&idle_bill["total"], idle_used), "{idle_bill}");
    assert!(close(&e["total"], idle_used + 2.0 * 12.0 + 50.0), "{e}");
    // CSV: a row per bill line.
    let csv = s
        .get_text(
            &format!("/api/v1/reports/chargeback?month={last_month}&format=csv"),
            "text/csv",
        )
        .await;
    assert!(
        csv.starts_with(
            "month,model,department,vm,vm_id,item,quantity,unit,unit_price,amount,currency"
        ),
        "{csv}"
    );
    assert!(
        csv.contains(&format!("{last_month},allocated,engineering,idle,")),
        "{csv}"
    );
    // Bad input names its field.
    for (q, field) in [
        ("month=2026-13", "month"),
        ("model=free", "model"),
        ("format=xml", "format"),
    ] {
        let (st, e) = s
            .call(
                "GET",
                &format!("/api/v1/reports/chargeback?{q}"),
                Some(&s.admin_token),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{q}: {e}");
        if field != "model" {
            assert_eq!(e["field"], field, "{q}: {e}");
        }
    }
}

/// Posts an RVTools workbook as `source`.
async fn import(s: &TestStack, source: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/imports/rvtools?source={source}", s.base))
        .bearer_auth(&s.admin_token)
        .header(
            "content-type",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        .body(bytes)
        .send()
        .await
        .unwrap();
    let st = resp.status();
    (st, resp.json().await.unwrap_or(Value::Null))
}

pub(super) async fn rvtools_export_imports_as_a_read_only_estate(store: Store) {
    let s = TestStack::start_with(StackOptions {
        hosts: 1,
        vms: 0,
        ..StackOptions::new(store)
    })
    .await;
    let xlsx = std::fs::read(vdc_test_utils::test_data().join("rvtools/example1.xlsx")).unwrap();
    let (st, p) = s
        .call(
            "PUT",
            "/api/v1/price-list",
            Some(&s.admin_token),
            Some(json!({"currency": "EUR", "vcpu_month": 10.0, "memory_gib_month": 5.0, "disk_gib_month": 0.1})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{p}");
    // Not a workbook, or a workbook of another kind: refused, nothing written.
    let before = s.fingerprint().await;
    let (st, e) = import(&s, "lab", b"not a workbook".to_vec()).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["field"], "file");
    let (st, e) = import(&s, "bad source!", xlsx.clone()).await;
    assert_eq!(
        (st, e["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("source")),
        "{e}"
    );
    assert_eq!(s.fingerprint().await, before, "nothing written");

    let (st, done) = import(&s, "lab", xlsx.clone()).await;
    assert_eq!(st, StatusCode::CREATED, "{done}");
    assert_eq!(
        (
            done["clusters"].as_u64(),
            done["hosts"].as_u64(),
            done["vms"].as_u64()
        ),
        (Some(2), Some(7), Some(9)),
        "{done}"
    );
    assert_eq!(done["site"], "rvtools:lab");
    // The publisher anonymised the host names of vInfo and vHost apart: no VM's host is among
    // vHost's seven (and vm-9 names none), so the VMs come in without a host; vm-9 names no
    // datacenter or cluster either and goes to a cluster of its own.
    assert_eq!(done["vms_without_host"], 9, "{done}");
    let hosts = s.get_ok("/api/v1/hosts?state=external&limit=100").await["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(hosts.len(), 7);
    let h = hosts.iter().find(|h| h["name"] == "10.17.135.71").unwrap();
    assert_eq!(h["cpu_model"], "Intel(R) Xeon(R) Gold 5218 CPU @ 2.30GHz");
    assert_eq!(
        (
            h["sockets"].as_u64(),
            h["cores_per_socket"].as_u64(),
            h["threads_per_core"].as_u64()
        ),
        (Some(2), Some(16), Some(2))
    );
    assert_eq!(h["memory_mib"], 261797);
    assert_eq!(h["hypervisor"], "esx");
    let vms = super::all_vms(&s, &s.admin_token, "management=external&limit=1000").await;
    assert_eq!(vms.len(), 9);
    let vm1 = vms.iter().find(|v| v["name"] == "vm-1").unwrap().clone();
    assert_eq!(vm1["id"], "500b85c1-ef0d-37fb-6897-61c47157f858");
    assert_eq!(
        (vm1["vcpus"].as_u64(), vm1["memory_mib"].as_u64()),
        (Some(1), Some(2224))
    );
    assert_eq!(vm1["power_state"], "shutoff");
    assert_eq!(vm1["disks"][0]["size_gib"], 101, "103424 MiB");
    assert_eq!(vm1["created_at"], "2025-02-26T12:53:35.000Z");
    let running = vms.iter().filter(|v| v["power_state"] == "running").count();
    assert_eq!(running, 3);

    // Read-only: no power action, but ownership can be given.
    let id = vm1["id"].as_str().unwrap();
    let (st, e) = s
        .call(
            "POST",
            &format!("/api/v1/vms/{id}/actions/start"),
            Some(&s.admin_token),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    assert!(e["message"].as_str().unwrap().contains("read-only"), "{e}");
    let eng = super::department_id(&s, "engineering").await;
    let (st, e) = s
        .call(
            "PATCH",
            &format!("/api/v1/vms/{id}"),
            Some(&s.admin_token),
            Some(json!({"owner": "carol", "department_id": eng})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{e}");

    // The reports cover it: the powered-off VMs are zombies, the others of no one.
    let r = s.get_ok("/api/v1/reports/sprawl").await;
    let count = |kind: &str| {
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kind"] == kind)
            .count()
    };
    assert_eq!(count("zombie"), 6, "{r}");
    assert_eq!(count("unowned"), 8, "{r}");
    assert_eq!(count("unmanaged"), 0, "{r}");
    // vm-4: off since it was created on 2024-11-09, its 100 GiB disk wasting 10 € a month.
    let zombie4 = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "zombie" && f["name"] == "vm-4")
        .unwrap()
        .clone();
    assert!(close(&zombie4["monthly_waste"], 10.0), "{zombie4}");
    assert!(
        zombie4["evidence"].as_str().unwrap().contains("2024-11-09"),
        "{zombie4}"
    );
    let c = s.get_ok("/api/v1/reports/chargeback").await;
    let billed: usize = c["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["vms"].as_array().unwrap().len())
        .sum();
    assert_eq!(billed, 9, "{c}");

    // Imported again: replaced, the ownership given meanwhile kept, nothing duplicated.
    let (st, again) = import(&s, "lab", xlsx).await;
    assert_eq!(st, StatusCode::CREATED, "{again}");
    assert_eq!(
        (again["vms"].as_u64(), again["vms_removed"].as_u64()),
        (Some(9), Some(0))
    );
    assert_eq!(
        super::all_vms(&s, &s.admin_token, "management=external&limit=1000")
            .await
            .len(),
        9
    );
    let v = s.get_ok(&format!("/api/v1/vms/{id}")).await;
    assert_eq!(
        (v["owner"].as_str(), v["department_id"].as_str()),
        (Some("carol"), Some(eng.as_str())),
        "{v}"
    );
    // The external hosts are never contacted: a sync leaves them as they are.
    let r = s.sync().await;
    assert_eq!(r.unreachable, 0, "{r:?}");
    let audit = s.get_ok("/api/v1/audit?action=import.&limit=5").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 2, "{audit}");
    // Licences and patch levels from the export's OS columns (VMware Tools' over the
    // configuration's: vm-3 runs Debian 9, configured as 7; vm-8 RHEL 8, configured as 9).
    let (st, e) = s
        .call(
            "PUT",
            "/api/v1/licences/rhel",
            Some(&s.admin_token),
            Some(json!({"name": "rhel", "model": "per_socket", "owned": 8, "guest_os": "rhel"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{e}");
    for (os, v) in [("rhel", "9.4"), ("debian", "12")] {
        let (st, e) = s
            .call(
                "PUT",
                &format!("/api/v1/os-baselines/{os}"),
                Some(&s.admin_token),
                Some(json!({"os": os, "min_version": v})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{e}");
    }
    let r = s.get_ok("/api/v1/reports/licences").await;
    let rhel = &r["products"][0];
    let names = |v: &Value| -> Vec<String> {
        let mut n: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    assert_eq!(
        names(&rhel["vms"]),
        ["vm-4", "vm-6", "vm-7", "vm-8"],
        "{rhel}"
    );
    // No VM is on a listed host, but they may run on any of the cluster's seven hosts of two
    // sockets each; the three RHEL VMs off for years hold licences.
    assert_eq!(
        (
            rhel["needed_now"].as_u64(),
            rhel["needed"].as_u64(),
            rhel["shortfall"].as_u64()
        ),
        (Some(0), Some(14), Some(6)),
        "{rhel}"
    );
    assert_eq!(rhel["hosts"].as_array().unwrap().len(), 7);
    assert_eq!(names(&rhel["idle"]), ["vm-4", "vm-6", "vm-7"], "{rhel}");
    let p = s.get_ok("/api/v1/reports/patches").await;
    let status = |name: &str| {
        p["vms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == name)
            .unwrap()["status"]
            .clone()
    };
    for (name, want) in [
        ("vm-3", "behind"),
        ("vm-5", "behind"),
        ("vm-8", "behind"),
        ("vm-4", "unknown"),
        ("vm-1", "unchecked"),
        ("vm-2", "unchecked"),
        ("vm-9", "unchecked"),
    ] {
        assert_eq!(status(name), want, "{name}: {p}");
    }
    assert_eq!(
        (
            p["behind"].as_u64(),
            p["unknown"].as_u64(),
            p["unchecked"].as_u64()
        ),
        (Some(3), Some(3), Some(3)),
        "{p}"
    );
    assert_eq!(p["behind_by_owner"], json!([{"owner": null, "behind": 3}]));
}

async fn post_vmx(s: &TestStack, body: Value) -> (StatusCode, Value) {
    s.call(
        "POST",
        "/api/v1/imports/vmx?source=wild",
        Some(&s.admin_token),
        Some(body),
    )
    .await
}

pub(super) async fn vmx_files_import_as_vms_without_hosts(store: Store) {
    let s = TestStack::start_with(StackOptions {
        hosts: 1,
        vms: 0,
        ..StackOptions::new(store)
    })
    .await;
    let dir = vdc_test_utils::test_data().join("vmx-files");
    let mut files = serde_json::Map::new();
    for n in [2, 6, 9, 12] {
        let name = format!("esx-in-the-wild-{n}.vmx");
        files.insert(
            name.clone(),
            std::fs::read_to_string(dir.join(&name)).unwrap().into(),
        );
    }
    // A file that is not a .vmx: refused naming it, nothing written.
    let before = s.fingerprint().await;
    let mut bad = files.clone();
    bad.insert("notes.vmx".into(), "just some notes\n".into());
    let (st, e) = post_vmx(&s, json!({"files": bad})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert!(e["message"].as_str().unwrap().contains("notes.vmx"), "{e}");
    assert_eq!(s.fingerprint().await, before, "nothing written");

    let (st, done) = post_vmx(&s, json!({"files": files})).await;
    assert_eq!(st, StatusCode::CREATED, "{done}");
    assert_eq!(
        (
            done["site"].as_str(),
            done["clusters"].as_u64(),
            done["hosts"].as_u64(),
            done["vms"].as_u64()
        ),
        (Some("vmx:wild"), Some(1), Some(0), Some(4)),
        "{done}"
    );
    let vms = super::all_vms(&s, &s.admin_token, "management=external&limit=100").await;
    let by_name = |n: &str| {
        vms.iter()
            .find(|v| v["name"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("{n} in {vms:?}"))
    };
    // esx-in-the-wild-9: Windows Server 2012, 16 vCPUs, 16 GB; -12: ESXi 8 RHEL 9.3 with its
    // BIOS UUID, a pvscsi disk and a vmxnet3 NIC.
    let w = vms.iter().find(|v| v["vcpus"] == 16).unwrap();
    assert_eq!(w["memory_mib"], 16384, "{w}");
    let r = by_name("Auto-esx8.0-rhell9.3-efi-with-empty-cdrom");
    assert_eq!(r["id"], "4220fca7-11dd-d67e-19cc-fcad0a37c342");
    assert_eq!(r["power_state"], "unknown");
    assert_eq!(r["disks"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["nics"][0]["mac"], "00:50:56:a0:cf:2f", "{r}");
    // Read-only, and in the reports (of no one).
    let id = r["id"].as_str().unwrap();
    let (st, _) = s
        .call(
            "DELETE",
            &format!("/api/v1/vms/{id}"),
            Some(&s.admin_token),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    let sprawl = s.get_ok("/api/v1/reports/sprawl").await;
    let unowned = sprawl["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "unowned")
        .count();
    assert_eq!(unowned, 4, "{sprawl}");
    // Imported again without one file: that VM is gone, the others kept.
    let mut fewer = files.clone();
    fewer.remove("esx-in-the-wild-2.vmx");
    let (st, again) = post_vmx(&s, json!({"files": fewer})).await;
    assert_eq!(st, StatusCode::CREATED, "{again}");
    assert_eq!(
        (again["vms"].as_u64(), again["vms_removed"].as_u64()),
        (Some(3), Some(1)),
        "{again}"
    );
    assert_eq!(
        super::all_vms(&s, &s.admin_token, "management=external&limit=100")
            .await
            .len(),
        3
    );
}
