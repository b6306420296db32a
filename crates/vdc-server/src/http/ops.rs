//! Handlers for hosts added by URI, rogue-VM handling, migration, snapshots and live stats.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use vdc_types::*;

use super::extract::{ApiJson, ApiQuery, ApiResult, path_id};
use crate::app::Actor;
use crate::app::App;
use crate::inventory::hosts::HostAdded;
use crate::jobs::SnapshotOp;

fn accepted(j: JobAccepted) -> impl IntoResponse {
    (StatusCode::ACCEPTED, Json(j))
}

/// Connects and adds a libvirt host (admin); its VMs are discovered at once.
#[utoipa::path(post, path = "/api/v1/hosts", tag = "inventory", security(("bearer" = [])), request_body = HostAddParams,
    responses((status = 201, body = HostAdded), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 503, description = "the host does not answer", body = ErrorBody)))]
pub(super) async fn add_host(
    State(app): State<App>,
    actor: Actor,
    ApiJson(p): ApiJson<HostAddParams>,
) -> ApiResult<impl IntoResponse> {
    Ok((StatusCode::CREATED, Json(app.add_host(&actor, p).await?)))
}

/// Removes a host and its VM records from the inventory (admin); the VMs stay on it.
#[utoipa::path(delete, path = "/api/v1/hosts/{id}", tag = "inventory", security(("bearer" = [])), params(("id" = HostId, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn remove_host(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    app.remove_host(&actor, path_id("id", &id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A host's utilisation now.
#[utoipa::path(get, path = "/api/v1/hosts/{id}/stats", tag = "inventory", security(("bearer" = [])), params(("id" = HostId, Path)),
    responses((status = 200, body = HostStatsView), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn host_stats(
    State(app): State<App>,
    _actor: Actor,
    Path(id): Path<String>,
) -> ApiResult<Json<HostStatsView>> {
    Ok(Json(app.host_stats(path_id("id", &id)?).await?))
}

/// A VM's counters from its host: CPU time, per-vCPU wait (steal), balloon, swap, I/O.
#[utoipa::path(get, path = "/api/v1/vms/{id}/stats", tag = "vms", security(("bearer" = [])), params(("id" = VmId, Path)),
    responses((status = 200, body = VmStatsView), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn vm_stats(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
) -> ApiResult<Json<VmStatsView>> {
    Ok(Json(app.vm_stats(&actor, path_id("id", &id)?).await?))
}

/// One metric of a VM over a range, as the host measured it (raw samples or roll-ups).
#[utoipa::path(get, path = "/api/v1/vms/{id}/metrics", tag = "vms", security(("bearer" = [])), params(("id" = VmId, Path), MetricQuery),
    responses((status = 200, body = MetricSeriesView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn vm_metrics(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<MetricQuery>,
) -> ApiResult<Json<MetricSeriesView>> {
    Ok(Json(app.vm_metrics(&actor, path_id("id", &id)?, &q).await?))
}

/// One metric of a host over a range (its own CPU and memory; its VMs' I/O summed).
#[utoipa::path(get, path = "/api/v1/hosts/{id}/metrics", tag = "inventory", security(("bearer" = [])), params(("id" = HostId, Path), MetricQuery),
    responses((status = 200, body = MetricSeriesView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn host_metrics(
    State(app): State<App>,
    _actor: Actor,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<MetricQuery>,
) -> ApiResult<Json<MetricSeriesView>> {
    Ok(Json(app.host_metrics(path_id("id", &id)?, &q).await?))
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
    Path(id): Path<String>,
    ApiJson(p): ApiJson<AdoptParams>,
) -> ApiResult<Json<VmView>> {
    Ok(Json(app.adopt_vm(&actor, path_id("id", &id)?, p).await?))
}

/// Quarantines an unmanaged VM: suspends it and keeps it until an admin adopts it (admin).
#[utoipa::path(post, path = "/api/v1/vms/{id}/quarantine", tag = "vms", security(("bearer" = [])), params(("id" = VmId, Path)),
    responses((status = 202, body = JobAccepted), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub(super) async fn quarantine_vm(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(accepted(
        app.quarantine_vm(&actor, path_id("id", &id)?).await?,
    ))
}

/// Live-migrates a running or paused VM to another host.
#[utoipa::path(post, path = "/api/v1/vms/{id}/migrate", tag = "vms", security(("bearer" = [])), params(("id" = VmId, Path)),
    request_body = MigrateParams,
    responses((status = 202, body = JobAccepted), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 507, body = ErrorBody)))]
pub(super) async fn migrate_vm(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
    ApiJson(p): ApiJson<MigrateParams>,
) -> ApiResult<impl IntoResponse> {
    Ok(accepted(
        app.migrate_vm(&actor, path_id("id", &id)?, p).await?,
    ))
}

/// A VM's snapshots, oldest first.
#[utoipa::path(get, path = "/api/v1/vms/{id}/snapshots", tag = "vms", security(("bearer" = [])), params(("id" = VmId, Path)),
    responses((status = 200, body = Vec<SnapshotView>), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn list_snapshots(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<SnapshotView>>> {
    Ok(Json(app.list_snapshots(&actor, path_id("id", &id)?).await?))
}

/// Takes a snapshot (disks, plus memory when the VM runs).
#[utoipa::path(post, path = "/api/v1/vms/{id}/snapshots", tag = "vms", security(("bearer" = [])), params(("id" = VmId, Path)),
    request_body = SnapshotParams,
    responses((status = 202, body = JobAccepted), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn create_snapshot(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
    ApiJson(p): ApiJson<SnapshotParams>,
) -> ApiResult<impl IntoResponse> {
    let id = path_id("id", &id)?;
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
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let id = path_id("id", &id)?;
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
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let id = path_id("id", &id)?;
    Ok(accepted(
        app.snapshot_vm(&actor, id, name, SnapshotOp::Delete)
            .await?,
    ))
}

/// Volumes (disk images) in the datastores, as the hosts list them.
#[utoipa::path(get, path = "/api/v1/volumes", tag = "inventory", security(("bearer" = [])), params(VolumeListQuery),
    responses((status = 200, body = Vec<VolumeView>), (status = 400, body = ErrorBody)))]
pub(super) async fn list_volumes(
    State(app): State<App>,
    _actor: Actor,
    ApiQuery(q): ApiQuery<VolumeListQuery>,
) -> ApiResult<Json<Vec<VolumeView>>> {
    Ok(Json(
        app.db
            .list_volumes(q.datastore_id)
            .await?
            .into_iter()
            .map(|v| VolumeView {
                id: v.id,
                datastore_id: v.datastore_id,
                name: v.name,
                path: v.path,
                format: v.format,
                capacity_mib: v.capacity_mib,
                allocation_mib: v.allocation_mib,
            })
            .collect(),
    ))
}

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

/// Changes what placement may use a host for (admin): maintenance, the department it is
/// reserved for (`null` shares it again), the software it is licensed for and at what cost.
#[utoipa::path(patch, path = "/api/v1/hosts/{id}", tag = "inventory", security(("bearer" = [])), params(("id" = HostId, Path)),
    request_body = HostUpdateParams,
    responses((status = 200, body = HostView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn update_host(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
    ApiJson(p): ApiJson<HostUpdateParams>,
) -> ApiResult<Json<HostView>> {
    Ok(Json(app.update_host(&actor, path_id("id", &id)?, p).await?))
}

/// Sets a cluster's overcommit ratios, which placement applies to its hosts (admin).
#[utoipa::path(patch, path = "/api/v1/clusters/{id}", tag = "inventory", security(("bearer" = [])), params(("id" = ClusterId, Path)),
    request_body = ClusterUpdateParams,
    responses((status = 200, body = ClusterView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn update_cluster(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
    ApiJson(p): ApiJson<ClusterUpdateParams>,
) -> ApiResult<Json<ClusterView>> {
    Ok(Json(
        app.update_cluster(&actor, path_id("id", &id)?, p).await?,
    ))
}

/// A VM's high-availability settings: restart priority, policy and dependencies.
#[utoipa::path(get, path = "/api/v1/vms/{id}/ha", tag = "ha", security(("bearer" = [])), params(("id" = VmId, Path)),
    responses((status = 200, body = VmHaView), (status = 404, body = ErrorBody)))]
pub(super) async fn get_vm_ha(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
) -> ApiResult<Json<VmHaView>> {
    Ok(Json(app.vm_ha(&actor, path_id("id", &id)?).await?))
}

/// Changes a VM's HA settings (fields left out stay); dependencies may not form a cycle.
#[utoipa::path(put, path = "/api/v1/vms/{id}/ha", tag = "ha", security(("bearer" = [])), params(("id" = VmId, Path)),
    request_body = VmHaParams,
    responses((status = 200, body = VmHaView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn set_vm_ha(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
    ApiJson(p): ApiJson<VmHaParams>,
) -> ApiResult<Json<VmHaView>> {
    Ok(Json(app.set_vm_ha(&actor, path_id("id", &id)?, p).await?))
}

/// A cluster's failover reserve and admission figures: capacity, reserved, used, headroom.
#[utoipa::path(get, path = "/api/v1/clusters/{id}/ha", tag = "ha", security(("bearer" = [])), params(("id" = ClusterId, Path)),
    responses((status = 200, body = ClusterHaView), (status = 404, body = ErrorBody)))]
pub(super) async fn get_cluster_ha(
    State(app): State<App>,
    _actor: Actor,
    Path(id): Path<String>,
) -> ApiResult<Json<ClusterHaView>> {
    Ok(Json(app.cluster_ha(path_id("id", &id)?).await?))
}

/// Sets a cluster's failover reserve; VM starts that would eat into it are then refused.
#[utoipa::path(put, path = "/api/v1/clusters/{id}/ha", tag = "ha", security(("bearer" = [])), params(("id" = ClusterId, Path)),
    request_body = ClusterHaParams,
    responses((status = 200, body = ClusterHaView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "what runs already exceeds the reserve", body = ErrorBody)))]
pub(super) async fn set_cluster_ha(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
    ApiJson(p): ApiJson<ClusterHaParams>,
) -> ApiResult<Json<ClusterHaView>> {
    Ok(Json(
        app.set_cluster_ha(&actor, path_id("id", &id)?, p).await?,
    ))
}

/// How vdc placed a VM it created: its constraints, the host, the best hosts then with their
/// reasons, and every refusal counted.
#[utoipa::path(get, path = "/api/v1/vms/{id}/placement", tag = "placement", security(("bearer" = [])), params(("id" = VmId, Path)),
    responses((status = 200, body = VmPlacementView), (status = 404, body = ErrorBody)))]
pub(super) async fn vm_placement(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
) -> ApiResult<Json<VmPlacementView>> {
    Ok(Json(app.vm_placement(&actor, path_id("id", &id)?).await?))
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

/// When each cluster runs out: per metric (vCPUs and memory allocated, CPU demand) the last
/// day's peak, the capacity under the cluster's ratios, the trend and the days until full.
#[utoipa::path(get, path = "/api/v1/plans/forecast", tag = "plans", security(("bearer" = [])), params(ForecastQuery),
    responses((status = 200, body = Vec<ClusterForecastView>), (status = 400, body = ErrorBody)))]
pub(super) async fn forecast(
    State(app): State<App>,
    actor: Actor,
    ApiQuery(q): ApiQuery<ForecastQuery>,
) -> ApiResult<Json<Vec<ClusterForecastView>>> {
    Ok(Json(app.forecast(&actor, q).await?))
}

/// The load balancer's plans for the clusters it is on in: the moves, why, and the cluster's
/// imbalance before and after.
#[utoipa::path(get, path = "/api/v1/plans/balance", tag = "plans", security(("bearer" = [])),
    responses((status = 200, body = Vec<BalancePlanView>)))]
