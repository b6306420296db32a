//! Provisioning requests.

use sqlx::any::AnyRow;
use vdc_types::*;

use crate::*;
use sqlx::AssertSqlSafe;

/// A provisioning request as stored (its VMs and approvals as the API shows them).
#[derive(Debug, Clone)]
pub struct Request {
    pub id: RequestId,
    pub requester: String,
    pub department_id: Option<DepartmentId>,
    pub purpose: String,
    pub vms: Vec<VmCreateParams>,
    pub cost_month: f64,
    pub currency: String,
    pub state: RequestState,
    pub approvals: Vec<ApprovalView>,
    pub approvals_needed: u32,
    pub rule: String,
    pub reason: Option<String>,
    pub vm_ids: Vec<VmId>,
    pub created_at: UnixMs,
    pub updated_at: UnixMs,
}

const COLS: &str = "id, requester, department_id, purpose, vms, cost_month, currency, state, approvals, \
     approvals_needed, rule, reason, vm_ids, created_at, updated_at";

fn from_row(r: &AnyRow) -> DbResult<Request> {
    Ok(Request {
        id: parse_id("request id", &get::<String>(r, "id")?)?,
        requester: get(r, "requester")?,
        department_id: opt_id("department id", get(r, "department_id")?)?,
        purpose: get(r, "purpose")?,
        vms: from_json("vms", &get::<String>(r, "vms")?)?,
        cost_month: get(r, "cost_month")?,
        currency: get(r, "currency")?,
        state: parse_enum("request state", &get::<String>(r, "state")?)?,
        approvals: from_json("approvals", &get::<String>(r, "approvals")?)?,
        approvals_needed: get::<i64>(r, "approvals_needed")? as u32,
        rule: get(r, "rule")?,
        reason: get(r, "reason")?,
        vm_ids: from_json("vm_ids", &get::<String>(r, "vm_ids")?)?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

impl DataStore {
    /// Records a new request.
    pub async fn insert_request(&self, r: &Request) -> DbResult<()> {
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO requests ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        )))
        .bind(r.id.to_string())
        .bind(&r.requester)
        .bind(r.department_id.map(|d| d.to_string()))
        .bind(&r.purpose)
        .bind(to_json(&r.vms))
        .bind(r.cost_month)
        .bind(&r.currency)
        .bind(r.state.as_str())
        .bind(to_json(&r.approvals))
        .bind(i64::from(r.approvals_needed))
        .bind(&r.rule)
        .bind(r.reason.as_deref())
        .bind(to_json(&r.vm_ids))
        .bind(r.created_at)
        .bind(r.updated_at)
        .execute(self.pool())
        .await
        .map_err(q("insert request"))?;
        Ok(())
    }

    /// One request.
    pub async fn get_request(&self, id: RequestId) -> DbResult<Request> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLS} FROM requests WHERE id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(q("get request"))?
        .ok_or_else(|| DbError::NotFound {
            kind: "request",
            id: id.to_string(),
        })?;
        from_row(&row)
    }

    /// The newest requests first (at most `limit`).
    pub async fn list_requests(&self, limit: u32) -> DbResult<Vec<Request>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLS} FROM requests ORDER BY created_at DESC, id DESC LIMIT $1"
        )))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(q("list requests"))?;
        rows.iter().map(from_row).collect()
    }

    /// Writes a request's new state, approvals, reason and VMs — only if it is still in
    /// state `from` (a conflict otherwise: someone decided meanwhile).
    pub async fn update_request(&self, r: &Request, from: RequestState) -> DbResult<()> {
        let res = sqlx::query(
            "UPDATE requests SET state = $1, approvals = $2, reason = $3, vm_ids = $4, updated_at = $5 \
             WHERE id = $6 AND state = $7",
        )
        .bind(r.state.as_str())
        .bind(to_json(&r.approvals))
        .bind(r.reason.as_deref())
        .bind(to_json(&r.vm_ids))
        .bind(r.updated_at)
        .bind(r.id.to_string())
        .bind(from.as_str())
        .execute(self.pool())
        .await
        .map_err(q("update request"))?;
        if res.rows_affected() == 0 {
            return Err(DbError::Conflict(format!(
                "request {} is no longer {from}",
                r.id
            )));
        }
        Ok(())
    }
}
