//! The inventory controller: asks every host's driver what it runs and reconciles the store
//! with it. Decisions come from the pure `vdc_engine::inventory::plan_sync`; writes go in one
//! transaction per batch of hosts, and every runtime update is generation-checked so a late
//! report never overwrites a fresher one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use vdc_db::{self as db, HostSyncWrite};
use vdc_driver::{HostDriver, HostInfo, VmInfo};
use vdc_engine::inventory::{Known, Reported, plan_sync};
use vdc_types::*;

use crate::app::fleet::vm_report;
use crate::app::{App, Part};

/// The inventory controller's state.
#[derive(Debug, Default)]
pub(crate) struct SyncState {
    /// Held by every sync, so periodic, event-driven and requested syncs do not interleave.
    lock: tokio::sync::Mutex<()>,
    /// Per host, a hash of the storage (datastores, networks, volumes) last written for it,
    /// so a sync writes storage only when a host reports a change.
    storage_seen: std::sync::Mutex<HashMap<HostId, u64>>,
}

impl Part for SyncState {
    fn new(_: &App) -> Self {
        SyncState::default()
    }
}

/// Hosts whose driver calls run on one blocking thread, and whose writes share a transaction.
const BATCH: usize = 64;

/// What a full sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SyncReport {
    pub hosts: usize,
    pub unreachable: usize,
    pub vms_reported: usize,
    pub inserted: usize,
    pub updated: usize,
    /// Reports of the generation already stored.
    pub unchanged: usize,
    /// Reports older than what is stored (late), ignored.
    pub stale: usize,
    pub vanished: usize,
    /// VMs found on a hypervisor that vdc did not create (flagged `unmanaged`).
    pub unmanaged_found: usize,
    pub elapsed_ms: u64,
}

/// A VM seen for the first time: its record, with ownership from the hypervisor-side metadata.
fn discovered_vm(
    v: &VmInfo,
    host: HostId,
    cluster: ClusterId,
    departments: &HashMap<String, DepartmentId>,
) -> db::Vm {
    let r = vm_report(v, host, cluster);
    let now = db::now_ms();
    db::Vm {
        id: r.id,
        name: r.name,
        host_id: Some(host),
        cluster_id: Some(cluster),
        vcpus: r.vcpus,
        memory_mib: r.memory_mib,
        disks: r.disks,
        nics: r.nics,
        power_state: r.power_state,
        owner: v.metadata.owner.clone(),
        department_id: v
            .metadata
            .department
            .as_ref()
            .and_then(|d| departments.get(d).copied()),
        purpose: v.metadata.purpose.clone(),
        tags: v.metadata.tags.clone(),
        lease_expires_at: v.metadata.lease_expires_at,
        created_by: Some("discovery".into()),
        created_at: now,
        updated_at: now,
        generation: 1,
        runtime_gen: r.runtime_gen,
        management: if v.metadata.managed {
            Management::Managed
        } else {
            Management::Unmanaged
        },
    }
}

/// A hash of what a host reports of its storage and networks.
fn storage_hash(h: &HostInfo) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (&h.datastores, &h.networks, &h.volumes).hash(&mut hasher);
    hasher.finish()
}

fn hardware(h: &HostInfo) -> db::HostHardware {
    db::HostHardware {
        hypervisor: h.hypervisor,
        hypervisor_version: h.hypervisor_version.clone(),
        cpu_vendor: h.cpu_vendor.clone(),
        cpu_model: h.cpu_model.clone(),
        cpu_features: h.cpu_features.clone(),
        topology: h.topology,
        memory_mib: h.memory_mib,
        numa_cells: h.numa_cells.clone(),
    }
}

type Probe = Result<(HostInfo, Vec<VmInfo>), String>;

/// A host's connected driver, or what is needed to connect it: (URI, domain type).
type DriverOrUri = Result<Arc<dyn HostDriver>, (String, Option<String>)>;

/// Syncs every registered host once.
pub async fn sync_all(app: &App) -> Result<SyncReport, Error> {
    let hosts = app.db.all_hosts().await?;
    sync(app, &hosts, true).await
}

/// Syncs these hosts once, reading only their VMs' records (and those of VMs they report
/// that the store has elsewhere, such as a VM migrated in).
pub async fn sync_hosts(app: &App, hosts: &[db::Host]) -> Result<SyncReport, Error> {
    sync(app, hosts, false).await
}

fn to_known(rows: Vec<(VmId, Option<HostId>, i64)>) -> impl Iterator<Item = (VmId, Known)> {
    rows.into_iter().map(|(id, host_id, runtime_gen)| {
        (
            id,
            Known {
                id,
                host_id,
                runtime_gen,
            },
        )
    })
}

