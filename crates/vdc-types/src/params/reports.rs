//! Parameters of the `reports` endpoints: imports, the licence catalogue, OS baselines.

use super::*;

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
pub(crate) fn validate_os_key(field: &str, key: &str) -> Result<(), Error> {
    validate_name(field, key)?;
    if key.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(Error::invalid(
            field,
            "an OS key in lower case, such as rhel or winsrv-2019",
        ));
    }
    Ok(())
}

pub(crate) fn validate_version(field: &str, v: &str) -> Result<(), Error> {
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
