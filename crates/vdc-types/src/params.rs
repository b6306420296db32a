//! Request parameters (bodies and query strings). Bodies reject unknown fields; each type
//! validates itself so bad input is refused before anything is written.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::Error;
use crate::ids::*;
use crate::state::{HostState, Management, PowerState, Role};

/// Largest page a list endpoint returns.
pub const MAX_PAGE_LIMIT: u32 = 1000;
/// Page size when the client does not say.
pub const DEFAULT_PAGE_LIMIT: u32 = 100;
/// Longest accepted resource name.
pub const MAX_NAME_LEN: usize = 63;
/// Most vCPUs a VM may ask for (libvirt/QEMU's practical ceiling on x86).
pub const MAX_VCPUS: u32 = 288;
/// Most memory a VM may ask for: 12 TiB, the largest x86 hosts sold.
pub const MAX_MEMORY_MIB: u64 = 12 * 1024 * 1024;
/// Smallest memory a VM may ask for.
pub const MIN_MEMORY_MIB: u64 = 16;
/// Largest single disk: 64 TiB (qcow2's practical ceiling with default clusters).
pub const MAX_DISK_GIB: u64 = 64 * 1024;

/// Checks a resource name: 1–63 characters of letters, digits, `.`, `_` and `-`, starting with
/// a letter or digit (safe as a libvirt domain name and a DNS label).
pub fn validate_name(field: &str, name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Error::invalid(
            field,
            format!("longer than {MAX_NAME_LEN} characters"),
        ));
    }
    if !name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
    {
        return Err(Error::invalid(field, "must start with a letter or digit"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(Error::invalid(
            field,
            format!("character {c:?} not allowed (letters, digits, . _ -)"),
        ));
    }
    Ok(())
}

fn validate_text(field: &str, value: &str, max: usize) -> Result<(), Error> {
    if value.chars().count() > max {
        return Err(Error::invalid(
            field,
            format!("longer than {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(field, "control characters not allowed"));
    }
    Ok(())
}

fn validate_tags(tags: &[String]) -> Result<(), Error> {
    if tags.len() > 32 {
        return Err(Error::invalid("tags", "at most 32 tags"));
    }
    for (i, t) in tags.iter().enumerate() {
        let field = format!("tags[{i}]");
        if t.is_empty() {
            return Err(Error::invalid(field, "must not be empty"));
        }
        validate_text(&field, t, 64)?;
    }
    Ok(())
}

/// `POST /api/v1/auth/login`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginParams {
    pub username: String,
    pub password: String,
}

/// One disk of a new VM.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiskSpec {
    /// Size in GiB (1 – 65536).
    pub size_gib: u64,
    /// Datastore name; the host's first datastore when omitted.
    #[serde(default)]
    pub datastore: Option<String>,
}

/// One NIC of a new VM.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NicSpec {
    /// Network name.
    pub network: String,
}

/// `POST /api/v1/vms`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VmCreateParams {
    pub name: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    #[serde(default)]
    pub disks: Vec<DiskSpec>,
    #[serde(default)]
    pub nics: Vec<NicSpec>,
    /// Pin to this host; otherwise the least-loaded host that fits is chosen.
    #[serde(default)]
    pub host_id: Option<HostId>,
    /// Owner (a username); the caller when omitted.
    #[serde(default)]
    pub owner: Option<String>,
    /// Department; the caller's when omitted.
    #[serde(default)]
    pub department_id: Option<DepartmentId>,
    #[serde(default)]
    pub purpose: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// RFC 3339 expiry of the VM's lease.
    #[serde(default)]
    pub lease_expires_at: Option<String>,
    /// Power on once defined.
    #[serde(default)]
    pub start: bool,
    /// Boot from a kernel file on the host instead of the first disk.
    #[serde(default)]
    pub boot: Option<KernelBootSpec>,
    /// Where it may go beyond its size: groups, licensed software, CPU.
    #[serde(default)]
    pub placement: PlacementConstraints,
    /// The guest OS as a libosinfo id (`http://debian.org/debian/12`, as `osinfo-query os`
    /// lists them): kept in the domain's metadata and read by the patch and licence reports.
    #[serde(default)]
    pub guest_os: Option<String>,
}

/// What a VM needs from its host beyond size, disks and networks. Kept with the VM: later
/// ratings for it (and its group's members) use them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlacementConstraints {
    /// Prefer hosts running members of this group (a soft rule: relaxed, and said so, when
    /// no such host fits). The VM joins the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity_group: Option<String>,
    /// Never share a host with a member of this group. The VM joins the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anti_affinity_group: Option<String>,
    /// Software the VM runs that its host must be licensed for (e.g. `oracle-ee`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licensed_software: Vec<String>,
    /// CPU the VM is pinned to: vendor (`GenuineIntel`, `AuthenticAMD`), model, features.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_model: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpu_features: Vec<String>,
    /// The VM's expected CPU use per hour of the day (UTC), 24 values in 0..=1: hosts whose
    /// measured load peaks at other hours rate higher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hourly_load: Option<Vec<f64>>,
}

impl PlacementConstraints {
    /// Names as resource names; at most 32 licences and 128 CPU features.
    pub fn validate(&self) -> Result<(), Error> {
        for (field, v) in [
            ("placement.affinity_group", &self.affinity_group),
            ("placement.anti_affinity_group", &self.anti_affinity_group),
            ("placement.cpu_vendor", &self.cpu_vendor),
            ("placement.cpu_model", &self.cpu_model),
        ] {
            if let Some(v) = v {
                validate_name(field, v)?;
            }
        }
        for (field, list, max) in [
            ("placement.licensed_software", &self.licensed_software, 32),
            ("placement.cpu_features", &self.cpu_features, 128),
        ] {
            validate_names(field, list, max)?;
        }
        match &self.hourly_load {
            Some(h) if h.len() != 24 => Err(Error::invalid(
                "placement.hourly_load",
                "24 values, one per hour",
            )),
            Some(h) if h.iter().any(|x| !(0.0..=1.0).contains(x)) => Err(Error::invalid(
                "placement.hourly_load",
                "values between 0 and 1",
            )),
            _ => Ok(()),
        }
    }

