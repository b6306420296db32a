//! Sites, clusters, hosts, datastores and networks.

use sqlx::any::AnyRow;
use vdc_types::*;

use crate::*;
use sqlx::AssertSqlSafe;

/// A host to add to the inventory.
#[derive(Debug, Clone)]
pub struct HostRegistration {
    pub name: String,
    pub uri: String,
    pub cluster_id: ClusterId,
    pub hypervisor: HypervisorType,
    /// libvirt domain type (`kvm`, `qemu`) for VMs vdc defines there; `None` for other drivers.
    pub domain_type: Option<String>,
}

/// Filters for [`DataStore::list_hosts`].
#[derive(Debug, Clone, Default)]
pub struct HostListFilter {
    pub cluster_id: Option<ClusterId>,
    pub state: Option<HostState>,
    pub name_prefix: Option<String>,
    /// Keyset cursor: return hosts after this (name, id).
    pub after: Option<(String, String)>,
    pub limit: u32,
}

const HOST_COLS: &str = "id, cluster_id, name, uri, hypervisor, hypervisor_version, state, state_reason, \
     maintenance, cpu_vendor, cpu_model, cpu_features, sockets, cores_per_socket, threads_per_core, \
     memory_mib, numa_cells, last_sync_at, created_at, domain_type, dedicated_to, licensed_software, \
     licence_cost_per_vcpu, cpu_load, vcpu_wait, load_digest, load_sampled_at, balloon_share, swap_kib_s";

const CLUSTER_DAY_COLS: &str = "cluster_id, day, vcpus_allocated, vcpu_capacity, memory_allocated_mib, \
     memory_capacity_mib, cpu_demand, cpu_capacity";

fn cluster_day_from_row(r: &AnyRow) -> DbResult<ClusterDay> {
    Ok(ClusterDay {
        cluster_id: parse_id("cluster id", &get::<String>(r, "cluster_id")?)?,
        day: get(r, "day")?,
        vcpus_allocated: get::<i64>(r, "vcpus_allocated")? as u64,
        vcpu_capacity: get::<i64>(r, "vcpu_capacity")? as u64,
        memory_allocated_mib: get::<i64>(r, "memory_allocated_mib")? as u64,
        memory_capacity_mib: get::<i64>(r, "memory_capacity_mib")? as u64,
        cpu_demand: get(r, "cpu_demand")?,
        cpu_capacity: get(r, "cpu_capacity")?,
    })
}

fn host_from_row(r: &AnyRow) -> DbResult<Host> {
    Ok(Host {
        id: parse_id("host id", &get::<String>(r, "id")?)?,
        cluster_id: parse_id("cluster id", &get::<String>(r, "cluster_id")?)?,
        name: get(r, "name")?,
        uri: get(r, "uri")?,
        hypervisor: parse_enum("hypervisor", &get::<String>(r, "hypervisor")?)?,
        hypervisor_version: get(r, "hypervisor_version")?,
        state: parse_enum("host state", &get::<String>(r, "state")?)?,
        state_reason: get(r, "state_reason")?,
        maintenance: get::<i64>(r, "maintenance")? != 0,
        cpu_vendor: get(r, "cpu_vendor")?,
        cpu_model: get(r, "cpu_model")?,
        cpu_features: from_json("cpu_features", &get::<String>(r, "cpu_features")?)?,
        topology: CpuTopology::new(
            get::<i64>(r, "sockets")? as u32,
            get::<i64>(r, "cores_per_socket")? as u32,
            get::<i64>(r, "threads_per_core")? as u32,
        ),
        memory_mib: get::<i64>(r, "memory_mib")? as u64,
        numa_cells: from_json("numa_cells", &get::<String>(r, "numa_cells")?)?,
        last_sync_at: get(r, "last_sync_at")?,
        created_at: get(r, "created_at")?,
        domain_type: get(r, "domain_type")?,
        dedicated_to: opt_id("department id", get(r, "dedicated_to")?)?,
        licensed_software: from_json("licensed_software", &get::<String>(r, "licensed_software")?)?,
        licence_cost_per_vcpu: get(r, "licence_cost_per_vcpu")?,
        load: match (
            get::<Option<i64>>(r, "load_sampled_at")?,
            get::<Option<f64>>(r, "cpu_load")?,
            get::<Option<String>>(r, "load_digest")?,
        ) {
            (Some(sampled_at), Some(cpu_load), Some(digest)) => Some(HostLoad {
                sampled_at,
                cpu_load,
                vcpu_wait: get(r, "vcpu_wait")?,
                balloon: get(r, "balloon_share")?,
                swap_kib_s: get(r, "swap_kib_s")?,
                digest,
            }),
            _ => None,
        },
    })
}

