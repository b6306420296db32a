//! The HTTP API: thin handlers (extract, call the app layer, wrap the answer) and the router,
//! from which the OpenAPI document is generated.

mod access;
mod auth;
pub mod extract;
mod governance;
mod ha;
mod inventory;
mod jobs;
mod placement;
mod plans;
mod reports;
mod system;
mod vms;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::response::IntoResponse;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vdc_types::*;

use crate::app::App;
use crate::app::views;
use crate::app::{Actor, On};
use crate::inventory::hosts::HostAdded;
use crate::inventory::sync::{SyncReport, sync_all};
use crate::jobs::SnapshotOp;
use crate::reports::compliance::ComplianceQuery;
use extract::{ApiJson, ApiPath, ApiPath2, ApiQuery, ApiResult, Token};

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
        .routes(routes!(system::health))
        .routes(routes!(system::background_tasks))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::open_session))
        .routes(routes!(auth::list_tokens, auth::create_token))
        .routes(routes!(auth::revoke_token))
        .routes(routes!(auth::whoami))
        .routes(routes!(inventory::list_hosts, inventory::add_host))
        .routes(routes!(
            inventory::get_host,
            inventory::remove_host,
            inventory::update_host
        ))
        .routes(routes!(inventory::host_stats))
        .routes(routes!(inventory::host_metrics))
        .routes(routes!(vms::vm_metrics))
        .routes(routes!(vms::list_alerts))
        .routes(routes!(reports::sprawl_report))
        .routes(routes!(reports::chargeback_report))
        .routes(routes!(reports::licence_report))
        .routes(routes!(reports::patch_report))
        .routes(routes!(reports::list_licences))
        .routes(routes!(reports::set_licence, reports::delete_licence))
        .routes(routes!(reports::list_os_baselines))
        .routes(routes!(
            reports::set_os_baseline,
            reports::delete_os_baseline
        ))
        .routes(routes!(
            vms::get_guest_os,
            vms::set_guest_os,
            vms::clear_guest_os
        ))
        .routes(routes!(reports::import_rvtools))
        .routes(routes!(reports::import_vmx))
        .routes(routes!(ha::get_vm_ha, ha::set_vm_ha))
        .routes(routes!(ha::get_cluster_ha, ha::set_cluster_ha))
        .routes(routes!(vms::list_vms, vms::create_vm))
        .routes(routes!(
            vms::get_vm,
            vms::create_vm_with_id,
            vms::update_vm,
            vms::delete_vm
        ))
        .routes(routes!(vms::vm_action))
        .routes(routes!(vms::vm_stats))
        .routes(routes!(vms::adopt_vm))
        .routes(routes!(vms::quarantine_vm))
        .routes(routes!(vms::migrate_vm))
        .routes(routes!(vms::list_snapshots, vms::create_snapshot))
        .routes(routes!(vms::revert_snapshot))
        .routes(routes!(vms::delete_snapshot))
        .routes(routes!(jobs::list_jobs))
        .routes(routes!(jobs::get_job))
        .routes(routes!(
            governance::list_departments,
            governance::create_department
        ))
        .routes(routes!(governance::list_users, governance::create_user))
        .routes(routes!(governance::grant_role))
        .routes(routes!(governance::get_quota, governance::set_quota))
        .routes(routes!(
            governance::list_requests,
            governance::create_request
        ))
        .routes(routes!(governance::get_request))
        .routes(routes!(governance::approve_request))
        .routes(routes!(governance::reject_request))
        .routes(routes!(
            governance::get_price_list,
            governance::set_price_list
        ))
        .routes(routes!(governance::revoke_role))
        .routes(routes!(governance::list_roles, governance::create_role))
        .routes(routes!(governance::list_audit))
        .routes(routes!(governance::export_audit))
        .routes(routes!(
            inventory::list_physical_servers,
            inventory::create_physical_server
        ))
        .routes(routes!(inventory::list_sites))
        .routes(routes!(inventory::list_clusters))
        .routes(routes!(inventory::update_cluster))
        .routes(routes!(inventory::list_datastores))
        .routes(routes!(inventory::list_volumes))
        .routes(routes!(placement::rate_placement))
        .routes(routes!(placement::vm_placement))
        .routes(routes!(vms::create_vm_group))
        .routes(routes!(plans::forecast))
        .routes(routes!(plans::balance_plans))
        .routes(routes!(plans::consolidate))
        .routes(routes!(inventory::evacuate_host))
        .routes(routes!(inventory::standby_host))
        .routes(routes!(inventory::wake_host))
        .routes(routes!(inventory::list_networks))
        .routes(routes!(inventory::sync_now))
        .routes(routes!(inventory::prometheus_metrics))
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
    let router = api
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            access::check,
        ))
        .merge(crate::ui::routes())
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || async move { Json(doc) }),
        )
        .fallback(|| async { extract::ApiError(Error::not_found("path", "requested")) });
    let router = SECURITY_HEADERS.iter().fold(router, |r, (name, value)| {
        r.layer(SetResponseHeaderLayer::if_not_present(
            name.clone(),
            HeaderValue::from_static(value),
        ))
    });
    router.with_state(app)
}

/// Headers on every answer (API, web UI, errors) that keep browsers from framing the UI,
/// running scripts from anywhere but the server itself, guessing content types or leaking the
/// page address to other sites. Inline styles stay allowed (htmx adds its indicator style);
/// inline scripts do not.
pub const SECURITY_HEADERS: [(HeaderName, &str); 4] = [
    (header::CONTENT_SECURITY_POLICY, CSP),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
];

/// The content security policy of every answer.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

pub(super) fn accepted(j: JobAccepted) -> impl IntoResponse {
    (StatusCode::ACCEPTED, Json(j))
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