    /// The hourly profile as an array (when valid).
    pub fn hourly_profile(&self) -> Option<[f64; 24]> {
        self.hourly_load.as_deref()?.try_into().ok()
    }

    /// True when the VM has no group.
    pub fn ungrouped(&self) -> bool {
        self.affinity_group.is_none() && self.anti_affinity_group.is_none()
    }
}

/// At most `max` names, each a resource name.
fn validate_names(field: &str, names: &[String], max: usize) -> Result<(), Error> {
    if names.len() > max {
        return Err(Error::invalid(field, format!("at most {max} entries")));
    }
    for (i, n) in names.iter().enumerate() {
        validate_name(&format!("{field}[{i}]"), n)?;
    }
    Ok(())
}

/// `POST /api/v1/vm-groups`: VMs placed together, all or none. Each is placed given the ones
/// before it, so anti-affinity holds within the group.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VmGroupCreateParams {
    pub vms: Vec<VmCreateParams>,
}

/// Most VMs one group creation may hold.
pub const MAX_GROUP_VMS: usize = 100;

impl VmGroupCreateParams {
    /// 1 to [`MAX_GROUP_VMS`] valid VMs with distinct names.
    pub fn validate(&self) -> Result<(), Error> {
        if self.vms.is_empty() || self.vms.len() > MAX_GROUP_VMS {
            return Err(Error::invalid(
                "vms",
                format!("between 1 and {MAX_GROUP_VMS} VMs"),
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, vm) in self.vms.iter().enumerate() {
            vm.validate()
                .map_err(|e| e.prefixed(&format!("vms[{i}].")))?;
            if !names.insert(vm.name.as_str()) {
                return Err(Error::invalid(
                    format!("vms[{i}].name"),
                    format!("{} appears twice", vm.name),
                ));
            }
        }
        Ok(())
    }
}

/// `PATCH /api/v1/clusters/{id}`: overcommit ratios placement applies to the cluster's hosts.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterUpdateParams {
    /// vCPUs allowed per logical CPU, over 0 and at most 64.
    #[serde(default)]
    pub vcpu_ratio: Option<f64>,
    /// Memory allowed per byte of RAM, over 0 and at most 4 (1: no overcommit).
    #[serde(default)]
    pub memory_ratio: Option<f64>,
    /// What the load balancer does in the cluster.
    #[serde(default)]
    pub balance_mode: Option<crate::BalanceMode>,
    /// Lets the balancer, in automatic mode, put empty hosts in standby (powered off) and
    /// wake them when the cluster needs capacity.
    #[serde(default)]
    pub power_saving: Option<bool>,
}

/// A ratio in (0, max].
fn validate_ratio(field: &str, r: Option<f64>, max: f64) -> Result<(), Error> {
    match r {
        Some(r) if !(r.is_finite() && r > 0.0 && r <= max) => Err(Error::invalid(
            field,
            format!("must be over 0 and at most {max}"),
        )),
        _ => Ok(()),
    }
}

impl ClusterUpdateParams {
    pub fn validate(&self) -> Result<(), Error> {
        if self.vcpu_ratio.is_none()
            && self.memory_ratio.is_none()
            && self.balance_mode.is_none()
            && self.power_saving.is_none()
        {
            return Err(Error::invalid("vcpu_ratio", "nothing to change"));
        }
        validate_ratio("vcpu_ratio", self.vcpu_ratio, 64.0)?;
        validate_ratio("memory_ratio", self.memory_ratio, 4.0)
    }
}

/// Present and null → `Some(None)`; absent → `None` (with `#[serde(default)]`).
fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /api/v1/hosts/{id}`: what placement may use the host for.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HostUpdateParams {
    /// In maintenance, a host takes no new VMs.
    #[serde(default)]
    pub maintenance: Option<bool>,
    /// Reserve the host for one department (null: shared again).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<DepartmentId>, nullable)]
    pub dedicated_to: Option<Option<DepartmentId>>,
    /// Software the host is licensed for (replaces the list).
    #[serde(default)]
    pub licensed_software: Option<Vec<String>>,
    /// Licence cost per vCPU placed on the host (any currency, at least 0).
    #[serde(default)]
    pub licence_cost_per_vcpu: Option<f64>,
}

impl HostUpdateParams {
    pub fn validate(&self) -> Result<(), Error> {
        if self.maintenance.is_none()
            && self.dedicated_to.is_none()
            && self.licensed_software.is_none()
            && self.licence_cost_per_vcpu.is_none()
        {
            return Err(Error::invalid("maintenance", "nothing to change"));
        }
        if let Some(l) = &self.licensed_software {
            validate_names("licensed_software", l, 32)?;
        }
        match self.licence_cost_per_vcpu {
            Some(c) if !(c.is_finite() && c >= 0.0) => Err(Error::invalid(
                "licence_cost_per_vcpu",
                "must be a number of at least 0",
            )),
            _ => Ok(()),
        }
    }
}

/// Direct kernel boot: files on the VM's host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KernelBootSpec {
    /// Absolute path of the kernel image on the host.
    pub kernel: String,
    /// Absolute path of the initrd on the host.
    #[serde(default)]
    pub initrd: Option<String>,
    /// Kernel command line.
    #[serde(default)]
    pub cmdline: Option<String>,
}

fn validate_host_path(field: &str, path: &str) -> Result<(), Error> {
    if !path.starts_with('/') {
        return Err(Error::invalid(field, "must be an absolute path"));
    }
    validate_text(field, path, 4096)
}

impl KernelBootSpec {
    /// Rejects relative paths and control characters.
    pub fn validate(&self) -> Result<(), Error> {
        validate_host_path("boot.kernel", &self.kernel)?;
        if let Some(i) = &self.initrd {
            validate_host_path("boot.initrd", i)?;
        }
        if let Some(c) = &self.cmdline {
            validate_text("boot.cmdline", c, 2048)?;
        }
        Ok(())
    }
}

/// `POST /api/v1/placement/ratings`: rate every host for a VM, given by size or by id.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlacementParams {
    /// An existing VM to rate hosts for (its size, disks, networks and department).
    #[serde(default)]
    pub vm_id: Option<VmId>,
    /// With `memory_mib`, the size of a VM to be created.
    #[serde(default)]
    pub vcpus: Option<u32>,
    #[serde(default)]
    pub memory_mib: Option<u64>,
    #[serde(default)]
    pub disks: Vec<DiskSpec>,
    #[serde(default)]
    pub nics: Vec<NicSpec>,
    #[serde(default)]
    pub department_id: Option<DepartmentId>,
    #[serde(default)]
    pub placement: PlacementConstraints,
}

impl PlacementParams {
    /// Either `vm_id`, or `vcpus` and `memory_mib` in range (checked like a VM creation).
    pub fn validate(&self) -> Result<(), Error> {
        match (self.vm_id, self.vcpus, self.memory_mib) {
            (Some(_), None, None)
                if self.disks.is_empty()
                    && self.nics.is_empty()
                    && self.placement == PlacementConstraints::default() =>
            {
                Ok(())
            }
            (Some(_), ..) => Err(Error::invalid(
                "vm_id",
                "give either vm_id or a VM (vcpus, memory_mib, disks, nics, placement), not both",
            )),
            (None, Some(vcpus), Some(memory_mib)) => VmCreateParams {
                name: "rated".into(),
                vcpus,
                memory_mib,
                disks: self.disks.clone(),
                nics: self.nics.clone(),
                host_id: None,
                owner: None,
                department_id: self.department_id,
                purpose: None,
                tags: Vec::new(),
                lease_expires_at: None,
                start: false,
                boot: None,
                placement: self.placement.clone(),
                guest_os: None,
            }
            .validate(),
            (None, None, _) => Err(Error::invalid("vcpus", "required without vm_id")),
            (None, _, None) => Err(Error::invalid("memory_mib", "required without vm_id")),
        }
    }
}

/// The URI schemes of libvirt drivers vdc connects to (`+transport` suffixes allowed).
pub const LIBVIRT_SCHEMES: &[&str] = &[
    "qemu", "xen", "libxl", "lxc", "esx", "gsx", "vpx", "hyperv", "test", "bhyve", "vz", "ch",
];

/// `POST /api/v1/hosts`: adds a libvirt host.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HostAddParams {
    /// libvirt connection URI, e.g. `qemu+ssh://root@kvm1/system`.
    pub uri: String,
    /// Cluster name; created (in site `default`) if missing. `default` when omitted.
    #[serde(default)]
    pub cluster: Option<String>,
    /// Display name; the host's hostname when omitted.
    #[serde(default)]
    pub name: Option<String>,
    /// Domain type for VMs vdc defines there: `kvm` (default) or `qemu` (software emulation,
    /// for hosts without hardware virtualisation).
    #[serde(default)]
    pub domain_type: Option<String>,
}

