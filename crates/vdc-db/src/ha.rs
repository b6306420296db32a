//! High-availability settings: each VM's restart priority, policy and dependencies, and each
//! cluster's failover reserve.

use std::collections::HashMap;
use vdc_types::*;

use crate::*;

/// A VM's HA settings.
#[derive(Debug, Clone, PartialEq)]
pub struct VmHa {
    pub priority: RestartPriority,
    pub policy: HaPolicy,
    pub depends_on: Vec<VmId>,
}

impl Default for VmHa {
    /// What a VM without settings gets: medium priority, restarted, no dependencies.
    fn default() -> Self {
        VmHa {
            priority: RestartPriority::Medium,
            policy: HaPolicy::Restart,
            depends_on: Vec::new(),
        }
    }
}

fn vm_ha_from_row(r: &AnyRow) -> DbResult<(VmId, VmHa)> {
    Ok((
        parse_id("vm id", &get::<String>(r, "vm_id")?)?,
        VmHa {
            priority: parse_enum("restart priority", &get::<String>(r, "priority")?)?,
            policy: parse_enum("HA policy", &get::<String>(r, "policy")?)?,
            depends_on: from_json("depends_on", &get::<String>(r, "depends_on")?)?,
        },
    ))
}

impl DataStore {
    /// Every VM's HA settings that were set (others have the default).
    pub async fn all_vm_ha(&self) -> DbResult<HashMap<VmId, VmHa>> {
        let rows = sqlx::query("SELECT vm_id, priority, policy, depends_on FROM vm_ha")
            .fetch_all(self.pool())
            .await
            .map_err(q("vm ha"))?;
        rows.iter().map(vm_ha_from_row).collect()
    }

    /// One VM's HA settings (the default when none were set).
    pub async fn vm_ha(&self, id: VmId) -> DbResult<VmHa> {
        let row =
            sqlx::query("SELECT vm_id, priority, policy, depends_on FROM vm_ha WHERE vm_id = $1")
                .bind(id.to_string())
                .fetch_optional(self.pool())
                .await
                .map_err(q("vm ha"))?;
        Ok(match row {
            Some(r) => vm_ha_from_row(&r)?.1,
            None => VmHa::default(),
        })
    }

