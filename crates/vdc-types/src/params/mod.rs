//! Request parameters (bodies and query strings). Bodies reject unknown fields; each type
//! validates itself so bad input is refused before anything is written.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::Error;
use crate::ids::*;
use crate::state::{HostState, Management, PowerState, Role};

mod auth;
mod governance;
mod ha;
mod inventory;
mod placement;
mod plans;
mod reports;
#[cfg(test)]
mod tests;
mod vms;

pub use auth::*;
pub use governance::*;
pub use ha::*;
pub use inventory::*;
pub use placement::*;
pub use plans::*;
pub use reports::*;
pub use vms::*;

/// Largest page a list endpoint returns.
pub const MAX_PAGE_LIMIT: u32 = 1000;

/// Page size when the client does not say.
pub const DEFAULT_PAGE_LIMIT: u32 = 100;

/// Longest accepted resource name.
pub const MAX_NAME_LEN: usize = 63;

/// Most vCPUs a VM may ask for (libvirt/QEMU's practical ceiling on x86).
pub const MAX_VCPUS: u32 = 288;

/// Most memory a VM may ask for: 12 TiB, the largest x86 hosts sold.
pub const MAX_MEMORY_MIB: u64 = 12 * 1024 * 1024;

/// Smallest memory a VM may ask for.
pub const MIN_MEMORY_MIB: u64 = 16;

/// Largest single disk: 64 TiB (qcow2's practical ceiling with default clusters).
pub const MAX_DISK_GIB: u64 = 64 * 1024;

/// Checks a resource name: 1–63 characters of letters, digits, `.`, `_` and `-`, starting with
/// a letter or digit (safe as a libvirt domain name and a DNS label).
pub fn validate_name(field: &str, name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Error::invalid(
            field,
            format!("longer than {MAX_NAME_LEN} characters"),
        ));
    }
    if !name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
    {
        return Err(Error::invalid(field, "must start with a letter or digit"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(Error::invalid(
            field,
            format!("character {c:?} not allowed (letters, digits, . _ -)"),
        ));
    }
    Ok(())
}

pub(crate) fn validate_text(field: &str, value: &str, max: usize) -> Result<(), Error> {
    if value.chars().count() > max {
        return Err(Error::invalid(
            field,
            format!("longer than {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(field, "control characters not allowed"));
    }
    Ok(())
}

pub(crate) fn validate_tags(tags: &[String]) -> Result<(), Error> {
    if tags.len() > 32 {
        return Err(Error::invalid("tags", "at most 32 tags"));
    }
    for (i, t) in tags.iter().enumerate() {
        let field = format!("tags[{i}]");
        if t.is_empty() {
            return Err(Error::invalid(field, "must not be empty"));
        }
        validate_text(&field, t, 64)?;
    }
    Ok(())
}

/// Present and null → `Some(None)`; absent → `None` (with `#[serde(default)]`).
pub(crate) fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Checks a page size.
pub fn validate_limit(limit: Option<u32>) -> Result<u32, Error> {
    match limit {
        None => Ok(DEFAULT_PAGE_LIMIT),
        Some(0) => Err(Error::invalid("limit", "must be at least 1")),
        Some(l) if l > MAX_PAGE_LIMIT => Err(Error::invalid(
            "limit",
            format!("must be at most {MAX_PAGE_LIMIT}"),
        )),
        Some(l) => Ok(l),
    }
}

/// Pagination for the other list endpoints (jobs, audit, users, departments, …).
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    pub limit: Option<u32>,
    pub page_token: Option<String>,
}
