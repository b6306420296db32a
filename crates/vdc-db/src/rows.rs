//! Domain records as the store holds them. The server turns them into wire views.

use serde::{Deserialize, Serialize};
use vdc_types::*;

/// A site.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    pub id: SiteId,
    pub name: String,
}

/// A cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    pub id: ClusterId,
    pub site_id: SiteId,
    pub name: String,
    /// Overcommit placement allows: vCPUs per logical CPU, memory per byte of RAM.
    pub vcpu_ratio: f64,
    pub memory_ratio: f64,
    pub balance_mode: BalanceMode,
    /// The balancer may put empty hosts in standby and wake them.
    pub power_saving: bool,
}

/// A hypervisor host.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    pub id: HostId,
    pub cluster_id: ClusterId,
    pub name: String,
    pub uri: String,
    pub hypervisor: HypervisorType,
    pub hypervisor_version: String,
    pub state: HostState,
    pub state_reason: Option<String>,
    pub maintenance: bool,
    pub cpu_vendor: String,
    pub cpu_model: String,
    pub cpu_features: Vec<String>,
    pub topology: CpuTopology,
    pub memory_mib: u64,
    pub numa_cells: Vec<NumaCell>,
    pub last_sync_at: Option<UnixMs>,
    pub created_at: UnixMs,
    /// libvirt domain type for VMs vdc defines on this host (`kvm`, `qemu`).
    pub domain_type: Option<String>,
    /// What placement may use the host for.
    pub dedicated_to: Option<DepartmentId>,
    pub licensed_software: Vec<String>,
    pub licence_cost_per_vcpu: f64,
    /// Measured at the last sample (`None` before the first).
    pub load: Option<HostLoad>,
}

/// A host's identity and state ([`DataStore::host_heads`]).
#[derive(Debug, Clone, PartialEq)]
pub struct HostHead {
    pub id: HostId,
    pub cluster_id: ClusterId,
    pub name: String,
    pub uri: String,
    pub state: HostState,
}

/// A host's measured load: CPU utilisation and vCPU wait (0..1) at `sampled_at`, and the
/// per-hour-of-day utilisation histogram (JSON, the engine's `HourlyDigest`).
#[derive(Debug, Clone, PartialEq)]
pub struct HostLoad {
    pub sampled_at: UnixMs,
    pub cpu_load: f64,
    /// `None` until two readings could be compared.
    pub vcpu_wait: Option<f64>,
    /// Share of the running VMs' memory the balloon took back (0..1).
    pub balloon: f64,
    /// The guests' swap traffic, KiB/s (0 until two readings compare).
    pub swap_kib_s: f64,
    pub digest: String,
}

/// One cluster's peak use on one day (days since 1970-01-01, UTC) and its capacity then.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClusterDay {
    pub cluster_id: ClusterId,
    pub day: i64,
    pub vcpus_allocated: u64,
    pub vcpu_capacity: u64,
    pub memory_allocated_mib: u64,
    pub memory_capacity_mib: u64,
    /// Logical CPUs busy, and logical CPUs.
    pub cpu_demand: f64,
    pub cpu_capacity: f64,
}

impl ClusterDay {
    /// The day's peak: the larger use of `self` and `other` (same cluster and day), the
    /// capacity of `other` (the later reading).
    pub fn peak_with(self, other: ClusterDay) -> ClusterDay {
        ClusterDay {
            vcpus_allocated: self.vcpus_allocated.max(other.vcpus_allocated),
            memory_allocated_mib: self.memory_allocated_mib.max(other.memory_allocated_mib),
            cpu_demand: self.cpu_demand.max(other.cpu_demand),
            ..other
        }
    }
}

/// A VM's placement constraints and the decision vdc took when it created the VM.
#[derive(Debug, Clone, PartialEq)]
pub struct VmPlacementRec {
    pub vm_id: VmId,
    pub constraints: PlacementConstraints,
    pub decided_at: UnixMs,
    pub decided_by: String,
    /// The decision as the server recorded it (JSON).
    pub decision: String,
    /// Direct kernel boot it was created with, if any.
    pub boot: Option<KernelBootSpec>,
}

impl Cluster {
    /// A host's vCPU and memory (MiB) capacity under this cluster's overcommit ratios.
    pub fn caps(&self, h: &Host) -> (u64, u64) {
        (
            (f64::from(h.topology.logical_cpus()) * self.vcpu_ratio).floor() as u64,
            (h.memory_mib as f64 * self.memory_ratio).floor() as u64,
        )
    }
}

/// A datastore.
#[derive(Debug, Clone, PartialEq)]
pub struct Datastore {
    pub id: DatastoreId,
    pub cluster_id: ClusterId,
    pub name: String,
    pub kind: String,
    pub capacity_gib: u64,
    pub free_gib: u64,
}

