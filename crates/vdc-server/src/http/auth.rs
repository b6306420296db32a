//! Handlers of the `auth` tag: Logins, sessions, API tokens, the caller.

use super::*;

/// Opens a session; returns a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginParams,
    responses((status = 200, body = LoginResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(super) async fn login(
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
pub(super) async fn open_session(
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
pub(super) async fn create_token(
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
pub(super) async fn list_tokens(
    State(app): State<App>,
    actor: Actor,
) -> ApiResult<Json<Vec<TokenView>>> {
    Ok(Json(app.list_tokens(&actor).await?))
}

/// Revokes one of the caller's named API tokens.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "auth", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn revoke_token(
    State(app): State<App>,
    actor: Actor,
    ApiPath(id): ApiPath<TokenId>,
) -> ApiResult<StatusCode> {
    app.revoke_token(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends the caller's session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub(super) async fn logout(
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

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody)))]
pub(super) async fn whoami(State(app): State<App>, actor: Actor) -> ApiResult<Json<UserView>> {
    Ok(Json(views::user(
        &actor.user,
        &app.db.bindings(Some(actor.user.id)).await?,
    )))
}
