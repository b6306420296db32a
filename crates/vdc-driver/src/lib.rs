//! The hypervisor seam. [`HostDriver`] is the one trait through which vdc touches a hypervisor
//! host; the simulator ([`sim`]) and the libvirt driver implement it, and both follow the one VM
//! state machine in [`state`]. Nothing above this crate knows which driver it talks to.

pub mod conformance;
pub mod domxml;
pub mod lab;
pub mod shapes;
pub mod sim;
pub mod state;

use std::fmt;
use uuid::Uuid;
use vdc_types::{HypervisorType, PowerState, UnixMs, VmAction};

pub use state::{InvalidStateTransition, requested_state, transition};
pub use vdc_types::{CpuTopology, NumaCell};

/// What a driver call can fail with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DriverError {
    /// The host (or its management daemon) does not answer.
    #[error("host {uri} unreachable: {reason}")]
    HostUnreachable { uri: String, reason: String },
    /// No VM with this UUID on this host.
    #[error("no VM {id} on this host")]
    NoSuchVm { id: Uuid },
    /// A VM with this name or UUID is already defined on the host.
    #[error("VM {name} already exists on this host")]
    AlreadyExists { name: String },
    /// The VM's power state does not allow the action.
    #[error(transparent)]
    InvalidTransition(#[from] InvalidStateTransition),
    /// The host lacks the resources (memory, datastore space) to do it.
    #[error("host lacks resources: {reason}")]
    NoResources { reason: String },
    /// No snapshot of this name.
    #[error("VM {id} has no snapshot {name}")]
    NoSuchSnapshot { id: Uuid, name: String },
    /// The hypervisor refused or failed the operation.
    #[error("{op} failed: {reason}")]
    OperationFailed { op: &'static str, reason: String },
}

/// A storage pool as a host reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DatastoreInfo {
    pub name: String,
    /// e.g. `dir`, `logical`, `netfs`, `rbd`.
    pub kind: String,
    pub capacity_gib: u64,
    pub free_gib: u64,
}

/// A volume (disk image) in a storage pool.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VolumeInfo {
    /// The pool (datastore) it lives in.
    pub datastore: String,
    pub name: String,
    pub path: String,
    /// `qcow2`, `raw`, `iso`, …; empty when the pool does not say.
    pub format: String,
    /// Size the guest sees.
    pub capacity_mib: u64,
    /// Space it takes in the pool now.
    pub allocation_mib: u64,
}

/// A virtual network as a host reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NetworkInfo {
    pub name: String,
    pub vlan: Option<u32>,
}

/// A host's identity and hardware, as the hypervisor reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostInfo {
    pub hostname: String,
    pub hypervisor: HypervisorType,
    pub hypervisor_version: String,
    pub cpu_vendor: String,
    pub cpu_model: String,
    pub cpu_features: Vec<String>,
    pub topology: CpuTopology,
    pub memory_mib: u64,
    pub numa_cells: Vec<NumaCell>,
    pub datastores: Vec<DatastoreInfo>,
    /// Volumes in those datastores (empty where the driver does not list them).
    pub volumes: Vec<VolumeInfo>,
    pub networks: Vec<NetworkInfo>,
}

/// A disk attached to a VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskInfo {
    /// Guest device, e.g. `vda`.
    pub device: String,
    pub size_gib: u64,
    pub datastore: String,
    /// `qcow2`, `raw`, `vmdk`, …
    pub format: String,
    /// The file or device it is, when the host says (ignored by `define`).
    pub path: Option<String>,
}

/// A NIC attached to a VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicInfo {
    pub mac: String,
    pub network: String,
}

/// vdc's ownership data, kept with the VM on the hypervisor (libvirt `<metadata>`), so the
/// inventory can be rebuilt from the hosts alone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VmMetadata {
    /// The VM carries vdc's metadata: vdc created it or an admin adopted it. A VM without it
    /// appeared behind vdc's back and is flagged `unmanaged` when discovered.
    pub managed: bool,
    pub owner: Option<String>,
    /// Department name.
    pub department: Option<String>,
    pub purpose: Option<String>,
    pub tags: Vec<String>,
    pub lease_expires_at: Option<UnixMs>,
}

