//! Handlers of the `vms` tag: VMs: list, create, change, delete, power actions, adoption, migration, snapshots, stats, metrics, alerts, guest OS.

use super::*;

/// VMs the caller may see, filtered and paginated (ordered by name).
#[utoipa::path(get, path = "/api/v1/vms", tag = "vms", security(("bearer" = [])), params(VmListQuery),
    responses((status = 200, body = Page<VmView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(super) async fn list_vms(
    State(app): State<App>,
    actor: Actor,
    ApiQuery(q): ApiQuery<VmListQuery>,
) -> ApiResult<Json<Page<VmView>>> {
    Ok(Json(app.list_vms(&actor, &q).await?))
}

/// Creates a VM: placed, recorded, then defined (and started) by a job.
#[utoipa::path(post, path = "/api/v1/vms", tag = "vms", security(("bearer" = [])), request_body = VmCreateParams,
    responses((status = 202, body = JobAccepted), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 507, description = "no host has room", body = ErrorBody)))]
pub(super) async fn create_vm(
    State(app): State<App>,
    actor: Actor,
    ApiJson(p): ApiJson<VmCreateParams>,
) -> ApiResult<impl IntoResponse> {
    Ok((
        StatusCode::ACCEPTED,
        Json(app.create_vm(&actor, None, p).await?),
    ))
}

/// Creates a VM with an id chosen by the client: retrying the same request cannot create a
/// second VM (the retry gets 409).
#[utoipa::path(post, path = "/api/v1/vms/{id}", tag = "vms", security(("bearer" = [])), params(("id" = VmId, Path)),
    request_body = VmCreateParams,
    responses((status = 202, body = JobAccepted), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 507, description = "no host has room", body = ErrorBody)))]
pub(super) async fn create_vm_with_id(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<VmId>,
    ApiJson(p): ApiJson<VmCreateParams>,
) -> ApiResult<impl IntoResponse> {
    Ok((
        StatusCode::ACCEPTED,
        Json(app.create_vm(&actor, Some(id), p).await?),
    ))
}

/// One VM.
#[utoipa::path(get, path = "/api/v1/vms/{id}", tag = "vms", security(("bearer" = [])), params(("id" = VmId, Path)),
    responses((status = 200, body = VmView), (status = 404, body = ErrorBody)))]
pub(super) async fn get_vm(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<VmId>,
) -> ApiResult<Json<VmView>> {
    Ok(Json(app.get_vm(&actor, id).await?))
}

/// Changes a VM's owner, department, purpose, tags or lease. Pass `generation` to refuse
/// the change (409) if the VM changed since you read it.
#[utoipa::path(patch, path = "/api/v1/vms/{id}", tag = "vms", security(("bearer" = [])), params(("id" = VmId, Path)),
    request_body = VmUpdateParams,
    responses((status = 200, body = VmView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn update_vm(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<VmId>,
    ApiJson(p): ApiJson<VmUpdateParams>,
) -> ApiResult<Json<VmView>> {
    Ok(Json(app.update_vm(&actor, id, p).await?))
}

/// Deletes a VM (stops it if running) through a job.
#[utoipa::path(delete, path = "/api/v1/vms/{id}", tag = "vms", security(("bearer" = [])), params(("id" = VmId, Path)),
    responses((status = 202, body = JobAccepted), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn delete_vm(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<VmId>,
) -> ApiResult<impl IntoResponse> {
    Ok((StatusCode::ACCEPTED, Json(app.delete_vm(&actor, id).await?)))
}

/// Power action: `start`, `shutdown` (graceful), `stop` (hard), `suspend`, `resume`.
#[utoipa::path(post, path = "/api/v1/vms/{id}/actions/{action}", tag = "vms", security(("bearer" = [])),
    params(("id" = VmId, Path), ("action" = VmAction, Path)),
    responses((status = 202, body = JobAccepted), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "the VM's state does not allow the action", body = ErrorBody)))]
