//! Answers of the `placement` endpoints: ratings with their reasons, placement records, groups.

use super::*;

/// One host's rating for a VM: 0–5 stars with each ranker's part, or the filter that refused it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HostRatingView {
    pub host_id: HostId,
    pub name: String,
    /// 0, 0.5, …, 5 (0 when refused).
    pub stars: f64,
    /// 0..1, the sum of the contributions.
    pub score: f64,
    /// Each ranker's weighted contribution to the score.
    pub contributions: std::collections::BTreeMap<String, f64>,
    /// Why the host was refused, when it was.
    pub rejected_by: Option<String>,
    /// Soft rules this (feasible) host breaks.
    pub unmet: Vec<String>,
}

/// Every host rated for one VM, best first, with the reasons.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RatingView {
    /// Where the VM would go.
    pub chosen: Option<HostId>,
    pub hosts: Vec<HostRatingView>,
    /// How many hosts each filter refused.
    pub rejected: std::collections::BTreeMap<String, usize>,
    /// Soft rules relaxed because nothing fitted with them.
    pub relaxed: Vec<String>,
}

/// How a VM was placed when vdc created it: its constraints and the rating then.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VmPlacementView {
    pub vm_id: VmId,
    pub constraints: crate::PlacementConstraints,
    pub decided_at: String,
    pub decided_by: String,
    /// The host chosen, or pinned by the request.
    pub host_id: HostId,
    pub host_name: String,
    /// True when the request pinned the host (the rating covers that host only).
    pub pinned: bool,
    /// The best hosts then (at most 10), with their reasons, and every refusal counted.
    pub rating: RatingView,
}

/// Jobs accepted for a group of VMs, in request order.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VmGroupAccepted {
    pub vms: Vec<JobAccepted>,
}
