//! Handlers of the `reports` tag: Reports (sprawl, chargeback, licences, patches), the licence catalogue, OS baselines, imports.

use super::*;

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
pub(super) const RVTOOLS_MAX: usize = 64 << 20;

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