/// What the hypervisor says about one VM.
#[derive(Debug, Clone, PartialEq)]
pub struct VmInfo {
    pub id: Uuid,
    pub name: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disks: Vec<DiskInfo>,
    pub nics: Vec<NicInfo>,
    pub state: PowerState,
    /// Bumped by the driver on every change of this VM; the store applies a report only when
    /// its generation is newer than the one it holds.
    pub generation: u64,
    pub metadata: VmMetadata,
    /// The guest OS, when the host knows it (libosinfo metadata).
    pub guest_os: Option<vdc_types::GuestOs>,
}

/// Direct kernel boot: the host starts the guest from a kernel (and initrd) file on the host
/// instead of from its disks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelBoot {
    pub kernel: String,
    pub initrd: Option<String>,
    pub cmdline: Option<String>,
}

/// What vdc asks a host to define.
#[derive(Debug, Clone, PartialEq)]
pub struct VmSpec {
    pub id: Uuid,
    pub name: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disks: Vec<DiskInfo>,
    pub nics: Vec<NicInfo>,
    pub metadata: VmMetadata,
    /// The guest OS as a libosinfo id (`http://debian.org/debian/12`), kept in the VM's
    /// libosinfo metadata as virt-install does.
    pub os_id: Option<String>,
    /// Boot from a kernel on the host; `None` boots from the first disk.
    pub boot: Option<KernelBoot>,
}

/// A VM snapshot (disks and, for a running VM, memory) as the host keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub name: String,
    pub created_at: UnixMs,
    /// The VM's power state when the snapshot was taken; reverting returns to it.
    pub state: PowerState,
}

/// Host-side utilisation.
#[derive(Debug, Clone, PartialEq)]
pub struct HostStats {
    /// 0.0 – 1.0 of all logical CPUs.
    pub cpu_utilisation: f64,
    pub memory_used_mib: u64,
    pub running_vms: u32,
}

/// VM counters as the host sees them. Counters are cumulative since the VM started; a
/// field the hypervisor does not report is `None` (or empty).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VmStats {
    /// Cumulative CPU time consumed, nanoseconds.
    pub cpu_time_ns: u64,
    /// Per vCPU: cumulative time the vCPU was runnable but waited for a host CPU, nanoseconds
    /// (the host-side CPU-ready / steal signal).
    pub vcpu_delay_ns: Vec<u64>,
    /// Resident memory of the VM process on the host.
    pub memory_rss_mib: u64,
    /// Memory the balloon currently gives the guest.
    pub balloon_current_mib: Option<u64>,
    /// The most the balloon may give it (the VM's memory).
    pub balloon_maximum_mib: Option<u64>,
    /// Memory the guest sees as available (from the balloon driver's stats).
    pub balloon_available_mib: Option<u64>,
    /// Guest swap traffic, KiB.
    pub swap_in_kib: Option<u64>,
    pub swap_out_kib: Option<u64>,
    /// Summed over all disks.
    pub block_rd_bytes: u64,
    pub block_wr_bytes: u64,
    pub block_rd_reqs: u64,
    pub block_wr_reqs: u64,
    /// Summed over all NICs.
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
}

/// Opens drivers for hosts by URI. The server knows only this trait; the binary injects the
/// libvirt driver's connector, so the server crate does not depend on a hypervisor library.
pub trait Connector: Send + Sync + fmt::Debug {
    /// A driver for the host at `uri` whose VMs get the domain type `domain_type` (`kvm`,
    /// `qemu`; the driver's default when `None`). Blocks: call it on a blocking thread.
    fn connect(
        &self,
        uri: &str,
        domain_type: Option<&str>,
    ) -> Result<std::sync::Arc<dyn HostDriver>, DriverError>;
}

