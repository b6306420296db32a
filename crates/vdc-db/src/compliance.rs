//! What licence and patch reports read besides the inventory: each VM's guest OS, the patch
//! baselines per OS, and the licence catalogue.

use std::collections::HashMap;
use vdc_types::*;

use crate::*;

/// Writes a VM's guest OS. One set by hand (`manual`) is kept over any other source; the
/// libosinfo id of one from libosinfo is kept in `os_id` even then.
pub(crate) async fn upsert_guest_os_in<E>(
    exec: &mut E,
    vm: VmId,
    g: &GuestOs,
    now: UnixMs,
) -> Result<(), sqlx::Error>
where
    for<'e> &'e mut E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let keep = "vm_guest_os.source = 'manual' AND excluded.source <> 'manual'";
    let set: Vec<String> = ["os", "version", "name", "kernel", "source", "updated_at"]
        .iter()
        .map(|c| format!("{c} = CASE WHEN {keep} THEN vm_guest_os.{c} ELSE excluded.{c} END"))
        .collect();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO vm_guest_os (vm_id, os, version, name, kernel, source, os_id, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (vm_id) DO UPDATE SET {}, \
         os_id = COALESCE(excluded.os_id, vm_guest_os.os_id)",
        set.join(", ")
    )))
    .bind(vm.to_string())
    .bind(&g.os)
    .bind(&g.version)
    .bind(&g.name)
    .bind(&g.kernel)
    .bind(g.source.as_str())
    .bind((g.source == GuestOsSource::Libosinfo).then_some(&g.name))
    .bind(now)
    .execute(&mut *exec)
    .await?;
    Ok(())
}

fn guest_os_from_row(r: &AnyRow) -> DbResult<GuestOs> {
    Ok(GuestOs {
        os: get(r, "os")?,
        version: get(r, "version")?,
        name: get(r, "name")?,
        kernel: get(r, "kernel")?,
        source: parse_enum("guest os source", &get::<String>(r, "source")?)?,
    })
}

fn product_from_row(r: &AnyRow) -> DbResult<LicenceProduct> {
    let n = |c: &'static str| -> DbResult<u64> { Ok(get::<i64>(r, c)?.max(0) as u64) };
    Ok(LicenceProduct {
        name: get(r, "name")?,
        model: parse_enum("licence model", &get::<String>(r, "model")?)?,
        owned: n("owned")?,
        users: n("users")?,
        min_cores_per_socket: n("min_cores_per_socket")? as u32,
        min_cores_per_host: n("min_cores_per_host")? as u32,
        guest_os: get(r, "guest_os")?,
    })
}

