//! Enumerations shared by the wire, the store and the drivers: power states, actions, roles.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Implements `as_str`, `Display` and `FromStr` from one list of (variant, wire name) pairs,
/// so the store, the wire and the CLI spell every state the same way.
macro_rules! wire_enum {
    ($name:ident { $($variant:ident => $s:literal),* $(,)? }) => {
        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The wire / store spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $s),*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($s => Ok($name::$variant),)*
                    other => Err(format!(
                        "unknown {} {other:?}; expected one of: {}",
                        stringify!($name),
                        [$($s),*].join(", ")
                    )),
                }
            }
        }
    };
}

/// The power state of a VM as the hypervisor reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PowerState {
    /// Defined but not running.
    Shutoff,
    /// Running.
    Running,
    /// Suspended in memory.
    Paused,
    /// A guest (ACPI) shutdown was requested and is in progress.
    ShuttingDown,
    /// The guest crashed.
    Crashed,
    /// The host cannot be reached, so the state is not known.
    Unknown,
}
wire_enum!(PowerState { Shutoff => "shutoff", Running => "running", Paused => "paused", ShuttingDown => "shutting_down", Crashed => "crashed", Unknown => "unknown" });

/// A lifecycle action a user can ask for on a VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VmAction {
    /// Power on.
    Start,
    /// Graceful (ACPI) shutdown.
    Shutdown,
    /// Hard power off (libvirt "destroy").
    Stop,
    /// Suspend in memory.
    Suspend,
    /// Resume a suspended VM.
    Resume,
}
wire_enum!(VmAction { Start => "start", Shutdown => "shutdown", Stop => "stop", Suspend => "suspend", Resume => "resume" });

/// Whether vdc manages a VM, or found it on a hypervisor without having created it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Management {
    /// Created through vdc, or adopted by an admin.
    Managed,
    /// Appeared on a hypervisor behind vdc's back (a rogue VM); waits for an admin to adopt
    /// or quarantine it.
    Unmanaged,
    /// A rogue VM an admin suspended and kept for inspection.
    Quarantined,
    /// In an estate imported from another tool's export (RVTools): read-only.
    External,
}
wire_enum!(Management { Managed => "managed", Unmanaged => "unmanaged", Quarantined => "quarantined", External => "external" });

/// What the load balancer does in a cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BalanceMode {
    /// Nothing.
    Off,
    /// Plans moves and shows them (`GET /plans/balance`); an operator starts them.
    Recommend,
    /// Starts the planned migrations itself, a few per round.
    Automatic,
}
wire_enum!(BalanceMode { Off => "off", Recommend => "recommend", Automatic => "automatic" });

/// Connection state of a host as seen by the inventory controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    /// The driver answers.
    Connected,
    /// The last sync could not reach the host; VM states on it are unknown.
    Unreachable,
    /// Powered off by vdc to save power (it held no running VM); woken when needed.
    Standby,
    /// Known from another tool's export (RVTools): reported on, never contacted or changed.
    External,
}
wire_enum!(HostState { Connected => "connected", Unreachable => "unreachable", Standby => "standby", External => "external" });

/// What kind of hypervisor a host runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HypervisorType {
    /// KVM (QEMU with hardware acceleration).
    Kvm,
    /// QEMU with software emulation (TCG).
    Qemu,
    /// Xen.
    Xen,
    /// Linux containers through libvirt-lxc.
    Lxc,
    /// VMware ESX(i).
    Esx,
    /// Microsoft Hyper-V.
    Hyperv,
    /// libvirt's in-process test driver.
    Test,
    /// vdc's simulated hypervisor.
    Sim,
}
wire_enum!(HypervisorType { Kvm => "kvm", Qemu => "qemu", Xen => "xen", Lxc => "lxc", Esx => "esx", Hyperv => "hyperv", Test => "test", Sim => "sim" });

