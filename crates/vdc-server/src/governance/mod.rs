//! Governance (C6): who may do what (roles and bindings), the audit log, quotas, provisioning
//! requests with their approvals, leases, and notifications of what happened.

pub mod audit;
pub mod departments;
pub mod lease;
pub mod notify;
pub mod quota;
pub mod requests;
pub mod roles;
