//! vdc driving real QEMU guests (TCG) on the project's libvirt lab: two libvirtds on this
//! machine (`scripts/libvirt-lab.sh`, started by `scripts/test.sh`). Fails when the lab is
//! not there; never skips.

use super::department_id;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use vdc_driver::lab;
use vdc_test_utils::{StackOptions, Store, TestStack, wait_for_condition};

/// Shared storage of both lab hosts (outside /var/lib/libvirt, which host2 keeps private).
const POOL: &str = "vdc-lab-pool";
const POOL_DIR: &str = "/var/lib/vdc-lab/pool";

/// Removes what an earlier, failed run of this test left on a host.
fn clean_leftovers(uri: &str) {
    for name in lab::virsh(uri, &["list", "--all", "--name"])
        .lines()
        .map(str::trim)
    {
        if name.starts_with("lab-e2e-") || name.starts_with("lab-rogue-") {
            let _ = Command::new("virsh")
                .args(["-c", uri, "destroy", name])
                .output();
            lab::virsh(uri, &["undefine", "--snapshots-metadata", name]);
        }
    }
    for f in std::fs::read_dir(POOL_DIR).unwrap().flatten() {
        if f.file_name().to_string_lossy().starts_with("lab-e2e-") {
            std::fs::remove_file(f.path()).unwrap();
        }
    }
    lab::virsh(uri, &["pool-refresh", POOL]);
}

async fn post(s: &TestStack, path: &str, body: Value) -> Value {
    let (st, b) = s.call("POST", path, Some(&s.admin_token), Some(body)).await;
    assert!(st.is_success(), "POST {path}: {st} {b}");
    b
}

/// Submits a job and waits for it to succeed; returns how long it took.
async fn job(s: &TestStack, path: &str, body: Value) -> Duration {
    let t0 = Instant::now();
    let acc = post(s, path, body).await;
    let j = s
        .wait_job(&s.admin_token, acc["job"]["id"].as_str().unwrap())
        .await;
    assert_eq!(j["state"], "succeeded", "{path}: {j}");
    t0.elapsed()
}

/// `PATCH path body` as admin; it must succeed.
async fn patch(s: &TestStack, path: &str, body: Value) {
    let (st, b) = s
        .call("PATCH", path, Some(&s.admin_token), Some(body))
        .await;
    assert_eq!(st, StatusCode::OK, "PATCH {path}: {b}");
}

/// Syncs until the host is connected again (at most 30 s).
async fn until_connected(s: &TestStack, host: &str) {
    wait_for_condition(
        Duration::from_millis(200),
        Duration::from_secs(30),
        || async {
            s.sync().await;
            (s.get_ok(&format!("/api/v1/hosts/{host}")).await["state"] == "connected").then_some(())
        },
    )
    .await;
}

