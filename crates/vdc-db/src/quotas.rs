//! The price list and department quotas.

use std::collections::BTreeMap;
use vdc_types::*;

use crate::*;

/// What resources cost per month.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceList {
    pub currency: String,
    pub vcpu_month: f64,
    pub memory_gib_month: f64,
    pub disk_gib_month: f64,
    pub licences: BTreeMap<String, f64>,
    /// Fixed monthly charges per VM and per department.
    pub vm_month: f64,
    pub department_month: f64,
}

/// A department's quota (`None`: unlimited).
#[derive(Debug, Clone, PartialEq)]
pub struct Quota {
    pub department_id: DepartmentId,
    pub vcpus: Option<u64>,
    pub memory_mib: Option<u64>,
    pub disk_gib: Option<u64>,
    pub vms: Option<u64>,
    pub money_cents: Option<i64>,
    pub warn_percent: u32,
    pub grace_percent: u32,
    pub mode: QuotaMode,
}

impl DataStore {
    /// The price list.
    pub async fn price_list(&self) -> DbResult<PriceList> {
        let r = sqlx::query(
            "SELECT currency, vcpu_month, memory_gib_month, disk_gib_month, licences, vm_month, department_month \
             FROM price_list WHERE id = 1",
        )
        .fetch_one(self.pool())
        .await
        .map_err(q("price list"))?;
        Ok(PriceList {
            currency: get(&r, "currency")?,
            vcpu_month: get(&r, "vcpu_month")?,
            memory_gib_month: get(&r, "memory_gib_month")?,
            disk_gib_month: get(&r, "disk_gib_month")?,
            licences: from_json("licences", &get::<String>(&r, "licences")?)?,
            vm_month: get(&r, "vm_month")?,
            department_month: get(&r, "department_month")?,
        })
    }

    /// Replaces the price list.
    pub async fn set_price_list(&self, p: &PriceList) -> DbResult<()> {
        sqlx::query(
            "UPDATE price_list SET currency = $1, vcpu_month = $2, memory_gib_month = $3, \
             disk_gib_month = $4, licences = $5, updated_at = $6, vm_month = $7, \
             department_month = $8 WHERE id = 1",
        )
        .bind(&p.currency)
        .bind(p.vcpu_month)
        .bind(p.memory_gib_month)
        .bind(p.disk_gib_month)
        .bind(to_json(&p.licences))
        .bind(now_ms())
        .bind(p.vm_month)
        .bind(p.department_month)
        .execute(self.pool())
        .await
        .map_err(q("set price list"))?;
        Ok(())
    }

    /// A department's quota, if it has one.
    pub async fn quota(&self, d: DepartmentId) -> DbResult<Option<Quota>> {
        let row = sqlx::query(
            "SELECT vcpus, memory_mib, disk_gib, vms, money_cents, warn_percent, grace_percent, mode \
             FROM quotas WHERE department_id = $1",
        )
        .bind(d.to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(q("quota"))?;
        let Some(r) = row else { return Ok(None) };
        let n = |c: &'static str| -> DbResult<Option<u64>> {
            Ok(get::<Option<i64>>(&r, c)?.map(|v| v as u64))
        };
        Ok(Some(Quota {
            department_id: d,
            vcpus: n("vcpus")?,
            memory_mib: n("memory_mib")?,
            disk_gib: n("disk_gib")?,
            vms: n("vms")?,
            money_cents: get(&r, "money_cents")?,
            warn_percent: get::<i64>(&r, "warn_percent")? as u32,
            grace_percent: get::<i64>(&r, "grace_percent")? as u32,
            mode: parse_enum("quota mode", &get::<String>(&r, "mode")?)?,
        }))
    }

    /// Sets (replaces) a department's quota.
    pub async fn set_quota(&self, qt: &Quota) -> DbResult<()> {
        let mut tx = self.pool().begin().await.map_err(q("begin"))?;
        sqlx::query("DELETE FROM quotas WHERE department_id = $1")
            .bind(qt.department_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(q("replace quota"))?;
        let i = |v: Option<u64>| v.map(|v| v as i64);
        sqlx::query(
            "INSERT INTO quotas (department_id, vcpus, memory_mib, disk_gib, vms, money_cents, \
             warn_percent, grace_percent, mode, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(qt.department_id.to_string())
        .bind(i(qt.vcpus))
        .bind(i(qt.memory_mib))
        .bind(i(qt.disk_gib))
        .bind(i(qt.vms))
        .bind(qt.money_cents)
        .bind(i64::from(qt.warn_percent))
        .bind(i64::from(qt.grace_percent))
        .bind(qt.mode.as_str())
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(q("set quota"))?;
        tx.commit().await.map_err(q("commit"))
    }

    /// Software each VM of a department was placed with (from its placement record).
    pub async fn department_licences(
        &self,
        d: DepartmentId,
    ) -> DbResult<BTreeMap<VmId, Vec<String>>> {
        let rows = sqlx::query(
            "SELECT p.vm_id, p.constraints FROM vm_placements p JOIN vms v ON v.id = p.vm_id \
             WHERE v.department_id = $1",
        )
        .bind(d.to_string())
        .fetch_all(self.pool())
        .await
        .map_err(q("department licences"))?;
        licences_of(&rows)
    }

    /// Software every VM was placed with.
    pub async fn vm_licences(&self) -> DbResult<BTreeMap<VmId, Vec<String>>> {
        let rows = sqlx::query("SELECT vm_id, constraints FROM vm_placements")
            .fetch_all(self.pool())
            .await
            .map_err(q("vm licences"))?;
        licences_of(&rows)
    }
}

/// The licensed software of placement rows (`vm_id`, `constraints`), VMs without any left out.
fn licences_of(rows: &[AnyRow]) -> DbResult<BTreeMap<VmId, Vec<String>>> {
    let mut out = BTreeMap::new();
    for r in rows {
        let c: serde_json::Value = from_json("constraints", &get::<String>(r, "constraints")?)?;
        let sw: Vec<String> = c["licensed_software"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if !sw.is_empty() {
            out.insert(parse_id("vm id", &get::<String>(r, "vm_id")?)?, sw);
        }
    }
    Ok(out)
}
