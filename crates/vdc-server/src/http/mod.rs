//! The HTTP API: thin handlers (extract, call the app layer, wrap the answer) and the router,
//! from which the OpenAPI document is generated.

mod access;
mod compliance;
pub mod extract;
mod ops;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vdc_types::*;

use crate::app::App;
use crate::app::views;
use crate::app::{Actor, On};
use crate::inventory::sync::{SyncReport, sync_all};
use extract::{ApiJson, ApiQuery, ApiResult, Token, path_id};

#[derive(OpenApi)]
#[openapi(
    info(title = "vdc", description = "Virtual datacenter manager API. Every endpoint but login and health needs `Authorization: Bearer <token>` from `POST /api/v1/auth/login`."),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

fn api_routes() -> OpenApiRouter<App> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health))
        .routes(routes!(background_tasks))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(open_session))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(whoami))
        .routes(routes!(list_hosts, ops::add_host))
        .routes(routes!(get_host, ops::remove_host, ops::update_host))
        .routes(routes!(ops::host_stats))
        .routes(routes!(ops::host_metrics))
        .routes(routes!(ops::vm_metrics))
        .routes(routes!(ops::list_alerts))
        .routes(routes!(ops::sprawl_report))
        .routes(routes!(ops::chargeback_report))
        .routes(routes!(compliance::licence_report))
        .routes(routes!(compliance::patch_report))
        .routes(routes!(compliance::list_licences))
        .routes(routes!(compliance::set_licence, compliance::delete_licence))
        .routes(routes!(compliance::list_os_baselines))
        .routes(routes!(
            compliance::set_os_baseline,
            compliance::delete_os_baseline
        ))
        .routes(routes!(
            compliance::get_guest_os,
            compliance::set_guest_os,
            compliance::clear_guest_os
        ))
        .routes(routes!(ops::import_rvtools))
        .routes(routes!(ops::import_vmx))
        .routes(routes!(ops::get_vm_ha, ops::set_vm_ha))
        .routes(routes!(ops::get_cluster_ha, ops::set_cluster_ha))
        .routes(routes!(list_vms, create_vm))
        .routes(routes!(get_vm, create_vm_with_id, update_vm, delete_vm))
        .routes(routes!(vm_action))
        .routes(routes!(ops::vm_stats))
        .routes(routes!(ops::adopt_vm))
        .routes(routes!(ops::quarantine_vm))
        .routes(routes!(ops::migrate_vm))
        .routes(routes!(ops::list_snapshots, ops::create_snapshot))
        .routes(routes!(ops::revert_snapshot))
        .routes(routes!(ops::delete_snapshot))
        .routes(routes!(list_jobs))
        .routes(routes!(get_job))
        .routes(routes!(list_departments, create_department))
        .routes(routes!(list_users, create_user))
        .routes(routes!(grant_role))
        .routes(routes!(get_quota, set_quota))
        .routes(routes!(list_requests, create_request))
        .routes(routes!(get_request))
        .routes(routes!(approve_request))
        .routes(routes!(reject_request))
        .routes(routes!(get_price_list, set_price_list))
        .routes(routes!(revoke_role))
        .routes(routes!(list_roles, create_role))
        .routes(routes!(list_audit))
        .routes(routes!(export_audit))
        .routes(routes!(list_physical_servers, create_physical_server))
        .routes(routes!(list_sites))
        .routes(routes!(list_clusters))
        .routes(routes!(ops::update_cluster))
        .routes(routes!(list_datastores))
        .routes(routes!(ops::list_volumes))
        .routes(routes!(ops::rate_placement))
        .routes(routes!(ops::vm_placement))
        .routes(routes!(ops::create_vm_group))
        .routes(routes!(ops::forecast))
        .routes(routes!(ops::balance_plans))
        .routes(routes!(ops::consolidate))
        .routes(routes!(ops::evacuate_host))
        .routes(routes!(ops::standby_host))
        .routes(routes!(ops::wake_host))
        .routes(routes!(list_networks))
        .routes(routes!(sync_now))
        .routes(routes!(prometheus_metrics))
}

/// The OpenAPI document generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api_routes().split_for_parts().1;
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}

