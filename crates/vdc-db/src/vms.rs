//! Virtual machines: inventory rows, filtered keyset pagination, generation-checked runtime
//! reports from drivers and optimistic-concurrency edits from the API.

use sqlx::any::AnyRow;
use vdc_types::*;

use crate::inventory::{Arg, Binds};
use crate::*;
use sqlx::AssertSqlSafe;

/// Filters for [`DataStore::list_vms`].
#[derive(Debug, Clone, Default)]
pub struct VmFilter {
    pub cluster_id: Option<ClusterId>,
    pub host_id: Option<HostId>,
    pub state: Option<PowerState>,
    pub management: Option<Management>,
    pub owner: Option<String>,
    pub department_id: Option<DepartmentId>,
    pub tag: Option<String>,
    pub name_prefix: Option<String>,
    /// The caller may only see VMs of these departments or in these clusters (`None`: all).
    pub scope: Option<(Vec<DepartmentId>, Vec<ClusterId>)>,
    /// Keyset cursor: VMs after this (name, id).
    pub after: Option<(String, String)>,
    pub limit: u32,
}

/// A driver's report of one VM's runtime facts (not its ownership, which vdc owns).
#[derive(Debug, Clone, PartialEq)]
pub struct VmReport {
    pub id: VmId,
    pub name: String,
    pub host_id: HostId,
    pub cluster_id: ClusterId,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disks: Vec<DiskRec>,
    pub nics: Vec<NicRec>,
    pub power_state: PowerState,
    pub runtime_gen: i64,
    /// The guest OS the host reports, written with the report when it applies.
    pub guest_os: Option<GuestOs>,
}

/// Changes to a VM's ownership fields; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct VmPatch {
    pub owner: Option<String>,
    pub department_id: Option<DepartmentId>,
    pub purpose: Option<String>,
    pub tags: Option<Vec<String>>,
    /// `Some(None)` clears the lease.
    pub lease_expires_at: Option<Option<UnixMs>>,
    pub management: Option<Management>,
}

/// Everything one host's sync writes.
#[derive(Debug, Clone)]
pub struct HostSyncWrite {
    pub host_id: HostId,
    pub cluster_id: ClusterId,
    /// New hardware facts; `None` when unchanged since the last sync (only the time is bumped).
    pub hardware: Option<HostHardware>,
    /// Datastores (name, kind, capacity GiB, free GiB) to create or refresh.
    pub datastores: Vec<(String, String, u64, u64)>,
    /// Networks (name, VLAN) to create or refresh.
    pub networks: Vec<(String, Option<u32>)>,
    /// The full list of volumes in `datastores` (replacing what was recorded for them).
    pub volumes: Vec<VolumeRec>,
    pub inserts: Vec<Vm>,
    pub updates: Vec<VmReport>,
    pub vanished: Vec<VmId>,
    /// Guest OSes the host reports for the inserted VMs (an update carries its own).
    pub guest_os: Vec<(VmId, GuestOs)>,
}

/// What one sync batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VmSyncOutcome {
    pub inserted: usize,
    pub updated: usize,
    /// Reports older than (or as old as) what the store holds, ignored.
    pub stale: usize,
    pub vanished: usize,
}

pub(crate) const VM_COLS: &str = "id, name, host_id, cluster_id, vcpus, memory_mib, disks, nics, power_state, owner, \
     department_id, purpose, tags, lease_expires_at, created_by, created_at, updated_at, generation, runtime_gen, management";

pub(crate) fn vm_from_row(r: &AnyRow) -> DbResult<Vm> {
    Ok(Vm {
        id: parse_id("vm id", &get::<String>(r, "id")?)?,
        name: get(r, "name")?,
        host_id: opt_id("host id", get(r, "host_id")?)?,
        cluster_id: opt_id("cluster id", get(r, "cluster_id")?)?,
        vcpus: get::<i64>(r, "vcpus")? as u32,
        memory_mib: get::<i64>(r, "memory_mib")? as u64,
        disks: from_json("disks", &get::<String>(r, "disks")?)?,
        nics: from_json("nics", &get::<String>(r, "nics")?)?,
        power_state: parse_enum("power state", &get::<String>(r, "power_state")?)?,
        owner: get(r, "owner")?,
        department_id: opt_id("department id", get(r, "department_id")?)?,
        purpose: get(r, "purpose")?,
        tags: from_json("tags", &get::<String>(r, "tags")?)?,
        lease_expires_at: get(r, "lease_expires_at")?,
        created_by: get(r, "created_by")?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
        generation: get(r, "generation")?,
        runtime_gen: get(r, "runtime_gen")?,
        management: parse_enum("management", &get::<String>(r, "management")?)?,
    })
}

