//! The append-only audit log.

use sqlx::any::AnyRow;
use vdc_types::*;

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

    /// Newest records first; `before` is the id of the last record of the previous page.
    pub async fn list_audit(
        &self,
        before: Option<AuditId>,
        limit: u32,
    ) -> DbResult<(Vec<AuditRecord>, bool)> {
        self.newest_first(
            "SELECT id, at, actor, action, target_kind, target_id, result, detail FROM audit_log",
            before.map(|b| b.to_string()),
            limit,
            audit_from_row,
        )
        .await
    }
}
