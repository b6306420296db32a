//! The drivers the server talks to, by host URI, and the simulated fleet that `vdc serve`
//! starts when no hypervisor is configured; the driver of a VM's host, and what a driver's VM
//! report becomes in the store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::mpsc::UnboundedSender;
use vdc_db as db;
use vdc_driver::VmInfo;
use vdc_driver::sim::SimFleet;
use vdc_driver::{Connector, DriverError, HostDriver};
use vdc_types::{ClusterId, Error, HostId, VmId};

use super::App;

/// Every connected driver, keyed by host URI.
#[derive(Debug, Default)]
pub struct Fleet {
    drivers: RwLock<HashMap<String, Arc<dyn HostDriver>>>,
    sim: Option<SimFleet>,
    /// Where drivers' VM events go, as the URI of the host that had one.
    events: Mutex<Option<UnboundedSender<String>>>,
    /// Opens drivers for hosts added by URI; `None`: only simulated hosts.
    connector: Option<Arc<dyn Connector>>,
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
            events: Mutex::new(None),
            connector: None,
        }
    }

    /// The fleet a configuration asks for: its simulated hosts, or none.
    pub fn for_config(config: &super::config::Config) -> Fleet {
        match &config.sim {
            Some(sim) => Fleet::simulated(SimFleet::generate(
                sim.hosts,
                sim.vms,
                sim.seed,
                vdc_driver::sim::SimClock::automatic(),
            )),
            None => Fleet::default(),
        }
    }

    /// This fleet, opening hosts added by URI with `connector` (the binary's libvirt driver).
    pub fn with_connector(mut self, connector: Arc<dyn Connector>) -> Fleet {
        self.connector = Some(connector);
        self
    }

    /// The simulator, when this fleet is simulated (for fault injection in tests and demos).
    pub fn sim(&self) -> Option<&SimFleet> {
        self.sim.as_ref()
    }

    /// Opens a driver for a host by URI through the connector and keeps it under its URI
    /// (replacing any previous one). Blocks: call it on a blocking thread.
    pub fn connect(
        &self,
        uri: &str,
        domain_type: Option<&str>,
    ) -> Result<Arc<dyn HostDriver>, DriverError> {
        let driver = match &self.connector {
            Some(c) => c.connect(uri, domain_type)?,
            None => {
                return Err(DriverError::HostUnreachable {
                    uri: uri.to_string(),
                    reason: "this server connects no hypervisor hosts (no connector)".into(),
                });
            }
        };
        self.watch(&driver);
        self.drivers
            .write()
            .expect("fleet lock")
            .insert(uri.to_string(), driver.clone());
        Ok(driver)
    }

    /// Sends the host's URI to `events` whenever one of its drivers reports a VM event, for
    /// every driver connected now or later. Blocks (drivers register with their hosts).
    pub fn forward_events(&self, events: UnboundedSender<String>) {
        *self.events.lock().expect("fleet events lock") = Some(events);
        let drivers: Vec<Arc<dyn HostDriver>> = self
            .drivers
            .read()
            .expect("fleet lock")
            .values()
            .cloned()
            .collect();
        for d in &drivers {
            self.watch(d);
        }
    }

    fn watch(&self, driver: &Arc<dyn HostDriver>) {
        let Some(tx) = self.events.lock().expect("fleet events lock").clone() else {
            return;
        };
        let uri = driver.uri().to_string();
        let sink_uri = uri.clone();
        let sink: vdc_driver::VmEventSink = Arc::new(move |_vm| {
            // The receiver is gone only when the server stops.
            let _ = tx.send(sink_uri.clone());
        });
        if let Err(e) = driver.watch(sink) {
            tracing::warn!(%uri, error = %e, "cannot watch host events; periodic sync only");
        }
    }

    /// Forgets the driver of a removed host.
    pub fn remove(&self, uri: &str) {
        self.drivers.write().expect("fleet lock").remove(uri);
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
        DriverError::NoSuchSnapshot { name, .. } => Error::not_found("snapshot", name),
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

/// A driver's VM report, as the store's record of runtime facts.
pub fn vm_report(v: &VmInfo, host: HostId, cluster: ClusterId) -> db::VmReport {
    db::VmReport {
        id: VmId(v.id),
        name: v.name.clone(),
        host_id: host,
        cluster_id: cluster,
        vcpus: v.vcpus,
        memory_mib: v.memory_mib,
        disks: v
            .disks
            .iter()
            .map(|d| db::DiskRec {
                device: d.device.clone(),
                size_gib: d.size_gib,
                datastore: d.datastore.clone(),
                format: d.format.clone(),
                path: d.path.clone(),
            })
            .collect(),
        nics: v
            .nics
            .iter()
            .map(|n| db::NicRec {
                mac: n.mac.clone(),
                network: n.network.clone(),
            })
            .collect(),
        power_state: v.state,
        runtime_gen: v.generation as i64,
        guest_os: v.guest_os.clone(),
    }
}

/// The driver of the host a VM is recorded on, with the host's URI.
pub(crate) async fn vm_driver(
    app: &App,
    vm: &db::Vm,
) -> Result<Arc<dyn vdc_driver::HostDriver>, Error> {
    let host = vm
        .host_id
        .ok_or_else(|| Error::conflict(format!("VM {} has no host", vm.id)))?;
    let host = app.db.get_host(host).await?;
    app.fleet.driver(&host.uri)
}
