//! Parameters of the `placement` endpoints: constraints, ratings and groups placed together.

use super::*;

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
pub(crate) fn validate_names(field: &str, names: &[String], max: usize) -> Result<(), Error> {
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
