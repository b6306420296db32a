//! One id type per resource, so a `HostId` can never be passed where a `VmId` is meant.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! typed_id {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered (v7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    )*};
}

typed_id!(
    /// A site (datacenter building or region).
    SiteId,
    /// A cluster of hosts inside a site.
    ClusterId,
    /// A hypervisor host.
    HostId,
    /// A datastore (storage pool) seen by hosts.
    DatastoreId,
    /// A volume (disk image) in a datastore.
    VolumeId,
    /// A virtual network.
    NetworkId,
    /// A virtual machine.
    VmId,
    /// A physical (non-virtual) server registered in the inventory.
    PhysicalServerId,
    /// A department (cost centre).
    DepartmentId,
    /// A user account.
    UserId,
    /// A long-running operation.
    JobId,
    /// An audit record.
    AuditId,
    /// A role held by a user at a scope.
    RoleBindingId,
    /// A bearer token (a login, a browser session or a named API token).
    TokenId,
    /// A provisioning request awaiting (or past) approval.
    RequestId,
);
