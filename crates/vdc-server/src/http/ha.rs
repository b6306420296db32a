//! Handlers of the `ha` tag: HA settings of VMs and failover reserves of clusters.

use super::*;

/// A VM's high-availability settings: restart priority, policy and dependencies.
#[utoipa::path(get, path = "/api/v1/vms/{id}/ha", tag = "ha", security(("bearer" = [])), params(("id" = VmId, Path)),
    responses((status = 200, body = VmHaView), (status = 404, body = ErrorBody)))]
pub(super) async fn get_vm_ha(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<VmId>,
) -> ApiResult<Json<VmHaView>> {
    Ok(Json(app.vm_ha(&actor, id).await?))
}

/// Changes a VM's HA settings (fields left out stay); dependencies may not form a cycle.
#[utoipa::path(put, path = "/api/v1/vms/{id}/ha", tag = "ha", security(("bearer" = [])), params(("id" = VmId, Path)),
    request_body = VmHaParams,
    responses((status = 200, body = VmHaView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn set_vm_ha(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<VmId>,
    ApiJson(p): ApiJson<VmHaParams>,
) -> ApiResult<Json<VmHaView>> {
    Ok(Json(app.set_vm_ha(&actor, id, p).await?))
}

/// A cluster's failover reserve and admission figures: capacity, reserved, used, headroom.
#[utoipa::path(get, path = "/api/v1/clusters/{id}/ha", tag = "ha", security(("bearer" = [])), params(("id" = ClusterId, Path)),
    responses((status = 200, body = ClusterHaView), (status = 404, body = ErrorBody)))]
pub(super) async fn get_cluster_ha(
    State(app): State<App>,
    _actor: Actor,
    ApiPath(id): ApiPath<ClusterId>,
) -> ApiResult<Json<ClusterHaView>> {
    Ok(Json(app.cluster_ha(id).await?))
}

/// Sets a cluster's failover reserve; VM starts that would eat into it are then refused.
#[utoipa::path(put, path = "/api/v1/clusters/{id}/ha", tag = "ha", security(("bearer" = [])), params(("id" = ClusterId, Path)),
    request_body = ClusterHaParams,
    responses((status = 200, body = ClusterHaView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "what runs already exceeds the reserve", body = ErrorBody)))]
pub(super) async fn set_cluster_ha(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<ClusterId>,
    ApiJson(p): ApiJson<ClusterHaParams>,
) -> ApiResult<Json<ClusterHaView>> {
    Ok(Json(app.set_cluster_ha(&actor, id, p).await?))
}