/// The OpenAPI document as checked in at `openapi/vdc.json`.
pub fn openapi_json() -> String {
    let mut s = openapi().to_pretty_json().expect("the spec serialises");
    s.push('\n');
    s
}

/// The HTTP router: the API, its OpenAPI document at `/api/v1/openapi.json`, and `/`.
pub fn router(app: App) -> axum::Router {
    let doc = openapi();
    let (api, _) = api_routes().split_for_parts();
    api.route_layer(axum::middleware::from_fn_with_state(
        app.clone(),
        access::check,
    ))
    .merge(crate::ui::routes())
    .route(
        "/api/v1/openapi.json",
        axum::routing::get(move || async move { Json(doc) }),
    )
    .fallback(|| async { extract::ApiError(Error::not_found("path", "requested")) })
    .with_state(app)
}

/// Liveness and store backend.
#[utoipa::path(get, path = "/api/v1/health", tag = "system", responses((status = 200, body = HealthView)))]
async fn health(State(app): State<App>) -> Json<HealthView> {
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
async fn background_tasks(
    State(app): State<App>,
    actor: Actor,
) -> ApiResult<Json<Vec<BackgroundTaskView>>> {
    Ok(Json(app.background_tasks(&actor).await?))
}

/// Opens a session; returns a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginParams,
    responses((status = 200, body = LoginResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn login(
    State(app): State<App>,
    ApiJson(p): ApiJson<LoginParams>,
) -> ApiResult<Json<LoginResponse>> {
    Ok(Json(app.login(&p).await?))
}

/// Opens a browser session: the token goes in the `vdc_session` cookie (HttpOnly, Secure,
/// SameSite=Strict); the answer (and the `vdc_csrf` cookie, readable by the page's script)
/// carries the CSRF token every change must send back in the `X-CSRF-Token` header.
#[utoipa::path(post, path = "/api/v1/auth/session", tag = "auth", request_body = LoginParams,
    responses((status = 200, body = SessionResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn open_session(
    State(app): State<App>,
    ApiJson(p): ApiJson<LoginParams>,
) -> ApiResult<impl IntoResponse> {
    let (token, session) = app.open_session(&p).await?;
    let [a, b] = crate::auth::cookies::session_cookies(
        &token,
        &session.csrf_token,
        app.config.token_ttl.as_secs(),
    );
    Ok((
        axum::response::AppendHeaders([
            (axum::http::header::SET_COOKIE, a),
            (axum::http::header::SET_COOKIE, b),
        ]),
        Json(session),
    ))
}

/// Makes a named API token for the caller, optionally limited to some of their permissions;
/// the secret is shown once.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "auth", security(("bearer" = [])),
    request_body = TokenCreateParams,
    responses((status = 201, body = TokenCreated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn create_token(
    State(app): State<App>,
    actor: Actor,
    ApiJson(p): ApiJson<TokenCreateParams>,
) -> ApiResult<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        Json(app.create_token(&actor, p).await?),
    ))
}

/// The caller's named API tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Vec<TokenView>), (status = 401, body = ErrorBody)))]
async fn list_tokens(State(app): State<App>, actor: Actor) -> ApiResult<Json<Vec<TokenView>>> {
    Ok(Json(app.list_tokens(&actor).await?))
}

/// Revokes one of the caller's named API tokens.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "auth", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_token(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    app.revoke_token(&actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends the caller's session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
async fn logout(
    State(app): State<App>,
    actor: Actor,
    Token(t): Token,
) -> ApiResult<impl IntoResponse> {
    app.logout(&actor, &t).await?;
    // A browser session's cookie goes too.
    let clear = crate::auth::cookies::cleared_session_cookie();
    Ok((
        StatusCode::NO_CONTENT,
        [(axum::http::header::SET_COOKIE, clear)],
    ))
}

/// Hosts and the VMs the caller may see, with their latest samples, in the OpenMetrics text
/// format for Prometheus (labels: host, cluster, department, owner).
#[utoipa::path(get, path = "/metrics", tag = "inventory", security(("bearer" = [])),
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text", body = String),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn prometheus_metrics(State(app): State<App>, actor: Actor) -> ApiResult<impl IntoResponse> {
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            crate::monitoring::prometheus::CONTENT_TYPE,
        )],
        app.prometheus(&actor).await?,
    ))
}

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody)))]
async fn whoami(State(app): State<App>, actor: Actor) -> ApiResult<Json<UserView>> {
    Ok(Json(views::user(
        &actor.user,
        &app.db.bindings(Some(actor.user.id)).await?,
    )))
}

