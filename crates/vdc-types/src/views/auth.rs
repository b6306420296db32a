//! Answers of the `auth` endpoints: logins, sessions, API tokens.

use super::*;

/// A named API token (never its secret, which is shown once at creation).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    /// The permissions it is limited to; `null`: all its owner's.
    pub permissions: Option<Vec<Permission>>,
    pub created_at: String,
    pub expires_at: String,
}

/// A new API token: the secret, shown this once.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenCreated {
    /// For `Authorization: Bearer …`. Only its hash is stored.
    pub token: String,
    #[serde(flatten)]
    pub info: TokenView,
}

/// A browser session: its token travels in the `vdc_session` cookie (HttpOnly, Secure,
/// SameSite=Strict); every change must carry `csrf_token` in the `X-CSRF-Token` header.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionResponse {
    pub csrf_token: String,
    pub expires_at: String,
    pub user: UserView,
}

/// A logged-in session.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// Bearer token for the `Authorization` header. Shown once; only its hash is stored.
    pub token: String,
    pub expires_at: String,
    pub user: UserView,
}