impl HostAddParams {
    /// Rejects URIs of unknown drivers, bad names and unknown domain types.
    pub fn validate(&self) -> Result<(), Error> {
        validate_text("uri", &self.uri, 1024)?;
        let scheme = self.uri.split_once(':').map(|(s, _)| s).unwrap_or("");
        let driver = scheme.split('+').next().unwrap_or("");
        if !LIBVIRT_SCHEMES.contains(&driver) || self.uri.chars().any(char::is_whitespace) {
            return Err(Error::invalid(
                "uri",
                format!(
                    "not a libvirt URI (driver://[user@]host/path with driver one of {})",
                    LIBVIRT_SCHEMES.join(", ")
                ),
            ));
        }
        if let Some(c) = &self.cluster {
            validate_name("cluster", c)?;
        }
        if let Some(n) = &self.name {
            validate_name("name", n)?;
        }
        if let Some(t) = self.domain_type.as_deref()
            && !matches!(t, "kvm" | "qemu")
        {
            return Err(Error::invalid("domain_type", "must be kvm or qemu"));
        }
        Ok(())
    }
}

/// `POST /api/v1/vms/{id}/adopt`: takes an unmanaged (rogue) VM under management.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdoptParams {
    /// The new owner (a username).
    pub owner: String,
    pub department_id: DepartmentId,
    #[serde(default)]
    pub purpose: Option<String>,
}

impl AdoptParams {
    /// Rejects bad names and over-long text.
    pub fn validate(&self) -> Result<(), Error> {
        validate_name("owner", &self.owner)?;
        if let Some(p) = &self.purpose {
            validate_text("purpose", p, 256)?;
        }
        Ok(())
    }
}

/// `POST /api/v1/vms/{id}/migrate`: live-migrates a VM to another host.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrateParams {
    pub host_id: HostId,
}

/// `POST /api/v1/vms/{id}/snapshots`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotParams {
    /// Snapshot name (letters, digits, `.`, `_`, `-`).
    pub name: String,
}

impl SnapshotParams {
    /// Rejects a bad name.
    pub fn validate(&self) -> Result<(), Error> {
        validate_name("name", &self.name)
    }
}