/// A volume (disk image) in a datastore.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VolumeRec {
    /// Datastore name (in the host's cluster).
    pub datastore: String,
    pub name: String,
    pub path: String,
    pub format: String,
    pub capacity_mib: u64,
    pub allocation_mib: u64,
}

/// A recorded volume.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    pub id: VolumeId,
    pub datastore_id: DatastoreId,
    pub name: String,
    pub path: String,
    pub format: String,
    pub capacity_mib: u64,
    pub allocation_mib: u64,
}

/// A network.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub id: NetworkId,
    pub cluster_id: ClusterId,
    pub name: String,
    pub vlan: Option<u32>,
}

/// A disk of a VM (stored as JSON inside the VM row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskRec {
    pub device: String,
    pub size_gib: u64,
    pub datastore: String,
    pub format: String,
    /// The file or device, when the host reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// A NIC of a VM (stored as JSON inside the VM row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicRec {
    pub mac: String,
    pub network: String,
}

/// A virtual machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Vm {
    pub id: VmId,
    pub name: String,
    pub host_id: Option<HostId>,
    pub cluster_id: Option<ClusterId>,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disks: Vec<DiskRec>,
    pub nics: Vec<NicRec>,
    pub power_state: PowerState,
    pub owner: Option<String>,
    pub department_id: Option<DepartmentId>,
    pub purpose: Option<String>,
    pub tags: Vec<String>,
    pub lease_expires_at: Option<UnixMs>,
    pub created_by: Option<String>,
    pub created_at: UnixMs,
    pub updated_at: UnixMs,
    pub generation: i64,
    pub runtime_gen: i64,
    pub management: Management,
}

/// A physical (non-virtual) server.
#[derive(Debug, Clone, PartialEq)]
pub struct PhysicalServer {
    pub id: PhysicalServerId,
    pub name: String,
    pub serial: Option<String>,
    pub cpu_model: Option<String>,
    pub sockets: u32,
    pub cores_per_socket: u32,
    pub memory_mib: u64,
    pub site_id: Option<SiteId>,
    pub department_id: Option<DepartmentId>,
    pub owner: Option<String>,
    pub purpose: Option<String>,
    pub created_at: UnixMs,
}

/// A department.
#[derive(Debug, Clone, PartialEq)]
pub struct Department {
    pub id: DepartmentId,
    pub name: String,
    pub cost_centre: String,
    pub created_at: UnixMs,
}

/// A user account.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: UserId,
    pub username: String,
    /// PHC-format argon2 hash; a directory user's password stays in the directory (this
    /// holds no valid hash then).
    pub password_hash: String,
    /// The department the user belongs to.
    pub department_id: Option<DepartmentId>,
    /// A directory user's entry; `None` for a local user.
    pub directory_dn: Option<String>,
    pub created_at: UnixMs,
}

/// A role held by a user at a scope (global when neither department nor cluster).
#[derive(Debug, Clone, PartialEq)]
pub struct RoleBinding {
    pub id: RoleBindingId,
    pub user_id: UserId,
    /// A built-in role's name or a custom role's.
    pub role: String,
    pub department_id: Option<DepartmentId>,
    pub cluster_id: Option<ClusterId>,
    /// The directory group this role comes from (replaced at each of the user's logins);
    /// `None` for a role granted in vdc.
    pub from_group: Option<String>,
    pub created_at: UnixMs,
}

/// A token as stored (never the token itself: its SHA-256).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    /// `None` for login sessions made before tokens had ids.
    pub id: Option<TokenId>,
    pub user_id: UserId,
    pub name: Option<String>,
    pub kind: TokenKind,
    /// The permissions the token is limited to; `None`: all its user's.
    pub permissions: Option<Vec<Permission>>,
    /// SHA-256 of a cookie session's CSRF token.
    pub csrf_hash: Option<String>,
    pub created_at: UnixMs,
    pub expires_at: UnixMs,
}

/// A custom role.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomRole {
    pub name: String,
    pub description: String,
    pub permissions: Vec<Permission>,
    pub created_at: UnixMs,
}

/// An audit record.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: AuditId,
    pub at: UnixMs,
    pub actor: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: Option<String>,
    pub result: AuditResult,
    pub detail: Option<String>,
}

/// A journaled job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: JobId,
    pub kind: String,
    pub target_id: Option<String>,
    pub state: JobState,
    /// The job's input as JSON.
    pub params: String,
    pub steps: Vec<String>,
    pub steps_done: u32,
    pub error: Option<String>,
    pub created_by: String,
    pub created_at: UnixMs,
    pub updated_at: UnixMs,
}

/// Hardware facts of a host as its driver reports them.
#[derive(Debug, Clone, PartialEq)]
pub struct HostHardware {
    pub hypervisor: HypervisorType,
    pub hypervisor_version: String,
    pub cpu_vendor: String,
    pub cpu_model: String,
    pub cpu_features: Vec<String>,
    pub topology: CpuTopology,
    pub memory_mib: u64,
    pub numa_cells: Vec<NumaCell>,
}
