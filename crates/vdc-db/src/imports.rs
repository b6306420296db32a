//! Estates imported from other tools' exports (RVTools): an external, read-only site with its
//! clusters, hosts and VMs, written in one transaction. A new import of the same source
//! replaces its VMs, keeping the ownership given to them meanwhile.

use sqlx::AssertSqlSafe;
use std::collections::{BTreeSet, HashMap};
use vdc_types::*;

use crate::vms::{VM_COLS, insert_vms_in, vm_from_row};
use crate::*;

/// A host of an imported estate.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedHost {
    pub name: String,
    /// `rvtools://SOURCE/HOST`: unique, never contacted.
    pub uri: String,
    pub cluster: String,
    pub hypervisor_version: String,
    pub cpu_vendor: String,
    pub cpu_model: String,
    pub topology: CpuTopology,
    pub memory_mib: u64,
}

/// A VM of an imported estate, in one of its clusters and on one of its hosts (by URI) when
/// the export says.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedVm {
    pub id: VmId,
    pub name: String,
    pub cluster: Option<String>,
    pub host_uri: Option<String>,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disks: Vec<DiskRec>,
    pub nics: Vec<NicRec>,
    pub power_state: PowerState,
    pub created_at: UnixMs,
    /// From the export's annotations, if any.
    pub owner: Option<String>,
    pub guest_os: Option<GuestOs>,
}

/// What an import wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EstateImported {
    pub clusters: usize,
    pub hosts: usize,
    pub vms: usize,
    /// VMs of an earlier import of the source that are gone from this one.
    pub removed: usize,
}

