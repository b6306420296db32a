//! The access rule of every API route, checked before its handler: public, any signed-in
//! user, or a permission the caller must hold at some scope. Handlers then check the scope of
//! what they act on (a department's VM, a cluster's host). A method a path has no rule for is
//! refused with 405 (naming those it has) before any handler runs, a path without any rule with
//! 500; a unit test checks that every documented operation has its rule.

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use vdc_types::{AuditResult, Error, Permission};

use super::extract::{ApiError, bearer};
use crate::app::App;
use crate::auth::cookies::session_cookie;

/// What a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    SignedIn,
    Needs(Permission),
}

/// The rule for a route (`path` as routed, e.g. `/api/v1/vms/{id}`).
pub fn rule(method: &Method, path: &str) -> Option<Access> {
    use Access::*;
    use Permission::*;
    let m = method.as_str();
    if path == "/metrics" {
        return (m == "GET").then_some(Needs(InventoryRead));
    }
    let route = path.strip_prefix("/api/v1")?;
    Some(match (m, route) {
        ("GET", "/health") | ("POST", "/auth/login" | "/auth/session") => Public,
        ("GET" | "POST", "/tokens") | ("DELETE", "/tokens/{id}") => SignedIn,
        ("POST", "/auth/logout")
        | (
            "GET",
            "/auth/me" | "/jobs" | "/jobs/{id}" | "/roles" | "/requests" | "/requests/{id}",
        ) => SignedIn,
        ("POST", "/requests") => Needs(RequestCreate),
        ("POST", "/requests/{id}/approve" | "/requests/{id}/reject") => Needs(RequestApprove),
        (
            "GET",
            "/hosts"
            | "/hosts/{id}"
            | "/hosts/{id}/stats"
            | "/hosts/{id}/metrics"
            | "/vms/{id}/metrics"
            | "/alerts"
            | "/reports/sprawl"
            | "/reports/chargeback"
            | "/reports/licences"
            | "/reports/patches"
            | "/licences"
            | "/os-baselines"
            | "/vms/{id}/ha"
            | "/vms/{id}/guest-os"
            | "/clusters/{id}/ha"
            | "/vms"
            | "/vms/{id}"
            | "/vms/{id}/stats"
            | "/vms/{id}/snapshots"
            | "/vms/{id}/placement"
            | "/clusters"
            | "/sites"
            | "/datastores"
            | "/volumes"
            | "/networks"
            | "/departments"
            | "/physical-servers"
            | "/plans/forecast"
            | "/plans/balance"
            | "/departments/{id}/quota"
            | "/price-list",
        )
        | ("POST", "/plans/consolidate" | "/placement/ratings") => Needs(InventoryRead),
        ("POST", "/vms" | "/vms/{id}" | "/vm-groups" | "/physical-servers") => Needs(VmCreate),
        ("PATCH", "/vms/{id}")
        | ("PUT" | "DELETE", "/vms/{id}/guest-os")
        | (
            "POST",
            "/vms/{id}/actions/{action}"
            | "/vms/{id}/migrate"
            | "/vms/{id}/snapshots"
            | "/vms/{id}/snapshots/{name}/revert",
        )
        | ("DELETE", "/vms/{id}/snapshots/{name}") => Needs(VmOperate),
        ("DELETE", "/vms/{id}") => Needs(VmDelete),
        ("POST", "/vms/{id}/adopt" | "/vms/{id}/quarantine") => Needs(VmAdopt),
        (
            "POST",
            "/hosts"
            | "/hosts/{id}/evacuate"
            | "/hosts/{id}/standby"
            | "/hosts/{id}/wake"
            | "/sync",
        )
        | ("PATCH" | "DELETE", "/hosts/{id}")
        | ("POST", "/imports/rvtools" | "/imports/vmx") => Needs(HostManage),
        ("PATCH", "/clusters/{id}") | ("PUT", "/clusters/{id}/ha") => Needs(ClusterManage),
        ("PUT", "/vms/{id}/ha") => Needs(VmOperate),
        ("POST", "/departments") => Needs(DepartmentManage),
        ("GET", "/users")
        | ("POST", "/users" | "/users/{id}/roles" | "/roles")
        | ("DELETE", "/users/{id}/roles/{binding}") => Needs(UserManage),
        ("GET", "/audit" | "/audit/export" | "/background-tasks") => Needs(AuditRead),
        ("PUT", "/departments/{id}/quota" | "/price-list")
        | ("PUT" | "DELETE", "/licences/{name}" | "/os-baselines/{os}") => Needs(QuotaManage),
        _ => return None,
    })
}

