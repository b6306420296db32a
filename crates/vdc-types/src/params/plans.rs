//! Parameters of the `plans` endpoints: forecasts and consolidation what-ifs.

use super::*;

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
