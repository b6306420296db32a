//! The web UI at `/`: server-rendered pages (askama templates, checked at compile time) with
//! htmx for live filters, polling and actions, and uPlot charts fed by the metrics API; both
//! vendored and embedded in the binary (rust-embed), nothing fetched at run time. Pages use
//! the browser session (HttpOnly cookie); changes go through the API with the session's CSRF
//! token, which the login leaves in a second, script-readable cookie (double submit).

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use std::collections::HashMap;
use vdc_db::{self as db};
use vdc_types::*;

use crate::app::Actor;
use crate::app::App;
use crate::auth::cookies::{
    cleared_csrf_cookie, cleared_session_cookie, session_cookie, session_cookies,
};

#[derive(rust_embed::RustEmbed)]
#[folder = "web/"]
struct Assets;

/// The UI's routes.
pub fn routes() -> axum::Router<App> {
    axum::Router::new()
        .route("/", get(dashboard))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/hosts", get(hosts))
        .route("/hosts/{id}", get(host))
        .route("/vms", get(vms))
        .route("/vms/{id}", get(vm))
        .route("/vms/{id}/state", get(vm_state))
        .route("/jobs", get(jobs))
        .route("/background", get(background))
        .route("/reports", get(reports))
        .route("/static/{*path}", get(asset))
}

/// A page that failed: the login page when the session is missing or over, else the error.
enum UiError {
    Login,
    Failed(Error),
}

impl From<Error> for UiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Unauthenticated => UiError::Login,
            e => UiError::Failed(e),
        }
    }
}

impl From<vdc_db::DbError> for UiError {
    fn from(e: vdc_db::DbError) -> Self {
        UiError::Failed(e.into())
    }
}

impl From<askama::Error> for UiError {
    fn from(e: askama::Error) -> Self {
        UiError::Failed(Error::internal(format!("rendering a page: {e}")))
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        match self {
            UiError::Login => Redirect::to("/login").into_response(),
            UiError::Failed(e) => {
                let status =
                    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let page = ErrorPage {
                    user: String::new(),
                    status: status.as_u16(),
                    message: e.to_string(),
                };
                (
                    status,
                    Html(page.render().unwrap_or_else(|_| e.to_string())),
                )
                    .into_response()
            }
        }
    }
}

type Page = Result<Response, UiError>;

/// The signed-in caller of a page (a session cookie; GET only, so no CSRF token needed).
async fn caller(app: &App, headers: &HeaderMap) -> Result<Actor, UiError> {
    let token = session_cookie(headers).ok_or(UiError::Login)?;
    Ok(app.authenticate_with(token, true, None, true).await?)
}

/// Whether htmx asked (it then swaps part of the page).
fn from_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

fn html(t: &impl Template) -> Page {
    Ok(Html(t.render()?).into_response())
}

/// An empty form field is no filter.
fn field<T: std::str::FromStr>(v: &Option<String>) -> Option<T> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse().ok())
}

fn mib(m: u64) -> String {
    if m >= 1024 {
        format!("{:.1} GiB", m as f64 / 1024.0)
    } else {
        format!("{m} MiB")
    }
}

mod dashboard;
mod hosts;
mod jobs;
mod login;
mod reports;
mod vms;

use dashboard::*;
use hosts::*;
use jobs::*;
use login::*;
use reports::*;
use vms::*;
