//! vdc's decisions, as pure functions from plain data to plain data: no database, clock,
//! network or randomness inside. The server gathers a snapshot, calls an engine, and commits
//! the plan it returns.

pub mod anomaly;
pub mod balance;
pub mod compliance;
pub mod consolidation;
pub mod forecast;
pub mod ha;
pub mod inventory;
pub mod lease;
pub mod load;
pub mod metrics;
pub mod quota;
pub mod rating;
pub mod report;
