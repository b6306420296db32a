//! Parameters of the `inventory` endpoints: hosts, clusters, volumes, physical servers.

use super::*;

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
pub(crate) fn validate_ratio(field: &str, r: Option<f64>, max: f64) -> Result<(), Error> {
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

/// Filter for `GET /api/v1/volumes`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VolumeListQuery {
    pub datastore_id: Option<DatastoreId>,
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