/// One connection to one hypervisor host. Calls block (libvirt's API is synchronous), so async
/// callers run them on a blocking thread.
pub trait HostDriver: Send + Sync + fmt::Debug {
    /// The connection URI, e.g. `qemu+ssh://kvm1/system` or `sim:///host-0001`.
    fn uri(&self) -> &str;
    /// Hardware and identity of the host.
    fn host_info(&self) -> Result<HostInfo, DriverError>;
    /// Whether the host answers on the management path (the HA controller's ping). A driver
    /// with a cheaper round trip than [`HostDriver::host_info`] overrides it.
    fn ping(&self) -> Result<(), DriverError> {
        self.host_info().map(|_| ())
    }
    /// Every VM defined on the host.
    fn list_vms(&self) -> Result<Vec<VmInfo>, DriverError>;
    /// One VM.
    fn vm_info(&self, id: Uuid) -> Result<VmInfo, DriverError>;
    /// Defines (but does not start) a VM. Defining a VM that already exists with the same
    /// UUID and name returns it unchanged, so a retried job step is harmless.
    fn define(&self, spec: &VmSpec) -> Result<VmInfo, DriverError>;
    /// Starts, shuts down (ACPI), stops (destroy), suspends or resumes a VM, following
    /// [`transition`].
    fn act(&self, id: Uuid, action: VmAction) -> Result<VmInfo, DriverError>;
    /// Removes a shut-off VM's definition (its disks stay).
    fn undefine(&self, id: Uuid) -> Result<(), DriverError>;
    /// Live-migrates a VM to the host at `target_uri`.
    fn migrate(&self, id: Uuid, target_uri: &str) -> Result<VmInfo, DriverError>;
    /// Host utilisation.
    fn host_stats(&self) -> Result<HostStats, DriverError>;
    /// One VM's counters.
    fn vm_stats(&self, id: Uuid) -> Result<VmStats, DriverError>;
    /// Counters of every VM that runs (or is paused) on the host, in one call.
    fn all_vm_stats(&self) -> Result<Vec<(Uuid, VmStats)>, DriverError>;
    /// Rewrites vdc's metadata kept with the VM (ownership; `managed` marks it as vdc's).
    fn set_metadata(&self, id: Uuid, metadata: &VmMetadata) -> Result<VmInfo, DriverError>;
    /// Takes a snapshot named `name` (disks, plus memory when the VM runs). Taking a snapshot
    /// whose name exists returns the existing one, so a retried job step is harmless.
    fn snapshot_create(&self, id: Uuid, name: &str) -> Result<SnapshotInfo, DriverError>;
    /// The VM's snapshots, oldest first.
    fn snapshot_list(&self, id: Uuid) -> Result<Vec<SnapshotInfo>, DriverError>;
    /// Returns the VM to snapshot `name` (its disks, memory and power state).
    fn snapshot_revert(&self, id: Uuid, name: &str) -> Result<VmInfo, DriverError>;
    /// Deletes snapshot `name`; deleting one that does not exist succeeds.
    fn snapshot_delete(&self, id: Uuid, name: &str) -> Result<(), DriverError>;
    /// Asks the host to call `notify` with a VM's UUID whenever the hypervisor reports a
    /// lifecycle change of that VM (defined, started, suspended, resumed, stopped, undefined,
    /// migrated), from a driver thread, for as long as the driver lives, across reconnects.
    /// `notify` must return quickly. Returns `false` when the driver has no events; the
    /// periodic sync is then its only source of freshness.
    fn watch(&self, notify: VmEventSink) -> Result<bool, DriverError> {
        let _ = notify;
        Ok(false)
    }
    /// Powers the host off or on out of band (as its BMC would), for hosts vdc puts in
    /// standby. Powering off a host that runs VMs fails. Drivers without power control fail;
    /// vdc then uses its configured power command.
    fn set_power(&self, on: bool) -> Result<(), DriverError> {
        let _ = on;
        Err(DriverError::OperationFailed {
            op: "power",
            reason: "this driver has no power control; configure a power command".into(),
        })
    }
    /// The monotonic clock, in nanoseconds, that rates of the host's counters are measured
    /// against (the process clock; the simulator's own time for the simulator).
    fn clock_ns(&self) -> u128 {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_nanos()
    }
}

/// Where a driver reports VM lifecycle events: called with the VM's UUID.
pub type VmEventSink = std::sync::Arc<dyn Fn(Uuid) + Send + Sync>;
