//! Extractors that turn malformed requests into 400s naming the offending field, and the
//! bearer-token extractor that authenticates every protected endpoint.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use vdc_types::Error;

use crate::app::Actor;
use crate::app::App;

/// The API error as an HTTP response.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl From<vdc_db::DbError> for ApiError {
    fn from(e: vdc_db::DbError) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = axum::http::StatusCode::from_u16(self.0.status())
            .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(error = %self.0, "request failed");
        }
        let mut resp = (status, axum::Json(self.0.body())).into_response();
        if status == axum::http::StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                "www-authenticate",
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Largest accepted request body.
const MAX_BODY: usize = 1024 * 1024;

/// The offending field of a serde error at `path`: the unknown or missing field's name when
/// serde names one, else the path where decoding failed.
fn field_of(path: &str, message: &str) -> String {
    let named = ["unknown field `", "missing field `"].iter().find_map(|p| {
        message
            .split_once(p)
            .and_then(|(_, rest)| rest.split_once('`'))
            .map(|(f, _)| f.to_string())
    });
    match (named, path) {
        (Some(f), "." | "") => f,
        (Some(f), p) if p == f || p.ends_with(&format!(".{f}")) => p.to_string(),
        (Some(f), p) => format!("{p}.{f}"),
        (None, "." | "") => "body".into(),
        (None, p) => p.to_string(),
    }
}

fn decode_error(path: String, message: String) -> Error {
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_string();
    Error::InvalidInput {
        field: field_of(&path, &message),
        message,
    }
}

/// A JSON body; decoding errors name the field.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(Error::invalid("content-type", "expected application/json").into());
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| Error::invalid("body", e.body_text()))?;
        if bytes.len() > MAX_BODY {
            return Err(Error::invalid("body", "larger than 1 MiB").into());
        }
        // Serde would also accept a struct written as an array; the API speaks objects only.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(Error::invalid("body", "expected a JSON object").into());
        }
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(de)
            .map_err(|e| decode_error(e.path().to_string(), e.inner().to_string()))?;
        Ok(ApiJson(value))
    }
}

/// A query string; decoding errors name the parameter.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
        let value = serde_path_to_error::deserialize(de)
            .map_err(|e| decode_error(e.path().to_string(), e.inner().to_string()))?;
        Ok(ApiQuery(value))
    }
}

fn form_urlencoded_parse(q: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(q.as_bytes())
}

/// Parses a path id, naming it in the error.
fn path_id<T: std::str::FromStr>(field: &str, raw: &str) -> Result<T, ApiError> {
    crate::app::views::path_id(field, raw).map_err(ApiError)
}

/// The route's path parameters, by name, in order.
async fn path_params<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<Vec<(String, String)>, ApiError> {
    let raw = axum::extract::RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|e| Error::invalid("path", e.body_text()))?;
    Ok(raw
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

/// A typed path id (`ApiPath<VmId>` for `/vms/{id}`): a value that is not a valid id is a 400
/// naming the route's parameter, before the handler runs.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T: std::str::FromStr, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match path_params(parts, state).await?.as_slice() {
            [(name, raw)] => path_id(name, raw).map(ApiPath),
            other => Err(Error::internal(format!(
                "ApiPath takes one path parameter, the route has {}",
                other.len()
            ))
            .into()),
        }
    }
}

/// Two typed path ids (`ApiPath2<UserId, RoleBindingId>` for `/users/{id}/roles/{binding}`),
/// each named in its 400.
#[derive(Debug)]
pub struct ApiPath2<A, B>(pub A, pub B);

impl<A: std::str::FromStr, B: std::str::FromStr, S: Send + Sync> FromRequestParts<S>
    for ApiPath2<A, B>
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match path_params(parts, state).await?.as_slice() {
            [(a, ra), (b, rb)] => Ok(ApiPath2(path_id(a, ra)?, path_id(b, rb)?)),
            other => Err(Error::internal(format!(
                "ApiPath2 takes two path parameters, the route has {}",
                other.len()
            ))
            .into()),
        }
    }
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<App> for Actor {
    type Rejection = ApiError;

    /// The caller the access check authenticated, else (for a route mounted without it)
    /// authenticated here.
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        if let Some(actor) = parts.extensions.get::<Actor>() {
            return Ok(actor.clone());
        }
        let token = bearer(&parts.headers).ok_or(ApiError(Error::Unauthenticated))?;
        Ok(app.authenticate(token).await?)
    }
}

/// The caller's raw token (for logout).
#[derive(Debug)]
pub struct Token(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Token {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        bearer(&parts.headers)
            .or_else(|| crate::auth::cookies::session_cookie(&parts.headers))
            .map(|t| Token(t.to_string()))
            .ok_or(ApiError(Error::Unauthenticated))
    }
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn names_the_field() {
        assert_eq!(
            field_of(".", "unknown field `colour`, expected one of `name`"),
            "colour"
        );
        assert_eq!(field_of("disks[0]", "unknown field `x`"), "disks[0].x");
        assert_eq!(field_of("disks[0].x", "unknown field `x`"), "disks[0].x");
        assert_eq!(field_of("colour", "unknown field `colour`"), "colour");
        assert_eq!(field_of(".", "missing field `name`"), "name");
        assert_eq!(
            field_of("vcpus", "invalid value: integer `-1`, expected u32"),
            "vcpus"
        );
        assert_eq!(field_of(".", "EOF while parsing"), "body");
    }
}