pub(super) async fn balance_plans(
    State(app): State<App>,
    actor: Actor,
) -> ApiResult<Json<Vec<BalancePlanView>>> {
    Ok(Json(app.balance_plans(&actor).await?))
}

/// Puts a host in maintenance and migrates its running VMs to the least loaded hosts of its
/// cluster that fit them (admin). One job per VM.
#[utoipa::path(post, path = "/api/v1/hosts/{id}/evacuate", tag = "inventory", security(("bearer" = [])), params(("id" = HostId, Path)),
    responses((status = 202, body = VmGroupAccepted), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn evacuate_host(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok((
        StatusCode::ACCEPTED,
        Json(app.evacuate_host(&actor, path_id("id", &id)?).await?),
    ))
}

/// Powers off a connected host that runs no VM (admin): it goes to standby, out of sync and
/// placement, until woken. Through the configured power command, else the host's driver.
#[utoipa::path(post, path = "/api/v1/hosts/{id}/standby", tag = "inventory", security(("bearer" = [])), params(("id" = HostId, Path)),
    responses((status = 200, body = HostView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "not connected, or VMs run on it"),
        (status = 503, body = ErrorBody, description = "the power command or driver failed")))]
pub(super) async fn standby_host(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
) -> ApiResult<Json<HostView>> {
    Ok(Json(app.standby_host(&actor, path_id("id", &id)?).await?))
}

