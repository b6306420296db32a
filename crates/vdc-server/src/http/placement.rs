//! Handlers of the `placement` tag: Host ratings, placement records, groups placed together.

use super::*;

/// Rates every host for a VM (by size, or an existing VM by id): 0–5 stars, each ranker's
/// part, or the filter that refused the host; best first.
#[utoipa::path(post, path = "/api/v1/placement/ratings", tag = "placement", security(("bearer" = [])),
    request_body = PlacementParams,
    responses((status = 200, body = RatingView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn rate_placement(
    State(app): State<App>,
    actor: Actor,
    ApiJson(p): ApiJson<PlacementParams>,
) -> ApiResult<Json<RatingView>> {
    Ok(Json(app.rate_placement(&actor, p).await?))
}

/// How vdc placed a VM it created: its constraints, the host, the best hosts then with their
/// reasons, and every refusal counted.
#[utoipa::path(get, path = "/api/v1/vms/{id}/placement", tag = "placement", security(("bearer" = [])), params(("id" = VmId, Path)),
    responses((status = 200, body = VmPlacementView), (status = 404, body = ErrorBody)))]
pub(super) async fn vm_placement(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<VmId>,
) -> ApiResult<Json<VmPlacementView>> {
    Ok(Json(app.vm_placement(&actor, id).await?))
}