impl DataStore {
    /// Every VM's known guest OS.
    pub async fn guest_oses(&self) -> DbResult<HashMap<VmId, GuestOs>> {
        let rows = sqlx::query(
            "SELECT vm_id, os, version, name, kernel, source FROM vm_guest_os \
             WHERE vm_id IN (SELECT id FROM vms)",
        )
        .fetch_all(self.pool())
        .await
        .map_err(q("guest oses"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    parse_id("vm id", &get::<String>(r, "vm_id")?)?,
                    guest_os_from_row(r)?,
                ))
            })
            .collect()
    }

    /// One VM's guest OS, if known.
    pub async fn guest_os(&self, vm: VmId) -> DbResult<Option<GuestOs>> {
        sqlx::query("SELECT os, version, name, kernel, source FROM vm_guest_os WHERE vm_id = $1")
            .bind(vm.to_string())
            .fetch_optional(self.pool())
            .await
            .map_err(q("guest os"))?
            .as_ref()
            .map(guest_os_from_row)
            .transpose()
    }

    /// The libosinfo id to define a VM with, if one is known.
    pub async fn guest_os_id(&self, vm: VmId) -> DbResult<Option<String>> {
        let id: Option<Option<String>> =
            sqlx::query_scalar("SELECT os_id FROM vm_guest_os WHERE vm_id = $1")
                .bind(vm.to_string())
                .fetch_optional(self.pool())
                .await
                .map_err(q("guest os id"))?;
        Ok(id.flatten())
    }

    /// Sets a VM's guest OS (a manual one wins over later reports), or forgets what was set:
    /// back to the libosinfo id known for it, if any, else unknown.
    pub async fn set_guest_os(&self, vm: VmId, g: Option<&GuestOs>) -> DbResult<()> {
        let mut tx = self.pool().begin().await.map_err(q("begin"))?;
        let now = now_ms();
        match g {
            Some(g) => upsert_guest_os_in(&mut *tx, vm, g, now).await,
            None => {
                // Reads before it writes: lock first (see `write_first`).
                crate::write_first(&mut *tx, "vms", &vm.to_string())
                    .await
                    .map_err(q("lock vm"))?;
                let os_id: Option<Option<String>> =
                    sqlx::query_scalar("SELECT os_id FROM vm_guest_os WHERE vm_id = $1")
                        .bind(vm.to_string())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(q("guest os id"))?;
                sqlx::query("DELETE FROM vm_guest_os WHERE vm_id = $1")
                    .bind(vm.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(q("forget guest os"))?;
                match os_id.flatten().as_deref().and_then(GuestOs::from_libosinfo) {
                    Some(g) => upsert_guest_os_in(&mut *tx, vm, &g, now).await,
                    None => Ok(()),
                }
            }
        }
        .map_err(q("set guest os"))?;
        tx.commit().await.map_err(q("commit"))
    }

    /// The patch baselines, by OS key.
    pub async fn os_baselines(&self) -> DbResult<Vec<OsBaseline>> {
        let rows = sqlx::query("SELECT os, min_version FROM os_baselines ORDER BY os")
            .fetch_all(self.pool())
            .await
            .map_err(q("os baselines"))?;
        rows.iter()
            .map(|r| {
                Ok(OsBaseline {
                    os: get(r, "os")?,
                    min_version: get(r, "min_version")?,
                })
            })
            .collect()
    }

    /// Sets an OS's baseline.
    pub async fn set_os_baseline(&self, b: &OsBaseline) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO os_baselines (os, min_version, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (os) DO UPDATE SET min_version = excluded.min_version, updated_at = excluded.updated_at",
        )
        .bind(&b.os)
        .bind(&b.min_version)
        .bind(now_ms())
        .execute(self.pool())
        .await
        .map_err(q("set os baseline"))?;
        Ok(())
    }

    /// Removes an OS's baseline; whether there was one.
    pub async fn delete_os_baseline(&self, os: &str) -> DbResult<bool> {
        let res = sqlx::query("DELETE FROM os_baselines WHERE os = $1")
            .bind(os)
            .execute(self.pool())
            .await
            .map_err(q("delete os baseline"))?;
        Ok(res.rows_affected() > 0)
    }

    /// The licence catalogue, by name.
    pub async fn licence_products(&self) -> DbResult<Vec<LicenceProduct>> {
        let rows = sqlx::query(
            "SELECT name, model, owned, users, min_cores_per_socket, min_cores_per_host, guest_os \
             FROM licence_products ORDER BY name",
        )
        .fetch_all(self.pool())
        .await
        .map_err(q("licence products"))?;
        rows.iter().map(product_from_row).collect()
    }

    /// Adds or replaces a product of the catalogue.
    pub async fn set_licence_product(&self, p: &LicenceProduct) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO licence_products (name, model, owned, users, min_cores_per_socket, \
             min_cores_per_host, guest_os, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (name) DO UPDATE SET model = excluded.model, owned = excluded.owned, \
             users = excluded.users, min_cores_per_socket = excluded.min_cores_per_socket, \
             min_cores_per_host = excluded.min_cores_per_host, guest_os = excluded.guest_os, \
             updated_at = excluded.updated_at",
        )
        .bind(&p.name)
        .bind(p.model.as_str())
        .bind(p.owned as i64)
        .bind(p.users as i64)
        .bind(i64::from(p.min_cores_per_socket))
        .bind(i64::from(p.min_cores_per_host))
        .bind(&p.guest_os)
        .bind(now_ms())
        .execute(self.pool())
        .await
        .map_err(q("set licence product"))?;
        Ok(())
    }

    /// Removes a product; whether there was one.
    pub async fn delete_licence_product(&self, name: &str) -> DbResult<bool> {
        let res = sqlx::query("DELETE FROM licence_products WHERE name = $1")
            .bind(name)
            .execute(self.pool())
            .await
            .map_err(q("delete licence product"))?;
        Ok(res.rows_affected() > 0)
    }
}