/// Hosts, filtered and paginated.
#[utoipa::path(get, path = "/api/v1/hosts", tag = "inventory", security(("bearer" = [])), params(HostListQuery),
    responses((status = 200, body = Page<HostView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list_hosts(
    State(app): State<App>,
    _actor: Actor,
    ApiQuery(q): ApiQuery<HostListQuery>,
) -> ApiResult<Json<Page<HostView>>> {
    Ok(Json(app.list_hosts(&q).await?))
}

/// One host.
#[utoipa::path(get, path = "/api/v1/hosts/{id}", tag = "inventory", security(("bearer" = [])), params(("id" = HostId, Path)),
    responses((status = 200, body = HostView), (status = 404, body = ErrorBody)))]
async fn get_host(
    State(app): State<App>,
    _actor: Actor,
    Path(id): Path<String>,
) -> ApiResult<Json<HostView>> {
    Ok(Json(app.get_host(path_id("id", &id)?).await?))
}

/// VMs the caller may see, filtered and paginated (ordered by name).
#[utoipa::path(get, path = "/api/v1/vms", tag = "vms", security(("bearer" = [])), params(VmListQuery),
    responses((status = 200, body = Page<VmView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list_vms(
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
async fn create_vm(
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
async fn create_vm_with_id(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
    ApiJson(p): ApiJson<VmCreateParams>,
) -> ApiResult<impl IntoResponse> {
    let id = path_id("id", &id)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(app.create_vm(&actor, Some(id), p).await?),
    ))
}

/// One VM.
#[utoipa::path(get, path = "/api/v1/vms/{id}", tag = "vms", security(("bearer" = [])), params(("id" = VmId, Path)),
    responses((status = 200, body = VmView), (status = 404, body = ErrorBody)))]
async fn get_vm(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
) -> ApiResult<Json<VmView>> {
    Ok(Json(app.get_vm(&actor, path_id("id", &id)?).await?))
}

/// Changes a VM's owner, department, purpose, tags or lease. Pass `generation` to refuse
/// the change (409) if the VM changed since you read it.
#[utoipa::path(patch, path = "/api/v1/vms/{id}", tag = "vms", security(("bearer" = [])), params(("id" = VmId, Path)),
    request_body = VmUpdateParams,
    responses((status = 200, body = VmView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn update_vm(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
    ApiJson(p): ApiJson<VmUpdateParams>,
) -> ApiResult<Json<VmView>> {
    Ok(Json(app.update_vm(&actor, path_id("id", &id)?, p).await?))
}

/// Deletes a VM (stops it if running) through a job.
#[utoipa::path(delete, path = "/api/v1/vms/{id}", tag = "vms", security(("bearer" = [])), params(("id" = VmId, Path)),
    responses((status = 202, body = JobAccepted), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_vm(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok((
        StatusCode::ACCEPTED,
        Json(app.delete_vm(&actor, path_id("id", &id)?).await?),
    ))
}

/// Power action: `start`, `shutdown` (graceful), `stop` (hard), `suspend`, `resume`.
#[utoipa::path(post, path = "/api/v1/vms/{id}/actions/{action}", tag = "vms", security(("bearer" = [])),
    params(("id" = VmId, Path), ("action" = VmAction, Path)),
    responses((status = 202, body = JobAccepted), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "the VM's state does not allow the action", body = ErrorBody)))]
async fn vm_action(
    State(app): State<App>,
    actor: Actor,
    Path((id, action)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let id = path_id("id", &id)?;
    let action: VmAction = action
        .parse()
        .map_err(|m: String| Error::invalid("action", m))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(app.act_vm(&actor, id, action).await?),
    ))
}

/// Jobs, newest first.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<JobView>)))]
async fn list_jobs(
    State(app): State<App>,
    actor: Actor,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<JobView>>> {
    Ok(Json(app.list_jobs(&actor, &q).await?))
}

/// One job, with its steps and progress.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", security(("bearer" = [])), params(("id" = JobId, Path)),
    responses((status = 200, body = JobView), (status = 404, body = ErrorBody)))]