/// Powers a host in standby back on (admin); it is `unreachable` ("waking from standby") until
/// the next sync reaches it.
#[utoipa::path(post, path = "/api/v1/hosts/{id}/wake", tag = "inventory", security(("bearer" = [])), params(("id" = HostId, Path)),
    responses((status = 200, body = HostView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "not in standby"),
        (status = 503, body = ErrorBody, description = "the power command or driver failed")))]
pub(super) async fn wake_host(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
) -> ApiResult<Json<HostView>> {
    Ok(Json(app.wake_host(&actor, path_id("id", &id)?).await?))
}

/// The fewest hosts that carry each cluster's VMs, the migrations that get there with a reason
/// each, the hosts freed and the power saved; optionally under a what-if (VMs added, a host
/// removed or lost). Changes nothing.
#[utoipa::path(post, path = "/api/v1/plans/consolidate", tag = "plans", security(("bearer" = [])),
    request_body = ConsolidateParams,
    responses((status = 200, body = Vec<ConsolidationPlanView>), (status = 400, body = ErrorBody)))]
pub(super) async fn consolidate(
    State(app): State<App>,
    actor: Actor,
    ApiJson(p): ApiJson<ConsolidateParams>,
) -> ApiResult<Json<Vec<ConsolidationPlanView>>> {
    Ok(Json(app.consolidate(&actor, p).await?))
}

