//! Journaled jobs: a list of named steps, how many are done, and the input to redo the rest.

use sqlx::any::AnyRow;
use vdc_types::*;

use crate::*;
use sqlx::AssertSqlSafe;

const JOB_COLS: &str = "id, kind, target_id, state, params, steps, steps_done, error, created_by, created_at, updated_at";

fn job_from_row(r: &AnyRow) -> DbResult<Job> {
    Ok(Job {
        id: parse_id("job id", &get::<String>(r, "id")?)?,
        kind: get(r, "kind")?,
        target_id: get(r, "target_id")?,
        state: parse_enum("job state", &get::<String>(r, "state")?)?,
        params: get(r, "params")?,
        steps: from_json("job steps", &get::<String>(r, "steps")?)?,
        steps_done: get::<i64>(r, "steps_done")? as u32,
        error: get(r, "error")?,
        created_by: get(r, "created_by")?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

/// Inserts a job inside a transaction.
async fn insert_job_in(tx: &mut sqlx::Transaction<'_, sqlx::Any>, j: &Job) -> DbResult<()> {
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO jobs ({JOB_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    )))
    .bind(j.id.to_string())
    .bind(&j.kind)
    .bind(j.target_id.as_deref())
    .bind(j.state.as_str())
    .bind(&j.params)
    .bind(to_json(&j.steps))
    .bind(i64::from(j.steps_done))
    .bind(j.error.as_deref())
    .bind(&j.created_by)
    .bind(j.created_at)
    .bind(j.updated_at)
    .execute(&mut **tx)
    .await
    .map_err(q("insert job"))?;
    Ok(())
}

/// A VM to create: its record, placement record, guest OS if given, and its job.
#[derive(Debug, Clone)]
pub struct PlannedVm {
    pub job: Job,
    pub vm: Vm,
    pub placement: VmPlacementRec,
    pub guest_os: Option<GuestOs>,
}

impl DataStore {
    /// Records a new job.
    pub async fn insert_job(&self, j: &Job) -> DbResult<()> {
        let mut tx = self.pool().begin().await.map_err(q("begin"))?;
        insert_job_in(&mut tx, j).await?;
        tx.commit().await.map_err(q("commit"))
    }

    /// Records new jobs and, in the same transaction, the VM records they will build with
    /// their placement decisions: all or none.
    pub async fn insert_jobs_with_vms(&self, items: &[PlannedVm]) -> DbResult<()> {
        let mut tx = self.pool().begin().await.map_err(q("begin"))?;
        let now = now_ms();
        for p in items {
            crate::vms::insert_vms_in(&mut *tx, std::slice::from_ref(&p.vm))
                .await
                .map_err(q("insert vm"))?;
            crate::vms::insert_placement_in(&mut tx, &p.placement).await?;
            if let Some(g) = &p.guest_os {
                crate::compliance::upsert_guest_os_in(&mut *tx, p.vm.id, g, now)
                    .await
                    .map_err(q("insert guest os"))?;
            }
            insert_job_in(&mut tx, &p.job).await?;
        }
        tx.commit().await.map_err(q("commit"))
    }

    /// One job.
    pub async fn get_job(&self, id: JobId) -> DbResult<Job> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {JOB_COLS} FROM jobs WHERE id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(q("get job"))?
        .ok_or_else(|| DbError::NotFound {
            kind: "job",
            id: id.to_string(),
        })?;
        job_from_row(&row)
    }

    /// Newest jobs first; `before` is the last id of the previous page.
    pub async fn list_jobs(&self, before: Option<JobId>, limit: u32) -> DbResult<(Vec<Job>, bool)> {
        self.newest_first(
            &format!("SELECT {JOB_COLS} FROM jobs"),
            before.map(|b| b.to_string()),
            limit,
            job_from_row,
        )
        .await
    }

    /// Jobs not yet finished (to resume after a restart), oldest first.
    pub async fn unfinished_jobs(&self) -> DbResult<Vec<Job>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {JOB_COLS} FROM jobs WHERE state IN ('queued', 'running') ORDER BY id"
        )))
        .fetch_all(self.pool())
        .await
        .map_err(q("unfinished jobs"))?;
        rows.iter().map(job_from_row).collect()
    }

    /// Records progress: state, steps done, and the error if it failed.
    pub async fn update_job(
        &self,
        id: JobId,
        state: JobState,
        steps_done: u32,
        error: Option<&str>,
    ) -> DbResult<()> {
        sqlx::query("UPDATE jobs SET state = $1, steps_done = $2, error = $3, updated_at = $4 WHERE id = $5")
            .bind(state.as_str())
            .bind(i64::from(steps_done))
            .bind(error)
            .bind(now_ms())
            .bind(id.to_string())
            .execute(self.pool())
            .await
            .map_err(q("update job"))?;
        Ok(())
    }
}