/// A built-in role: a fixed set of [`Permission`]s. Users hold roles through role bindings,
/// each at a scope (global, a department, a cluster); custom roles are named permission sets
/// stored beside these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything in scope.
    Viewer,
    /// Reads, and asks for VMs through provisioning requests.
    Requester,
    /// Reads and operates VMs in scope (create, power actions, migrate, snapshots, delete).
    Operator,
    /// Reads, and approves or rejects provisioning requests.
    Approver,
    /// Reads, and reads the audit log.
    Auditor,
    /// Everything.
    Admin,
}
wire_enum!(Role { Viewer => "viewer", Requester => "requester", Operator => "operator", Approver => "approver", Auditor => "auditor", Admin => "admin" });

/// What a role allows. Checked against the scope of the resource acted on.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum Permission {
    /// See VMs, hosts, clusters, jobs, plans and placement ratings.
    #[serde(rename = "inventory.read")]
    InventoryRead,
    #[serde(rename = "vm.create")]
    VmCreate,
    /// Power actions, migration, snapshots, ownership changes.
    #[serde(rename = "vm.operate")]
    VmOperate,
    #[serde(rename = "vm.delete")]
    VmDelete,
    /// Adopt or quarantine VMs vdc did not create.
    #[serde(rename = "vm.adopt")]
    VmAdopt,
    /// Add, remove, configure, evacuate, power hosts; sync.
    #[serde(rename = "host.manage")]
    HostManage,
    /// Cluster settings (ratios, balancer, power saving).
    #[serde(rename = "cluster.manage")]
    ClusterManage,
    #[serde(rename = "department.manage")]
    DepartmentManage,
    /// Users, their role bindings, custom roles.
    #[serde(rename = "user.manage")]
    UserManage,
    #[serde(rename = "audit.read")]
    AuditRead,
    #[serde(rename = "request.create")]
    RequestCreate,
    #[serde(rename = "request.approve")]
    RequestApprove,
    /// Set a VM's lease beyond the policy's maximum, or remove it.
    #[serde(rename = "lease.override")]
    LeaseOverride,
    /// Set department quotas and the price list.
    #[serde(rename = "quota.manage")]
    QuotaManage,
}
wire_enum!(Permission {
    InventoryRead => "inventory.read",
    VmCreate => "vm.create",
    VmOperate => "vm.operate",
    VmDelete => "vm.delete",
    VmAdopt => "vm.adopt",
    HostManage => "host.manage",
    ClusterManage => "cluster.manage",
    DepartmentManage => "department.manage",
    UserManage => "user.manage",
    AuditRead => "audit.read",
    RequestCreate => "request.create",
    RequestApprove => "request.approve",
    LeaseOverride => "lease.override",
    QuotaManage => "quota.manage",
});

/// Where a provisioning request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    /// Waiting for approvers.
    Pending,
    /// Refused by an approver (the reason says why).
    Rejected,
    /// Approved; its VMs are being placed and created.
    Approved,
    /// Approved, and its VMs are being created (their jobs run).
    Created,
    /// Approved, but its VMs could not be created (the reason says why).
    Failed,
}
wire_enum!(RequestState { Pending => "pending", Rejected => "rejected", Approved => "approved", Created => "created", Failed => "failed" });

/// How a department's quota applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuotaMode {
    /// Refuse what goes beyond a limit plus its grace.
    Enforce,
    /// Record would-be refusals in the audit log, refuse nothing.
    Audit,
}
wire_enum!(QuotaMode { Enforce => "enforce", Audit => "audit" });

impl Role {
    /// The permissions the role grants.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Viewer => &[InventoryRead],
            Role::Requester => &[InventoryRead, RequestCreate],
            Role::Operator => &[InventoryRead, VmCreate, VmOperate, VmDelete, RequestCreate],
            Role::Approver => &[InventoryRead, RequestApprove],
            Role::Auditor => &[InventoryRead, AuditRead],
            Role::Admin => Permission::ALL,
        }
    }
}

/// The state of a journaled job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Accepted, not started.
    Queued,
    /// A worker is executing its steps.
    Running,
    /// All steps done.
    Succeeded,
    /// A step failed; `error` says why.
    Failed,
}
wire_enum!(JobState { Queued => "queued", Running => "running", Succeeded => "succeeded", Failed => "failed" });