/// The methods `path` has a rule for (with HEAD where it has GET).
fn allowed(path: &str) -> Vec<&'static str> {
    static METHODS: [Method; 5] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ];
    let mut out: Vec<&'static str> = METHODS
        .iter()
        .filter(|m| rule(m, path).is_some())
        .map(Method::as_str)
        .collect();
    if out.first() == Some(&"GET") {
        out.insert(1, "HEAD");
    }
    out
}

/// Middleware: applies the route's rule; a signed-in caller travels on to the handler in the
/// request's extensions. Refusals by permission are audited.
pub async fn check(State(app): State<App>, mut req: Request, next: Next) -> Response {
    let Some(path) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
    else {
        // No route matched: the fallback answers 404.
        return next.run(req).await;
    };
    let method = req.method().clone();
    // HEAD is served by a route's GET.
    let ruled = if method == Method::HEAD {
        &Method::GET
    } else {
        &method
    };
    let Some(access) = rule(ruled, &path) else {
        let allowed = allowed(&path);
        if allowed.is_empty() {
            tracing::error!(%method, %path, "route without an access rule");
            return ApiError(Error::internal(format!(
                "no access rule for {method} {path}"
            )))
            .into_response();
        }
        // A method the path does not have (or one without a rule, which the route × role
        // test catches): 405, naming those it has, and never the handler.
        let allow = allowed.join(", ");
        let mut response = ApiError(Error::MethodNotAllowed {
            method: method.to_string(),
            allowed,
        })
        .into_response();
        if let Ok(v) = axum::http::HeaderValue::from_str(&allow) {
            response.headers_mut().insert(axum::http::header::ALLOW, v);
        }
        return response;
    };
    if access == Access::Public {
        return next.run(req).await;
    }
    // A bearer token, else a browser session cookie (which must bring its CSRF token on
    // anything that changes something).
    let headers = req.headers();
    let (token, from_cookie) = match (bearer(headers), session_cookie(headers)) {
        (Some(t), _) => (t, false),
        (None, Some(t)) => (t, true),
        (None, None) => return ApiError(Error::Unauthenticated).into_response(),
    };
    let csrf = headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
    let safe = matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    let actor = match app.authenticate_with(token, from_cookie, csrf, safe).await {
        Ok(a) => a,
        Err(e) => return ApiError(e).into_response(),
    };
    if let Access::Needs(p) = access
        && !actor.has_anywhere(p)
    {
        let e = Error::forbidden(format!(
            "requires permission {p}, which none of your roles grants"
        ));
        app.audit(
            actor.name(),
            p.as_str(),
            ("route", Some(format!("{method} {}", req.uri().path()))),
            AuditResult::Denied,
            Some(e.to_string()),
        )
        .await;
        return ApiError(e).into_response();
    }
    req.extensions_mut().insert(actor);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A route added without its line in [`rule`] would answer 405 to everyone: caught here.
    #[test]
    fn every_documented_operation_has_a_rule() {
        let doc = serde_json::to_value(super::super::openapi()).unwrap();
        let mut checked = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for m in item.as_object().unwrap().keys() {
                let method = Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
                assert!(
                    rule(&method, path).is_some(),
                    "no access rule for {m} {path}"
                );
                checked += 1;
            }
        }
        assert!(checked > 50, "{checked} operations");
        assert_eq!(
            allowed("/api/v1/vms/{id}"),
            ["GET", "HEAD", "POST", "PATCH", "DELETE"]
        );
    }
}
