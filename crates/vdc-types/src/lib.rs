//! vdc's API contract: typed ids, request parameters, response views and the one public error
//! enum. No tokio, no database: every other crate (server, CLI, test utils) speaks these types.

pub mod error;
pub mod guest_os;
pub mod ids;
pub mod params;
pub mod state;
pub mod topology;
pub mod views;

pub use error::{Error, ErrorBody};
pub use guest_os::{GuestOs, patch_status};
pub use ids::*;
pub use params::*;
pub use state::*;
pub use topology::{CpuTopology, NumaCell};
pub use views::*;

/// Milliseconds since the Unix epoch: how every timestamp is stored and computed with.
pub type UnixMs = i64;

/// Formats a timestamp for the wire (RFC 3339, UTC, millisecond precision).
pub fn rfc3339(ms: UnixMs) -> String {
    // RFC 3339 has four-digit years: clamped to 1970-01-01 … 9999-12-31.
    let ms = ms.clamp(0, 253_402_300_799_999);
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// Parses an RFC 3339 timestamp from the wire into milliseconds since the epoch.
pub fn parse_rfc3339(field: &str, s: &str) -> Result<UnixMs, Error> {
    let t = humantime::parse_rfc3339_weak(s).map_err(|_| {
        Error::invalid(
            field,
            "expected an RFC 3339 timestamp such as 2027-01-31T00:00:00Z",
        )
    })?;
    let d = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| Error::invalid(field, "timestamp is before 1970"))?;
    Ok(d.as_millis() as UnixMs)
}