async fn vm(s: &TestStack, id: &str) -> Value {
    s.get_ok(&format!("/api/v1/vms/{id}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_vm_lifecycle_on_real_qemu() {
    let host1_uri = "qemu:///system";
    let host2_uri = lab::host2_uri();
    lab::ensure_pool(host1_uri, POOL, POOL_DIR);
    lab::ensure_pool(&host2_uri, POOL, POOL_DIR);
    clean_leftovers(host1_uri);
    clean_leftovers(&host2_uri);
    let guest = lab::guest_dir();
    // Host 2's "power" is its libvirtd: the lab script stops and starts it, as a BMC would
    // power the machine.
    let power = format!(
        "{} host2 \"$([ \"$VDC_POWER_ACTION\" = on ] && echo start || echo stop)\" >/dev/null",
        lab::script().display()
    );
    let s = TestStack::start_with(StackOptions {
        hosts: 1,
        vms: 0,
        power_command: Some(power),
        ..StackOptions::new(Store::Sqlite)
    })
    .await;

    // Both libvirtds join as hosts; vdc uses software emulation (TCG) on them.
    let t0 = Instant::now();
    let h1 = post(
        &s,
        "/api/v1/hosts",
        json!({"uri": host1_uri, "cluster": "lab", "name": "lab1", "domain_type": "qemu"}),
    )
    .await;
    let h2 = post(
        &s,
        "/api/v1/hosts",
        json!({"uri": host2_uri, "cluster": "lab", "name": "lab2", "domain_type": "qemu"}),
    )
    .await;
    eprintln!("lab: two hosts added and synced in {:?}", t0.elapsed());
    let (h1, h2) = (
        h1["host"]["id"].as_str().unwrap().to_string(),
        h2["host"]["id"].as_str().unwrap().to_string(),
    );
    assert_eq!(
        s.get_ok(&format!("/api/v1/hosts/{h1}")).await["hypervisor"],
        "qemu"
    );

    // Create and start a guest: vdc writes the domain XML and the pool volume.
    let eng = department_id(&s, "engineering").await;
    let name = format!(
        "lab-e2e-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let console = PathBuf::from(format!("/var/log/libvirt/qemu/{name}-console.log"));
    let _ = std::fs::remove_file(&console);
    let t0 = Instant::now();
    let acc = post(&s, "/api/v1/vms", json!({
        "name": name, "vcpus": 1, "memory_mib": 128, "host_id": h1, "start": true,
        "disks": [{"size_gib": 1, "datastore": POOL}],
        "boot": {"kernel": guest.join("vmlinuz"), "initrd": guest.join("initrd.img"), "cmdline": "console=ttyS0 panic=-1"},
        "purpose": "e2e", "tags": ["lab"], "department_id": eng,
    })).await;
    let id = acc["vm_id"].as_str().unwrap().to_string();
    let j = s
        .wait_job(&s.admin_token, acc["job"]["id"].as_str().unwrap())
        .await;
    assert_eq!(j["state"], "succeeded", "{j}");
    let running = t0.elapsed();
    let v = vm(&s, &id).await;
    assert_eq!(v["power_state"], "running", "{v}");
    assert_eq!(v["management"], "managed");
    assert_eq!(v["host_id"], h1.as_str());
    assert!(lab::virsh(host1_uri, &["dumpxml", &name]).contains("https://vdc.dev/xmlns/vm/1"));
    let booted = wait_for_condition(
        Duration::from_millis(100),
        Duration::from_secs(120),
        || async {
            std::fs::read_to_string(&console)
                .ok()
                .filter(|c| c.contains("VDC-GUEST-UP"))
                .map(|_| t0.elapsed())
        },
    )
    .await;
    eprintln!(
        "lab: create→running (job done) {running:?}, create→guest booted (console marker) {booted:?}"
    );

    // Its disk volume is in the inventory, in the shared pool.
    let vol = format!("{name}-vda.qcow2");
    let v = wait_for_condition(
        Duration::from_millis(50),
        Duration::from_secs(10),
        || async {
            s.get_ok("/api/v1/volumes")
                .await
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"] == vol.as_str())
                .cloned()
        },
    )
    .await;
    assert_eq!(v["format"], "qcow2", "{v}");
    assert_eq!(v["capacity_mib"], 1024, "{v}");
    assert!(v["path"].as_str().unwrap().starts_with(POOL_DIR), "{v}");

    // Changes made behind vdc's back reach the inventory through libvirt's events, with no
    // sync in between (this stack has no periodic sync).
    for (cmd, state) in [("suspend", "paused"), ("resume", "running")] {
        let t0 = Instant::now();
        lab::virsh(host1_uri, &[cmd, &name]);
        wait_for_condition(
            Duration::from_millis(20),
            Duration::from_secs(5),
            || async { (vm(&s, &id).await["power_state"] == state).then_some(()) },
        )
        .await;
        eprintln!(
            "lab: virsh {cmd} → inventory {state} by event in {:?}",
            t0.elapsed()
        );
    }
    // The background registry records those event syncs.
    let tasks = s.get_ok("/api/v1/background-tasks").await;
    let events = tasks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "event-sync")
        .cloned()
        .unwrap();
    assert!(events["runs"].as_u64().unwrap() >= 2, "{events}");
    assert_eq!(events["last_result"], "ok", "{events}");
    assert_eq!(events["schedule"], "on driver events", "{events}");

    // A store lost: a new vdc that only knows the host's URI rebuilds the VM's ownership
    // from the domain's metadata.
    {
        let fresh = TestStack::start_with(StackOptions {
            hosts: 1,
            vms: 0,
            ..StackOptions::new(Store::Sqlite)
        })
        .await;
        post(
            &fresh,
            "/api/v1/hosts",
            json!({"uri": host1_uri, "domain_type": "qemu"}),
        )
        .await;
        let v = vm(&fresh, &id).await;
        assert_eq!(v["name"], name.as_str());
        assert_eq!(v["management"], "managed", "{v}");
        assert_eq!(v["owner"], "admin");
        assert_eq!(v["purpose"], "e2e");
        assert_eq!(v["tags"], json!(["lab"]));
        let fresh_eng = department_id(&fresh, "engineering").await;
        assert_eq!(v["department_id"], fresh_eng.as_str());
        assert_eq!(v["power_state"], "running");
    }

    // Its counters, from the host.
    let st = s.get_ok(&format!("/api/v1/vms/{id}/stats")).await;
    assert!(st["cpu_time_ns"].as_u64().unwrap() > 0, "{st}");
    assert_eq!(st["vcpu_delay_ns"].as_array().unwrap().len(), 1, "{st}");
    assert!(st["balloon_current_mib"].as_u64().unwrap() > 0, "{st}");
    assert!(st["memory_rss_mib"].as_u64().unwrap() > 0, "{st}");
    let hs = s.get_ok(&format!("/api/v1/hosts/{h1}/stats")).await;
    assert!(hs["running_vms"].as_u64().unwrap() >= 1, "{hs}");

    // A domain defined behind vdc's back is flagged at the next sync.
    let rogue = format!(
        "lab-rogue-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let xml = std::fs::read_to_string(guest.join("domain-qemu.xml"))
        .unwrap()
        .replace(
            "<name>vdc-tiny-qemu</name>",
            &format!("<name>{rogue}</name>"),
        );
    let xml_path = std::env::temp_dir().join(format!("{rogue}.xml"));
    std::fs::write(&xml_path, xml).unwrap();
    lab::virsh(host1_uri, &["define", xml_path.to_str().unwrap()]);
    let t0 = Instant::now();
    let r = s.sync().await;
    eprintln!(
        "lab: full sync {:?} ({} ms reported)",
        t0.elapsed(),
        r.elapsed_ms
    );
    assert!(r.unmanaged_found >= 1, "{r:?}");
    let flagged = s
        .get_ok("/api/v1/vms?management=unmanaged&limit=1000")
        .await;
    assert!(
        flagged["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == rogue.as_str()),
        "{flagged}"
    );
    lab::virsh(host1_uri, &["undefine", &rogue]);

    // Live migration to host2 and back.
    let there = job(
        &s,
        &format!("/api/v1/vms/{id}/migrate"),
        json!({"host_id": h2}),
    )
    .await;
    let v = vm(&s, &id).await;
    assert_eq!(v["host_id"], h2.as_str());
    assert_eq!(v["power_state"], "running");
    assert!(
        lab::virsh(&host2_uri, &["list", "--name"])
            .lines()
            .any(|l| l.trim() == name)
    );
    assert!(
        !lab::virsh(host1_uri, &["list", "--all", "--name"])
            .lines()
            .any(|l| l.trim() == name)
    );
    // Back by evacuating host2: the balancer's evacuation migrates the guest for real.
    let t0 = Instant::now();
    let acc = post(&s, &format!("/api/v1/hosts/{h2}/evacuate"), json!({})).await;
    let moved = acc["vms"].as_array().unwrap();
    assert_eq!(moved.len(), 1, "{acc}");
    let j = s
        .wait_job(&s.admin_token, moved[0]["job"]["id"].as_str().unwrap())
        .await;
    assert_eq!(j["state"], "succeeded", "{j}");
    let back = t0.elapsed();
    assert_eq!(vm(&s, &id).await["host_id"], h1.as_str());
    assert_eq!(
        s.get_ok(&format!("/api/v1/hosts/{h2}")).await["maintenance"],
        true
    );
    assert!(
        lab::virsh(host1_uri, &["list", "--name"])
            .lines()
            .any(|l| l.trim() == name)
    );
    eprintln!("lab: live migration host1→host2 {there:?}, evacuation host2→host1 {back:?}");

    // The automatic balancer acts on memory pressure read from QEMU: the balloon takes back a
    // quarter of the guest's memory on host1, and the guest is migrated to host2 for real.
    patch(
        &s,
        &format!("/api/v1/hosts/{h2}"),
        json!({"maintenance": false}),
    )
    .await;
    let cluster = s.get_ok(&format!("/api/v1/hosts/{h1}")).await["cluster_id"].clone();
    let cluster_path = format!("/api/v1/clusters/{}", cluster.as_str().unwrap());
    patch(&s, &cluster_path, json!({"balance_mode": "automatic"})).await;
    lab::virsh(host1_uri, &["setmem", &name, "96M", "--live"]);
    let t0 = Instant::now();
    let pressed = wait_for_condition(
        Duration::from_millis(200),
        Duration::from_secs(30),
        || async {
            vdc_server::monitoring::load::sample_all(s.app())
                .await
                .unwrap();
            let h = s.get_ok(&format!("/api/v1/hosts/{h1}")).await;
            (h["balloon_share"].as_f64().unwrap_or(0.0) > 0.2).then_some(h)
        },
    )
    .await;
    assert!(
        pressed["balloon_share"].as_f64().unwrap() <= 0.3,
        "{pressed}"
    );
    assert_eq!(s.app().balance_round().await.unwrap(), 1);
    let jobs = s.get_ok("/api/v1/jobs?limit=5").await;
    let j = &jobs["items"][0];
    assert_eq!(
        (j["kind"].as_str(), j["created_by"].as_str()),
        (Some("vm.migrate"), Some("balancer")),
        "{j}"
    );
    let audit = s.get_ok("/api/v1/audit?limit=5").await;
    let why = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["actor"] == "balancer" && a["action"] == "vm.migrate")
        .unwrap_or_else(|| panic!("{audit}"));
    assert!(
        why["detail"].as_str().unwrap().contains("short of memory"),
        "{why}"
    );
    let j = s.wait_job(&s.admin_token, j["id"].as_str().unwrap()).await;
    assert_eq!(j["state"], "succeeded", "{j}");
    assert_eq!(vm(&s, &id).await["host_id"], h2.as_str());
    eprintln!(
        "lab: balloon pressure seen and the guest moved by the balancer in {:?}",
        t0.elapsed()
    );
    patch(&s, &cluster_path, json!({"balance_mode": "recommend"})).await;
    lab::virsh(&host2_uri, &["setmem", &name, "128M", "--live"]);
    job(
        &s,
        &format!("/api/v1/vms/{id}/migrate"),
        json!({"host_id": h1}),
    )
    .await;

    // Host2, now empty, goes to standby through the power command (its libvirtd stops) and
    // is woken again (it starts, and the next sync reaches it).
    let t0 = Instant::now();
    let h = post(&s, &format!("/api/v1/hosts/{h2}/standby"), json!({})).await;
    assert_eq!(h["state"], "standby", "{h}");
    assert!(
        Command::new("virsh")
            .args(["-c", &host2_uri, "version"])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true),
        "host2's libvirtd is down"
    );
    s.sync().await;
    assert_eq!(
        s.get_ok(&format!("/api/v1/hosts/{h2}")).await["state"],
        "standby"
    );
    let h = post(&s, &format!("/api/v1/hosts/{h2}/wake"), json!({})).await;
    assert_eq!(h["state_reason"], "waking from standby", "{h}");
    until_connected(&s, &h2).await;
    eprintln!("lab: host2 to standby and woken in {:?}", t0.elapsed());

    // libvirtd killed while a sync runs, then restarted: the inventory comes back whole.
    s.sync().await;
    let before: Vec<Value> = s
        .get_ok(&format!("/api/v1/vms?host_id={h1}&limit=1000"))
        .await["items"]
        .as_array()
        .unwrap()
        .clone();
    let app = s.app().clone();
    let sync = tokio::spawn(async move { vdc_server::inventory::sync::sync_all(&app).await });
    let restart = tokio::task::spawn_blocking(lab::kill_libvirtd)
        .await
        .unwrap();
    let _ = sync.await.unwrap();
    let r = s.sync().await;
    assert!(r.unreachable >= 1, "{r:?}");
    let h = s.get_ok(&format!("/api/v1/hosts/{h1}")).await;
    assert_eq!(h["state"], "unreachable", "{h}");
    let during: Vec<Value> = s
        .get_ok(&format!("/api/v1/vms?host_id={h1}&limit=1000"))
        .await["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        during.len(),
        before.len(),
        "no VM record is lost while the host is unreachable"
    );
    tokio::task::spawn_blocking(lab::start_libvirtd)
        .await
        .unwrap();
    drop(restart);
    let key = |vs: &[Value]| -> Vec<(String, String)> {
        vs.iter()
            .map(|v| {
                (
                    v["id"].as_str().unwrap().to_string(),
                    v["power_state"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    // Right after its restart libvirtd is still reconnecting to the running QEMUs and may
    // report a domain without a state for a moment; the syncs that follow (periodic ones in
    // production, these here) bring the inventory back to what it was.
    let after = wait_for_condition(
        Duration::from_millis(200),
        Duration::from_secs(30),
        || async {
            let r = s.sync().await;
            let after: Vec<Value> = s
                .get_ok(&format!("/api/v1/vms?host_id={h1}&limit=1000"))
                .await["items"]
                .as_array()
                .unwrap()
                .clone();
            (r.unreachable == 0 && key(&after) == key(&before)).then_some(after)
        },
    )
    .await;
    assert_eq!(
        s.get_ok(&format!("/api/v1/hosts/{h1}")).await["state"],
        "connected"
    );
    assert_eq!(
        key(&after),
        key(&before),
        "inventory after libvirtd restart"
    );
    let v = vm(&s, &id).await;
    assert_eq!(
        v["power_state"],
        "running",
        "QEMU outlives libvirtd: {v} (virsh: {})",
        lab::virsh(host1_uri, &["domstate", "--reason", &name])
    );

    // Snapshots of the running guest.
    let snap = job(
        &s,
        &format!("/api/v1/vms/{id}/snapshots"),
        json!({"name": "s1"}),
    )
    .await;
    let list = s.get_ok(&format!("/api/v1/vms/{id}/snapshots")).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["name"], "s1");
    assert_eq!(list[0]["state"], "running");
    let revert = job(
        &s,
        &format!("/api/v1/vms/{id}/snapshots/s1/revert"),
        json!({}),
    )
    .await;
    assert_eq!(vm(&s, &id).await["power_state"], "running");
    let (st, acc) = s
        .call(
            "DELETE",
            &format!("/api/v1/vms/{id}/snapshots/s1"),
            Some(&s.admin_token),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{acc}");
    let j = s
        .wait_job(&s.admin_token, acc["job"]["id"].as_str().unwrap())
        .await;
    assert_eq!(j["state"], "succeeded", "{j}");
    assert!(
        s.get_ok(&format!("/api/v1/vms/{id}/snapshots"))
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
    eprintln!("lab: snapshot of the running guest {snap:?}, revert {revert:?}");

    // The lease controller powers the guest off for real when its lease ends; a new lease
    // lets it start again (and boot: a second console marker).
    let t0 = Instant::now();
    let soon = vdc_types::rfc3339(vdc_db::now_ms() + 1500);
    patch(
        &s,
        &format!("/api/v1/vms/{id}"),
        json!({"lease_expires_at": soon}),
    )
    .await;
    s.app().clock().advance(Duration::from_millis(1600));
    let r = s.app().lease_round(s.app().clock().now_ms()).await.unwrap();
    assert_eq!(r.expired, 1, "{r:?}");
    let stop = &s.get_ok("/api/v1/jobs?limit=1").await["items"][0];
    assert_eq!(stop["created_by"], "lease", "{stop}");
    let j = s
        .wait_job(&s.admin_token, stop["id"].as_str().unwrap())
        .await;
    assert_eq!(j["state"], "succeeded", "{j}");
    assert_eq!(vm(&s, &id).await["power_state"], "shutoff");
    assert_eq!(
        lab::virsh(host1_uri, &["domstate", &name]).trim(),
        "shut off"
    );
    let expired = t0.elapsed();
    let later = vdc_types::rfc3339(vdc_db::now_ms() + 86_400_000);
    patch(
        &s,
        &format!("/api/v1/vms/{id}"),
        json!({"lease_expires_at": later}),
    )
    .await;
    job(&s, &format!("/api/v1/vms/{id}/actions/start"), json!({})).await;
    wait_for_condition(
        Duration::from_millis(100),
        Duration::from_secs(120),
        || async {
            std::fs::read_to_string(&console)
                .ok()
                .filter(|c| c.matches("VDC-GUEST-UP").count() >= 2)
        },
    )
    .await;
    eprintln!(
        "lab: lease end → guest powered off by the controller {expired:?}; extended and booted again {:?}",
        t0.elapsed()
    );

    // ACPI shutdown, then delete (undefine; the volume stays, as with virsh undefine).
    let down = job(&s, &format!("/api/v1/vms/{id}/actions/shutdown"), json!({})).await;
    assert_eq!(vm(&s, &id).await["power_state"], "shutoff");
    eprintln!("lab: ACPI shutdown {down:?}");
    let (st, acc) = s
        .call(
            "DELETE",
            &format!("/api/v1/vms/{id}"),
            Some(&s.admin_token),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    let j = s
        .wait_job(&s.admin_token, acc["job"]["id"].as_str().unwrap())
        .await;
    assert_eq!(j["state"], "succeeded", "{j}");
    assert!(
        !lab::virsh(host1_uri, &["list", "--all", "--name"])
            .lines()
            .any(|l| l.trim() == name)
    );
    lab::virsh(
        host1_uri,
        &["vol-delete", "--pool", POOL, &format!("{name}-vda.qcow2")],
    );
}

/// Where the lab hosts' datastore heartbeats are (one file per host, touched while it lives).
const HEARTBEATS: &str = "/var/lib/vdc-lab/heartbeats";

/// HA on the lab: hosts dead after 3 s of silence, host 2's fence agent is the lab script's
/// power loss (it refuses any other host), the lab pool is shared by both hosts.
fn lab_ha(c: &mut vdc_server::Config) {
    c.ha.detector = vdc_engine::ha::DetectorConfig {
        suspect_after_ms: 1_000,
        dead_after_ms: 3_000,
    };
    c.ha.fence_command = Some(vdc_server::app::config::Secret::new(format!(
        "[ \"$VDC_HOST_NAME\" = lab2 ] && {} host2 kill",
        lab::script().display()
    )));
    c.ha.heartbeat_dir = Some(HEARTBEATS.into());
    c.ha.shared_datastores = vec![POOL.into()];
}

/// A guest's console log on one of the lab hosts (host 2 keeps its logs in its own state
/// directory).
fn console_log(host2: bool, name: &str) -> PathBuf {
    let dir = if host2 {
        "/var/lib/vdc-lab/host2/log/qemu"
    } else {
        "/var/log/libvirt/qemu"
    };
    PathBuf::from(format!("{dir}/{name}-console.log"))
}

/// Waits until a console log shows the guest's boot marker `times` times.
async fn booted(log: &std::path::Path, times: usize) {
    wait_for_condition(
        Duration::from_millis(100),
        Duration::from_secs(120),
        || async {
            std::fs::read_to_string(log)
                .ok()
                .filter(|c| c.matches("VDC-GUEST-UP").count() >= times)
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_ha_restarts_the_guest_of_a_killed_host() {
    let host1_uri = lab::HOST1;
    let host2_uri = lab::host2_uri();
    lab::ensure_pool(host1_uri, POOL, POOL_DIR);
    lab::ensure_pool(&host2_uri, POOL, POOL_DIR);
    clean_leftovers(host1_uri);
    clean_leftovers(&host2_uri);
    // Each host's storage heartbeat, as a timer on the host would write it; host 2's stops
    // when it loses power.
    std::fs::create_dir_all(HEARTBEATS).unwrap();
    let host2_powered = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let beating = host2_powered.clone();
    let heartbeats = tokio::spawn(async move {
        loop {
            std::fs::write(format!("{HEARTBEATS}/lab1"), b"").unwrap();
            if beating.load(std::sync::atomic::Ordering::SeqCst) {
                std::fs::write(format!("{HEARTBEATS}/lab2"), b"").unwrap();
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    let s = TestStack::start_with(StackOptions {
        hosts: 1,
        vms: 0,
        configure: Some(lab_ha),
        ..StackOptions::new(Store::Sqlite)
    })
    .await;
    let mut ids = Vec::new();
    for (uri, name) in [(host1_uri, "lab1"), (host2_uri.as_str(), "lab2")] {
        let h = post(
            &s,
            "/api/v1/hosts",
            json!({"uri": uri, "cluster": "lab-ha", "name": name, "domain_type": "qemu"}),
        )
        .await;
        ids.push(h["host"]["id"].as_str().unwrap().to_string());
    }
    let (h1, h2) = (ids[0].clone(), ids[1].clone());

    // An HA-protected guest on host 2, its disk in the pool both hosts see.
    let guest = lab::guest_dir();
    let name = format!(
        "lab-e2e-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    for host2 in [false, true] {
        let _ = std::fs::remove_file(console_log(host2, &name));
    }
    let acc = post(&s, "/api/v1/vms", json!({
        "name": name, "vcpus": 1, "memory_mib": 128, "host_id": h2, "start": true,
        "disks": [{"size_gib": 1, "datastore": POOL}],
        "boot": {"kernel": guest.join("vmlinuz"), "initrd": guest.join("initrd.img"), "cmdline": "console=ttyS0 panic=-1"},
    })).await;
    let id = acc["vm_id"].as_str().unwrap().to_string();
    let j = s
        .wait_job(&s.admin_token, acc["job"]["id"].as_str().unwrap())
        .await;
    assert_eq!(j["state"], "succeeded", "{j}");
    let (st, b) = s
        .call(
            "PUT",
            &format!("/api/v1/vms/{id}/ha"),
            Some(&s.admin_token),
            Some(json!({"priority": "high"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    booted(&console_log(true, &name), 1).await;

    // Both hosts alive on both paths.
    let verdicts = s.app().ha_round().await.unwrap();
    assert_eq!(verdicts.len(), 3, "{verdicts:?}");
    assert!(
        verdicts
            .iter()
            .all(|(_, v)| *v == vdc_engine::ha::Verdict::Alive),
        "{verdicts:?}"
    );

    // Host 2 loses its power: libvirtd and the guest's QEMU are killed, its heartbeat stops.
    host2_powered.store(false, std::sync::atomic::Ordering::SeqCst);
    let killed = Instant::now();
    lab::script_run(&["host2", "kill"]);
    let h2_id: vdc_types::HostId = h2.parse().unwrap();
    let dead = wait_for_condition(
        Duration::from_millis(250),
        Duration::from_secs(30),
        || async {
            s.app().ha_round().await.unwrap();
            s.app()
                .host_ha(h2_id)
                .filter(|h| h.verdict == vdc_engine::ha::Verdict::Dead)
                .map(|_| killed.elapsed())
        },
    )
    .await;
    let failover = &s.get_ok("/api/v1/jobs?limit=1").await["items"][0];
    assert_eq!(failover["kind"], "host.failover", "{failover}");
    let j = s
        .wait_job(&s.admin_token, failover["id"].as_str().unwrap())
        .await;
    assert_eq!(j["state"], "succeeded", "{j}");
    let restarted = killed.elapsed();
    let v = vm(&s, &id).await;
    assert_eq!(v["host_id"], h1.as_str(), "{v}");
    assert_eq!(v["power_state"], "running", "{v}");
    assert_eq!(
        lab::virsh(host1_uri, &["domstate", &name]).trim(),
        "running"
    );
    // The same guest (its kernel boot kept with the VM's record) boots on host 1.
    booted(&console_log(false, &name), 1).await;
    let up = killed.elapsed();
    let audit = s.get_ok("/api/v1/audit?limit=20").await;
    let detail = |action: &str| -> String {
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["action"] == action)
            .unwrap_or_else(|| panic!("no {action} in {audit}"))["detail"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(detail("ha.fenced").contains("fence_agent"), "{audit}");
    assert!(detail("ha.restarted").contains("lab1"), "{audit}");
    eprintln!(
        "lab HA: host 2 killed → dead {dead:?}, → guest restarted on host 1 (job done) \
         {restarted:?}, → guest booted there (console marker) {up:?}"
    );

    // Host 2 comes back with the guest's old definition (shut off): vdc keeps the VM where
    // it runs and removes the stale copy from host 2 (its disk, in use on host 1, stays).
    lab::host2_uri();
    assert!(
        lab::virsh(&host2_uri, &["list", "--all", "--name"])
            .lines()
            .any(|l| l.trim() == name),
        "host 2 still has the old definition"
    );
    until_connected(&s, &h2).await;
    let v = vm(&s, &id).await;
    assert_eq!(
        (v["host_id"].as_str(), v["power_state"].as_str()),
        (Some(h1.as_str()), Some("running")),
        "{v}"
    );
    assert!(
        !lab::virsh(&host2_uri, &["list", "--all", "--name"])
            .lines()
            .any(|l| l.trim() == name),
        "the stale copy is removed from host 2"
    );
    let audit = s.get_ok("/api/v1/audit?limit=20").await;
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "ha.stale_copy_removed" && a["target_id"] == id.as_str()),
        "{audit}"
    );
    assert!(std::path::Path::new(&format!("{POOL_DIR}/{name}-vda.qcow2")).exists());
    heartbeats.abort();

    // Clean up: the guest off and gone from both hosts, its volume deleted.
    let _ = Command::new("virsh")
        .args(["-c", host1_uri, "destroy", &name])
        .output();
    for uri in [host1_uri, host2_uri.as_str()] {
        clean_leftovers(uri);
    }
}