impl DataStore {
    /// Writes an imported estate under `site`, all or nothing.
    pub async fn import_estate(
        &self,
        site: &str,
        hosts: &[ImportedHost],
        vms: &[ImportedVm],
    ) -> DbResult<EstateImported> {
        let now = now_ms();
        let mut tx = self.pool().begin().await.map_err(q("begin"))?;
        let id_of = |table: &'static str, key: &'static str| {
            format!("SELECT id FROM {table} WHERE {key} = $1")
        };
        sqlx::query("INSERT INTO sites (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
            .bind(SiteId::new().to_string())
            .bind(site)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(q("import site"))?;
        let site_id: String = sqlx::query_scalar(AssertSqlSafe(id_of("sites", "name")))
            .bind(site)
            .fetch_one(&mut *tx)
            .await
            .map_err(q("import site"))?;
        let mut clusters: HashMap<&str, String> = HashMap::new();
        let names: BTreeSet<&str> = hosts
            .iter()
            .map(|h| h.cluster.as_str())
            .chain(vms.iter().filter_map(|v| v.cluster.as_deref()))
            .collect();
        for name in names {
            sqlx::query(
                "INSERT INTO clusters (id, site_id, name, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(ClusterId::new().to_string())
            .bind(&site_id)
            .bind(name)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(q("import cluster"))?;
            let row = sqlx::query("SELECT id, site_id FROM clusters WHERE name = $1")
                .bind(name)
                .fetch_one(&mut *tx)
                .await
                .map_err(q("import cluster"))?;
            if get::<String>(&row, "site_id")? != site_id {
                return Err(DbError::Conflict(format!(
                    "cluster {name} belongs to another site: name the import another source"
                )));
            }
            clusters.insert(name, get(&row, "id")?);
        }
        let mut host_ids: HashMap<&str, String> = HashMap::new();
        for h in hosts {
            let cluster = clusters[h.cluster.as_str()].clone();
            sqlx::query(
                "INSERT INTO hosts (id, cluster_id, name, uri, hypervisor, hypervisor_version, state, \
                 cpu_vendor, cpu_model, sockets, cores_per_socket, threads_per_core, memory_mib, \
                 last_sync_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) \
                 ON CONFLICT (uri) DO UPDATE SET cluster_id = excluded.cluster_id, name = excluded.name, \
                 hypervisor_version = excluded.hypervisor_version, state = excluded.state, \
                 cpu_vendor = excluded.cpu_vendor, cpu_model = excluded.cpu_model, \
                 sockets = excluded.sockets, cores_per_socket = excluded.cores_per_socket, \
                 threads_per_core = excluded.threads_per_core, memory_mib = excluded.memory_mib, \
                 last_sync_at = excluded.last_sync_at",
            )
            .bind(HostId::new().to_string())
            .bind(&cluster)
            .bind(&h.name)
            .bind(&h.uri)
            .bind(HypervisorType::Esx.as_str())
            .bind(&h.hypervisor_version)
            .bind(HostState::External.as_str())
            .bind(&h.cpu_vendor)
            .bind(&h.cpu_model)
            .bind(i64::from(h.topology.sockets))
            .bind(i64::from(h.topology.cores_per_socket))
            .bind(i64::from(h.topology.threads_per_core))
            .bind(h.memory_mib as i64)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(q("import host"))?;
            let id: String = sqlx::query_scalar(AssertSqlSafe(id_of("hosts", "uri")))
                .bind(&h.uri)
                .fetch_one(&mut *tx)
                .await
                .map_err(q("import host"))?;
            host_ids.insert(h.uri.as_str(), id);
        }
        // The source's VMs so far: replaced, their ownership carried over.
        let mut before: HashMap<VmId, Vm> = HashMap::new();
        {
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT {VM_COLS} FROM vms WHERE management = 'external' \
                 AND cluster_id IN (SELECT id FROM clusters WHERE site_id = $1)"
            )))
            .bind(&site_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(q("imported vms"))?;
            for r in &rows {
                let vm = vm_from_row(r)?;
                before.insert(vm.id, vm);
            }
        }
        let elsewhere: Vec<VmId> = vms
            .iter()
            .map(|v| v.id)
            .filter(|id| !before.contains_key(id))
            .collect();
        for id in elsewhere {
            let row = sqlx::query(AssertSqlSafe(format!(
                "SELECT {VM_COLS} FROM vms WHERE id = $1 AND management = 'external'"
            )))
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(q("imported vm"))?;
            if let Some(r) = row {
                before.insert(id, vm_from_row(&r)?);
            }
        }
        for id in before.keys() {
            // A guest OS set by hand stays (it wins over the export's); tags are written again.
            for sql in [
                "DELETE FROM vm_tags WHERE vm_id = $1",
                "DELETE FROM vm_guest_os WHERE vm_id = $1 AND source <> 'manual'",
                "DELETE FROM vms WHERE id = $1",
            ] {
                sqlx::query(sql)
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(q("replace imported vm"))?;
            }
        }
        let mut records = Vec::with_capacity(vms.len());
        for v in vms {
            let host = match &v.host_uri {
                Some(uri) => Some(host_ids.get(uri.as_str()).ok_or_else(|| {
                    DbError::Conflict(format!(
                        "VM {} is on host {uri}, which is not in the import",
                        v.name
                    ))
                })?),
                None => None,
            };
            let old = before.get(&v.id);
            records.push(Vm {
                id: v.id,
                name: v.name.clone(),
                host_id: host.map(|h| parse_id("host id", h)).transpose()?,
                cluster_id: v
                    .cluster
                    .as_deref()
                    .map(|c| parse_id("cluster id", &clusters[c]))
                    .transpose()?,
                vcpus: v.vcpus,
                memory_mib: v.memory_mib,
                disks: v.disks.clone(),
                nics: v.nics.clone(),
                power_state: v.power_state,
                owner: old
                    .and_then(|o| o.owner.clone())
                    .or_else(|| v.owner.clone()),
                department_id: old.and_then(|o| o.department_id),
                purpose: old.and_then(|o| o.purpose.clone()),
                tags: old.map(|o| o.tags.clone()).unwrap_or_default(),
                lease_expires_at: old.and_then(|o| o.lease_expires_at),
                created_by: Some("import".into()),
                // The earliest known: a re-import without dates does not make it younger.
                created_at: old.map_or(v.created_at, |o| o.created_at.min(v.created_at)),
                updated_at: now,
                generation: old.map_or(1, |o| o.generation + 1),
                runtime_gen: 0,
                management: Management::External,
            });
        }
        insert_vms_in(&mut *tx, &records).await.map_err(|e| {
            if is_unique_violation(&e) {
                DbError::Conflict(
                    "a VM of the import is already in vdc's inventory (same UUID or name)".into(),
                )
            } else {
                DbError::Query {
                    what: "insert imported vms",
                    source: e,
                }
            }
        })?;
        for v in vms {
            if let Some(g) = &v.guest_os {
                crate::compliance::upsert_guest_os_in(&mut *tx, v.id, g, now)
                    .await
                    .map_err(q("imported guest os"))?;
            }
        }
        tx.commit().await.map_err(q("commit"))?;
        let kept: BTreeSet<VmId> = vms.iter().map(|v| v.id).collect();
        Ok(EstateImported {
            clusters: clusters.len(),
            hosts: hosts.len(),
            vms: vms.len(),
            removed: before.keys().filter(|id| !kept.contains(id)).count(),
        })
    }
}
