//! Answers of the `inventory` endpoints: sites, clusters, hosts, storage, networks, physical
//! servers.

use super::*;

/// A site.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SiteView {
    pub id: SiteId,
    pub name: String,
}

/// A cluster of hosts.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ClusterView {
    pub id: ClusterId,
    pub name: String,
    pub site_id: SiteId,
    /// vCPUs placement allows per logical CPU of its hosts.
    pub vcpu_ratio: f64,
    /// Memory placement allows per byte of its hosts' RAM (1: no overcommit).
    pub memory_ratio: f64,
    pub balance_mode: BalanceMode,
    /// The balancer (in automatic mode) puts empty hosts in standby and wakes them when the
    /// cluster needs capacity.
    pub power_saving: bool,
}

/// A hypervisor host.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HostView {
    pub id: HostId,
    pub name: String,
    pub cluster_id: ClusterId,
    pub hypervisor: HypervisorType,
    /// libvirt connection URI (or `sim://…`).
    pub uri: String,
    pub state: HostState,
    /// Why the host is unreachable, when it is.
    pub state_reason: Option<String>,
    pub maintenance: bool,
    pub cpu_vendor: String,
    pub cpu_model: String,
    pub cpu_features: Vec<String>,
    pub sockets: u32,
    pub cores_per_socket: u32,
    pub threads_per_core: u32,
    pub memory_mib: u64,
    pub numa_cells: Vec<NumaCell>,
    pub last_sync_at: Option<String>,
    /// The department the host is reserved for, if any.
    pub dedicated_to: Option<DepartmentId>,
    /// Software the host is licensed for.
    pub licensed_software: Vec<String>,
    pub licence_cost_per_vcpu: f64,
    /// Measured by the load sampler: CPU utilisation and vCPU wait (CPU-ready share), 0..1,
    /// and when (`null` before the first sample).
    pub cpu_load: Option<f64>,
    pub vcpu_wait: Option<f64>,
    /// Memory pressure at the last sample: the share of its running VMs' memory the balloon
    /// took back (0..1), and their guests' swap traffic in KiB/s.
    pub balloon_share: Option<f64>,
    pub swap_kib_s: Option<f64>,
    pub load_sampled_at: Option<String>,
    /// What the HA controller makes of the host (`null` before its first round, or when HA
    /// is off).
    pub ha: Option<HostHaView>,
}

impl HostView {
    /// The host's CPU topology, from its three flat fields.
    pub fn topology(&self) -> CpuTopology {
        CpuTopology::new(self.sockets, self.cores_per_socket, self.threads_per_core)
    }
}

/// The HA controller's view of a host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HostHaView {
    pub verdict: HostVerdict,
    /// When it was last found dead, and fenced after that.
    pub dead_at: Option<String>,
    pub fenced_at: Option<String>,
}

/// A datastore (storage pool).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DatastoreView {
    pub id: DatastoreId,
    pub name: String,
    pub cluster_id: ClusterId,
    pub kind: String,
    pub capacity_gib: u64,
    pub free_gib: u64,
}

/// A virtual network.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NetworkView {
    pub id: NetworkId,
    pub name: String,
    pub cluster_id: ClusterId,
    pub vlan: Option<u32>,
}

/// A volume (disk image) in a datastore.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VolumeView {
    pub id: VolumeId,
    pub datastore_id: DatastoreId,
    pub name: String,
    /// Path on the host.
    pub path: String,
    pub format: String,
    pub capacity_mib: u64,
    pub allocation_mib: u64,
}

/// A host's utilisation now.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HostStatsView {
    pub host_id: HostId,
    /// 0.0 – 1.0 of all logical CPUs.
    pub cpu_utilisation: f64,
    pub memory_used_mib: u64,
    pub running_vms: u32,
    pub sampled_at: String,
}

/// A physical (non-virtual) server.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PhysicalServerView {
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
    pub created_at: String,
}