pub(super) async fn vm_action(
    State(app): State<App>,
    actor: Actor,
    ApiPath2(id, action): ApiPath2<VmId, String>,
) -> ApiResult<impl IntoResponse> {
    let action: VmAction = action
        .parse()
        .map_err(|m: String| Error::invalid("action", m))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(app.act_vm(&actor, id, action).await?),
    ))
}

/// A VM's counters from its host: CPU time, per-vCPU wait (steal), balloon, swap, I/O.
#[utoipa::path(get, path = "/api/v1/vms/{id}/stats", tag = "vms", security(("bearer" = [])), params(("id" = VmId, Path)),
    responses((status = 200, body = VmStatsView), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn vm_stats(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<VmId>,
) -> ApiResult<Json<VmStatsView>> {
    Ok(Json(app.vm_stats(&actor, id).await?))
}

/// One metric of a VM over a range, as the host measured it (raw samples or roll-ups).
#[utoipa::path(get, path = "/api/v1/vms/{id}/metrics", tag = "vms", security(("bearer" = [])), params(("id" = VmId, Path), MetricQuery),
    responses((status = 200, body = MetricSeriesView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn vm_metrics(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<VmId>,
    ApiQuery(q): ApiQuery<MetricQuery>,
) -> ApiResult<Json<MetricSeriesView>> {
    Ok(Json(app.vm_metrics(&actor, id, &q).await?))
}

/// Open anomaly alerts of the VMs the caller may see: which dimensions left the VM's usual
/// behaviour for this hour, by how much, and the suggested remedy.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "vms", security(("bearer" = [])),
    responses((status = 200, body = Vec<AlertView>), (status = 401, body = ErrorBody)))]
pub(super) async fn list_alerts(
    State(app): State<App>,
    actor: Actor,
) -> ApiResult<Json<Vec<AlertView>>> {
    Ok(Json(app.alerts(&actor).await?))
}

/// Takes an unmanaged VM under management with an owner and department (admin).
#[utoipa::path(post, path = "/api/v1/vms/{id}/adopt", tag = "vms", security(("bearer" = [])), params(("id" = VmId, Path)),
    request_body = AdoptParams,
    responses((status = 200, body = VmView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn adopt_vm(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<VmId>,
    ApiJson(p): ApiJson<AdoptParams>,
) -> ApiResult<Json<VmView>> {
    Ok(Json(app.adopt_vm(&actor, id, p).await?))
}

/// Quarantines an unmanaged VM: suspends it and keeps it until an admin adopts it (admin).
#[utoipa::path(post, path = "/api/v1/vms/{id}/quarantine", tag = "vms", security(("bearer" = [])), params(("id" = VmId, Path)),
    responses((status = 202, body = JobAccepted), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub(super) async fn quarantine_vm(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<VmId>,
) -> ApiResult<impl IntoResponse> {
    Ok(accepted(app.quarantine_vm(&actor, id).await?))
}

/// Live-migrates a running or paused VM to another host.
#[utoipa::path(post, path = "/api/v1/vms/{id}/migrate", tag = "vms", security(("bearer" = [])), params(("id" = VmId, Path)),
    request_body = MigrateParams,
    responses((status = 202, body = JobAccepted), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 507, body = ErrorBody)))]
pub(super) async fn migrate_vm(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<VmId>,
    ApiJson(p): ApiJson<MigrateParams>,
) -> ApiResult<impl IntoResponse> {
    Ok(accepted(app.migrate_vm(&actor, id, p).await?))
}

/// A VM's snapshots, oldest first.
#[utoipa::path(get, path = "/api/v1/vms/{id}/snapshots", tag = "vms", security(("bearer" = [])), params(("id" = VmId, Path)),
    responses((status = 200, body = Vec<SnapshotView>), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn list_snapshots(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<VmId>,
) -> ApiResult<Json<Vec<SnapshotView>>> {
    Ok(Json(app.list_snapshots(&actor, id).await?))
}

/// Takes a snapshot (disks, plus memory when the VM runs).
#[utoipa::path(post, path = "/api/v1/vms/{id}/snapshots", tag = "vms", security(("bearer" = [])), params(("id" = VmId, Path)),
    request_body = SnapshotParams,
    responses((status = 202, body = JobAccepted), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn create_snapshot(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<VmId>,
    ApiJson(p): ApiJson<SnapshotParams>,
) -> ApiResult<impl IntoResponse> {
    Ok(accepted(
        app.snapshot_vm(&actor, id, p.name, SnapshotOp::Create)
            .await?,
    ))
}

/// Returns the VM to a snapshot (its disks, memory and power state).
#[utoipa::path(post, path = "/api/v1/vms/{id}/snapshots/{name}/revert", tag = "vms", security(("bearer" = [])),
    params(("id" = VmId, Path), ("name" = String, Path)),
    responses((status = 202, body = JobAccepted), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn revert_snapshot(
    State(app): State<App>,
    actor: Actor,
    ApiPath2(id, name): ApiPath2<VmId, String>,
) -> ApiResult<impl IntoResponse> {
    Ok(accepted(
        app.snapshot_vm(&actor, id, name, SnapshotOp::Revert)
            .await?,
    ))
}

/// Deletes a snapshot.
#[utoipa::path(delete, path = "/api/v1/vms/{id}/snapshots/{name}", tag = "vms", security(("bearer" = [])),
    params(("id" = VmId, Path), ("name" = String, Path)),
    responses((status = 202, body = JobAccepted), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn delete_snapshot(
    State(app): State<App>,
    actor: Actor,
    ApiPath2(id, name): ApiPath2<VmId, String>,
) -> ApiResult<impl IntoResponse> {
    Ok(accepted(
        app.snapshot_vm(&actor, id, name, SnapshotOp::Delete)
            .await?,
    ))
}

/// Creates a group of VMs placed together, all or none: each goes to the best host given the
/// ones before it, so anti-affinity holds within the group. One job per VM.
#[utoipa::path(post, path = "/api/v1/vm-groups", tag = "vms", security(("bearer" = [])), request_body = VmGroupCreateParams,
    responses((status = 202, body = VmGroupAccepted), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 507, description = "the group does not fit", body = ErrorBody)))]
pub(super) async fn create_vm_group(
    State(app): State<App>,
    actor: Actor,
    ApiJson(p): ApiJson<VmGroupCreateParams>,
) -> ApiResult<impl IntoResponse> {
    Ok((
        StatusCode::ACCEPTED,
        Json(app.create_vm_group(&actor, p).await?),
    ))
}

/// What a VM runs: from its host's libosinfo metadata, an import, or set by hand.
#[utoipa::path(get, path = "/api/v1/vms/{id}/guest-os", tag = "vms", security(("bearer" = [])), params(("id" = VmId, Path)),
    responses((status = 200, body = GuestOs), (status = 404, body = ErrorBody, description = "no such VM, or its guest OS is not known")))]
pub(super) async fn get_guest_os(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<VmId>,
) -> ApiResult<Json<GuestOs>> {
    Ok(Json(app.vm_guest_os(&actor, id).await?))
}

/// Sets what a VM runs by hand; kept over what its host reports until cleared.
#[utoipa::path(put, path = "/api/v1/vms/{id}/guest-os", tag = "vms", security(("bearer" = [])), params(("id" = VmId, Path)),
    request_body = GuestOsParams,
    responses((status = 200, body = GuestOs), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn set_guest_os(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<VmId>,
    ApiJson(p): ApiJson<GuestOsParams>,
) -> ApiResult<Json<Option<GuestOs>>> {
    Ok(Json(app.set_vm_guest_os(&actor, id, Some(p)).await?))
}

/// Forgets what was set for a VM's guest OS: back to the libosinfo id known for it (the host
/// is asked again), else unknown.
#[utoipa::path(delete, path = "/api/v1/vms/{id}/guest-os", tag = "vms", security(("bearer" = [])), params(("id" = VmId, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn clear_guest_os(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<VmId>,
) -> ApiResult<StatusCode> {
    app.set_vm_guest_os(&actor, id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}
