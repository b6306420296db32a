//! Response bodies: what the API returns. Built by the server from store rows; never stored.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::*;
use crate::state::*;
use crate::topology::{CpuTopology, NumaCell};

mod auth;
mod governance;
mod ha;
mod inventory;
mod jobs;
mod monitoring;
mod placement;
mod plans;
mod reports;
mod vms;

pub use auth::*;
pub use governance::*;
pub use ha::*;
pub use inventory::*;
pub use jobs::*;
pub use monitoring::*;
pub use placement::*;
pub use plans::*;
pub use reports::*;
pub use vms::*;

/// One page of a list; pass `next_page_token` back as `page_token` for the next one.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// `GET /api/v1/health`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HealthView {
    pub status: String,
    pub version: String,
    /// `sqlite` or `postgres`.
    pub store: String,
}
