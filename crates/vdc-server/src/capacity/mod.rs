//! Capacity (C4, C5): consolidation plans and forecasts, the load balancer and host power.

pub mod balancer;
pub mod plans;
pub mod power;