async fn get_job(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
) -> ApiResult<Json<JobView>> {
    Ok(Json(app.get_job(&actor, path_id("id", &id)?).await?))
}

/// Departments.
#[utoipa::path(get, path = "/api/v1/departments", tag = "governance", security(("bearer" = [])),
    responses((status = 200, body = Vec<DepartmentView>)))]
async fn list_departments(
    State(app): State<App>,
    _actor: Actor,
) -> ApiResult<Json<Vec<DepartmentView>>> {
    Ok(Json(app.list_departments().await?))
}

/// Creates a department (admin).
#[utoipa::path(post, path = "/api/v1/departments", tag = "governance", security(("bearer" = [])), request_body = DepartmentCreateParams,
    responses((status = 201, body = DepartmentView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_department(
    State(app): State<App>,
    actor: Actor,
    ApiJson(p): ApiJson<DepartmentCreateParams>,
) -> ApiResult<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        Json(app.create_department(&actor, p).await?),
    ))
}

/// Users (admin).
#[utoipa::path(get, path = "/api/v1/users", tag = "governance", security(("bearer" = [])),
    responses((status = 200, body = Vec<UserView>), (status = 403, body = ErrorBody)))]
async fn list_users(State(app): State<App>, actor: Actor) -> ApiResult<Json<Vec<UserView>>> {
    Ok(Json(app.list_users(&actor).await?))
}

/// Creates a local user (admin).
#[utoipa::path(post, path = "/api/v1/users", tag = "governance", security(("bearer" = [])), request_body = UserCreateParams,
    responses((status = 201, body = UserView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_user(
    State(app): State<App>,
    actor: Actor,
    ApiJson(p): ApiJson<UserCreateParams>,
) -> ApiResult<impl IntoResponse> {
    Ok((StatusCode::CREATED, Json(app.create_user(&actor, p).await?)))
}

/// A department's quota (limits, warning threshold, grace, mode) and what it uses now, with
/// the monthly cost from the price list.
#[utoipa::path(get, path = "/api/v1/departments/{id}/quota", tag = "governance", security(("bearer" = [])),
    params(("id" = DepartmentId, Path)),
    responses((status = 200, body = QuotaView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_quota(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
) -> ApiResult<Json<QuotaView>> {
    Ok(Json(app.get_quota(&actor, path_id("id", &id)?).await?))
}

/// Sets a department's quota (`quota.manage`); omitted limits are unlimited.
#[utoipa::path(put, path = "/api/v1/departments/{id}/quota", tag = "governance", security(("bearer" = [])),
    params(("id" = DepartmentId, Path)), request_body = QuotaParams,
    responses((status = 200, body = QuotaView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn set_quota(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
    ApiJson(p): ApiJson<QuotaParams>,
) -> ApiResult<Json<QuotaView>> {
    Ok(Json(app.set_quota(&actor, path_id("id", &id)?, p).await?))
}

/// Asks for VMs (`request.create`): priced, checked against the department's quota, then
/// approved by the rule or left pending for approvers.
#[utoipa::path(post, path = "/api/v1/requests", tag = "governance", security(("bearer" = [])),
    request_body = RequestCreateParams,
    responses((status = 201, body = RequestView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody, description = "not allowed, or beyond the quota")))]
async fn create_request(
    State(app): State<App>,
    actor: Actor,
    ApiJson(p): ApiJson<RequestCreateParams>,
) -> ApiResult<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        Json(app.create_request(&actor, p).await?),
    ))
}

/// The newest requests the caller may see (their own; those they approve or audit).
#[utoipa::path(get, path = "/api/v1/requests", tag = "governance", security(("bearer" = [])),
    responses((status = 200, body = Vec<RequestView>)))]
async fn list_requests(State(app): State<App>, actor: Actor) -> ApiResult<Json<Vec<RequestView>>> {
    Ok(Json(app.list_requests(&actor).await?))
}

/// One request.
#[utoipa::path(get, path = "/api/v1/requests/{id}", tag = "governance", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = RequestView), (status = 404, body = ErrorBody)))]
async fn get_request(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
) -> ApiResult<Json<RequestView>> {
    Ok(Json(app.get_request(&actor, &id).await?))
}

