//! Answers of the `governance` endpoints: users, roles, departments, requests, quotas, prices,
//! the audit log.

use super::*;

/// A user account (never with its password hash).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub id: UserId,
    pub username: String,
    /// The department (cost centre) the user belongs to.
    pub department_id: Option<DepartmentId>,
    /// For a user from the LDAP directory, its entry (its password stays there).
    pub directory_dn: Option<String>,
    /// The roles the user holds, each at its scope.
    pub roles: Vec<RoleBindingView>,
    pub created_at: String,
}

/// A role held at a scope: global when neither department nor cluster is given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RoleBindingView {
    pub id: String,
    /// A built-in role (`admin`, `operator`, `requester`, `approver`, `auditor`, `viewer`) or a
    /// custom one.
    pub role: String,
    pub department_id: Option<DepartmentId>,
    pub cluster_id: Option<ClusterId>,
    /// The directory group this role comes from (set again at each login); absent for a
    /// role granted in vdc.
    pub from_group: Option<String>,
}

/// One approver's decision on a request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalView {
    /// A username, or `auto` when a rule approved it.
    pub approver: String,
    pub at: String,
    pub approved: bool,
    pub reason: Option<String>,
}

/// A provisioning request: VMs asked for, their monthly cost, and where approval stands.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RequestView {
    pub id: RequestId,
    pub requester: String,
    pub department_id: Option<DepartmentId>,
    pub purpose: String,
    pub vms: Vec<crate::VmCreateParams>,
    /// From the price list.
    pub cost_month: f64,
    pub currency: String,
    pub state: RequestState,
    /// Decisions so far, in order.
    pub approvals: Vec<ApprovalView>,
    /// Approvals it needs.
    pub approvals_needed: u32,
    /// Why it was auto-approved, or why it waits for approvers.
    pub rule: String,
    /// Why it was rejected or failed.
    pub reason: Option<String>,
    /// The VMs created for it.
    pub vm_ids: Vec<VmId>,
    pub created_at: String,
    pub updated_at: String,
}

/// What resources cost per month, in one currency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceListView {
    /// ISO 4217 code, e.g. `EUR`.
    pub currency: String,
    pub vcpu_month: f64,
    pub memory_gib_month: f64,
    pub disk_gib_month: f64,
    /// Per VM running the software, by software name.
    #[serde(default)]
    pub licences: std::collections::BTreeMap<String, f64>,
    /// Fixed per VM, per month (in quotas and statements).
    #[serde(default)]
    pub vm_month: f64,
    /// Fixed per department, per month (in statements).
    #[serde(default)]
    pub department_month: f64,
}

/// Resources in use (or asked for) and their monthly cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QuotaUsageView {
    pub vcpus: u64,
    pub memory_mib: u64,
    pub disk_gib: u64,
    pub vms: u64,
    pub money_month: f64,
}

/// A department's quota and what it uses now.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct QuotaView {
    pub department_id: DepartmentId,
    /// `null` limits are unlimited; money per month in the price list's currency.
    pub vcpus: Option<u64>,
    pub memory_mib: Option<u64>,
    pub disk_gib: Option<u64>,
    pub vms: Option<u64>,
    pub money_month: Option<f64>,
    pub currency: String,
    pub warn_percent: u32,
    pub grace_percent: u32,
    pub mode: QuotaMode,
    pub usage: QuotaUsageView,
}

/// A role: its permissions, built in or custom.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RoleView {
    pub name: String,
    pub builtin: bool,
    pub description: String,
    pub permissions: Vec<Permission>,
}

/// A department (cost centre).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DepartmentView {
    pub id: DepartmentId,
    pub name: String,
    pub cost_centre: String,
    pub created_at: String,
}

/// One audit record.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditView {
    pub id: AuditId,
    pub at: String,
    /// Username, or `system` for controllers.
    pub actor: String,
    /// e.g. `vm.create`, `auth.login`.
    pub action: String,
    pub target_kind: String,
    pub target_id: Option<String>,
    pub result: AuditResult,
    pub detail: Option<String>,
}

/// vCPUs and memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AmountView {
    pub vcpus: u64,
    pub memory_mib: u64,
}
