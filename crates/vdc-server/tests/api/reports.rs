//! Reports on an estate built with known answers: VMs recorded months ago with daily and
//! hourly use written to the metric store, a price list, and every figure checked.

use reqwest::StatusCode;
use serde_json::{Value, json};
use vdc_db::{self as db, metrics::RollupRow};
use vdc_test_utils::{StackOptions, Store, TestStack};
use vdc_types::*;

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;

/// A roll-up of one VM where every metric's min, mean, max and p95 are 0 but these.
fn rollup(vm: VmId, resolution_s: i64, start_ms: i64, set: &[(Metric, f32)]) -> RollupRow {
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

fn vm(name: &str, department: Option<DepartmentId>, state: PowerState, created: i64) -> db::Vm {
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
