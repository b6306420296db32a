//! Monitoring (C11): the metrics store and collector, the load sampler that feeds placement and
//! balancing, behaviour profiles with anomaly alerts, the Prometheus exposition, and the
//! simulated history of a demo fleet.

pub mod anomalies;
pub mod load;
pub mod metrics;
pub mod prometheus;
pub mod sim_history;