impl VmCreateParams {
    /// Rejects out-of-range sizes, bad names and over-long text, naming the field.
    pub fn validate(&self) -> Result<(), Error> {
        validate_name("name", &self.name)?;
        if let Some(id) = &self.guest_os
            && (id.len() > 200 || crate::GuestOs::from_libosinfo(id).is_none())
        {
            return Err(Error::invalid(
                "guest_os",
                "a libosinfo id such as http://debian.org/debian/12",
            ));
        }
        if self.vcpus == 0 || self.vcpus > MAX_VCPUS {
            return Err(Error::invalid(
                "vcpus",
                format!("must be between 1 and {MAX_VCPUS}"),
            ));
        }
        if !(MIN_MEMORY_MIB..=MAX_MEMORY_MIB).contains(&self.memory_mib) {
            return Err(Error::invalid(
                "memory_mib",
                format!("must be between {MIN_MEMORY_MIB} and {MAX_MEMORY_MIB}"),
            ));
        }
        if self.disks.len() > 16 {
            return Err(Error::invalid("disks", "at most 16 disks"));
        }
        for (i, d) in self.disks.iter().enumerate() {
            if d.size_gib == 0 || d.size_gib > MAX_DISK_GIB {
                return Err(Error::invalid(
                    format!("disks[{i}].size_gib"),
                    format!("must be between 1 and {MAX_DISK_GIB}"),
                ));
            }
            if let Some(ds) = &d.datastore {
                validate_name(&format!("disks[{i}].datastore"), ds)?;
            }
        }
        if self.nics.len() > 8 {
            return Err(Error::invalid("nics", "at most 8 NICs"));
        }
        for (i, n) in self.nics.iter().enumerate() {
            validate_name(&format!("nics[{i}].network"), &n.network)?;
        }
        if let Some(o) = &self.owner {
            validate_name("owner", o)?;
        }
        if let Some(p) = &self.purpose {
            validate_text("purpose", p, 256)?;
        }
        validate_tags(&self.tags)?;
        if let Some(l) = &self.lease_expires_at {
            crate::parse_rfc3339("lease_expires_at", l)?;
        }
        if let Some(b) = &self.boot {
            b.validate()?;
        }
        self.placement.validate()
    }
}

/// `PATCH /api/v1/vms/{id}`: every field optional; only the given ones change.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VmUpdateParams {
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub department_id: Option<DepartmentId>,
    #[serde(default)]
    pub purpose: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// RFC 3339; an empty string clears the lease.
    #[serde(default)]
    pub lease_expires_at: Option<String>,
    /// The generation the caller read; the update is refused with 409 if the VM changed since.
    #[serde(default)]
    pub generation: Option<i64>,
}

impl VmUpdateParams {
    /// Rejects bad values, naming the field.
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(o) = &self.owner {
            validate_name("owner", o)?;
        }
        if let Some(p) = &self.purpose {
            validate_text("purpose", p, 256)?;
        }
        if let Some(t) = &self.tags {
            validate_tags(t)?;
        }
        if let Some(l) = self.lease_expires_at.as_deref().filter(|l| !l.is_empty()) {
            crate::parse_rfc3339("lease_expires_at", l)?;
        }
        Ok(())
    }
}

/// Checks a page size.
pub fn validate_limit(limit: Option<u32>) -> Result<u32, Error> {
    match limit {
        None => Ok(DEFAULT_PAGE_LIMIT),
        Some(0) => Err(Error::invalid("limit", "must be at least 1")),
        Some(l) if l > MAX_PAGE_LIMIT => Err(Error::invalid(
            "limit",
            format!("must be at most {MAX_PAGE_LIMIT}"),
        )),
        Some(l) => Ok(l),
    }
}

/// Filters and pagination for `GET /api/v1/vms`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VmListQuery {
    pub cluster_id: Option<ClusterId>,
    pub host_id: Option<HostId>,
    pub state: Option<PowerState>,
    /// `unmanaged` lists the rogue VMs discovery found.
    pub management: Option<Management>,
    pub owner: Option<String>,
    pub department_id: Option<DepartmentId>,
    pub tag: Option<String>,
    pub name_prefix: Option<String>,
    /// Page size, 1–1000 (default 100).
    pub limit: Option<u32>,
    /// `next_page_token` from the previous page.
    pub page_token: Option<String>,
}

/// Filter for `GET /api/v1/volumes`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VolumeListQuery {
    pub datastore_id: Option<DatastoreId>,
}

/// `GET /api/v1/plans/forecast`: how many days of history the trends are fitted on.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ForecastQuery {
    /// 7 to 730; 90 when omitted.
    pub days: Option<u32>,
}

impl ForecastQuery {
    /// The history length, checked.
    pub fn days(&self) -> Result<u32, Error> {
        match self.days {
            None => Ok(90),
            Some(d) if (7..=730).contains(&d) => Ok(d),
            Some(_) => Err(Error::invalid("days", "between 7 and 730")),
        }
    }
}

/// VMs a what-if adds.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatIfVms {
    /// 1 to 1000.
    pub count: u32,
    pub vcpus: u32,
    pub memory_mib: u64,
    /// Expected CPU demand of each, in logical CPUs (0 when omitted).
    #[serde(default)]
    pub cpu_demand: f64,
}

/// `POST /api/v1/plans/consolidate`: the fewest hosts for the VMs, optionally under a what-if.
/// Nothing is changed.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsolidateParams {
    /// One cluster; every cluster when omitted.
    #[serde(default)]
    pub cluster_id: Option<ClusterId>,
    /// What if these VMs were added (to the given cluster, or the first one).
    #[serde(default)]
    pub add: Option<WhatIfVms>,
    /// What if this host were taken out (its VMs migrate).
    #[serde(default)]
    pub remove_host: Option<HostId>,
    /// What if this host failed (its VMs restart elsewhere).
    #[serde(default)]
    pub lose_host: Option<HostId>,
    /// Most CPU demand a host may carry, as a share of its CPUs (0.8 when omitted).
    #[serde(default)]
    pub high_water: Option<f64>,
    /// Size VMs by this percentile of their measured CPU demand, 50 to 100 (95 when omitted).
    #[serde(default)]
    pub percentile: Option<f64>,
}

