//! Parameters of the `vms` endpoints: creating, changing, listing and operating VMs.

use super::*;

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

pub(crate) fn validate_host_path(field: &str, path: &str) -> Result<(), Error> {
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
