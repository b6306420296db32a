//! Handlers of the `jobs` tag: Jobs.

use super::*;

/// Jobs, newest first.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<JobView>)))]
pub(super) async fn list_jobs(
    State(app): State<App>,
    actor: Actor,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<JobView>>> {
    Ok(Json(app.list_jobs(&actor, &q).await?))
}

/// One job, with its steps and progress.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", security(("bearer" = [])), params(("id" = JobId, Path)),
    responses((status = 200, body = JobView), (status = 404, body = ErrorBody)))]
pub(super) async fn get_job(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<JobId>,
) -> ApiResult<Json<JobView>> {
    Ok(Json(app.get_job(&actor, id).await?))
}
