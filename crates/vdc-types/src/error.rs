//! The one public error enum of the API, and its single mapping to HTTP status codes.

use serde::{Deserialize, Serialize};

use crate::state::PowerState;

/// Every error the API can return. The server maps each variant to exactly one status code
/// ([`Error::status`]); the CLI prints [`ErrorBody::message`] as its one-line reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The request is malformed or a field is out of range; `field` names it.
    #[error("invalid {field}: {message}")]
    InvalidInput { field: String, message: String },
    /// No credentials, or credentials that do not identify a session.
    #[error("authentication required")]
    Unauthenticated,
    /// Wrong username or password.
    #[error("invalid username or password")]
    BadCredentials,
    /// Authenticated, but the role or department scope does not allow this.
    #[error("forbidden: {message}")]
    Forbidden { message: String },
    /// No such resource (or not visible to the caller).
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    /// The path exists but not with this method; `allowed` lists those it has.
    #[error("{method} is not allowed here; allowed: {}", allowed.join(", "))]
    MethodNotAllowed {
        method: String,
        allowed: Vec<&'static str>,
    },
    /// The resource changed since the caller read it, or a name is taken.
    #[error("conflict: {message}")]
    Conflict { message: String },
    /// The VM is in a state the requested action cannot start from.
    #[error("cannot go from {from} to {to}")]
    InvalidStateTransition { from: PowerState, to: PowerState },
    /// No host has room for the request.
    #[error("insufficient capacity: {message}")]
    InsufficientCapacity { message: String },
    /// The request would take a department beyond its quota (the message has the figures).
    #[error("{message}")]
    QuotaExceeded { message: String },
    /// A hypervisor (or another dependency) did not answer.
    #[error("unavailable: {message}")]
    Unavailable { message: String },
    /// A bug or an unexpected store failure; details are in the server log, not here.
    #[error("internal error: {message}")]
    Internal { message: String },
}

impl Error {
    /// Shorthand for [`Error::InvalidInput`].
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidInput {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The error with `prefix` before its field name (for items of a list).
    pub fn prefixed(self, prefix: &str) -> Self {
        match self {
            Error::InvalidInput { field, message } => Error::InvalidInput {
                field: format!("{prefix}{field}"),
                message,
            },
            e => e,
        }
    }

    /// Shorthand for [`Error::NotFound`].
    pub fn not_found(kind: &'static str, id: impl ToString) -> Self {
        Error::NotFound {
            kind,
            id: id.to_string(),
        }
    }

    /// Shorthand for [`Error::Forbidden`].
    pub fn forbidden(message: impl Into<String>) -> Self {
        Error::Forbidden {
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::Conflict`].
    pub fn conflict(message: impl Into<String>) -> Self {
        Error::Conflict {
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        Error::Internal {
            message: message.into(),
        }
    }

    /// The HTTP status code for this error: the one place where that choice is made.
    pub fn status(&self) -> u16 {
        match self {
            Error::InvalidInput { .. } => 400,
            Error::Unauthenticated | Error::BadCredentials => 401,
            Error::Forbidden { .. } | Error::QuotaExceeded { .. } => 403,
            Error::NotFound { .. } => 404,
            Error::MethodNotAllowed { .. } => 405,
            // 409: the request is well-formed but conflicts with the current state of the
            // resource (stale generation, taken name, wrong power state); retrying after a
            // fresh read can succeed.
            Error::Conflict { .. } | Error::InvalidStateTransition { .. } => 409,
            Error::Internal { .. } => 500,
            Error::Unavailable { .. } => 503,
            // 507 Insufficient Storage is the closest standard code for "no host has room":
            // unlike 503 it tells the client that waiting alone will not help.
            Error::InsufficientCapacity { .. } => 507,
        }
    }

    /// The stable machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidInput { .. } => "invalid_input",
            Error::Unauthenticated => "unauthenticated",
            Error::BadCredentials => "bad_credentials",
            Error::Forbidden { .. } => "forbidden",
            Error::NotFound { .. } => "not_found",
            Error::MethodNotAllowed { .. } => "method_not_allowed",
            Error::Conflict { .. } => "conflict",
            Error::InvalidStateTransition { .. } => "invalid_state_transition",
            Error::InsufficientCapacity { .. } => "insufficient_capacity",
            Error::QuotaExceeded { .. } => "quota_exceeded",
            Error::Unavailable { .. } => "unavailable",
            Error::Internal { .. } => "internal",
        }
    }

    /// The body sent to clients.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code().to_string(),
            message: self.to_string(),
            field: match self {
                Error::InvalidInput { field, .. } => Some(field.clone()),
                _ => None,
            },
        }
    }
}

/// The JSON body of every error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable code, e.g. `invalid_input`, `not_found`, `conflict`.
    pub code: String,
    /// One human-readable sentence.
    pub message: String,
    /// For `invalid_input`: the offending field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}
