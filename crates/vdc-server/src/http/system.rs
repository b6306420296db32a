//! Handlers of the `system` tag: Health and the background activities.

use super::*;

/// Liveness and store backend.
#[utoipa::path(get, path = "/api/v1/health", tag = "system", responses((status = 200, body = HealthView)))]
pub(super) async fn health(State(app): State<App>) -> Json<HealthView> {
    Json(HealthView {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        store: app.db.backend().as_str().into(),
    })
}

/// The server's background activities (inventory sync, metrics, load sampling, balancing,
/// leases, HA, …): what each does, when it runs, and its last run's start, duration, result and
/// outcome (global admins and auditors).
#[utoipa::path(get, path = "/api/v1/background-tasks", tag = "system", security(("bearer" = [])),
    responses((status = 200, body = Vec<BackgroundTaskView>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub(super) async fn background_tasks(
    State(app): State<App>,
    actor: Actor,
) -> ApiResult<Json<Vec<BackgroundTaskView>>> {
    Ok(Json(app.background_tasks(&actor).await?))
}
