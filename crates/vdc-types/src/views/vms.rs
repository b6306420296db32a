//! Answers of the `vms` endpoints: VMs, their disks, NICs, stats and snapshots.

use super::*;

/// A disk of a VM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DiskView {
    /// Guest device name, e.g. `vda`.
    pub device: String,
    pub size_gib: u64,
    pub datastore: String,
    /// Image format, e.g. `qcow2` or `raw`.
    pub format: String,
}

/// A NIC of a VM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NicView {
    pub mac: String,
    pub network: String,
}

/// A virtual machine.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VmView {
    /// Also the hypervisor's domain UUID.
    pub id: VmId,
    pub name: String,
    pub host_id: Option<HostId>,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disks: Vec<DiskView>,
    pub nics: Vec<NicView>,
    pub power_state: PowerState,
    /// `unmanaged`: found on a hypervisor without vdc having created it.
    pub management: Management,
    pub owner: Option<String>,
    pub department_id: Option<DepartmentId>,
    pub purpose: Option<String>,
    pub tags: Vec<String>,
    pub lease_expires_at: Option<String>,
    pub created_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Bumped on every change of this record; pass it back in PATCH to detect lost updates.
    pub generation: i64,
    /// The hypervisor-side generation of the last applied state report.
    pub runtime_generation: i64,
}

/// A VM's counters as its host measures them, cumulative since the VM started; `null` where
/// the hypervisor does not report a value.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VmStatsView {
    pub vm_id: VmId,
    pub power_state: PowerState,
    pub cpu_time_ns: u64,
    /// Per vCPU: time runnable but waiting for a host CPU (CPU ready / steal), ns.
    pub vcpu_delay_ns: Vec<u64>,
    pub memory_rss_mib: u64,
    pub balloon_current_mib: Option<u64>,
    pub balloon_available_mib: Option<u64>,
    pub swap_in_kib: Option<u64>,
    pub swap_out_kib: Option<u64>,
    pub block_rd_bytes: u64,
    pub block_wr_bytes: u64,
    pub block_rd_reqs: u64,
    pub block_wr_reqs: u64,
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
    pub sampled_at: String,
}

/// A VM snapshot.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SnapshotView {
    pub name: String,
    pub created_at: String,
    /// The VM's power state when it was taken; reverting returns to it.
    pub state: PowerState,
}
