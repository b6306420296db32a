//! Handlers for the licence catalogue, OS baselines, guest OSes and the licence and patch
//! reports.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use vdc_types::*;

use super::extract::{ApiJson, ApiQuery, ApiResult, path_id};
use super::ops::report;
use crate::app::Actor;
use crate::app::App;
use crate::reports::compliance::ComplianceQuery;

/// Licence compliance per product of the catalogue, for the VMs the caller may see: the VMs
/// that run it and why, licences needed where they run now and counting every host they may
/// be moved to, owned, the shortfall, hosts needing a licence that are not marked licensed,
/// and idle VMs holding licences.
#[utoipa::path(get, path = "/api/v1/reports/licences", tag = "reports", security(("bearer" = [])), params(ComplianceQuery),
    responses((status = 200, body = LicenceReportView, description = "JSON, or CSV with format=csv"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(super) async fn licence_report(
    State(app): State<App>,
    actor: Actor,
    ApiQuery(q): ApiQuery<ComplianceQuery>,
) -> ApiResult<axum::response::Response> {
    let r = app.licence_report(&actor, &q).await?;
    report(
        q.format.as_deref(),
        r,
        crate::reports::compliance::licences_csv,
    )
}

/// Patch levels: each visible VM's guest OS against its OS's baseline, the VMs behind first,
/// and how many each owner has behind.
#[utoipa::path(get, path = "/api/v1/reports/patches", tag = "reports", security(("bearer" = [])), params(ComplianceQuery),
    responses((status = 200, body = PatchReportView, description = "JSON, or CSV with format=csv"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(super) async fn patch_report(
    State(app): State<App>,
    actor: Actor,
    ApiQuery(q): ApiQuery<ComplianceQuery>,
) -> ApiResult<axum::response::Response> {
    let r = app.patch_report(&actor, &q).await?;
    report(
        q.format.as_deref(),
        r,
        crate::reports::compliance::patches_csv,
    )
}

/// The licence catalogue.
#[utoipa::path(get, path = "/api/v1/licences", tag = "reports", security(("bearer" = [])),
    responses((status = 200, body = Vec<LicenceProduct>), (status = 401, body = ErrorBody)))]
pub(super) async fn list_licences(State(app): State<App>) -> ApiResult<Json<Vec<LicenceProduct>>> {
    Ok(Json(app.licence_products().await?))
}

/// Adds or replaces a product of the licence catalogue (`quota.manage`).
#[utoipa::path(put, path = "/api/v1/licences/{name}", tag = "reports", security(("bearer" = [])), params(("name" = String, Path)),
    request_body = LicenceProduct,
    responses((status = 200, body = LicenceProduct), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn set_licence(
    State(app): State<App>,
    actor: Actor,
    Path(name): Path<String>,
    ApiJson(p): ApiJson<LicenceProduct>,
) -> ApiResult<Json<LicenceProduct>> {
    Ok(Json(app.set_licence_product(&actor, &name, p).await?))
}

/// Removes a product of the licence catalogue (`quota.manage`).
#[utoipa::path(delete, path = "/api/v1/licences/{name}", tag = "reports", security(("bearer" = [])), params(("name" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn delete_licence(
    State(app): State<App>,
    actor: Actor,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    app.delete_licence_product(&actor, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The patch baselines: the lowest version each OS should run.
#[utoipa::path(get, path = "/api/v1/os-baselines", tag = "reports", security(("bearer" = [])),
    responses((status = 200, body = Vec<OsBaseline>), (status = 401, body = ErrorBody)))]
pub(super) async fn list_os_baselines(State(app): State<App>) -> ApiResult<Json<Vec<OsBaseline>>> {
    Ok(Json(app.os_baselines().await?))
}

/// Sets the baseline of an OS key (`quota.manage`).
#[utoipa::path(put, path = "/api/v1/os-baselines/{os}", tag = "reports", security(("bearer" = [])), params(("os" = String, Path)),
    request_body = OsBaseline,
    responses((status = 200, body = OsBaseline), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn set_os_baseline(
    State(app): State<App>,
    actor: Actor,
    Path(os): Path<String>,
    ApiJson(b): ApiJson<OsBaseline>,
) -> ApiResult<Json<OsBaseline>> {
    Ok(Json(app.set_os_baseline(&actor, &os, b).await?))
}

/// Removes the baseline of an OS key (`quota.manage`).
#[utoipa::path(delete, path = "/api/v1/os-baselines/{os}", tag = "reports", security(("bearer" = [])), params(("os" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn delete_os_baseline(
    State(app): State<App>,
    actor: Actor,
    Path(os): Path<String>,
) -> ApiResult<StatusCode> {
    app.delete_os_baseline(&actor, &os).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a VM runs: from its host's libosinfo metadata, an import, or set by hand.
#[utoipa::path(get, path = "/api/v1/vms/{id}/guest-os", tag = "vms", security(("bearer" = [])), params(("id" = VmId, Path)),
    responses((status = 200, body = GuestOs), (status = 404, body = ErrorBody, description = "no such VM, or its guest OS is not known")))]
pub(super) async fn get_guest_os(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
) -> ApiResult<Json<GuestOs>> {
    Ok(Json(app.vm_guest_os(&actor, path_id("id", &id)?).await?))
}

/// Sets what a VM runs by hand; kept over what its host reports until cleared.
#[utoipa::path(put, path = "/api/v1/vms/{id}/guest-os", tag = "vms", security(("bearer" = [])), params(("id" = VmId, Path)),
    request_body = GuestOsParams,
    responses((status = 200, body = GuestOs), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn set_guest_os(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
    ApiJson(p): ApiJson<GuestOsParams>,
) -> ApiResult<Json<Option<GuestOs>>> {
    Ok(Json(
        app.set_vm_guest_os(&actor, path_id("id", &id)?, Some(p))
            .await?,
    ))
}

/// Forgets what was set for a VM's guest OS: back to the libosinfo id known for it (the host
/// is asked again), else unknown.
#[utoipa::path(delete, path = "/api/v1/vms/{id}/guest-os", tag = "vms", security(("bearer" = [])), params(("id" = VmId, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn clear_guest_os(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    app.set_vm_guest_os(&actor, path_id("id", &id)?, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
