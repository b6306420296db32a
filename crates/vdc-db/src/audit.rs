//! The append-only audit log.

use sqlx::any::AnyRow;
use vdc_types::*;

use crate::inventory::{Arg, Binds, prefix_range};
use crate::*;

fn audit_from_row(r: &AnyRow) -> DbResult<AuditRecord> {
    Ok(AuditRecord {
        id: parse_id("audit id", &get::<String>(r, "id")?)?,
        at: get(r, "at")?,
        actor: get(r, "actor")?,
        action: get(r, "action")?,
        target_kind: get(r, "target_kind")?,
        target_id: get(r, "target_id")?,
        result: parse_enum("audit result", &get::<String>(r, "result")?)?,
        detail: get(r, "detail")?,
    })
}

impl DataStore {
    /// Appends an audit record.
    pub async fn insert_audit(&self, a: &AuditRecord) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor, action, target_kind, target_id, result, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(a.id.to_string())
        .bind(a.at)
        .bind(&a.actor)
        .bind(&a.action)
        .bind(&a.target_kind)
        .bind(a.target_id.as_deref())
        .bind(a.result.as_str())
        .bind(a.detail.as_deref())
        .execute(self.pool())
        .await
        .map_err(q("insert audit"))?;
        Ok(())
    }

    /// Records matching `f`, newest first; `before` is the id of the last record of the
    /// previous page.
    pub async fn list_audit(
        &self,
        f: &AuditFilter,
        before: Option<AuditId>,
        limit: u32,
    ) -> DbResult<(Vec<AuditRecord>, bool)> {
        let mut b = Binds::default();
        let mut sql = String::from(
            "SELECT id, at, actor, action, target_kind, target_id, result, detail FROM audit_log \
             WHERE 1 = 1",
        );
        for (col, v) in [
            ("actor", &f.actor),
            ("target_kind", &f.target_kind),
            ("target_id", &f.target_id),
        ] {
            if let Some(v) = v {
                sql.push_str(&format!(" AND {col} = {}", b.push(Arg::Str(v.clone()))));
            }
        }
        if let Some(r) = f.result {
            sql.push_str(&format!(
                " AND result = {}",
                b.push(Arg::Str(r.as_str().into()))
            ));
        }
        if let Some(p) = &f.action_prefix
            && let Some((lo, hi)) = prefix_range(p)
        {
            let (lo, hi) = (b.push(Arg::Str(lo)), b.push(Arg::Str(hi)));
            sql.push_str(&format!(" AND action >= {lo} AND action < {hi}"));
        }
        if let Some(t) = f.since {
            sql.push_str(&format!(" AND at >= {}", b.push(Arg::Int(t))));
        }
        if let Some(t) = f.until {
            sql.push_str(&format!(" AND at < {}", b.push(Arg::Int(t))));
        }
        if let Some(t) = &f.text {
            // A plain substring: LIKE's wildcards in the text are escaped.
            let escaped = t
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            sql.push_str(&format!(
                " AND detail LIKE {} ESCAPE '\\'",
                b.push(Arg::Str(format!("%{escaped}%")))
            ));
        }
        if let Some(id) = before {
            sql.push_str(&format!(" AND id < {}", b.push(Arg::Str(id.to_string()))));
        }
        sql.push_str(&format!(
            " ORDER BY id DESC LIMIT {}",
            b.push(Arg::Int(i64::from(limit) + 1))
        ));
        b.fetch_page(self.pool(), sql, limit, "list audit", audit_from_row)
            .await
    }
}