    pub async fn set_vm_ha(&self, id: VmId, ha: &VmHa) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO vm_ha (vm_id, priority, policy, depends_on) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (vm_id) DO UPDATE SET priority = excluded.priority, policy = excluded.policy, \
             depends_on = excluded.depends_on",
        )
        .bind(id.to_string())
        .bind(ha.priority.as_str())
        .bind(ha.policy.as_str())
        .bind(to_json(&ha.depends_on))
        .execute(self.pool())
        .await
        .map_err(q("set vm ha"))?;
        Ok(())
    }

    /// Moves a dead host's VM to the host it is restarted on and marks the copy of its
    /// definition left on the dead host as stale, in one transaction.
    pub async fn restart_elsewhere(
        &self,
        id: VmId,
        dead: HostId,
        host: HostId,
        cluster: ClusterId,
    ) -> DbResult<()> {
        let mut tx = self.pool().begin().await.map_err(q("begin"))?;
        sqlx::query(
            "INSERT INTO ha_stale_copies (vm_id, host_id, since) VALUES ($1, $2, $3) \
             ON CONFLICT (vm_id, host_id) DO NOTHING",
        )
        .bind(id.to_string())
        .bind(dead.to_string())
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(q("mark stale copy"))?;
        sqlx::query(
            "UPDATE vms SET host_id = $1, cluster_id = $2, generation = generation + 1, \
             updated_at = $3 WHERE id = $4",
        )
        .bind(host.to_string())
        .bind(cluster.to_string())
        .bind(now_ms())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(q("restart vm elsewhere"))?;
        tx.commit().await.map_err(q("commit"))
    }

    /// The VMs whose definition on a host is a stale copy, by host.
    pub async fn stale_copies(&self) -> DbResult<HashMap<HostId, Vec<VmId>>> {
        let rows = sqlx::query("SELECT vm_id, host_id FROM ha_stale_copies")
            .fetch_all(self.pool())
            .await
            .map_err(q("stale copies"))?;
        let mut out: HashMap<HostId, Vec<VmId>> = HashMap::new();
        for r in &rows {
            out.entry(parse_id("host id", &get::<String>(r, "host_id")?)?)
                .or_default()
                .push(parse_id("vm id", &get::<String>(r, "vm_id")?)?);
        }
        Ok(out)
    }

    /// Forgets a stale copy (removed from its host, or the VM is back there).
    pub async fn clear_stale_copy(&self, id: VmId, host: HostId) -> DbResult<()> {
        sqlx::query("DELETE FROM ha_stale_copies WHERE vm_id = $1 AND host_id = $2")
            .bind(id.to_string())
            .bind(host.to_string())
            .execute(self.pool())
            .await
            .map_err(q("clear stale copy"))?;
        Ok(())
    }

    /// The hosts every cluster keeps empty for failover (reserves of failover hosts).
    pub async fn failover_hosts(&self) -> DbResult<std::collections::HashSet<HostId>> {
        let rows =
            sqlx::query("SELECT failover_hosts FROM cluster_ha WHERE kind = 'failover_hosts'")
                .fetch_all(self.pool())
                .await
                .map_err(q("failover hosts"))?;
        let mut out = std::collections::HashSet::new();
        for r in &rows {
            out.extend(from_json::<Vec<HostId>>(
                "failover_hosts",
                &get::<String>(r, "failover_hosts")?,
            )?);
        }
        Ok(out)
    }

    /// A cluster's failover reserve (none when never set).
    pub async fn cluster_reserve(&self, id: ClusterId) -> DbResult<HaReserve> {
        let row = sqlx::query(
            "SELECT kind, host_failures, cpu_percent, memory_percent, failover_hosts FROM cluster_ha WHERE cluster_id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(q("cluster ha"))?;
        let Some(r) = row else {
            return Ok(HaReserve::None);
        };
        let kind: String = get(&r, "kind")?;
        Ok(match kind.as_str() {
            "host_failures" => HaReserve::HostFailures {
                hosts: get::<i64>(&r, "host_failures")? as u32,
            },
            "percent" => HaReserve::Percent {
                cpu: get(&r, "cpu_percent")?,
                memory: get(&r, "memory_percent")?,
            },
            "failover_hosts" => HaReserve::FailoverHosts {
                hosts: from_json("failover_hosts", &get::<String>(&r, "failover_hosts")?)?,
            },
            "none" => HaReserve::None,
            other => {
                return Err(DbError::Corrupt {
                    what: "cluster failover reserve",
                    detail: format!("unknown kind {other:?}"),
                });
            }
        })
    }

    pub async fn set_cluster_reserve(&self, id: ClusterId, reserve: &HaReserve) -> DbResult<()> {
        let (kind, n, cpu, mem, hosts) = match reserve {
            HaReserve::None => ("none", 0, 0.0, 0.0, Vec::new()),
            HaReserve::HostFailures { hosts } => ("host_failures", *hosts, 0.0, 0.0, Vec::new()),
            HaReserve::Percent { cpu, memory } => ("percent", 0, *cpu, *memory, Vec::new()),
            HaReserve::FailoverHosts { hosts } => ("failover_hosts", 0, 0.0, 0.0, hosts.clone()),
        };
        sqlx::query(
            "INSERT INTO cluster_ha (cluster_id, kind, host_failures, cpu_percent, memory_percent, failover_hosts) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (cluster_id) DO UPDATE SET kind = excluded.kind, \
             host_failures = excluded.host_failures, cpu_percent = excluded.cpu_percent, \
             memory_percent = excluded.memory_percent, failover_hosts = excluded.failover_hosts",
        )
        .bind(id.to_string())
        .bind(kind)
        .bind(i64::from(n))
        .bind(cpu)
        .bind(mem)
        .bind(to_json(&hosts))
        .execute(self.pool())
        .await
        .map_err(q("set cluster ha"))?;
        Ok(())
    }
}