impl ConsolidateParams {
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(a) = &self.add {
            if !(1..=1000).contains(&a.count) {
                return Err(Error::invalid("add.count", "between 1 and 1000"));
            }
            if a.vcpus == 0 || a.vcpus > MAX_VCPUS {
                return Err(Error::invalid(
                    "add.vcpus",
                    format!("between 1 and {MAX_VCPUS}"),
                ));
            }
            if !(MIN_MEMORY_MIB..=MAX_MEMORY_MIB).contains(&a.memory_mib) {
                return Err(Error::invalid(
                    "add.memory_mib",
                    format!("between {MIN_MEMORY_MIB} and {MAX_MEMORY_MIB}"),
                ));
            }
            if !(a.cpu_demand.is_finite() && a.cpu_demand >= 0.0) {
                return Err(Error::invalid("add.cpu_demand", "a number of at least 0"));
            }
        }
        if let Some(p) = self.percentile
            && !(50.0..=100.0).contains(&p)
        {
            return Err(Error::invalid("percentile", "between 50 and 100"));
        }
        match self.high_water {
            Some(h) if !(h.is_finite() && h > 0.0 && h <= 1.0) => {
                Err(Error::invalid("high_water", "over 0 and at most 1"))
            }
            _ => Ok(()),
        }
    }

    /// The percentile VMs are sized by.
    pub fn percentile(&self) -> f64 {
        self.percentile.unwrap_or(95.0)
    }
}

/// Filters and pagination for `GET /api/v1/hosts`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HostListQuery {
    pub cluster_id: Option<ClusterId>,
    pub state: Option<HostState>,
    pub name_prefix: Option<String>,
    pub limit: Option<u32>,
    pub page_token: Option<String>,
}

/// Pagination for the other list endpoints (jobs, audit, users, departments, …).
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    pub limit: Option<u32>,
    pub page_token: Option<String>,
}

/// `GET /api/v1/audit` and `GET /api/v1/audit/export`: filters (all optional, combined with
/// AND), and paging for the list.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Exactly this actor (a username, `system`, `balancer`, …).
    pub actor: Option<String>,
    /// Actions starting with this, e.g. `vm.` or `user.grant`.
    pub action: Option<String>,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub result: Option<crate::AuditResult>,
    /// RFC 3339: records at or after.
    pub since: Option<String>,
    /// RFC 3339: records before.
    pub until: Option<String>,
    /// Records whose detail contains this text.
    pub text: Option<String>,
    /// Export only: `csv` (default) or `json`.
    pub format: Option<String>,
    pub limit: Option<u32>,
    pub page_token: Option<String>,
}

/// The filters of an [`AuditQuery`], checked: times in ms since the epoch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action_prefix: Option<String>,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub result: Option<crate::AuditResult>,
    pub since: Option<crate::UnixMs>,
    pub until: Option<crate::UnixMs>,
    pub text: Option<String>,
}

impl AuditQuery {
    /// The checked filters (400 naming a bad field).
    pub fn filter(&self) -> Result<AuditFilter, Error> {
        for (field, v) in [
            ("actor", &self.actor),
            ("action", &self.action),
            ("target_kind", &self.target_kind),
            ("target_id", &self.target_id),
            ("text", &self.text),
        ] {
            if let Some(v) = v {
                validate_text(field, v, 256)?;
            }
        }
        let time = |field: &str, v: &Option<String>| {
            v.as_deref()
                .map(|s| crate::parse_rfc3339(field, s))
                .transpose()
        };
        Ok(AuditFilter {
            actor: self.actor.clone(),
            action_prefix: self.action.clone(),
            target_kind: self.target_kind.clone(),
            target_id: self.target_id.clone(),
            result: self.result,
            since: time("since", &self.since)?,
            until: time("until", &self.until)?,
            text: self.text.clone(),
        })
    }
}

/// `POST /api/v1/departments`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepartmentCreateParams {
    pub name: String,
    /// Accounting cost centre code.
    pub cost_centre: String,
}

impl DepartmentCreateParams {
    /// Rejects bad values, naming the field.
    pub fn validate(&self) -> Result<(), Error> {
        validate_name("name", &self.name)?;
        if self.cost_centre.is_empty() {
            return Err(Error::invalid("cost_centre", "must not be empty"));
        }
        validate_text("cost_centre", &self.cost_centre, 64)
    }
}

/// `POST /api/v1/users`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserCreateParams {
    pub username: String,
    pub password: String,
    /// The user's first role (built-in or custom), held in its department when one is given,
    /// else globally (or in `cluster_id`).
    pub role: String,
    /// The department the user belongs to; its role is scoped to it.
    #[serde(default)]
    pub department_id: Option<DepartmentId>,
    /// Scope the first role to this cluster instead (not with a department).
    #[serde(default)]
    pub cluster_id: Option<ClusterId>,
}

/// `POST /api/v1/users/{id}/roles`: one more role for a user, at a scope (global when neither
/// a department nor a cluster is given).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBindingParams {
    pub role: String,
    #[serde(default)]
    pub department_id: Option<DepartmentId>,
    #[serde(default)]
    pub cluster_id: Option<ClusterId>,
}

impl RoleBindingParams {
    /// A scope is a department or a cluster, not both.
    pub fn validate(&self) -> Result<(), Error> {
        validate_scope(self.department_id, self.cluster_id)
    }
}

fn validate_scope(d: Option<DepartmentId>, c: Option<ClusterId>) -> Result<(), Error> {
    if d.is_some() && c.is_some() {
        return Err(Error::invalid(
            "cluster_id",
            "a role is scoped to a department or a cluster, not both",
        ));
    }
    Ok(())
}

/// `POST /api/v1/tokens`: a named API token, optionally limited to some of the caller's
/// permissions.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenCreateParams {
    pub name: String,
    /// Limit the token to these (all the caller's when omitted).
    #[serde(default)]
    pub permissions: Option<Vec<crate::Permission>>,
    /// 1 to 365 (90 when omitted).
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

