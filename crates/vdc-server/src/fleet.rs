//! The drivers the server talks to, by host URI, and the simulated fleet that `vdc serve`
//! starts when no hypervisor is configured.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use vdc_driver::sim::SimFleet;
use vdc_driver::{DriverError, HostDriver};
use vdc_types::Error;

/// Every connected driver, keyed by host URI.
#[derive(Debug, Default)]
pub struct Fleet {
    drivers: RwLock<HashMap<String, Arc<dyn HostDriver>>>,
    sim: Option<SimFleet>,
}

impl Fleet {
    /// A fleet of the simulator's hosts.
    pub fn simulated(sim: SimFleet) -> Fleet {
        let drivers = sim
            .hosts()
            .into_iter()
            .map(|h| (h.uri().to_string(), Arc::new(h) as Arc<dyn HostDriver>))
            .collect();
        Fleet {
            drivers: RwLock::new(drivers),
            sim: Some(sim),
        }
    }

    /// The simulator, when this fleet is simulated (for fault injection in tests and demos).
    pub fn sim(&self) -> Option<&SimFleet> {
        self.sim.as_ref()
    }

    /// The driver for a host URI.
    pub fn driver(&self, uri: &str) -> Result<Arc<dyn HostDriver>, Error> {
        self.drivers
            .read()
            .expect("fleet lock")
            .get(uri)
            .cloned()
            .ok_or_else(|| Error::Unavailable {
                message: format!("no driver connected for {uri}"),
            })
    }
}

/// Maps a driver failure onto the API's error enum.
pub fn driver_error(e: DriverError) -> Error {
    match e {
        DriverError::HostUnreachable { .. } | DriverError::OperationFailed { .. } => {
            Error::Unavailable {
                message: e.to_string(),
            }
        }
        DriverError::NoSuchVm { id } => Error::not_found("vm", id),
        DriverError::AlreadyExists { .. } => Error::conflict(e.to_string()),
        DriverError::InvalidTransition(t) => t.into(),
        DriverError::NoResources { reason } => Error::InsufficientCapacity { message: reason },
    }
}

/// Runs a blocking driver call on the blocking pool.
pub async fn blocking<T, F>(f: F) -> Result<T, Error>
where
    F: FnOnce() -> Result<T, DriverError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("driver task panicked: {e}")))?
        .map_err(driver_error)
}