/// Syncs `hosts`; `whole`: they are all the hosts, so every VM record is read at once.
/// Syncs run one at a time (periodic, event-driven, on request).
async fn sync(app: &App, hosts: &[db::Host], whole: bool) -> Result<SyncReport, Error> {
    let state = app.part::<SyncState>();
    let _one_at_a_time = state.lock.lock().await;
    // A host in standby is powered off on purpose: not probed until it is woken; an external
    // host (imported from an export) is never probed.
    let hosts: Vec<db::Host> = hosts
        .iter()
        .filter(|h| !matches!(h.state, HostState::Standby | HostState::External))
        .cloned()
        .collect();
    let hosts = hosts.as_slice();
    let started = Instant::now();
    let departments: HashMap<String, DepartmentId> = app
        .db
        .list_departments()
        .await?
        .into_iter()
        .map(|d| (d.name, d.id))
        .collect();
    let rows = if whole {
        app.db.all_vm_generations().await?
    } else {
        let ids: Vec<HostId> = hosts.iter().map(|h| h.id).collect();
        app.db.vm_generations_on(&ids).await?
    };
    let mut known: HashMap<VmId, Known> = to_known(rows).collect();
    let marked = app.db.stale_copies().await?;
    let mut by_host: HashMap<HostId, Vec<Known>> = HashMap::new();
    for k in known.values() {
        if let Some(h) = k.host_id {
            by_host.entry(h).or_default().push(*k);
        }
    }
    let mut report = SyncReport {
        hosts: hosts.len(),
        ..SyncReport::default()
    };
    for chunk in hosts.chunks(BATCH) {
        // A host without a driver (libvirt unreachable when vdc started or the host was
        // added) gets a connection attempt here: reconnection is part of every sync.
        let drivers: Vec<DriverOrUri> = chunk
            .iter()
            .map(|h| {
                app.fleet
                    .driver(&h.uri)
                    .map_err(|_| (h.uri.clone(), h.domain_type.clone()))
            })
            .collect();
        let fleet = app.fleet.clone();
        let probes: Vec<Probe> = tokio::task::spawn_blocking(move || {
            drivers
                .into_iter()
                .map(|d| {
                    let d = match d {
                        Ok(d) => d,
                        Err((uri, domain_type)) => fleet
                            .connect(&uri, domain_type.as_deref())
                            .map_err(|e| e.to_string())?,
                    };
                    d.host_info()
                        .and_then(|i| Ok((i, d.list_vms()?)))
                        .map_err(|e| e.to_string())
                })
                .collect()
        })
        .await
        .map_err(|e| Error::internal(format!("sync task panicked: {e}")))?;
        if !whole {
            let elsewhere: Vec<VmId> = probes
                .iter()
                .flatten()
                .flat_map(|(_, vms)| vms.iter().map(|v| VmId(v.id)))
                .filter(|id| !known.contains_key(id))
                .collect();
            known.extend(to_known(app.db.vm_generations_of(&elsewhere).await?));
        }
        let mut writes = Vec::with_capacity(chunk.len());
        let mut storage_written = Vec::new();
        let mut stale_copies = Vec::new();
        for (host, probe) in chunk.iter().zip(probes) {
            let (info, vms) = match probe {
                Ok(p) => p,
                Err(reason) => {
                    report.unreachable += 1;
                    if host.state != HostState::Unreachable
                        || host.state_reason.as_deref() != Some(reason.as_str())
                    {
                        tracing::warn!(host = %host.name, uri = %host.uri, %reason, "host unreachable");
                        app.db
                            .set_host_state(host.id, HostState::Unreachable, Some(&reason))
                            .await?;
                        app.audit(
                            "system",
                            "host.unreachable",
                            ("host", Some(host.id.to_string())),
                            AuditResult::Ok,
                            Some(reason),
                        )
                        .await;
                    }
                    continue;
                }
            };
            let (vms, stale) = split_stale_copies(
                host.id,
                vms,
                marked.get(&host.id).map_or(&[], Vec::as_slice),
                &known,
            );
            stale_copies.push((host.clone(), stale));
            report.vms_reported += vms.len();
            let mut host_known = by_host.remove(&host.id).unwrap_or_default();
            host_known.extend(
                vms.iter()
                    .filter_map(|v| known.get(&VmId(v.id)))
                    .filter(|k| k.host_id != Some(host.id)),
            );
            let reported: Vec<Reported> = vms
                .iter()
                .map(|v| Reported {
                    id: VmId(v.id),
                    generation: v.generation as i64,
                })
                .collect();
            let plan = plan_sync(host.id, &host_known, &reported);
            let hw = hardware(&info);
            let changed = host.last_sync_at.is_none()
                || host.memory_mib != hw.memory_mib
                || host.cpu_model != hw.cpu_model
                || host.hypervisor_version != hw.hypervisor_version;
            let storage = storage_hash(&info);
            let storage_changed = state
                .storage_seen
                .lock()
                .expect("storage cache lock")
                .get(&host.id)
                != Some(&storage);
            if storage_changed {
                storage_written.push((host.id, storage));
            }
            writes.push(HostSyncWrite {
                host_id: host.id,
                cluster_id: host.cluster_id,
                hardware: changed.then_some(hw),
                datastores: if storage_changed {
                    info.datastores
                        .iter()
                        .map(|d| (d.name.clone(), d.kind.clone(), d.capacity_gib, d.free_gib))
                        .collect()
                } else {
                    Vec::new()
                },
                networks: if storage_changed {
                    info.networks
                        .iter()
                        .map(|n| (n.name.clone(), n.vlan))
                        .collect()
                } else {
                    Vec::new()
                },
                volumes: if storage_changed {
                    info.volumes
                        .iter()
                        .map(|v| db::VolumeRec {
                            datastore: v.datastore.clone(),
                            name: v.name.clone(),
                            path: v.path.clone(),
                            format: v.format.clone(),
                            capacity_mib: v.capacity_mib,
                            allocation_mib: v.allocation_mib,
                        })
                        .collect()
                } else {
                    Vec::new()
                },
                inserts: plan
                    .insert
                    .iter()
                    .map(|&i| discovered_vm(&vms[i], host.id, host.cluster_id, &departments))
                    .collect(),
                updates: plan
                    .update
                    .iter()
                    .map(|&i| vm_report(&vms[i], host.id, host.cluster_id))
                    .collect(),
                guest_os: plan
                    .insert
                    .iter()
                    .filter_map(|&i| Some((VmId(vms[i].id), vms[i].guest_os.clone()?)))
                    .collect(),
                vanished: plan.vanished,
            });
            report.stale += plan.stale.len();
            report.unchanged += plan.unchanged.len();
        }
        let out = app.db.apply_sync_batch(&writes).await?;
        for (host, stale) in stale_copies {
            remove_stale_copies(app, &host, stale).await?;
        }
        state
            .storage_seen
            .lock()
            .expect("storage cache lock")
            .extend(storage_written);
        let rogue: Vec<(HostId, VmId, String)> = writes
            .iter()
            .flat_map(|w| {
                w.inserts
                    .iter()
                    .filter(|vm| vm.management == Management::Unmanaged)
                    .map(|vm| (w.host_id, vm.id, vm.name.clone()))
            })
            .collect();
        for (host, id, name) in rogue {
            report.unmanaged_found += 1;
            tracing::warn!(vm = %name, %id, %host, "unmanaged VM found");
            app.audit(
                "system",
                "vm.unmanaged_found",
                ("vm", Some(id.to_string())),
                AuditResult::Ok,
                Some(format!("name={name} host={host}")),
            )
            .await;
        }
        report.inserted += out.inserted;
        report.updated += out.updated;
        report.stale += out.stale;
        report.vanished += out.vanished;
    }
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// What a host reports of the VMs HA restarted away from it.
#[derive(Debug, Default)]
struct StaleCopies {
    /// Copies of VMs that now run elsewhere: (id, name, whether the copy runs).
    copies: Vec<(VmId, String, bool)>,
    /// Marks that no longer hold: the copy is gone, or the VM is recorded here again.
    cleared: Vec<VmId>,
}

/// Splits a host's report into its VMs and the stale copies of VMs HA restarted elsewhere
/// (`marked`), which must not move the VM's record back to this host.
fn split_stale_copies(
    host: HostId,
    vms: Vec<VmInfo>,
    marked: &[VmId],
    known: &HashMap<VmId, Known>,
) -> (Vec<VmInfo>, StaleCopies) {
    let mut out = StaleCopies::default();
    if marked.is_empty() {
        return (vms, out);
    }
    let mut kept = Vec::with_capacity(vms.len());
    for v in vms {
        let id = VmId(v.id);
        let elsewhere = known.get(&id).is_some_and(|k| k.host_id != Some(host));
        if marked.contains(&id) && elsewhere {
            let running = vdc_driver::state::consumes_resources(v.state);
            out.copies.push((id, v.name.clone(), running));
        } else {
            kept.push(v);
        }
    }
    out.cleared = marked
        .iter()
        .filter(|id| !out.copies.iter().any(|c| c.0 == **id))
        .copied()
        .collect();
    (kept, out)
}

/// Removes the shut-off stale copies from their host (their disks, shared with the running
/// VM, stay) and forgets the marks that no longer hold. A running copy is left alone and
/// reported: the host was fenced, so the VM's disks may be in use twice.
async fn remove_stale_copies(app: &App, host: &db::Host, stale: StaleCopies) -> Result<(), Error> {
    for id in stale.cleared {
        app.db.clear_stale_copy(id, host.id).await?;
    }
    if stale.copies.is_empty() {
        return Ok(());
    }
    let driver = app.fleet.driver(&host.uri)?;
    for (id, name, running) in stale.copies {
        if running {
            tracing::error!(vm = %name, host = %host.name, "a VM restarted elsewhere by HA also runs on its old host");
            continue;
        }
        let d = driver.clone();
        match crate::app::fleet::blocking(move || d.undefine(id.0)).await {
            Ok(()) => {
                app.db.clear_stale_copy(id, host.id).await?;
                app.audit(
                    "system",
                    "ha.stale_copy_removed",
                    ("vm", Some(id.to_string())),
                    AuditResult::Ok,
                    Some(format!(
                        "{name}: the definition {} kept from before the VM was restarted elsewhere",
                        host.name
                    )),
                )
                .await;
            }
            Err(e) => {
                tracing::warn!(vm = %name, host = %host.name, error = %e, "cannot remove a stale copy")
            }
        }
    }
    Ok(())
}