/// Inserts a VM's placement record inside a transaction.
pub(crate) async fn insert_placement_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    p: &VmPlacementRec,
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO vm_placements \
         (vm_id, constraints, grouped, decided_at, decided_by, decision, boot) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(p.vm_id.to_string())
    .bind(to_json(&p.constraints))
    .bind(i64::from(!p.constraints.ungrouped()))
    .bind(p.decided_at)
    .bind(&p.decided_by)
    .bind(&p.decision)
    .bind(p.boot.as_ref().map(to_json))
    .execute(&mut **tx)
    .await
    .map_err(q("insert vm placement"))?;
    Ok(())
}

/// Rows per multi-row INSERT. Measured on the 200k-VM sync: 200 rows per statement took 60 s,
/// 20 rows 45 s, 10 rows 44 s (statement cost grows faster than linearly with its parameter
/// count in the sqlx SQLite path), so small statements it is.
const INSERT_CHUNK: usize = 10;

/// Inserts VM records (and their tags) with multi-row statements: one round trip per
/// `INSERT_CHUNK` VMs instead of one per VM and tag.
pub(crate) async fn insert_vms_in<E>(exec: &mut E, vms: &[Vm]) -> Result<(), sqlx::Error>
where
    for<'e> &'e mut E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    for chunk in vms.chunks(INSERT_CHUNK) {
        let mut b = Binds::default();
        let rows: Vec<String> = chunk
            .iter()
            .map(|vm| {
                let cols = [
                    Arg::Str(vm.id.to_string()),
                    Arg::Str(vm.name.clone()),
                    Arg::OptStr(vm.host_id.map(|h| h.to_string())),
                    Arg::OptStr(vm.cluster_id.map(|c| c.to_string())),
                    Arg::Int(i64::from(vm.vcpus)),
                    Arg::Int(vm.memory_mib as i64),
                    Arg::Str(to_json(&vm.disks)),
                    Arg::Str(to_json(&vm.nics)),
                    Arg::Str(vm.power_state.as_str().into()),
                    Arg::OptStr(vm.owner.clone()),
                    Arg::OptStr(vm.department_id.map(|d| d.to_string())),
                    Arg::OptStr(vm.purpose.clone()),
                    Arg::Str(to_json(&vm.tags)),
                    Arg::OptInt(vm.lease_expires_at),
                    Arg::OptStr(vm.created_by.clone()),
                    Arg::Int(vm.created_at),
                    Arg::Int(vm.updated_at),
                    Arg::Int(vm.generation),
                    Arg::Int(vm.runtime_gen),
                    Arg::Str(vm.management.as_str().into()),
                ];
                let ps: Vec<String> = cols.into_iter().map(|a| b.push(a)).collect();
                format!("({})", ps.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO vms (id, name, host_id, cluster_id, vcpus, memory_mib, disks, nics, power_state, owner, \
             department_id, purpose, tags, lease_expires_at, created_by, created_at, updated_at, generation, runtime_gen, management) \
             VALUES {}",
            rows.join(", ")
        );
        b.apply(sqlx::query(AssertSqlSafe(sql)))
            .execute(&mut *exec)
            .await?;
    }
    let tags: Vec<(VmId, &String)> = vms
        .iter()
        .flat_map(|vm| {
            let mut seen = std::collections::BTreeSet::new();
            vm.tags
                .iter()
                .filter(move |t| seen.insert(t.as_str()))
                .map(move |t| (vm.id, t))
        })
        .collect();
    insert_tags_in(exec, &tags).await
}

async fn insert_tags_in<E>(exec: &mut E, tags: &[(VmId, &String)]) -> Result<(), sqlx::Error>
where
    for<'e> &'e mut E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    for chunk in tags.chunks(100) {
        let mut b = Binds::default();
        let rows: Vec<String> = chunk
            .iter()
            .map(|(id, t)| {
                format!(
                    "({}, {})",
                    b.push(Arg::Str(id.to_string())),
                    b.push(Arg::Str((*t).clone()))
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO vm_tags (vm_id, tag) VALUES {}",
            rows.join(", ")
        );
        b.apply(sqlx::query(AssertSqlSafe(sql)))
            .execute(&mut *exec)
            .await?;
    }
    Ok(())
}

/// Applies a report only when newer than what is stored; returns whether it applied.
async fn apply_report_in<'c, E>(
    exec: &mut E,
    r: &VmReport,
    now: UnixMs,
) -> Result<bool, sqlx::Error>
where
    for<'e> &'e mut E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let res = sqlx::query(
        "UPDATE vms SET name = $1, host_id = $2, cluster_id = $3, vcpus = $4, memory_mib = $5, disks = $6, \
         nics = $7, power_state = $8, runtime_gen = $9, generation = generation + 1, updated_at = $10 \
         WHERE id = $11 AND runtime_gen < $9",
    )
    .bind(&r.name)
    .bind(r.host_id.to_string())
    .bind(r.cluster_id.to_string())
    .bind(i64::from(r.vcpus))
    .bind(r.memory_mib as i64)
    .bind(to_json(&r.disks))
    .bind(to_json(&r.nics))
    .bind(r.power_state.as_str())
    .bind(r.runtime_gen)
    .bind(now)
    .bind(r.id.to_string())
    .execute(&mut *exec)
    .await?;
    let applied = res.rows_affected() > 0;
    if applied && let Some(g) = &r.guest_os {
        crate::compliance::upsert_guest_os_in(&mut *exec, r.id, g, now).await?;
    }
    Ok(applied)
}