impl JobState {
    /// True once the job will not change any more.
    pub fn is_terminal(self) -> bool {
        match self {
            JobState::Queued | JobState::Running => false,
            JobState::Succeeded | JobState::Failed => true,
        }
    }
}

/// What a bearer token is for. A cookie session must present its CSRF token on every change;
/// the others are sent as `Authorization: Bearer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// A login's bearer token (`POST /auth/login`).
    Session,
    /// A browser session's cookie (`POST /auth/session`, the web UI's login).
    Cookie,
    /// A named API token (`POST /tokens`), possibly limited to some permissions.
    Api,
}
wire_enum!(TokenKind { Session => "session", Cookie => "cookie", Api => "api" });

/// The outcome recorded in an audit record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditResult {
    /// The change was made (or the job was accepted).
    Ok,
    /// The change was refused or failed.
    Denied,
    /// The change failed while being made.
    Failed,
}
wire_enum!(AuditResult { Ok => "ok", Denied => "denied", Failed => "failed" });

/// What host-side monitoring records for every VM and host, as seen from the host (never from
/// inside the guest). The order is the storage order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// CPU busy, % of the VM's vCPUs (a host: of its logical CPUs).
    Cpu,
    /// Time the vCPUs were runnable but waited for a host CPU (CPU ready / steal), % per vCPU.
    VcpuDelay,
    /// Memory in use on the host, MiB: the VM process's resident memory (a host: all of it).
    MemoryMib,
    /// Memory the balloon leaves the guest, MiB (a host: taken back from its VMs).
    BalloonMib,
    /// Guest swap traffic, KiB/s.
    SwapInKibS,
    SwapOutKibS,
    /// Disk traffic over all disks, bytes/s and operations/s.
    DiskReadBytesS,
    DiskWriteBytesS,
    DiskReadOpsS,
    DiskWriteOpsS,
    /// Network traffic over all NICs, bytes/s.
    NetRxBytesS,
    NetTxBytesS,
}
wire_enum!(Metric {
    Cpu => "cpu",
    VcpuDelay => "vcpu_delay",
    MemoryMib => "memory_mib",
    BalloonMib => "balloon_mib",
    SwapInKibS => "swap_in_kib_s",
    SwapOutKibS => "swap_out_kib_s",
    DiskReadBytesS => "disk_read_bytes_s",
    DiskWriteBytesS => "disk_write_bytes_s",
    DiskReadOpsS => "disk_read_ops_s",
    DiskWriteOpsS => "disk_write_ops_s",
    NetRxBytesS => "net_rx_bytes_s",
    NetTxBytesS => "net_tx_bytes_s",
});

/// Which VMs come back first after their host died: all VMs of a higher priority are placed
/// and started before any of a lower one (a VM's dependencies are raised to its priority).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RestartPriority {
    Highest,
    High,
    Medium,
    Low,
    Lowest,
}
wire_enum!(RestartPriority { Highest => "highest", High => "high", Medium => "medium", Low => "low", Lowest => "lowest" });

/// What HA does with a VM whose host died.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HaPolicy {
    /// Restart it on a surviving host (if it was running).
    Restart,
    /// Leave it off (a test VM, or one that an operator brings back by hand).
    LeaveOff,
}
wire_enum!(HaPolicy { Restart => "restart", LeaveOff => "leave_off" });

/// What the HA controller makes of a host from its heartbeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HostVerdict {
    Alive,
    /// Management silent for a while: wait.
    Suspect,
    /// Management silent, but the host still writes its datastore heartbeat: it is cut off
    /// from vdc, not dead, and its VMs may still run: they are not restarted.
    Partitioned,
    /// Silent on both paths: fence, then restart its VMs.
    Dead,
}
wire_enum!(HostVerdict { Alive => "alive", Suspect => "suspect", Partitioned => "partitioned", Dead => "dead" });