impl TokenCreateParams {
    pub fn validate(&self) -> Result<(), Error> {
        validate_name("name", &self.name)?;
        if self.permissions.as_ref().is_some_and(Vec::is_empty) {
            return Err(Error::invalid("permissions", "at least one, or omit it"));
        }
        if self
            .expires_in_days
            .is_some_and(|d| !(1..=365).contains(&d))
        {
            return Err(Error::invalid("expires_in_days", "1 to 365"));
        }
        Ok(())
    }
}

/// `POST /api/v1/requests`: VMs to provision, once approved, in one department.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestCreateParams {
    /// Why they are needed.
    pub purpose: String,
    pub vms: Vec<VmCreateParams>,
}

impl RequestCreateParams {
    /// A purpose, and VMs valid as a group.
    pub fn validate(&self) -> Result<(), Error> {
        if self.purpose.trim().is_empty() {
            return Err(Error::invalid("purpose", "say what the VMs are for"));
        }
        validate_text("purpose", &self.purpose, 512)?;
        VmGroupCreateParams {
            vms: self.vms.clone(),
        }
        .validate()
    }
}

/// `POST /api/v1/requests/{id}/approve` and `/reject`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestDecisionParams {
    /// Required to reject.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `PUT /api/v1/departments/{id}/quota`: the whole quota (omitted limits are unlimited).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaParams {
    #[serde(default)]
    pub vcpus: Option<u64>,
    #[serde(default)]
    pub memory_mib: Option<u64>,
    #[serde(default)]
    pub disk_gib: Option<u64>,
    #[serde(default)]
    pub vms: Option<u64>,
    /// Per month, in the price list's currency.
    #[serde(default)]
    pub money_month: Option<f64>,
    /// Warn from this share of a limit, percent (default 80).
    #[serde(default)]
    pub warn_percent: Option<u32>,
    /// Allow this much over a limit, percent (default 0).
    #[serde(default)]
    pub grace_percent: Option<u32>,
    /// `enforce` (default) or `audit`.
    #[serde(default)]
    pub mode: Option<crate::QuotaMode>,
}

impl QuotaParams {
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(m) = self.money_month
            && !(m.is_finite() && (0.0..1e12).contains(&m))
        {
            return Err(Error::invalid("money_month", "must be 0 or more"));
        }
        if self.warn_percent.is_some_and(|w| !(1..=100).contains(&w)) {
            return Err(Error::invalid("warn_percent", "1 to 100"));
        }
        if self.grace_percent.is_some_and(|g| g > 100) {
            return Err(Error::invalid("grace_percent", "0 to 100"));
        }
        Ok(())
    }
}

/// Checks a price list: a three-letter currency, prices of 0 or more.
pub fn validate_price_list(p: &crate::PriceListView) -> Result<(), Error> {
    if p.currency.len() != 3 || !p.currency.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(Error::invalid("currency", "an ISO 4217 code such as EUR"));
    }
    let prices = [
        ("vcpu_month", p.vcpu_month),
        ("memory_gib_month", p.memory_gib_month),
        ("disk_gib_month", p.disk_gib_month),
        ("vm_month", p.vm_month),
        ("department_month", p.department_month),
    ];
    for (field, v) in prices
        .into_iter()
        .chain(p.licences.values().map(|v| ("licences", *v)))
    {
        if !(v.is_finite() && (0.0..1e9).contains(&v)) {
            return Err(Error::invalid(field, "a price of 0 or more"));
        }
    }
    validate_names(
        "licences",
        &p.licences.keys().cloned().collect::<Vec<_>>(),
        64,
    )
}

/// `POST /api/v1/roles`: a custom role from a list of permissions.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleCreateParams {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub permissions: Vec<crate::Permission>,
}

impl RoleCreateParams {
    /// Rejects a bad name (or one of a built-in role), an empty or repeated permission list.
    pub fn validate(&self) -> Result<(), Error> {
        validate_name("name", &self.name)?;
        if self.name.parse::<Role>().is_ok() {
            return Err(Error::invalid("name", "is a built-in role"));
        }
        validate_text("description", &self.description, 256)?;
        if self.permissions.is_empty() {
            return Err(Error::invalid("permissions", "at least one permission"));
        }
        let unique: std::collections::BTreeSet<_> = self.permissions.iter().collect();
        if unique.len() != self.permissions.len() {
            return Err(Error::invalid(
                "permissions",
                "a permission is listed twice",
            ));
        }
        Ok(())
    }
}

impl UserCreateParams {
    /// Rejects bad values, naming the field.
    pub fn validate(&self) -> Result<(), Error> {
        validate_name("username", &self.username)?;
        validate_name("role", &self.role)?;
        validate_scope(self.department_id, self.cluster_id)?;
        if self.password.chars().count() < 8 {
            return Err(Error::invalid("password", "at least 8 characters"));
        }
        if self.password.len() > 1024 {
            return Err(Error::invalid("password", "longer than 1024 bytes"));
        }
        Ok(())
    }
}

/// `POST /api/v1/physical-servers`: a non-virtual server registered beside the VMs.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhysicalServerCreateParams {
    pub name: String,
    #[serde(default)]
    pub serial: Option<String>,
    #[serde(default)]
    pub cpu_model: Option<String>,
    pub sockets: u32,
    pub cores_per_socket: u32,
    pub memory_mib: u64,
    #[serde(default)]
    pub site_id: Option<SiteId>,
    #[serde(default)]
    pub department_id: Option<DepartmentId>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub purpose: Option<String>,
}

