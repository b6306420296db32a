//! Answers of the `reports` endpoints: sprawl, chargeback, licences, patches, imports.

use super::*;

/// A department and an amount of money.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DepartmentAmountView {
    /// `null`: VMs and volumes of no department.
    pub department_id: Option<DepartmentId>,
    pub department: Option<String>,
    pub amount: f64,
}

/// A smaller size that would do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RightSizeView {
    pub vcpus: u32,
    pub memory_mib: u64,
}

/// One piece of sprawl, with its evidence and what it costs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SprawlFindingView {
    pub kind: SprawlKind,
    /// The VM (`null` for a volume).
    pub vm_id: Option<VmId>,
    /// The VM's name, or the volume's path.
    pub name: String,
    pub department_id: Option<DepartmentId>,
    pub department: Option<String>,
    pub owner: Option<String>,
    pub evidence: String,
    /// What it costs a month at the price list, and what of that is wasted.
    pub monthly_cost: f64,
    pub monthly_waste: f64,
    pub right_size: Option<RightSizeView>,
}

/// `GET /api/v1/reports/sprawl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SprawlReportView {
    pub generated_at: String,
    pub currency: String,
    /// The days of use judged (idle, oversized) and the days off that make a zombie.
    pub days: u32,
    pub zombie_days: u32,
    pub findings: Vec<SprawlFindingView>,
    /// Monthly waste, each VM counted once (its largest finding).
    pub total_waste: f64,
    pub waste_by_department: Vec<DepartmentAmountView>,
}

/// One line of a bill.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChargeLineView {
    pub item: String,
    pub quantity: f64,
    /// `vCPU-hours`, `GiB-hours`, `hours` or `month`.
    pub unit: String,
    pub unit_price: f64,
    pub amount: f64,
}

/// A VM's bill for the period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VmBillView {
    pub vm_id: VmId,
    pub name: String,
    pub lines: Vec<ChargeLineView>,
    pub total: f64,
}

/// A department's statement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatementView {
    pub department_id: Option<DepartmentId>,
    pub department: Option<String>,
    pub vms: Vec<VmBillView>,
    /// The department's fixed charge for the period.
    pub fixed: Option<ChargeLineView>,
    pub total: f64,
}

/// `GET /api/v1/reports/chargeback`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChargebackView {
    /// `YYYY-MM`.
    pub month: String,
    pub model: ChargeModel,
    pub currency: String,
    /// The period billed: the month, or its part up to now.
    pub from: String,
    pub to: String,
    pub statements: Vec<StatementView>,
    pub total: f64,
}

/// What an import of another tool's export wrote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImportView {
    pub source: String,
    /// The external site it went to (`rvtools:SOURCE`).
    pub site: String,
    pub clusters: usize,
    pub hosts: usize,
    pub vms: usize,
    pub templates_skipped: usize,
    /// VMs on a host the export does not list (or none): imported without a host.
    pub vms_without_host: usize,
    /// VMs of an earlier import of the source that are gone from this one.
    pub vms_removed: usize,
}

/// A VM that runs a licensed product.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LicenceVmView {
    pub vm_id: VmId,
    pub name: String,
    pub department_id: Option<DepartmentId>,
    pub department: Option<String>,
    pub owner: Option<String>,
    pub power_state: PowerState,
    /// Why it counts: `placement requires it`, `tagged`, `guest OS winsrv-2019`.
    pub why: String,
    pub host: Option<String>,
    /// Hosts it runs on or may be moved to (host-counted models).
    pub may_run_on: usize,
    /// Its placement requires the product: it only goes to hosts licensed for it.
    pub confined: bool,
}

/// A host a product needs licensing on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LicenceHostView {
    pub host_id: HostId,
    pub name: String,
    /// Licences it needs, in the product's unit.
    pub units: u64,
    /// It runs a VM of the product now (else VMs may only be moved to it).
    pub current: bool,
    /// It is marked licensed for the product (`vdc host set --licensed`).
    pub licensed: bool,
    pub why: String,
}

/// An idle or long-off VM that holds a licence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IdleLicenceView {
    pub vm_id: VmId,
    pub name: String,
    pub department_id: Option<DepartmentId>,
    pub department: Option<String>,
    pub owner: Option<String>,
    pub evidence: String,
    /// The product's monthly price per VM.
    pub monthly_cost: f64,
}

/// One product's compliance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProductComplianceView {
    pub product: String,
    pub model: LicenceModel,
    pub owned: u64,
    /// Needed where its VMs run now.
    pub needed_now: u64,
    /// Needed counting every host its VMs may be moved to.
    pub needed: u64,
    pub shortfall: u64,
    pub vms: Vec<LicenceVmView>,
    pub hosts: Vec<LicenceHostView>,
    /// VMs with no host or cluster to count them on (host-counted models).
    pub uncounted: Vec<String>,
    pub idle: Vec<IdleLicenceView>,
}

/// `GET /api/v1/reports/licences`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LicenceReportView {
    pub generated_at: String,
    pub currency: String,
    /// The report counts every VM. When not (a department asked for, or a caller who sees
    /// part of the estate), needed counts only the VMs in view, against all licences owned.
    pub whole_estate: bool,
    pub products: Vec<ProductComplianceView>,
    /// Products short of licences.
    pub short: usize,
    /// What idle VMs' licences cost a month.
    pub idle_monthly_cost: f64,
}

/// One VM's patch level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PatchLineView {
    pub vm_id: VmId,
    pub name: String,
    pub department_id: Option<DepartmentId>,
    pub department: Option<String>,
    pub owner: Option<String>,
    /// OS key, version and name as the source gave them (`null`: unknown).
    pub os: Option<String>,
    pub version: Option<String>,
    pub os_name: Option<String>,
    pub source: Option<GuestOsSource>,
    /// The baseline applied.
    pub baseline: Option<crate::OsBaseline>,
    pub status: PatchStatus,
}

/// VMs behind their baseline, per owner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OwnerCountView {
    pub owner: Option<String>,
    pub behind: usize,
}

/// `GET /api/v1/reports/patches`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PatchReportView {
    pub generated_at: String,
    /// Behind first, then unknown, unchecked and current.
    pub vms: Vec<PatchLineView>,
    pub behind_by_owner: Vec<OwnerCountView>,
    pub current: usize,
    pub behind: usize,
    pub unknown: usize,
    pub unchecked: usize,
}
