//! The store's own contracts, on both engines: runtime updates apply only with a newer
//! generation, ownership changes refuse a stale one, and keyset pagination walks every row once
//! in order whatever the page size, and a sync batch (which reads before it writes) commits
//! while other connections keep writing; ended tokens are pruned, live ones kept.

use vdc_db::scratch::{Store, fresh_database};
use vdc_db::{
    DataStore, DbError, HostHardware, HostRegistration, HostSyncWrite, RoleBinding, TokenRecord,
    User, Vm, VmFilter, VmPatch, VmReport,
};
use vdc_types::{
    ClusterId, CpuTopology, HostId, HostState, HypervisorType, Management, PowerState,
    RoleBindingId, TokenId, TokenKind, UserId, VmId,
};

/// A store with one host in one cluster; the directory holds a SQLite file.
async fn store(kind: Store) -> (DataStore, HostId, ClusterId, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("vdc-db-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = DataStore::connect(&fresh_database(kind, &dir).await)
        .await
        .expect("the store opens");
    let site = db.ensure_site("s").await.unwrap();
    let cluster = db.ensure_cluster(site, "c").await.unwrap();
    let host = db
        .insert_host(&HostRegistration {
            name: "h1".into(),
            uri: "sim:///h1".into(),
            cluster_id: cluster,
            hypervisor: HypervisorType::Sim,
            domain_type: None,
        })
        .await
        .unwrap();
    (db, host, cluster, dir)
}

fn vm(name: &str, host: HostId, cluster: ClusterId) -> Vm {
    Vm {
        id: VmId::new(),
        name: name.into(),
        host_id: Some(host),
        cluster_id: Some(cluster),
        vcpus: 1,
        memory_mib: 512,
        disks: Vec::new(),
        nics: Vec::new(),
        power_state: PowerState::Shutoff,
        owner: None,
        department_id: None,
        purpose: None,
        tags: Vec::new(),
        lease_expires_at: None,
        created_by: None,
        created_at: 1,
        updated_at: 1,
        generation: 1,
        runtime_gen: 1,
        management: Management::Managed,
    }
}

fn report(v: &Vm, state: PowerState, runtime_gen: i64) -> VmReport {
    VmReport {
        id: v.id,
        name: v.name.clone(),
        host_id: v.host_id.unwrap(),
        cluster_id: v.cluster_id.unwrap(),
        vcpus: v.vcpus,
        memory_mib: v.memory_mib,
        disks: Vec::new(),
        nics: Vec::new(),
        power_state: state,
        runtime_gen,
        guest_os: None,
    }
}

async fn generations_guard_updates(kind: Store) {
    let (db, host, cluster, dir) = store(kind).await;
    let v = vm("web", host, cluster);
    db.insert_vm(&v).await.unwrap();
    // A newer report applies; an older or equal one is ignored (a late report never
    // overwrites a fresher one).
    assert!(
        db.apply_vm_report(&report(&v, PowerState::Running, 5))
            .await
            .unwrap()
    );
    assert!(
        !db.apply_vm_report(&report(&v, PowerState::Shutoff, 3))
            .await
            .unwrap()
    );
    assert!(
        !db.apply_vm_report(&report(&v, PowerState::Paused, 5))
            .await
            .unwrap()
    );
    let now = db.get_vm(v.id).await.unwrap();
    assert_eq!((now.power_state, now.runtime_gen), (PowerState::Running, 5));
    // Ownership changes: the generation the caller read, or a conflict that changes nothing.
    let patch = VmPatch {
        owner: Some("alice".into()),
        ..VmPatch::default()
    };
    let changed = db
        .patch_vm(v.id, &patch, Some(now.generation))
        .await
        .unwrap();
    assert!(changed.generation > now.generation);
    let stale = VmPatch {
        owner: Some("bob".into()),
        ..VmPatch::default()
    };
    let refused = db.patch_vm(v.id, &stale, Some(now.generation)).await;
    assert!(matches!(refused, Err(DbError::Conflict(_))), "{refused:?}");
    assert_eq!(
        db.get_vm(v.id).await.unwrap().owner.as_deref(),
        Some("alice")
    );
    db.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

async fn pages_walk_every_row_once_in_order(kind: Store) {
    let (db, host, cluster, dir) = store(kind).await;
    // Names that sort differently as bytes and as numbers, and two VMs of one name.
    let mut names: Vec<String> = (0..23).map(|i| format!("vm-{}", i * 7 % 23)).collect();
    names.push("vm-3".into());
    for n in &names {
        db.insert_vm(&vm(n, host, cluster)).await.unwrap();
    }
    for limit in [1, 5, 10, 24, 100] {
        let mut seen: Vec<(String, String)> = Vec::new();
        let mut f = VmFilter {
            limit,
            ..VmFilter::default()
        };
        loop {
            let (page, more) = db.list_vms(&f).await.unwrap();
            assert!(page.len() <= limit as usize);
            seen.extend(page.iter().map(|v| (v.name.clone(), v.id.to_string())));
            if !more {
                break;
            }
            f.after = seen.last().cloned();
        }
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            seen, sorted,
            "page size {limit}: in (name, id) order, each once"
        );
        assert_eq!(seen.len(), names.len(), "page size {limit}");
    }
    // A filter pages the same way: only the prefix's rows.
    let (page, more) = db
        .list_vms(&VmFilter {
            name_prefix: Some("vm-1".into()),
            limit: 100,
            ..VmFilter::default()
        })
        .await
        .unwrap();
    assert!(!more);
    let expected = names.iter().filter(|n| n.starts_with("vm-1")).count();
    assert_eq!(page.len(), expected);
    db.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// A first sync (new hardware, datastores, VMs) while another connection writes all the time,
/// as the HA controller and the metrics writer do beside the inventory sync: every batch
/// commits. On SQLite a transaction that reads before it writes would fail at once with
/// `database is locked` whenever another commit came between its read and its first write.
async fn sync_batches_commit_beside_other_writers(kind: Store) {
    let (db, host, cluster, dir) = store(kind).await;
    let writing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let writer = tokio::spawn({
        let (db, writing) = (db.clone(), writing.clone());
        async move {
            let mut n = 0u64;
            while writing.load(std::sync::atomic::Ordering::Relaxed) {
                db.set_host_state(host, HostState::Connected, None)
                    .await
                    .expect("the other writer's update");
                n += 1;
            }
            n
        }
    });
    let hardware = |i: u32| HostHardware {
        hypervisor: HypervisorType::Sim,
        hypervisor_version: format!("1.{i}"),
        cpu_vendor: "v".into(),
        cpu_model: "m".into(),
        cpu_features: Vec::new(),
        topology: CpuTopology::new(1, 4, 1),
        memory_mib: 8192,
        numa_cells: Vec::new(),
    };
    for i in 0..400 {
        let batch = HostSyncWrite {
            host_id: host,
            cluster_id: cluster,
            hardware: Some(hardware(i)),
            datastores: vec![(format!("ds{i}"), "dir".into(), 100, 50)],
            networks: Vec::new(),
            volumes: Vec::new(),
            inserts: vec![vm(&format!("vm-{i}"), host, cluster)],
            updates: Vec::new(),
            vanished: Vec::new(),
            guest_os: Vec::new(),
        };
        let out = db
            .apply_sync_batch(std::slice::from_ref(&batch))
            .await
            .unwrap_or_else(|e| panic!("sync batch {i} beside another writer: {e:?}"));
        assert_eq!(out.inserted, 1);
    }
    writing.store(false, std::sync::atomic::Ordering::Relaxed);
    let writes = writer.await.unwrap();
    assert!(writes > 0, "the other writer never wrote");
    assert_eq!(db.count_vms().await.unwrap(), 400);
    db.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// Ended tokens (of every kind) go, live ones stay.
async fn ended_tokens_are_pruned(kind: Store) {
    let (db, _, _, _dir) = store(kind).await;
    let user = User {
        id: UserId::new(),
        username: "tess".into(),
        password_hash: "x".into(),
        department_id: None,
        directory_dn: None,
        created_at: 0,
    };
    let binding = RoleBinding {
        id: RoleBindingId::new(),
        user_id: user.id,
        role: "viewer".into(),
        department_id: None,
        cluster_id: None,
        from_group: None,
        created_at: 0,
    };
    db.insert_user(&user, &binding).await.unwrap();
    let token = |kind, expires_at| TokenRecord {
        id: Some(TokenId::new()),
        user_id: user.id,
        name: None,
        kind,
        permissions: None,
        csrf_hash: None,
        created_at: 0,
        expires_at,
    };
    db.insert_token("ended-session", &token(TokenKind::Session, 1_000))
        .await
        .unwrap();
    db.insert_token("ended-api", &token(TokenKind::Api, 2_000))
        .await
        .unwrap();
    db.insert_token("live", &token(TokenKind::Api, i64::MAX / 2))
        .await
        .unwrap();
    assert_eq!(db.prune_tokens(2_000).await.unwrap(), 2);
    // Asked at a time they were valid, the pruned ones are gone for good.
    for hash in ["ended-session", "ended-api"] {
        assert!(
            db.user_by_token(hash, 500).await.unwrap().is_none(),
            "{hash}"
        );
    }
    assert!(db.user_by_token("live", 500).await.unwrap().is_some());
    assert_eq!(db.prune_tokens(2_000).await.unwrap(), 0);
}

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Store::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::Store::Postgres).await;
            }
        }
    )*};
}

on_both_stores!(
    generations_guard_updates,
    pages_walk_every_row_once_in_order,
    sync_batches_commit_beside_other_writers,
    ended_tokens_are_pruned
);