/// A kind of sprawl.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SprawlKind {
    /// Running, but idle for days.
    Idle,
    /// Powered off for a long time.
    Zombie,
    /// Using far less than it has.
    Oversized,
    LeaseExpired,
    /// No lease (reported when leases are asked for).
    NoLease,
    /// No owner and no department.
    Unowned,
    /// Not created or adopted through vdc.
    Unmanaged,
    /// A volume no VM uses.
    OrphanedVolume,
}
wire_enum!(SprawlKind { Idle => "idle", Zombie => "zombie", Oversized => "oversized", LeaseExpired => "lease_expired", NoLease => "no_lease", Unowned => "unowned", Unmanaged => "unmanaged", OrphanedVolume => "orphaned_volume" });

/// How chargeback counts vCPUs and memory: what VMs have, or what they used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChargeModel {
    Allocated,
    Used,
}
wire_enum!(ChargeModel { Allocated => "allocated", Used => "used" });

/// Where vdc learnt a VM's guest OS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GuestOsSource {
    /// The domain's libosinfo metadata (`<libosinfo:os id=…>`), as virt-install writes it.
    Libosinfo,
    /// An imported estate (RVTools, `.vmx`).
    Import,
    /// Set by a user; kept over what hosts report.
    Manual,
}
wire_enum!(GuestOsSource { Libosinfo => "libosinfo", Import => "import", Manual => "manual" });

/// How a licensed product is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LicenceModel {
    /// One licence per VM that runs it.
    PerVm,
    /// Every physical core of each host its VMs run or may run on (with per-socket and
    /// per-host minimums), any number of VMs there — as Windows Server Datacenter, SQL Server
    /// Enterprise per core.
    PerCore,
    /// Every socket of each such host.
    PerSocket,
    /// One per such host: unlimited VMs on a licensed host.
    PerHost,
    /// One per named user, however many VMs.
    PerUser,
}
wire_enum!(LicenceModel { PerVm => "per_vm", PerCore => "per_core", PerSocket => "per_socket", PerHost => "per_host", PerUser => "per_user" });

/// A VM's guest OS against the baseline of its OS.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PatchStatus {
    /// At or above the baseline.
    Current,
    /// Below the baseline.
    Behind,
    /// Its version is not known precisely enough to compare (e.g. `9` against `9.4`).
    Unknown,
    /// No guest OS known, or no baseline for its OS.
    Unchecked,
}
wire_enum!(PatchStatus { Current => "current", Behind => "behind", Unknown => "unknown", Unchecked => "unchecked" });

/// What an operator should do about an anomaly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Remedy {
    /// The host does not serve the VM: move it to a host with room.
    Migrate,
    AddVcpu,
    AddMemory,
    /// Nothing vdc can size away: a change in the workload to look into.
    Investigate,
}
wire_enum!(Remedy { Migrate => "migrate", AddVcpu => "add_vcpu", AddMemory => "add_memory", Investigate => "investigate" });

impl Metric {
    /// How many metrics each sample has.
    pub const COUNT: usize = 12;

    /// Its position in a sample.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Its unit, for people.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::Cpu | Metric::VcpuDelay => "%",
            Metric::MemoryMib | Metric::BalloonMib => "MiB",
            Metric::SwapInKibS | Metric::SwapOutKibS => "KiB/s",
            Metric::DiskReadBytesS
            | Metric::DiskWriteBytesS
            | Metric::NetRxBytesS
            | Metric::NetTxBytesS => "B/s",
            Metric::DiskReadOpsS | Metric::DiskWriteOpsS => "ops/s",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wire_name_round_trips_through_serde_and_from_str() {
        for s in PowerState::ALL {
            let json = serde_json::to_string(s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(s.as_str().parse::<PowerState>().unwrap(), *s);
        }
        for a in VmAction::ALL {
            assert_eq!(serde_json::to_string(a).unwrap(), format!("\"{a}\""));
        }
        assert_eq!(Metric::ALL.len(), Metric::COUNT);
        for (i, m) in Metric::ALL.iter().enumerate() {
            assert_eq!(m.index(), i, "storage order");
            assert_eq!(serde_json::to_string(m).unwrap(), format!("\"{m}\""));
        }
        assert!(
            "sleeping"
                .parse::<PowerState>()
                .unwrap_err()
                .contains("shutoff")
        );
    }
}