/// Approves a pending request (`request.approve`, not the requester); the last approval it
/// needs creates its VMs.
#[utoipa::path(post, path = "/api/v1/requests/{id}/approve", tag = "governance", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = RequestDecisionParams,
    responses((status = 200, body = RequestView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn approve_request(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
    ApiJson(p): ApiJson<RequestDecisionParams>,
) -> ApiResult<Json<RequestView>> {
    Ok(Json(app.approve_request(&actor, &id, p).await?))
}

/// Rejects a pending request with a reason (`request.approve`, not the requester).
#[utoipa::path(post, path = "/api/v1/requests/{id}/reject", tag = "governance", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = RequestDecisionParams,
    responses((status = 200, body = RequestView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn reject_request(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
    ApiJson(p): ApiJson<RequestDecisionParams>,
) -> ApiResult<Json<RequestView>> {
    Ok(Json(app.reject_request(&actor, &id, p).await?))
}

/// What resources and licences cost per month.
#[utoipa::path(get, path = "/api/v1/price-list", tag = "governance", security(("bearer" = [])),
    responses((status = 200, body = PriceListView)))]
async fn get_price_list(State(app): State<App>, _actor: Actor) -> ApiResult<Json<PriceListView>> {
    Ok(Json(app.price_list().await?))
}

/// Replaces the price list (`quota.manage`).
#[utoipa::path(put, path = "/api/v1/price-list", tag = "governance", security(("bearer" = [])),
    request_body = PriceListView,
    responses((status = 200, body = PriceListView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn set_price_list(
    State(app): State<App>,
    actor: Actor,
    ApiJson(p): ApiJson<PriceListView>,
) -> ApiResult<Json<PriceListView>> {
    Ok(Json(app.set_price_list(&actor, p).await?))
}

/// Gives a user one more role, globally or in a department or cluster (`user.manage`).
#[utoipa::path(post, path = "/api/v1/users/{id}/roles", tag = "governance", security(("bearer" = [])),
    params(("id" = UserId, Path)), request_body = RoleBindingParams,
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn grant_role(
    State(app): State<App>,
    actor: Actor,
    Path(id): Path<String>,
    ApiJson(p): ApiJson<RoleBindingParams>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(app.grant_role(&actor, path_id("id", &id)?, p).await?))
}

/// Takes one of a user's roles away (`user.manage`).
#[utoipa::path(delete, path = "/api/v1/users/{id}/roles/{binding}", tag = "governance", security(("bearer" = [])),
    params(("id" = UserId, Path), ("binding" = String, Path)),
    responses((status = 200, body = UserView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_role(
    State(app): State<App>,
    actor: Actor,
    Path((id, binding)): Path<(String, String)>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(
        app.revoke_role(&actor, path_id("id", &id)?, &binding)
            .await?,
    ))
}

/// The roles: built-in ones and custom ones, with their permissions.
#[utoipa::path(get, path = "/api/v1/roles", tag = "governance", security(("bearer" = [])),
    responses((status = 200, body = Vec<RoleView>), (status = 401, body = ErrorBody)))]
async fn list_roles(State(app): State<App>, actor: Actor) -> ApiResult<Json<Vec<RoleView>>> {
    Ok(Json(app.list_roles(&actor).await?))
}

/// Defines a custom role from a list of permissions (`user.manage`).
#[utoipa::path(post, path = "/api/v1/roles", tag = "governance", security(("bearer" = [])), request_body = RoleCreateParams,
    responses((status = 201, body = RoleView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_role(
    State(app): State<App>,
    actor: Actor,
    ApiJson(p): ApiJson<RoleCreateParams>,
) -> ApiResult<impl IntoResponse> {
    Ok((StatusCode::CREATED, Json(app.create_role(&actor, p).await?)))
}

/// The audit log, newest first, searched by actor, action prefix, target, result, time range
/// and detail text (`audit.read`, global).
#[utoipa::path(get, path = "/api/v1/audit", tag = "governance", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = Page<AuditView>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_audit(
    State(app): State<App>,
    actor: Actor,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Page<AuditView>>> {
    Ok(Json(app.list_audit(&actor, &q).await?))
}

/// Every audit record matching the same search, as CSV (`format=csv`, the default) or a JSON
/// array (`format=json`); at most 200,000 records (`audit.read`, global).
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "governance", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, description = "text/csv or application/json"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn export_audit(
    State(app): State<App>,
    actor: Actor,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<impl IntoResponse> {
    let e = app.export_audit(&actor, &q).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, e.content_type)], e.body))
}

/// Physical (non-virtual) servers the caller may see.
#[utoipa::path(get, path = "/api/v1/physical-servers", tag = "inventory", security(("bearer" = [])),
    responses((status = 200, body = Vec<PhysicalServerView>)))]
