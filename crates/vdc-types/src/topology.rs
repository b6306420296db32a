//! Hardware value types that the drivers report, the store keeps and the engines read: one
//! definition each, shared by every crate.

use serde::{Deserialize, Serialize};

/// One NUMA cell of a host: its logical CPUs and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NumaCell {
    /// The cell's number on its host.
    pub id: u32,
    pub cpus: u32,
    pub memory_mib: u64,
}
