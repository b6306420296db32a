//! Handlers of the `governance` tag: Departments, users, roles, quotas, prices, requests, the audit log.

use super::*;

/// Departments.
#[utoipa::path(get, path = "/api/v1/departments", tag = "governance", security(("bearer" = [])),
    responses((status = 200, body = Vec<DepartmentView>)))]
pub(super) async fn list_departments(
    State(app): State<App>,
    _actor: Actor,
) -> ApiResult<Json<Vec<DepartmentView>>> {
    Ok(Json(app.list_departments().await?))
}

/// Creates a department (admin).
#[utoipa::path(post, path = "/api/v1/departments", tag = "governance", security(("bearer" = [])), request_body = DepartmentCreateParams,
    responses((status = 201, body = DepartmentView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn create_department(
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
pub(super) async fn list_users(
    State(app): State<App>,
    actor: Actor,
) -> ApiResult<Json<Vec<UserView>>> {
    Ok(Json(app.list_users(&actor).await?))
}

/// Creates a local user (admin).
#[utoipa::path(post, path = "/api/v1/users", tag = "governance", security(("bearer" = [])), request_body = UserCreateParams,
    responses((status = 201, body = UserView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn create_user(
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
pub(super) async fn get_quota(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<DepartmentId>,
) -> ApiResult<Json<QuotaView>> {
    Ok(Json(app.get_quota(&actor, id).await?))
}

/// Sets a department's quota (`quota.manage`); omitted limits are unlimited.
#[utoipa::path(put, path = "/api/v1/departments/{id}/quota", tag = "governance", security(("bearer" = [])),
    params(("id" = DepartmentId, Path)), request_body = QuotaParams,
    responses((status = 200, body = QuotaView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn set_quota(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<DepartmentId>,
    ApiJson(p): ApiJson<QuotaParams>,
) -> ApiResult<Json<QuotaView>> {
    Ok(Json(app.set_quota(&actor, id, p).await?))
}

/// Asks for VMs (`request.create`): priced, checked against the department's quota, then
/// approved by the rule or left pending for approvers.
#[utoipa::path(post, path = "/api/v1/requests", tag = "governance", security(("bearer" = [])),
    request_body = RequestCreateParams,
    responses((status = 201, body = RequestView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody, description = "not allowed, or beyond the quota")))]
pub(super) async fn create_request(
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
pub(super) async fn list_requests(
    State(app): State<App>,
    actor: Actor,
) -> ApiResult<Json<Vec<RequestView>>> {
    Ok(Json(app.list_requests(&actor).await?))
}

/// One request.
#[utoipa::path(get, path = "/api/v1/requests/{id}", tag = "governance", security(("bearer" = [])),
    params(("id" = RequestId, Path)),
    responses((status = 200, body = RequestView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn get_request(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<RequestId>,
) -> ApiResult<Json<RequestView>> {
    Ok(Json(app.get_request(&actor, id).await?))
}

/// Approves a pending request (`request.approve`, not the requester); the last approval it
/// needs creates its VMs.
#[utoipa::path(post, path = "/api/v1/requests/{id}/approve", tag = "governance", security(("bearer" = [])),
    params(("id" = RequestId, Path)), request_body = RequestDecisionParams,
    responses((status = 200, body = RequestView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn approve_request(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<RequestId>,
    ApiJson(p): ApiJson<RequestDecisionParams>,
) -> ApiResult<Json<RequestView>> {
    Ok(Json(app.approve_request(&actor, id, p).await?))
}

/// Rejects a pending request with a reason (`request.approve`, not the requester).
#[utoipa::path(post, path = "/api/v1/requests/{id}/reject", tag = "governance", security(("bearer" = [])),
    params(("id" = RequestId, Path)), request_body = RequestDecisionParams,
    responses((status = 200, body = RequestView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn reject_request(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<RequestId>,
    ApiJson(p): ApiJson<RequestDecisionParams>,
) -> ApiResult<Json<RequestView>> {
    Ok(Json(app.reject_request(&actor, id, p).await?))
}

/// What resources and licences cost per month.
#[utoipa::path(get, path = "/api/v1/price-list", tag = "governance", security(("bearer" = [])),
    responses((status = 200, body = PriceListView)))]
pub(super) async fn get_price_list(
    State(app): State<App>,
    _actor: Actor,
) -> ApiResult<Json<PriceListView>> {
    Ok(Json(app.price_list().await?))
}

/// Replaces the price list (`quota.manage`).
#[utoipa::path(put, path = "/api/v1/price-list", tag = "governance", security(("bearer" = [])),
    request_body = PriceListView,
    responses((status = 200, body = PriceListView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn set_price_list(
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
pub(super) async fn grant_role(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(p): ApiJson<RoleBindingParams>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(app.grant_role(&actor, id, p).await?))
}

/// Takes one of a user's roles away (`user.manage`).
#[utoipa::path(delete, path = "/api/v1/users/{id}/roles/{binding}", tag = "governance", security(("bearer" = [])),
    params(("id" = UserId, Path), ("binding" = String, Path)),
    responses((status = 200, body = UserView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn revoke_role(
    State(app): State<App>,
    actor: Actor,
    ApiPath2(id, binding): ApiPath2<UserId, RoleBindingId>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(app.revoke_role(&actor, id, binding).await?))
}

/// The roles: built-in ones and custom ones, with their permissions.
#[utoipa::path(get, path = "/api/v1/roles", tag = "governance", security(("bearer" = [])),
    responses((status = 200, body = Vec<RoleView>), (status = 401, body = ErrorBody)))]
pub(super) async fn list_roles(
    State(app): State<App>,
    actor: Actor,
) -> ApiResult<Json<Vec<RoleView>>> {
    Ok(Json(app.list_roles(&actor).await?))
}

/// Defines a custom role from a list of permissions (`user.manage`).
#[utoipa::path(post, path = "/api/v1/roles", tag = "governance", security(("bearer" = [])), request_body = RoleCreateParams,
    responses((status = 201, body = RoleView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn create_role(
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
pub(super) async fn list_audit(
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
pub(super) async fn export_audit(
    State(app): State<App>,
    actor: Actor,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<impl IntoResponse> {
    let e = app.export_audit(&actor, &q).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, e.content_type)], e.body))
}
