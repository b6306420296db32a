//! Availability (C8; DR and backup join here): each VM's HA settings and each cluster's failover
//! reserve with admission control, and the HA controller that fences dead hosts and restarts
//! their VMs.

pub mod failover;
pub mod settings;