/// Appends ` AND <col> >= $a AND <col> < $b` for a name prefix (index-friendly range; names are
/// ASCII by validation, so bumping the last byte gives the exclusive upper bound).
pub(crate) fn prefix_range(prefix: &str) -> Option<(String, String)> {
    let mut upper = prefix.as_bytes().to_vec();
    while let Some(last) = upper.pop() {
        if last < 0x7f {
            upper.push(last + 1);
            return Some((
                prefix.to_string(),
                String::from_utf8_lossy(&upper).into_owned(),
            ));
        }
    }
    None
}

/// A bind value for dynamically built queries.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Str(String),
    Int(i64),
    OptStr(Option<String>),
    OptInt(Option<i64>),
}

/// Collects `$n` placeholders and their values while a query is built.
#[derive(Debug, Default)]
pub(crate) struct Binds {
    pub args: Vec<Arg>,
}

impl Binds {
    pub fn push(&mut self, a: Arg) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }

    pub fn apply<'q>(
        &'q self,
        mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        for a in &self.args {
            query = match a {
                Arg::Str(s) => query.bind(s.as_str()),
                Arg::Int(i) => query.bind(*i),
                Arg::OptStr(s) => query.bind(s.as_deref()),
                Arg::OptInt(i) => query.bind(*i),
            };
        }
        query
    }

    /// Runs a page query built with [`Binds::page_clause`] (or any query asking for
    /// `limit + 1` rows): the decoded rows, at most `limit`, and whether more follow.
    pub async fn fetch_page<T>(
        &self,
        pool: &sqlx::AnyPool,
        sql: String,
        limit: u32,
        what: &'static str,
        decode: fn(&AnyRow) -> DbResult<T>,
    ) -> DbResult<(Vec<T>, bool)> {
        let rows = self
            .apply(sqlx::query(AssertSqlSafe(sql)))
            .fetch_all(pool)
            .await
            .map_err(q(what))?;
        let mut out = rows.iter().map(decode).collect::<DbResult<Vec<_>>>()?;
        let more = out.len() > limit as usize;
        out.truncate(limit as usize);
        Ok((out, more))
    }

    /// Adds a name-prefix and keyset-cursor condition and the ordering + limit (one more than
    /// asked, so the caller can tell whether another page exists).
    pub fn page_clause(
        &mut self,
        sql: &mut String,
        name_prefix: Option<&str>,
        after: Option<&(String, String)>,
        limit: u32,
    ) {
        if let Some(p) = name_prefix {
            match prefix_range(p) {
                Some((lo, hi)) => {
                    let lo = self.push(Arg::Str(lo));
                    let hi = self.push(Arg::Str(hi));
                    sql.push_str(&format!(" AND name >= {lo} AND name < {hi}"));
                }
                None => {
                    let lo = self.push(Arg::Str(p.to_string()));
                    sql.push_str(&format!(" AND name >= {lo}"));
                }
            }
        }
        if let Some((name, id)) = after {
            let n = self.push(Arg::Str(name.clone()));
            let i = self.push(Arg::Str(id.clone()));
            sql.push_str(&format!(" AND (name > {n} OR (name = {n} AND id > {i}))"));
        }
        let l = self.push(Arg::Int(i64::from(limit) + 1));
        sql.push_str(&format!(" ORDER BY name, id LIMIT {l}"));
    }
}