impl DataStore {
    /// The placement record of a VM vdc created, if any.
    pub async fn vm_placement(&self, id: VmId) -> DbResult<Option<VmPlacementRec>> {
        let row = sqlx::query(
            "SELECT vm_id, constraints, decided_at, decided_by, decision, boot FROM vm_placements \
             WHERE vm_id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(q("get vm placement"))?;
        row.map(|r| {
            Ok(VmPlacementRec {
                vm_id: parse_id("vm id", &get::<String>(&r, "vm_id")?)?,
                constraints: from_json("constraints", &get::<String>(&r, "constraints")?)?,
                decided_at: get(&r, "decided_at")?,
                decided_by: get(&r, "decided_by")?,
                decision: get(&r, "decision")?,
                boot: get::<Option<String>>(&r, "boot")?
                    .map(|b| from_json("boot", &b))
                    .transpose()?,
            })
        })
        .transpose()
    }

    /// The host and the constraints of every placed VM in an affinity or anti-affinity
    /// group (for counting group members per host).
    pub async fn grouped_vms(&self) -> DbResult<Vec<(HostId, PlacementConstraints)>> {
        let rows = sqlx::query(
            "SELECT v.host_id, p.constraints FROM vm_placements p JOIN vms v ON v.id = p.vm_id \
             WHERE p.grouped <> 0 AND v.host_id IS NOT NULL",
        )
        .fetch_all(self.pool())
        .await
        .map_err(q("grouped vms"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    parse_id("host id", &get::<String>(r, "host_id")?)?,
                    from_json("constraints", &get::<String>(r, "constraints")?)?,
                ))
            })
            .collect()
    }

    /// Adds a VM record.
    pub async fn insert_vm(&self, vm: &Vm) -> DbResult<()> {
        let mut tx = self.pool().begin().await.map_err(q("begin"))?;
        insert_vms_in(&mut *tx, std::slice::from_ref(vm))
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    DbError::Conflict(format!("VM {} already exists", vm.id))
                } else {
                    DbError::Query {
                        what: "insert vm",
                        source: e,
                    }
                }
            })?;
        tx.commit().await.map_err(q("commit"))
    }

    /// One VM.
    pub async fn get_vm(&self, id: VmId) -> DbResult<Vm> {
        self.find_vm(id).await?.ok_or_else(|| DbError::NotFound {
            kind: "vm",
            id: id.to_string(),
        })
    }

    /// One VM, if it exists.
    pub async fn find_vm(&self, id: VmId) -> DbResult<Option<Vm>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {VM_COLS} FROM vms WHERE id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(q("get vm"))?;
        row.as_ref().map(vm_from_row).transpose()
    }

    /// True when a VM with this name exists.
    pub async fn vm_name_taken(&self, name: &str) -> DbResult<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM vms WHERE name = $1")
            .bind(name)
            .fetch_one(self.pool())
            .await
            .map_err(q("vm name taken"))?;
        Ok(n > 0)
    }

    /// One page of VMs, ordered by (name, id); the bool says whether more follow.
    pub async fn list_vms(&self, f: &VmFilter) -> DbResult<(Vec<Vm>, bool)> {
        let mut b = Binds::default();
        let mut sql = format!("SELECT {VM_COLS} FROM vms WHERE 1 = 1");
        let mut eq = |sql: &mut String, col: &str, v: String| {
            sql.push_str(&format!(" AND {col} = {}", b.push(Arg::Str(v))));
        };
        if let Some(v) = f.cluster_id {
            eq(&mut sql, "cluster_id", v.to_string());
        }
        if let Some(v) = f.host_id {
            eq(&mut sql, "host_id", v.to_string());
        }
        if let Some(v) = f.state {
            eq(&mut sql, "power_state", v.as_str().to_string());
        }
        if let Some(v) = f.management {
            eq(&mut sql, "management", v.as_str().to_string());
            if v != Management::Managed {
                // The condition of the partial index `vms_not_managed`.
                sql.push_str(" AND management <> 'managed'");
            }
        }
        if let Some(v) = &f.owner {
            eq(&mut sql, "owner", v.clone());
        }
        if let Some(v) = f.department_id {
            eq(&mut sql, "department_id", v.to_string());
        }
        if let Some((departments, clusters)) = &f.scope {
            let mut any: Vec<String> = Vec::new();
            for (col, ids) in [
                (
                    "department_id",
                    departments
                        .iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>(),
                ),
                (
                    "cluster_id",
                    clusters.iter().map(|c| c.to_string()).collect(),
                ),
            ] {
                if !ids.is_empty() {
                    let list: Vec<String> = ids.into_iter().map(|i| b.push(Arg::Str(i))).collect();
                    any.push(format!("{col} IN ({})", list.join(", ")));
                }
            }
            if any.is_empty() {
                // Nothing in scope: no VM.
                sql.push_str(" AND 1 = 0");
            } else {
                sql.push_str(&format!(" AND ({})", any.join(" OR ")));
            }
        }
        if let Some(t) = &f.tag {
            let p = b.push(Arg::Str(t.clone()));
            sql.push_str(&format!(
                " AND id IN (SELECT vm_id FROM vm_tags WHERE tag = {p})"
            ));
        }
        b.page_clause(
            &mut sql,
            f.name_prefix.as_deref(),
            f.after.as_ref(),
            f.limit,
        );
        b.fetch_page(self.pool(), sql, f.limit, "list vms", vm_from_row)
            .await
    }

    /// (id, host, runtime generation) of every VM: the snapshot a full sync plans against.
    pub async fn all_vm_generations(&self) -> DbResult<Vec<(VmId, Option<HostId>, i64)>> {
        self.vm_generations_where("1 = 1", Binds::default()).await
    }

    /// [`Self::all_vm_generations`] of the VMs recorded on these hosts.
    pub async fn vm_generations_on(
        &self,
        hosts: &[HostId],
    ) -> DbResult<Vec<(VmId, Option<HostId>, i64)>> {
        self.vm_generations_in("host_id", hosts.iter().map(|h| h.to_string()))
            .await
    }

    /// [`Self::all_vm_generations`] of these VMs (those that exist).
    pub async fn vm_generations_of(
        &self,
        ids: &[VmId],
    ) -> DbResult<Vec<(VmId, Option<HostId>, i64)>> {
        self.vm_generations_in("id", ids.iter().map(|v| v.to_string()))
            .await
    }

    async fn vm_generations_in(
        &self,
        col: &'static str,
        values: impl Iterator<Item = String>,
    ) -> DbResult<Vec<(VmId, Option<HostId>, i64)>> {
        let values: Vec<String> = values.collect();
        let mut out = Vec::new();
        for chunk in values.chunks(500) {
            let mut b = Binds::default();
            let list: Vec<String> = chunk.iter().map(|v| b.push(Arg::Str(v.clone()))).collect();
            out.extend(
                self.vm_generations_where(&format!("{col} IN ({})", list.join(", ")), b)
                    .await?,
            );
        }
        Ok(out)
    }

    async fn vm_generations_where(
        &self,
        condition: &str,
        b: Binds,
    ) -> DbResult<Vec<(VmId, Option<HostId>, i64)>> {
        let sql = format!("SELECT id, host_id, runtime_gen FROM vms WHERE {condition}");
        let rows = b
            .apply(sqlx::query(AssertSqlSafe(sql)))
            .fetch_all(self.pool())
            .await
            .map_err(q("vm generations"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    parse_id("vm id", &get::<String>(r, "id")?)?,
                    opt_id("host id", get(r, "host_id")?)?,
                    get(r, "runtime_gen")?,
                ))
            })
            .collect()
    }

    /// Applies the sync of several hosts in one transaction: hardware and storage refreshed,
    /// new VMs inserted, reports applied when newer than what is stored, vanished VMs marked
    /// `unknown`.
    pub async fn apply_sync_batch(&self, batch: &[HostSyncWrite]) -> DbResult<VmSyncOutcome> {
        let now = now_ms();
        let mut out = VmSyncOutcome::default();
        let mut tx = self.pool().begin().await.map_err(q("begin"))?;
        // The batch reads (datastores with volumes) before it writes: lock first.
        if let Some(first) = batch.first() {
            crate::write_first(&mut *tx, "hosts", &first.host_id.to_string())
                .await
                .map_err(q("lock hosts"))?;
        }
        let unchanged: Vec<HostId> = batch
            .iter()
            .filter(|h| h.hardware.is_none())
            .map(|h| h.host_id)
            .collect();
        crate::inventory::touch_hosts_in(&mut *tx, &unchanged, now)
            .await
            .map_err(q("record host sync"))?;
        let inserts: Vec<Vm> = batch
            .iter()
            .flat_map(|h| h.inserts.iter().cloned())
            .collect();
        let with_volumes = if batch.iter().any(|h| !h.datastores.is_empty()) {
            crate::inventory::datastores_with_volumes_in(&mut *tx)
                .await
                .map_err(q("datastores with volumes"))?
        } else {
            Default::default()
        };
        for h in batch {
            if let Some(hw) = &h.hardware {
                crate::inventory::record_host_hardware_in(&mut *tx, h.host_id, hw, now)
                    .await
                    .map_err(q("record host sync"))?;
            }
            crate::inventory::upsert_storage_in(&mut *tx, h, &with_volumes)
                .await
                .map_err(q("upsert storage"))?;
        }
        insert_vms_in(&mut *tx, &inserts)
            .await
            .map_err(q("sync insert vms"))?;
        out.inserted = inserts.len();
        for h in batch {
            for (id, g) in &h.guest_os {
                crate::compliance::upsert_guest_os_in(&mut *tx, *id, g, now)
                    .await
                    .map_err(q("sync guest os"))?;
            }
            for r in &h.updates {
                if apply_report_in(&mut *tx, r, now)
                    .await
                    .map_err(q("sync update vm"))?
                {
                    out.updated += 1;
                } else {
                    out.stale += 1;
                }
            }
            // A vanished VM is marked only while its record still names this host (a job may
            // have moved it meanwhile), and its stored generation steps back by one, so the
            // report it had before counts as news when the VM shows up again (a VM in flight
            // between hosts is listed by neither for a moment).
            for id in &h.vanished {
                let res = sqlx::query(
                    "UPDATE vms SET power_state = $1, generation = generation + 1, updated_at = $2, \
                     runtime_gen = runtime_gen - 1 WHERE id = $3 AND power_state <> $1 AND host_id = $4",
                )
                .bind(PowerState::Unknown.as_str())
                .bind(now)
                .bind(id.to_string())
                .bind(h.host_id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(q("sync vanished vm"))?;
                out.vanished += res.rows_affected() as usize;
            }
        }
        tx.commit().await.map_err(q("commit"))?;
        Ok(out)
    }

    /// Applies one driver report if it is newer than what is stored; returns whether it did.
    /// The report and its guest OS go in one transaction.
    pub async fn apply_vm_report(&self, r: &VmReport) -> DbResult<bool> {
        let mut tx = self.pool().begin().await.map_err(q("begin"))?;
        let applied = apply_report_in(&mut *tx, r, now_ms())
            .await
            .map_err(q("apply vm report"))?;
        tx.commit().await.map_err(q("commit"))?;
        Ok(applied)
    }

    /// VMs with a lease that ends by `horizon`, or whose expiry the controller handled, with
    /// when their owner was warned and when the expiry was handled.
    pub async fn lease_candidates(
        &self,
        horizon: UnixMs,
    ) -> DbResult<Vec<(Vm, Option<UnixMs>, Option<UnixMs>)>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {VM_COLS}, lease_warned_at, lease_expired_at FROM vms \
             WHERE lease_expires_at IS NOT NULL AND management <> 'external' \
             AND (lease_expires_at <= $1 OR lease_expired_at IS NOT NULL) ORDER BY lease_expires_at, id"
        )))
        .bind(horizon)
        .fetch_all(self.pool())
        .await
        .map_err(q("lease candidates"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    vm_from_row(r)?,
                    get(r, "lease_warned_at")?,
                    get(r, "lease_expired_at")?,
                ))
            })
            .collect()
    }

    /// Records that the lease controller warned of (`expired: false`) or handled (`true`) a
    /// VM's lease expiry at `at`.
    pub async fn mark_lease(&self, id: VmId, expired: bool, at: UnixMs) -> DbResult<()> {
        let sql = if expired {
            "UPDATE vms SET lease_expired_at = $2 WHERE id = $1"
        } else {
            "UPDATE vms SET lease_warned_at = $2 WHERE id = $1"
        };
        sqlx::query(sql)
            .bind(id.to_string())
            .bind(at)
            .execute(self.pool())
            .await
            .map_err(q("mark lease"))?;
        Ok(())
    }

    /// Changes ownership fields. With `expected_generation`, refuses (conflict) when the VM
    /// changed since the caller read it.
    pub async fn patch_vm(
        &self,
        id: VmId,
        patch: &VmPatch,
        expected_generation: Option<i64>,
    ) -> DbResult<Vm> {
        let mut tx = self.pool().begin().await.map_err(q("begin"))?;
        write_first(&mut *tx, "vms", &id.to_string())
            .await
            .map_err(q("lock vm"))?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {VM_COLS} FROM vms WHERE id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(q("get vm"))?
        .ok_or_else(|| DbError::NotFound {
            kind: "vm",
            id: id.to_string(),
        })?;
        let mut vm = vm_from_row(&row)?;
        if let Some(g) = expected_generation.filter(|g| *g != vm.generation) {
            return Err(DbError::Conflict(format!(
                "VM {id} is at generation {}, not {g}: read it again and retry",
                vm.generation
            )));
        }
        if let Some(o) = &patch.owner {
            vm.owner = Some(o.clone());
        }
        if let Some(d) = patch.department_id {
            vm.department_id = Some(d);
        }
        if let Some(p) = &patch.purpose {
            vm.purpose = Some(p.clone());
        }
        if let Some(t) = &patch.tags {
            vm.tags = t.clone();
        }
        if let Some(l) = patch.lease_expires_at {
            vm.lease_expires_at = l;
        }
        if let Some(m) = patch.management {
            vm.management = m;
        }
        vm.updated_at = now_ms();
        // A new lease starts over: no warning given, no expiry handled.
        let lease_reset = if patch.lease_expires_at.is_some() {
            ", lease_warned_at = NULL, lease_expired_at = NULL"
        } else {
            ""
        };
        let res = sqlx::query(AssertSqlSafe(format!(
            "UPDATE vms SET owner = $1, department_id = $2, purpose = $3, tags = $4, lease_expires_at = $5, \
             updated_at = $6, management = $9, generation = generation + 1{lease_reset} \
             WHERE id = $7 AND generation = $8",
        )))
        .bind(vm.owner.as_deref())
        .bind(vm.department_id.map(|d| d.to_string()))
        .bind(vm.purpose.as_deref())
        .bind(to_json(&vm.tags))
        .bind(vm.lease_expires_at)
        .bind(vm.updated_at)
        .bind(id.to_string())
        .bind(vm.generation)
        .bind(vm.management.as_str())
        .execute(&mut *tx)
        .await
        .map_err(q("patch vm"))?;
        if res.rows_affected() == 0 {
            return Err(DbError::Conflict(format!(
                "VM {id} changed concurrently: read it again and retry"
            )));
        }
        if patch.tags.is_some() {
            sqlx::query("DELETE FROM vm_tags WHERE vm_id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(q("clear tags"))?;
            insert_tags_in(
                &mut *tx,
                &vm.tags
                    .iter()
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .map(|t| (id, t))
                    .collect::<Vec<_>>(),
            )
            .await
            .map_err(q("insert tags"))?;
        }
        tx.commit().await.map_err(q("commit"))?;
        vm.generation += 1;
        Ok(vm)
    }

    /// When a VM was first recorded (a simulated fleet's history starts earlier).
    pub async fn set_vm_created_at(&self, id: VmId, at: UnixMs) -> DbResult<()> {
        sqlx::query("UPDATE vms SET created_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id.to_string())
            .execute(self.pool())
            .await
            .map_err(q("set vm created_at"))?;
        Ok(())
    }

    /// Records that a VM now runs on `host` (after a migration vdc made).
    pub async fn relocate_vm(&self, id: VmId, host: HostId, cluster: ClusterId) -> DbResult<()> {
        sqlx::query(
            "UPDATE vms SET host_id = $1, cluster_id = $2, generation = generation + 1, updated_at = $3 WHERE id = $4",
        )
        .bind(host.to_string())
        .bind(cluster.to_string())
        .bind(now_ms())
        .bind(id.to_string())
        .execute(self.pool())
        .await
        .map_err(q("relocate vm"))?;
        Ok(())
    }

    /// Removes a VM record (and its tags and guest OS).
    pub async fn delete_vm(&self, id: VmId) -> DbResult<bool> {
        let mut tx = self.pool().begin().await.map_err(q("begin"))?;
        for table in ["vm_tags", "vm_guest_os"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE vm_id = $1"
            )))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(q("delete vm details"))?;
        }
        let res = sqlx::query("DELETE FROM vms WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(q("delete vm"))?;
        tx.commit().await.map_err(q("commit"))?;
        Ok(res.rows_affected() > 0)
    }

    /// Number of VM records.
    pub async fn count_vms(&self) -> DbResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM vms")
            .fetch_one(self.pool())
            .await
            .map_err(q("count vms"))
    }

    /// Allocated vCPUs and memory of VMs holding resources on each host:
    /// (host, vcpus, memory_mib).
    pub async fn host_allocations(&self) -> DbResult<Vec<(HostId, u64, u64)>> {
        let rows = sqlx::query(
            "SELECT host_id, CAST(SUM(vcpus) AS BIGINT) AS vcpus, CAST(SUM(memory_mib) AS BIGINT) AS mem FROM vms \
             WHERE host_id IS NOT NULL AND power_state IN ('running', 'paused', 'shutting_down') GROUP BY host_id",
        )
        .fetch_all(self.pool())
        .await
        .map_err(q("host allocations"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    parse_id("host id", &get::<String>(r, "host_id")?)?,
                    get::<i64>(r, "vcpus")? as u64,
                    get::<i64>(r, "mem")? as u64,
                ))
            })
            .collect()
    }
}
