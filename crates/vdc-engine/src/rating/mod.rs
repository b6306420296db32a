//! Host rating (DESIGN.md C3): every candidate host gets a 0–5 star rating, explained
//! constraint by constraint, and the best host is chosen.
//!
//! The pipeline, in this order:
//!
//! 1. **Hard filters** ([`Filter`], in declaration order) say yes or no; the first that refuses
//!    a host is recorded. What the host *is* is checked before what is *allocated* on it, so a
//!    host that could never run the VM says so instead of "not enough memory": unreachable,
//!    maintenance, kept for failover, department, CPU, licence, network, NUMA, then vCPU room, memory room,
//!    datastore space, anti-affinity. Hard filters are never relaxed.
//! 2. **Soft rules** ([`SoftRule`], in the policy's priority order) narrow the feasible hosts.
//!    A rule is kept when some feasible host meets it together with every higher-priority rule
//!    kept so far; otherwise it is relaxed and named in [`Rating::relaxed`]. So rules are
//!    relaxed only when nothing fits with all of them, lowest priority first in effect, and
//!    never one that could have been kept.
//! 3. **Rankers** ([`Ranker`]) give each feasible host a value in 0..=1; its weighted
//!    contribution is weight × value / Σ weights, the score is the sum of the contributions
//!    (0..=1), the stars are the score × 5 rounded to half stars.
//! 4. **Pick**: hosts meeting every kept rule by score (desc), name, id; the first is chosen.
//!
//! [`rate`] rates every host and is the reference. [`Rater`] indexes a snapshot, explains only
//! the top k hosts with exact rejection counts, and agrees with [`rate`] on everything it
//! returns (property-tested below). [`place_group`] places several VMs all-or-nothing.
//!
//! Everything is deterministic: no hash-map iteration, ties broken by name then id, and the
//! cluster statistics are integer sums, so the order of the input hosts does not matter.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;

use vdc_types::{ClusterId, DepartmentId, HostId};

/// Memory-use shares are kept in millionths so that cluster sums are exact integers and both
/// paths ([`rate`] and [`Rater`]) compute bit-identical balance values.
const Q: u64 = 1_000_000;
/// Hosts per index chunk in [`Rater::new`].
const DEFAULT_CHUNK: usize = 32;
const N_RANKERS: usize = Ranker::ALL.len();

/// vCPUs per logical CPU a host may carry unless its cluster says otherwise.
pub const DEFAULT_VCPU_RATIO: f64 = 4.0;

mod group;
mod index;
mod model;
mod reference;
mod score;
#[cfg(test)]
mod tests;

pub use group::{chosen_hosts, place_group};
pub use index::Rater;
pub use model::*;
pub use reference::rate;
use score::*;