impl DataStore {
    /// The site with this name, created if missing.
    pub async fn ensure_site(&self, name: &str) -> DbResult<SiteId> {
        if let Some(id) = sqlx::query_scalar::<_, String>("SELECT id FROM sites WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await
            .map_err(q("find site"))?
        {
            return parse_id("site id", &id);
        }
        let id = SiteId::new();
        sqlx::query("INSERT INTO sites (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(id.to_string())
            .bind(name)
            .bind(now_ms())
            .execute(self.pool())
            .await
            .map_err(q("insert site"))?;
        Ok(id)
    }

    /// The cluster with this name, created in `site` if missing.
    pub async fn ensure_cluster(&self, site: SiteId, name: &str) -> DbResult<ClusterId> {
        if let Some(id) = sqlx::query_scalar::<_, String>("SELECT id FROM clusters WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await
            .map_err(q("find cluster"))?
        {
            return parse_id("cluster id", &id);
        }
        let id = ClusterId::new();
        sqlx::query("INSERT INTO clusters (id, site_id, name, created_at) VALUES ($1, $2, $3, $4)")
            .bind(id.to_string())
            .bind(site.to_string())
            .bind(name)
            .bind(now_ms())
            .execute(self.pool())
            .await
            .map_err(q("insert cluster"))?;
        Ok(id)
    }

    /// All sites.
    pub async fn list_sites(&self) -> DbResult<Vec<Site>> {
        let rows = sqlx::query("SELECT id, name FROM sites ORDER BY name")
            .fetch_all(self.pool())
            .await
            .map_err(q("list sites"))?;
        rows.iter()
            .map(|r| {
                Ok(Site {
                    id: parse_id("site id", &get::<String>(r, "id")?)?,
                    name: get(r, "name")?,
                })
            })
            .collect()
    }

    /// All clusters.
    pub async fn list_clusters(&self) -> DbResult<Vec<Cluster>> {
        let rows = sqlx::query(
            "SELECT id, site_id, name, vcpu_ratio, memory_ratio, balance_mode, power_saving \
             FROM clusters ORDER BY name",
        )
        .fetch_all(self.pool())
        .await
        .map_err(q("list clusters"))?;
        rows.iter()
            .map(|r| {
                Ok(Cluster {
                    id: parse_id("cluster id", &get::<String>(r, "id")?)?,
                    site_id: parse_id("site id", &get::<String>(r, "site_id")?)?,
                    name: get(r, "name")?,
                    vcpu_ratio: get(r, "vcpu_ratio")?,
                    memory_ratio: get(r, "memory_ratio")?,
                    balance_mode: parse_enum("balance mode", &get::<String>(r, "balance_mode")?)?,
                    power_saving: get::<i64>(r, "power_saving")? != 0,
                })
            })
            .collect()
    }

    /// Sets a cluster's overcommit ratios (the given ones).
    pub async fn update_cluster_ratios(
        &self,
        id: ClusterId,
        vcpu_ratio: Option<f64>,
        memory_ratio: Option<f64>,
    ) -> DbResult<()> {
        // Only the given columns are bound: with a NULL float parameter and COALESCE this
        // statement failed on PostgreSQL on some pooled connections, not others.
        let sets: Vec<(&str, f64)> = [("vcpu_ratio", vcpu_ratio), ("memory_ratio", memory_ratio)]
            .into_iter()
            .filter_map(|(c, v)| v.map(|v| (c, v)))
            .collect();
        if sets.is_empty() {
            return Ok(());
        }
        let clause: Vec<String> = sets
            .iter()
            .enumerate()
            .map(|(i, (c, _))| format!("{c} = ${}", i + 2))
            .collect();
        let sql = format!("UPDATE clusters SET {} WHERE id = $1", clause.join(", "));
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(id.to_string());
        for (_, v) in &sets {
            query = query.bind(*v);
        }
        let res = query
            .execute(self.pool())
            .await
            .map_err(q("update cluster"))?;
        if res.rows_affected() == 0 {
            return Err(DbError::NotFound {
                kind: "cluster",
                id: id.to_string(),
            });
        }
        Ok(())
    }

    /// Records measured loads, one transaction for all.
    pub async fn record_host_loads(&self, loads: &[(HostId, HostLoad)]) -> DbResult<()> {
        let mut tx = self.pool().begin().await.map_err(q("begin"))?;
        for (id, l) in loads {
            // A NULL float is not bound (see `update_cluster_ratios`): two statements.
            let sql = match l.vcpu_wait {
                Some(_) => {
                    "UPDATE hosts SET load_sampled_at = $2, cpu_load = $3, load_digest = $4, \
                     balloon_share = $5, swap_kib_s = $6, vcpu_wait = $7 WHERE id = $1"
                }
                None => {
                    "UPDATE hosts SET load_sampled_at = $2, cpu_load = $3, load_digest = $4, \
                     balloon_share = $5, swap_kib_s = $6 WHERE id = $1"
                }
            };
            let mut query = sqlx::query(sql)
                .bind(id.to_string())
                .bind(l.sampled_at)
                .bind(l.cpu_load)
                .bind(&l.digest)
                .bind(l.balloon)
                .bind(l.swap_kib_s);
            if let Some(w) = l.vcpu_wait {
                query = query.bind(w);
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(q("record host load"))?;
        }
        tx.commit().await.map_err(q("commit"))
    }

    /// Records cluster readings as each day's peak (merged with what the day already holds).
    pub async fn record_cluster_days(&self, days: &[ClusterDay]) -> DbResult<()> {
        let mut tx = self.pool().begin().await.map_err(q("begin"))?;
        for d in days {
            write_first(&mut *tx, "clusters", &d.cluster_id.to_string())
                .await
                .map_err(q("lock cluster"))?;
            let row = sqlx::query(AssertSqlSafe(format!(
                "SELECT {CLUSTER_DAY_COLS} FROM cluster_days WHERE cluster_id = $1 AND day = $2"
            )))
            .bind(d.cluster_id.to_string())
            .bind(d.day)
            .fetch_optional(&mut *tx)
            .await
            .map_err(q("read cluster day"))?;
            let merged = match row {
                Some(r) => cluster_day_from_row(&r)?.peak_with(*d),
                None => *d,
            };
            sqlx::query("DELETE FROM cluster_days WHERE cluster_id = $1 AND day = $2")
                .bind(d.cluster_id.to_string())
                .bind(d.day)
                .execute(&mut *tx)
                .await
                .map_err(q("replace cluster day"))?;
            sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO cluster_days ({CLUSTER_DAY_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            )))
            .bind(merged.cluster_id.to_string())
            .bind(merged.day)
            .bind(merged.vcpus_allocated as i64)
            .bind(merged.vcpu_capacity as i64)
            .bind(merged.memory_allocated_mib as i64)
            .bind(merged.memory_capacity_mib as i64)
            .bind(merged.cpu_demand)
            .bind(merged.cpu_capacity)
            .execute(&mut *tx)
            .await
            .map_err(q("write cluster day"))?;
        }
        tx.commit().await.map_err(q("commit"))
    }

    /// Every cluster's days from `since` on, by cluster and day.
    pub async fn cluster_days(&self, since: i64) -> DbResult<Vec<ClusterDay>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {CLUSTER_DAY_COLS} FROM cluster_days WHERE day >= $1 ORDER BY cluster_id, day"
        )))
        .bind(since)
        .fetch_all(self.pool())
        .await
        .map_err(q("cluster days"))?;
        rows.iter().map(cluster_day_from_row).collect()
    }

    /// Sets a cluster's load-balancing mode.
    pub async fn set_balance_mode(&self, id: ClusterId, mode: BalanceMode) -> DbResult<()> {
        self.set_cluster_text_or_flag(id, "balance_mode", Arg::Str(mode.as_str().into()))
            .await
    }

    /// Lets the balancer put a cluster's empty hosts in standby (or not).
    pub async fn set_power_saving(&self, id: ClusterId, on: bool) -> DbResult<()> {
        self.set_cluster_text_or_flag(id, "power_saving", Arg::Int(i64::from(on)))
            .await
    }

    /// Sets one non-float column of a cluster (`column` is one of ours, never user input).
    async fn set_cluster_text_or_flag(
        &self,
        id: ClusterId,
        column: &'static str,
        value: Arg,
    ) -> DbResult<()> {
        let mut b = Binds::default();
        let v = b.push(value);
        let i = b.push(Arg::Str(id.to_string()));
        let sql = format!("UPDATE clusters SET {column} = {v} WHERE id = {i}");
        let res = b
            .apply(sqlx::query(AssertSqlSafe(sql)))
            .execute(self.pool())
            .await
            .map_err(q("set balance mode"))?;
        if res.rows_affected() == 0 {
            return Err(DbError::NotFound {
                kind: "cluster",
                id: id.to_string(),
            });
        }
        Ok(())
    }

    /// Writes a host's placement settings (maintenance, department, licences) as given.
    pub async fn update_host_settings(&self, h: &Host) -> DbResult<()> {
        let res = sqlx::query(
            "UPDATE hosts SET maintenance = $2, dedicated_to = $3, licensed_software = $4, \
             licence_cost_per_vcpu = $5 WHERE id = $1",
        )
        .bind(h.id.to_string())
        .bind(i64::from(h.maintenance))
        .bind(h.dedicated_to.map(|d| d.to_string()))
        .bind(to_json(&h.licensed_software))
        .bind(h.licence_cost_per_vcpu)
        .execute(self.pool())
        .await
        .map_err(q("update host"))?;
        if res.rows_affected() == 0 {
            return Err(DbError::NotFound {
                kind: "host",
                id: h.id.to_string(),
            });
        }
        Ok(())
    }

    /// Adds a host (state `connected`, hardware unknown until its first sync). Refuses a URI
    /// that is already registered.
    pub async fn insert_host(&self, reg: &HostRegistration) -> DbResult<HostId> {
        let id = HostId::new();
        sqlx::query(
            "INSERT INTO hosts (id, cluster_id, name, uri, hypervisor, state, created_at, domain_type) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id.to_string())
        .bind(reg.cluster_id.to_string())
        .bind(&reg.name)
        .bind(&reg.uri)
        .bind(reg.hypervisor.as_str())
        .bind(HostState::Connected.as_str())
        .bind(now_ms())
        .bind(reg.domain_type.as_deref())
        .execute(self.pool())
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                DbError::Conflict(format!("a host with URI {} is already registered", reg.uri))
            } else {
                DbError::Query {
                    what: "insert host",
                    source: e,
                }
            }
        })?;
        Ok(id)
    }

    /// Removes a host and the inventory records of its VMs (the VMs themselves stay on the
    /// hypervisor); returns how many VM records went.
    pub async fn delete_host(&self, id: HostId) -> DbResult<u64> {
        let mut tx = self.pool().begin().await.map_err(q("begin"))?;
        for table in ["vm_tags", "vm_guest_os"] {
            sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE vm_id IN (SELECT id FROM vms WHERE host_id = $1)"
            )))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(q("delete host vm details"))?;
        }
        let vms = sqlx::query("DELETE FROM vms WHERE host_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(q("delete host vms"))?
            .rows_affected();
        let res = sqlx::query("DELETE FROM hosts WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(q("delete host"))?;
        if res.rows_affected() == 0 {
            return Err(DbError::NotFound {
                kind: "host",
                id: id.to_string(),
            });
        }
        tx.commit().await.map_err(q("commit"))?;
        Ok(vms)
    }

    /// One host.
    pub async fn get_host(&self, id: HostId) -> DbResult<Host> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {HOST_COLS} FROM hosts WHERE id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(q("get host"))?
        .ok_or_else(|| DbError::NotFound {
            kind: "host",
            id: id.to_string(),
        })?;
        host_from_row(&row)
    }

    /// Every host (for controllers).
    pub async fn all_hosts(&self) -> DbResult<Vec<Host>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {HOST_COLS} FROM hosts ORDER BY name, id"
        )))
        .fetch_all(self.pool())
        .await
        .map_err(q("all hosts"))?;
        rows.iter().map(host_from_row).collect()
    }

    /// Every host's identity and state only: what the controllers that run every few
    /// seconds need (reading every host's hardware, CPU flags and NUMA cells each time costs
    /// hundreds of milliseconds at 10,000 hosts).
    pub async fn host_heads(&self) -> DbResult<Vec<HostHead>> {
        let rows =
            sqlx::query("SELECT id, cluster_id, name, uri, state FROM hosts ORDER BY name, id")
                .fetch_all(self.pool())
                .await
                .map_err(q("host heads"))?;
        rows.iter()
            .map(|r| {
                Ok(HostHead {
                    id: parse_id("host id", &get::<String>(r, "id")?)?,
                    cluster_id: parse_id("cluster id", &get::<String>(r, "cluster_id")?)?,
                    name: get(r, "name")?,
                    uri: get(r, "uri")?,
                    state: parse_enum("host state", &get::<String>(r, "state")?)?,
                })
            })
            .collect()
    }

    /// One page of hosts; the bool says whether more follow.
    pub async fn list_hosts(&self, f: &HostListFilter) -> DbResult<(Vec<Host>, bool)> {
        let mut b = Binds::default();
        let mut sql = format!("SELECT {HOST_COLS} FROM hosts WHERE 1 = 1");
        if let Some(c) = f.cluster_id {
            sql.push_str(&format!(
                " AND cluster_id = {}",
                b.push(Arg::Str(c.to_string()))
            ));
        }
        if let Some(s) = f.state {
            sql.push_str(&format!(
                " AND state = {}",
                b.push(Arg::Str(s.as_str().into()))
            ));
        }
        b.page_clause(
            &mut sql,
            f.name_prefix.as_deref(),
            f.after.as_ref(),
            f.limit,
        );
        b.fetch_page(self.pool(), sql, f.limit, "list hosts", host_from_row)
            .await
    }

    /// Records a host's reachability.
    pub async fn set_host_state(
        &self,
        id: HostId,
        state: HostState,
        reason: Option<&str>,
    ) -> DbResult<()> {
        sqlx::query("UPDATE hosts SET state = $1, state_reason = $2 WHERE id = $3")
            .bind(state.as_str())
            .bind(reason)
            .bind(id.to_string())
            .execute(self.pool())
            .await
            .map_err(q("set host state"))?;
        Ok(())
    }

    /// All datastores.
    pub async fn list_datastores(&self) -> DbResult<Vec<Datastore>> {
        let rows = sqlx::query("SELECT id, cluster_id, name, kind, capacity_gib, free_gib FROM datastores ORDER BY name, id")
            .fetch_all(self.pool())
            .await
            .map_err(q("list datastores"))?;
        rows.iter()
            .map(|r| {
                Ok(Datastore {
                    id: parse_id("datastore id", &get::<String>(r, "id")?)?,
                    cluster_id: parse_id("cluster id", &get::<String>(r, "cluster_id")?)?,
                    name: get(r, "name")?,
                    kind: get(r, "kind")?,
                    capacity_gib: get::<i64>(r, "capacity_gib")? as u64,
                    free_gib: get::<i64>(r, "free_gib")? as u64,
                })
            })
            .collect()
    }

    /// Volumes, optionally of one datastore, by datastore and name.
    pub async fn list_volumes(&self, datastore: Option<DatastoreId>) -> DbResult<Vec<Volume>> {
        let rows = sqlx::query(
            "SELECT id, datastore_id, name, path, format, capacity_mib, allocation_mib FROM volumes \
             WHERE $1 IS NULL OR datastore_id = $1 ORDER BY datastore_id, name",
        )
        .bind(datastore.map(|d| d.to_string()))
        .fetch_all(self.pool())
        .await
        .map_err(q("list volumes"))?;
        rows.iter()
            .map(|r| {
                Ok(Volume {
                    id: parse_id("volume id", &get::<String>(r, "id")?)?,
                    datastore_id: parse_id("datastore id", &get::<String>(r, "datastore_id")?)?,
                    name: get(r, "name")?,
                    path: get(r, "path")?,
                    format: get(r, "format")?,
                    capacity_mib: get::<i64>(r, "capacity_mib")? as u64,
                    allocation_mib: get::<i64>(r, "allocation_mib")? as u64,
                })
            })
            .collect()
    }

    /// All networks.
    pub async fn list_networks(&self) -> DbResult<Vec<Network>> {
        let rows = sqlx::query("SELECT id, cluster_id, name, vlan FROM networks ORDER BY name, id")
            .fetch_all(self.pool())
            .await
            .map_err(q("list networks"))?;
        rows.iter()
            .map(|r| {
                Ok(Network {
                    id: parse_id("network id", &get::<String>(r, "id")?)?,
                    cluster_id: parse_id("cluster id", &get::<String>(r, "cluster_id")?)?,
                    name: get(r, "name")?,
                    vlan: get::<Option<i64>>(r, "vlan")?.map(|v| v as u32),
                })
            })
            .collect()
    }
}