async fn list_physical_servers(
    State(app): State<App>,
    actor: Actor,
) -> ApiResult<Json<Vec<PhysicalServerView>>> {
    Ok(Json(app.list_physical_servers(&actor).await?))
}

/// Registers a physical server.
#[utoipa::path(post, path = "/api/v1/physical-servers", tag = "inventory", security(("bearer" = [])), request_body = PhysicalServerCreateParams,
    responses((status = 201, body = PhysicalServerView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_physical_server(
    State(app): State<App>,
    actor: Actor,
    ApiJson(p): ApiJson<PhysicalServerCreateParams>,
) -> ApiResult<impl IntoResponse> {
    Ok((
        StatusCode::CREATED,
        Json(app.create_physical_server(&actor, p).await?),
    ))
}

/// Sites.
#[utoipa::path(get, path = "/api/v1/sites", tag = "inventory", security(("bearer" = [])), responses((status = 200, body = Vec<SiteView>)))]
async fn list_sites(State(app): State<App>, _actor: Actor) -> ApiResult<Json<Vec<SiteView>>> {
    Ok(Json(
        app.db
            .list_sites()
            .await?
            .into_iter()
            .map(|s| SiteView {
                id: s.id,
                name: s.name,
            })
            .collect(),
    ))
}

/// Clusters.
#[utoipa::path(get, path = "/api/v1/clusters", tag = "inventory", security(("bearer" = [])), responses((status = 200, body = Vec<ClusterView>)))]
async fn list_clusters(State(app): State<App>, _actor: Actor) -> ApiResult<Json<Vec<ClusterView>>> {
    Ok(Json(
        app.db
            .list_clusters()
            .await?
            .iter()
            .map(views::cluster)
            .collect(),
    ))
}

/// Datastores.
#[utoipa::path(get, path = "/api/v1/datastores", tag = "inventory", security(("bearer" = [])), responses((status = 200, body = Vec<DatastoreView>)))]
async fn list_datastores(
    State(app): State<App>,
    _actor: Actor,
) -> ApiResult<Json<Vec<DatastoreView>>> {
    Ok(Json(
        app.db
            .list_datastores()
            .await?
            .into_iter()
            .map(|d| DatastoreView {
                id: d.id,
                name: d.name,
                cluster_id: d.cluster_id,
                kind: d.kind,
                capacity_gib: d.capacity_gib,
                free_gib: d.free_gib,
            })
            .collect(),
    ))
}

/// Networks.
#[utoipa::path(get, path = "/api/v1/networks", tag = "inventory", security(("bearer" = [])), responses((status = 200, body = Vec<NetworkView>)))]
async fn list_networks(State(app): State<App>, _actor: Actor) -> ApiResult<Json<Vec<NetworkView>>> {
    Ok(Json(
        app.db
            .list_networks()
            .await?
            .into_iter()
            .map(|n| NetworkView {
                id: n.id,
                name: n.name,
                cluster_id: n.cluster_id,
                vlan: n.vlan,
            })
            .collect(),
    ))
}

/// Resyncs the inventory from every host now (admin).
#[utoipa::path(post, path = "/api/v1/sync", tag = "inventory", security(("bearer" = [])),
    responses((status = 200, body = SyncReport), (status = 403, body = ErrorBody)))]
async fn sync_now(State(app): State<App>, actor: Actor) -> ApiResult<Json<SyncReport>> {
    actor.require(Permission::HostManage, On::global())?;
    let report = sync_all(&app).await?;
    app.audit(
        actor.name(),
        "inventory.sync",
        ("inventory", None),
        AuditResult::Ok,
        Some(format!("{report:?}")),
    )
    .await;
    Ok(Json(report))
}
