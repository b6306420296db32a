//! Parameters of the `auth` endpoints: logins and API tokens.

use super::*;

/// `POST /api/v1/auth/login`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginParams {
    pub username: String,
    pub password: String,
}

/// `POST /api/v1/tokens`: a named API token, optionally limited to some of the caller's
/// permissions.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenCreateParams {
    pub name: String,
    /// Limit the token to these (all the caller's when omitted).
    #[serde(default)]
    pub permissions: Option<Vec<crate::Permission>>,
    /// 1 to 365 (90 when omitted).
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

impl TokenCreateParams {
    pub fn validate(&self) -> Result<(), Error> {
        validate_name("name", &self.name)?;
        if self.permissions.as_ref().is_some_and(Vec::is_empty) {
            return Err(Error::invalid("permissions", "at least one, or omit it"));
        }
        if self
            .expires_in_days
            .is_some_and(|d| !(1..=365).contains(&d))
        {
            return Err(Error::invalid("expires_in_days", "1 to 365"));
        }
        Ok(())
    }
}