fn physical_from_row(r: &AnyRow) -> DbResult<PhysicalServer> {
    Ok(PhysicalServer {
        id: parse_id("physical server id", &get::<String>(r, "id")?)?,
        name: get(r, "name")?,
        serial: get(r, "serial")?,
        cpu_model: get(r, "cpu_model")?,
        sockets: get::<i64>(r, "sockets")? as u32,
        cores_per_socket: get::<i64>(r, "cores_per_socket")? as u32,
        memory_mib: get::<i64>(r, "memory_mib")? as u64,
        site_id: opt_id("site id", get(r, "site_id")?)?,
        department_id: opt_id("department id", get(r, "department_id")?)?,
        owner: get(r, "owner")?,
        purpose: get(r, "purpose")?,
        created_at: get(r, "created_at")?,
    })
}

impl DataStore {
    /// Registers a physical server; a taken name is a conflict.
    pub async fn insert_physical_server(&self, p: &PhysicalServer) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO physical_servers (id, name, serial, cpu_model, sockets, cores_per_socket, memory_mib, site_id, \
             department_id, owner, purpose, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(p.id.to_string())
        .bind(&p.name)
        .bind(p.serial.as_deref())
        .bind(p.cpu_model.as_deref())
        .bind(i64::from(p.sockets))
        .bind(i64::from(p.cores_per_socket))
        .bind(p.memory_mib as i64)
        .bind(p.site_id.map(|s| s.to_string()))
        .bind(p.department_id.map(|d| d.to_string()))
        .bind(p.owner.as_deref())
        .bind(p.purpose.as_deref())
        .bind(p.created_at)
        .execute(self.pool())
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                DbError::Conflict(format!("physical server {} already exists", p.name))
            } else {
                DbError::Query { what: "insert physical server", source: e }
            }
        })?;
        Ok(())
    }

    /// All physical servers, by name.
    pub async fn list_physical_servers(&self) -> DbResult<Vec<PhysicalServer>> {
        let rows = sqlx::query(
            "SELECT id, name, serial, cpu_model, sockets, cores_per_socket, memory_mib, site_id, department_id, owner, \
             purpose, created_at FROM physical_servers ORDER BY name",
        )
        .fetch_all(self.pool())
        .await
        .map_err(q("list physical servers"))?;
        rows.iter().map(physical_from_row).collect()
    }
}

