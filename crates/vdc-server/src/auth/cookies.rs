//! The browser session's cookies, all in one place: the session token (HttpOnly) and the
//! script-readable CSRF token the web UI sends back in `X-CSRF-Token` (double submit), how they
//! are set, read and cleared.

/// The name of the browser session cookie.
pub const SESSION_COOKIE: &str = "vdc_session";

/// The script-readable cookie holding the session's CSRF token.
pub const CSRF_COOKIE: &str = "vdc_csrf";

/// The browser session token in the request's cookies, if any.
pub fn session_cookie(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The cookies that open a browser session: the token (HttpOnly) and its CSRF token (read by
/// the page's script to send back in `X-CSRF-Token`).
pub fn session_cookies(token: &str, csrf: &str, ttl_s: u64) -> [String; 2] {
    [
        format!(
            "{SESSION_COOKIE}={token}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={ttl_s}"
        ),
        format!("{CSRF_COOKIE}={csrf}; Secure; SameSite=Strict; Path=/; Max-Age={ttl_s}"),
    ]
}

/// The cookie that removes the session token.
pub fn cleared_session_cookie() -> String {
    format!("{SESSION_COOKIE}=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0")
}

/// The cookie that removes the CSRF token.
pub fn cleared_csrf_cookie() -> String {
    format!("{CSRF_COOKIE}=; Secure; SameSite=Strict; Path=/; Max-Age=0")
}
