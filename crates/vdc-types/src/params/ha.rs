//! Parameters of the `ha` endpoints: VM restart settings and cluster failover reserves.

use super::*;

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