pub(crate) async fn record_host_hardware_in<E>(
    exec: &mut E,
    id: HostId,
    hw: &HostHardware,
    at: UnixMs,
) -> Result<(), sqlx::Error>
where
    for<'e> &'e mut E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "UPDATE hosts SET hypervisor = $1, hypervisor_version = $2, cpu_vendor = $3, cpu_model = $4, \
         cpu_features = $5, sockets = $6, cores_per_socket = $7, threads_per_core = $8, memory_mib = $9, \
         numa_cells = $10, state = $11, state_reason = NULL, last_sync_at = $12 WHERE id = $13",
    )
    .bind(hw.hypervisor.as_str())
    .bind(&hw.hypervisor_version)
    .bind(&hw.cpu_vendor)
    .bind(&hw.cpu_model)
    .bind(to_json(&hw.cpu_features))
    .bind(i64::from(hw.topology.sockets))
    .bind(i64::from(hw.topology.cores_per_socket))
    .bind(i64::from(hw.topology.threads_per_core))
    .bind(hw.memory_mib as i64)
    .bind(to_json(&hw.numa_cells))
    .bind(HostState::Connected.as_str())
    .bind(at)
    .bind(id.to_string())
    .execute(&mut *exec)
    .await?;
    Ok(())
}

/// Marks hosts connected and synced at `at`, many per statement.
pub(crate) async fn touch_hosts_in<E>(
    exec: &mut E,
    ids: &[HostId],
    at: UnixMs,
) -> Result<(), sqlx::Error>
where
    for<'e> &'e mut E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    for chunk in ids.chunks(500) {
        let mut b = Binds::default();
        let state = b.push(Arg::Str(HostState::Connected.as_str().into()));
        let at = b.push(Arg::Int(at));
        let list: Vec<String> = chunk
            .iter()
            .map(|id| b.push(Arg::Str(id.to_string())))
            .collect();
        let sql = format!(
            "UPDATE hosts SET state = {state}, state_reason = NULL, last_sync_at = {at} WHERE id IN ({})",
            list.join(", ")
        );
        b.apply(sqlx::query(AssertSqlSafe(sql)))
            .execute(&mut *exec)
            .await?;
    }
    Ok(())
}