/// A report as JSON, or as CSV (`text/csv`) when asked with `format=csv`.
pub(super) fn report<T: serde::Serialize>(
    format: Option<&str>,
    r: T,
    to_csv: fn(&T) -> String,
) -> ApiResult<axum::response::Response> {
    Ok(match crate::reports::Format::parse(format)? {
        crate::reports::Format::Json => Json(r).into_response(),
        crate::reports::Format::Csv => (
            [(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            to_csv(&r),
        )
            .into_response(),
    })
}

/// Sprawl among the VMs and volumes the caller may see: idle, zombie and oversized VMs (with
/// a right size), ended leases, VMs of no one, unmanaged VMs and volumes no VM uses — each
/// with its evidence, its monthly cost and what of it is wasted.
#[utoipa::path(get, path = "/api/v1/reports/sprawl", tag = "reports", security(("bearer" = [])), params(crate::reports::SprawlQuery),
    responses((status = 200, body = SprawlReportView, description = "JSON, or CSV with format=csv"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(super) async fn sprawl_report(
    State(app): State<App>,
    actor: Actor,
    ApiQuery(q): ApiQuery<crate::reports::SprawlQuery>,
) -> ApiResult<axum::response::Response> {
    let r = app.sprawl_report(&actor, &q).await?;
    report(q.format.as_deref(), r, crate::reports::sprawl_csv)
}

/// Monthly chargeback statements per department and VM, on the allocated or the used model,
/// from the price list (the month so far for the current one).
#[utoipa::path(get, path = "/api/v1/reports/chargeback", tag = "reports", security(("bearer" = [])), params(crate::reports::ChargebackQuery),
    responses((status = 200, body = ChargebackView, description = "JSON, or CSV with format=csv"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(super) async fn chargeback_report(
    State(app): State<App>,
    actor: Actor,
    ApiQuery(q): ApiQuery<crate::reports::ChargebackQuery>,
) -> ApiResult<axum::response::Response> {
    let r = app.chargeback_report(&actor, &q).await?;
    report(q.format.as_deref(), r, crate::reports::chargeback_csv)
}

/// `POST /api/v1/imports/rvtools` query.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ImportQuery {
    /// Names the estate (letters, digits, `-`, `_`, `.`): its site is `rvtools:SOURCE`, its
    /// clusters `SOURCE/DATACENTER/CLUSTER`; importing the same source again replaces it.
    source: String,
}

/// The largest RVTools workbook taken (a vCenter of tens of thousands of VMs).
const RVTOOLS_MAX: usize = 64 << 20;

/// Imports an RVTools export (the xlsx workbook; vInfo, vHost and vDisk sheets) as an
/// external, read-only estate that the reports cover (`host.manage`). All or nothing; at most
/// 64 MiB.
#[utoipa::path(post, path = "/api/v1/imports/rvtools", tag = "reports", security(("bearer" = [])), params(ImportQuery),
    request_body(content = Vec<u8>, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    responses((status = 201, body = ImportView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "a VM of the export is already in the inventory", body = ErrorBody)))]
pub(super) async fn import_rvtools(
    State(app): State<App>,
    actor: Actor,
    ApiQuery(q): ApiQuery<ImportQuery>,
    body: axum::body::Body,
) -> ApiResult<impl IntoResponse> {
    let body = axum::body::to_bytes(body, RVTOOLS_MAX)
        .await
        .map_err(|_| Error::invalid("file", "an RVTools workbook of at most 64 MiB"))?;
    let now = vdc_db::now_ms();
    let source = q.source.clone();
    let done = app
        .import_estate(&actor, "rvtools", &q.source, move || {
            crate::inventory::imports::rvtools::parse(&source, &body, now)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(done)))
}

/// Imports VMware `.vmx` files (one per VM, by file name) as an external, read-only estate of
/// VMs without hosts that the reports cover (`host.manage`). All or nothing.
#[utoipa::path(post, path = "/api/v1/imports/vmx", tag = "reports", security(("bearer" = [])), params(ImportQuery),
    request_body = VmxImportParams,
    responses((status = 201, body = ImportView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "a VM of the files is already in the inventory", body = ErrorBody)))]
pub(super) async fn import_vmx(
    State(app): State<App>,
    actor: Actor,
    ApiQuery(q): ApiQuery<ImportQuery>,
    ApiJson(p): ApiJson<VmxImportParams>,
) -> ApiResult<impl IntoResponse> {
    let now = vdc_db::now_ms();
    let source = q.source.clone();
    let done = app
        .import_estate(&actor, "vmx", &q.source, move || {
            crate::inventory::imports::vmx::parse(&source, &p.files, now)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(done)))
}