impl PhysicalServerCreateParams {
    /// Rejects bad values, naming the field.
    pub fn validate(&self) -> Result<(), Error> {
        validate_name("name", &self.name)?;
        for (field, v) in [
            ("serial", &self.serial),
            ("cpu_model", &self.cpu_model),
            ("purpose", &self.purpose),
        ] {
            if let Some(v) = v {
                validate_text(field, v, 256)?;
            }
        }
        if self.sockets == 0 || self.sockets > 64 {
            return Err(Error::invalid("sockets", "must be between 1 and 64"));
        }
        if self.cores_per_socket == 0 || self.cores_per_socket > 1024 {
            return Err(Error::invalid(
                "cores_per_socket",
                "must be between 1 and 1024",
            ));
        }
        if self.memory_mib == 0 || self.memory_mib > 64 * 1024 * 1024 {
            return Err(Error::invalid(
                "memory_mib",
                "must be between 1 and 67108864",
            ));
        }
        if let Some(o) = &self.owner {
            validate_name("owner", o)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm(name: &str) -> VmCreateParams {
        VmCreateParams {
            name: name.into(),
            vcpus: 2,
            memory_mib: 2048,
            disks: vec![DiskSpec {
                size_gib: 20,
                datastore: None,
            }],
            nics: vec![],
            host_id: None,
            owner: None,
            department_id: None,
            purpose: None,
            tags: vec![],
            lease_expires_at: None,
            start: false,
            boot: None,
            placement: PlacementConstraints::default(),
            guest_os: None,
        }
    }

    #[test]
    fn validation_names_the_offending_field() {
        assert!(vm("web-01").validate().is_ok());
        let field = |p: VmCreateParams| match p.validate() {
            Err(Error::InvalidInput { field, .. }) => field,
            other => panic!("expected invalid input, got {other:?}"),
        };
        assert_eq!(field(vm("")), "name");
        assert_eq!(field(vm(&"a".repeat(64))), "name");
        assert_eq!(field(vm("-bad")), "name");
        assert_eq!(field(vm("sp ace")), "name");
        assert_eq!(
            field(VmCreateParams {
                vcpus: 0,
                ..vm("a")
            }),
            "vcpus"
        );
        assert_eq!(
            field(VmCreateParams {
                memory_mib: u64::MAX,
                ..vm("a")
            }),
            "memory_mib"
        );
        let big_disk = vec![DiskSpec {
            size_gib: 0,
            datastore: None,
        }];
        assert_eq!(
            field(VmCreateParams {
                disks: big_disk,
                ..vm("a")
            }),
            "disks[0].size_gib"
        );
        let lease = Some("tomorrow".to_string());
        assert_eq!(
            field(VmCreateParams {
                lease_expires_at: lease,
                ..vm("a")
            }),
            "lease_expires_at"
        );
        let boot = |kernel: &str, initrd: Option<&str>| VmCreateParams {
            boot: Some(KernelBootSpec {
                kernel: kernel.into(),
                initrd: initrd.map(str::to_string),
                cmdline: None,
            }),
            ..vm("a")
        };
        assert!(
            boot("/boot/vmlinuz", Some("/boot/initrd.img"))
                .validate()
                .is_ok()
        );
        assert_eq!(field(boot("vmlinuz", None)), "boot.kernel");
        assert_eq!(field(boot("/boot/vmlinuz", Some("initrd"))), "boot.initrd");
    }

    #[test]
    fn host_uris_must_name_a_libvirt_driver() {
        let host = |uri: &str| HostAddParams {
            uri: uri.into(),
            cluster: None,
            name: None,
            domain_type: None,
        };
        for ok in [
            "qemu:///system",
            "qemu+ssh://root@kvm1/system",
            "qemu+tcp://10.0.0.5/system",
            "xen:///system",
            "lxc:///",
            "esx://vc1/?no_verify=1",
            "hyperv://hv1/",
            "test:///default",
        ] {
            assert!(host(ok).validate().is_ok(), "{ok}");
        }
        for bad in [
            "",
            "http://x",
            "kvm1",
            "qemu:///system now",
            "/var/run/libvirt",
        ] {
            assert!(host(bad).validate().is_err(), "{bad}");
        }
        let typed = HostAddParams {
            domain_type: Some("vmware".into()),
            ..host("qemu:///system")
        };
        assert!(
            matches!(typed.validate(), Err(Error::InvalidInput { field, .. }) if field == "domain_type")
        );
    }

    #[test]
    fn unknown_body_fields_are_rejected() {
        let err = serde_json::from_str::<LoginParams>(r#"{"username":"a","password":"b","x":1}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `x`"), "{err}");
    }
}

/// `GET /api/v1/vms/{id}/metrics` and `GET /api/v1/hosts/{id}/metrics`: one metric over a
/// range ending at `until`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MetricQuery {
    /// Default `cpu`.
    pub metric: Option<crate::Metric>,
    /// How far back, e.g. `1h`, `7d` (default `1h`; from 1 minute to 5 years).
    pub range: Option<String>,
    /// The end (RFC 3339); default now.
    pub until: Option<String>,
}

impl MetricQuery {
    /// The metric and the range `[from, to)` in ms, with `now` as the default end.
    pub fn resolve(
        &self,
        now: crate::UnixMs,
    ) -> Result<(crate::Metric, crate::UnixMs, crate::UnixMs), Error> {
        let range = match &self.range {
            None => std::time::Duration::from_secs(3600),
            Some(r) => humantime::parse_duration(r)
                .map_err(|_| Error::invalid("range", "expected a duration such as 1h or 7d"))?,
        };
        let (min, max) = (60, 5 * 366 * 86_400);
        if range.as_secs() < min || range.as_secs() > max {
            return Err(Error::invalid("range", "from 1 minute to 5 years"));
        }
        let to = match &self.until {
            None => now,
            Some(u) => crate::parse_rfc3339("until", u)?,
        };
        Ok((
            self.metric.unwrap_or(crate::Metric::Cpu),
            to - range.as_millis() as i64,
            to,
        ))
    }
}

/// Changes a VM's HA settings (fields left out stay).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VmHaParams {
    #[serde(default)]
    pub priority: Option<crate::RestartPriority>,
    #[serde(default)]
    pub policy: Option<crate::HaPolicy>,
    /// At most 16 VMs, not the VM itself.
    #[serde(default)]
    pub depends_on: Option<Vec<VmId>>,
}

impl VmHaParams {
    pub fn validate(&self, id: VmId) -> Result<(), Error> {
        if let Some(d) = &self.depends_on {
            if d.len() > 16 {
                return Err(Error::invalid("depends_on", "at most 16 VMs"));
            }
            if d.contains(&id) {
                return Err(Error::invalid("depends_on", "a VM cannot depend on itself"));
            }
        }
        Ok(())
    }
}

/// Sets a cluster's failover reserve.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterHaParams {
    pub reserve: crate::HaReserve,
}

