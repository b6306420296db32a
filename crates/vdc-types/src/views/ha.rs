//! Answers of the `ha` endpoints: restart settings and failover reserves.

use super::*;

/// A VM's high-availability settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VmHaView {
    pub vm_id: crate::VmId,
    pub priority: crate::RestartPriority,
    pub policy: crate::HaPolicy,
    /// VMs started before this one when both come back after a host failure.
    pub depends_on: Vec<crate::VmId>,
}

/// How much of a cluster is kept free so the VMs of failed hosts can restart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum HaReserve {
    /// No reserve: HA restarts what fits.
    None,
    /// Room for the VMs of this many failed hosts (the largest ones).
    HostFailures { hosts: u32 },
    /// A share of the cluster's vCPUs and memory, in percent.
    Percent { cpu: f64, memory: f64 },
    /// These hosts stay empty for failover.
    FailoverHosts { hosts: Vec<crate::HostId> },
}

/// A cluster's failover reserve and the admission figures it gives: capacity of its
/// connected hosts (after overcommit), what the reserve keeps, what running VMs use, and what
/// new or restarted VMs may still take.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClusterHaView {
    pub cluster_id: crate::ClusterId,
    pub reserve: HaReserve,
    pub capacity: AmountView,
    pub reserved: AmountView,
    pub used: AmountView,
    pub headroom: AmountView,
}