/// (cluster, datastore name) of every datastore that holds recorded volumes.
pub(crate) async fn datastores_with_volumes_in<E>(
    exec: &mut E,
) -> Result<std::collections::HashSet<(String, String)>, sqlx::Error>
where
    for<'e> &'e mut E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let rows = sqlx::query(
        "SELECT DISTINCT d.cluster_id, d.name FROM volumes v JOIN datastores d ON d.id = v.datastore_id",
    )
    .fetch_all(&mut *exec)
    .await?;
    use sqlx::Row;
    rows.iter()
        .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?)))
        .collect()
}

/// Creates or refreshes a host's datastores and networks, and replaces the volumes recorded
/// in its datastores (`with_volumes`: the datastores that have any, so hosts without volumes
/// cost no deletes).
pub(crate) async fn upsert_storage_in<E>(
    exec: &mut E,
    h: &HostSyncWrite,
    with_volumes: &std::collections::HashSet<(String, String)>,
) -> Result<(), sqlx::Error>
where
    for<'e> &'e mut E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let (cluster, datastores, networks) = (h.cluster_id, &h.datastores, &h.networks);
    for (name, kind, cap, free) in datastores {
        sqlx::query(
            "INSERT INTO datastores (id, cluster_id, name, kind, capacity_gib, free_gib) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (cluster_id, name) DO UPDATE SET kind = excluded.kind, capacity_gib = excluded.capacity_gib, free_gib = excluded.free_gib",
        )
        .bind(DatastoreId::new().to_string())
        .bind(cluster.to_string())
        .bind(name)
        .bind(kind)
        .bind(*cap as i64)
        .bind(*free as i64)
        .execute(&mut *exec)
        .await?;
    }
    for (name, vlan) in networks {
        sqlx::query(
            "INSERT INTO networks (id, cluster_id, name, vlan) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (cluster_id, name) DO UPDATE SET vlan = excluded.vlan",
        )
        .bind(NetworkId::new().to_string())
        .bind(cluster.to_string())
        .bind(name)
        .bind(vlan.map(i64::from))
        .execute(&mut *exec)
        .await?;
    }
    for (name, ..) in datastores
        .iter()
        .filter(|(name, ..)| with_volumes.contains(&(cluster.to_string(), name.clone())))
    {
        sqlx::query(
            "DELETE FROM volumes WHERE datastore_id = (SELECT id FROM datastores WHERE cluster_id = $1 AND name = $2)",
        )
        .bind(cluster.to_string())
        .bind(name)
        .execute(&mut *exec)
        .await?;
    }
    for v in &h.volumes {
        sqlx::query(
            "INSERT INTO volumes (id, datastore_id, name, path, format, capacity_mib, allocation_mib) \
             SELECT $1, id, $2, $3, $4, $5, $6 FROM datastores WHERE cluster_id = $7 AND name = $8",
        )
        .bind(VolumeId::new().to_string())
        .bind(&v.name)
        .bind(&v.path)
        .bind(&v.format)
        .bind(v.capacity_mib as i64)
        .bind(v.allocation_mib as i64)
        .bind(cluster.to_string())
        .bind(&v.datastore)
        .execute(&mut *exec)
        .await?;
    }
    Ok(())
}