impl ClusterHaParams {
    pub fn validate(&self) -> Result<(), Error> {
        match &self.reserve {
            crate::HaReserve::HostFailures { hosts } if *hosts == 0 || *hosts > 8 => Err(
                Error::invalid("reserve.hosts", "between 1 and 8 host failures"),
            ),
            crate::HaReserve::Percent { cpu, memory }
                if ![*cpu, *memory]
                    .iter()
                    .all(|p| p.is_finite() && (0.0..=100.0).contains(p)) =>
            {
                Err(Error::invalid("reserve", "percentages between 0 and 100"))
            }
            crate::HaReserve::FailoverHosts { hosts } if hosts.is_empty() || hosts.len() > 16 => {
                Err(Error::invalid(
                    "reserve.hosts",
                    "between 1 and 16 failover hosts",
                ))
            }
            _ => Ok(()),
        }
    }
}

/// `POST /api/v1/imports/vmx`: VMware `.vmx` files by file name (the request body, like every
/// JSON body, is at most 1 MiB: some 300 typical files).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VmxImportParams {
    /// File name → its text.
    pub files: std::collections::BTreeMap<String, String>,
}

/// A product of the licence catalogue (`PUT /api/v1/licences/{name}`; also its view).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LicenceProduct {
    /// The product's name; a VM runs it when its placement requires this software, a tag of it
    /// is this name, or its guest OS is of `guest_os`.
    pub name: String,
    pub model: crate::LicenceModel,
    /// Licences owned, in the model's unit: VMs, cores, sockets, hosts or users.
    pub owned: u64,
    /// `per_user`: the named users who use it.
    #[serde(default)]
    pub users: u64,
    /// `per_core`: fewest cores counted per socket and per host (Microsoft: 8 and 16).
    #[serde(default)]
    pub min_cores_per_socket: u32,
    #[serde(default)]
    pub min_cores_per_host: u32,
    /// VMs whose guest OS key is this one or of its kind (`winsrv` covers `winsrv-2019`) run
    /// the product.
    #[serde(default)]
    pub guest_os: Option<String>,
}

impl LicenceProduct {
    pub fn validate(&self) -> Result<(), Error> {
        validate_name("name", &self.name)?;
        if let Some(os) = &self.guest_os {
            validate_os_key("guest_os", os)?;
        }
        for (field, v) in [("owned", self.owned), ("users", self.users)] {
            if v > 1_000_000_000 {
                return Err(Error::invalid(field, "at most 1000000000"));
            }
        }
        for (field, v) in [
            ("min_cores_per_socket", self.min_cores_per_socket),
            ("min_cores_per_host", self.min_cores_per_host),
        ] {
            if v > 4096 {
                return Err(Error::invalid(field, "at most 4096"));
            }
        }
        Ok(())
    }
}

/// A patch baseline: the lowest version VMs of an OS should run (`PUT /api/v1/os-baselines/{os}`;
/// also its view).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OsBaseline {
    /// OS key, e.g. `rhel`, `debian`, `winsrv-2019`.
    pub os: String,
    /// e.g. `9.4`, `12`, `10.0.17763.5458`.
    pub min_version: String,
}

impl OsBaseline {
    pub fn validate(&self) -> Result<(), Error> {
        validate_os_key("os", &self.os)?;
        validate_version("min_version", &self.min_version)
    }
}

/// An OS key: a resource name in lower case (`rhel`, `winsrv-2019`), as keys are parsed.
fn validate_os_key(field: &str, key: &str) -> Result<(), Error> {
    validate_name(field, key)?;
    if key.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(Error::invalid(
            field,
            "an OS key in lower case, such as rhel or winsrv-2019",
        ));
    }
    Ok(())
}

fn validate_version(field: &str, v: &str) -> Result<(), Error> {
    if v.is_empty()
        || v.len() > 64
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(Error::invalid(
            field,
            "1 to 64 letters, digits, '.', '-' or '_'",
        ));
    }
    Ok(())
}

/// `PUT /api/v1/vms/{id}/guest-os`: what a VM runs, as its owner or an admin knows it; kept
/// over what hosts report until cleared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GuestOsParams {
    /// OS key, e.g. `rhel`, `winsrv-2019`.
    pub os: String,
    pub version: Option<String>,
    /// For people (defaults to the key and version).
    pub name: Option<String>,
}

impl GuestOsParams {
    pub fn validate(&self) -> Result<(), Error> {
        validate_os_key("os", &self.os)?;
        if let Some(v) = &self.version {
            validate_version("version", v)?;
        }
        if let Some(n) = &self.name {
            validate_text("name", n, 200)?;
        }
        Ok(())
    }

    /// As a guest OS set by hand.
    pub fn guest_os(&self) -> crate::GuestOs {
        crate::GuestOs {
            os: self.os.clone(),
            version: self.version.clone(),
            name: self.name.clone().unwrap_or_else(|| match &self.version {
                Some(v) => format!("{} {v}", self.os),
                None => self.os.clone(),
            }),
            kernel: None,
            source: crate::GuestOsSource::Manual,
        }
    }
}
