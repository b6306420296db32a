//! Answers of the `jobs` endpoints and of every operation that starts one.

use super::*;

/// One step of a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobStepView {
    pub name: String,
    pub done: bool,
}

/// A long-running, journaled operation.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    pub id: JobId,
    /// e.g. `vm.create`, `vm.start`, `vm.delete`.
    pub kind: String,
    pub target_id: Option<String>,
    pub state: JobState,
    /// 0–100.
    pub progress: u8,
    pub steps: Vec<JobStepView>,
    pub error: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A job accepted by a mutating call (HTTP 202).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct JobAccepted {
    pub job: JobView,
    /// The VM the job works on, when there is one.
    pub vm_id: Option<VmId>,
}
