//! `HostDriver` over one libvirt connection.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};
use uuid::Uuid;
use vdc_driver::shapes::from_capabilities_xml_assuming_memory;
use vdc_driver::{
    DatastoreInfo, DiskInfo, DriverError, HostDriver, HostInfo, HostStats, NetworkInfo, NicInfo,
    VmInfo, VmSpec, VmStats, state, transition,
};
use vdc_types::{HypervisorType, PowerState, VmAction};
use virt::connect::Connect;
use virt::domain::{Domain, DomainState};
use virt::error::ErrorNumber;
use virt::storage_vol::StorageVol;
use virt::sys;

/// How this driver defines domains.
#[derive(Debug, Clone)]
pub struct Options {
    /// `<domain type='…'>` for domains vdc defines: `kvm` on hosts with hardware
    /// virtualisation, `qemu` (TCG software emulation) where there is none.
    pub domain_type: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            domain_type: "kvm".into(),
        }
    }
}

/// One libvirt connection, reopened on demand after it drops.
pub struct LibvirtHost {
    uri: String,
    opts: Options,
    conn: Mutex<Option<Connect>>,
    /// Per domain: a fingerprint of what was last observed and the generation given to it.
    /// libvirt has no per-domain version counter, so the driver makes one: a change of the
    /// observed facts takes the current time in microseconds (strictly above the previous
    /// generation), which also keeps generations increasing across vdc restarts.
    seen: Mutex<HashMap<Uuid, (u64, u64)>>,
}

impl std::fmt::Debug for LibvirtHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LibvirtHost")
            .field("uri", &self.uri)
            .field("opts", &self.opts)
            .finish()
    }
}

fn code(e: &virt::error::Error) -> Option<ErrorNumber> {
    let r: Result<ErrorNumber, _> = e.code().into();
    r.ok()
}

impl LibvirtHost {
    /// Opens `uri` (fails with `HostUnreachable` when libvirt cannot be reached).
    pub fn connect(uri: &str, opts: Options) -> Result<LibvirtHost, DriverError> {
        // libvirt prints every error to stderr unless told not to; errors reach the caller.
        virt::error::clear_error_callback();
        let host = LibvirtHost {
            uri: uri.to_string(),
            opts,
            conn: Mutex::new(None),
            seen: Mutex::new(HashMap::new()),
        };
        host.with_conn("connect", |_| Ok(()))?;
        Ok(host)
    }

    fn unreachable(&self, e: &virt::error::Error) -> DriverError {
        DriverError::HostUnreachable {
            uri: self.uri.clone(),
            reason: e.message().to_string(),
        }
    }

    fn map_err(&self, op: &'static str, e: virt::error::Error, id: Option<Uuid>) -> DriverError {
        match (code(&e), id) {
            (Some(ErrorNumber::NoDomain), Some(id)) => DriverError::NoSuchVm { id },
            (
                Some(ErrorNumber::NoConnect | ErrorNumber::SystemError | ErrorNumber::AuthFailed),
                _,
            ) => self.unreachable(&e),
            (Some(ErrorNumber::DomExist), _) => DriverError::AlreadyExists {
                name: e.message().to_string(),
            },
            _ => DriverError::OperationFailed {
                op,
                reason: e.message().to_string(),
            },
        }
    }

    /// Runs `f` on a live connection, reopening it when it was lost.
    fn with_conn<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Connect) -> Result<T, virt::error::Error>,
    ) -> Result<T, DriverError> {
        self.with_conn_for(op, None, f)
    }

    /// [`Self::with_conn`] for an operation on domain `id`, so "no such domain" maps to
    /// `NoSuchVm`.
    fn with_conn_for<T>(
        &self,
        op: &'static str,
        id: Option<Uuid>,
        f: impl FnOnce(&Connect) -> Result<T, virt::error::Error>,
    ) -> Result<T, DriverError> {
        let mut guard = self.conn.lock().expect("libvirt connection lock");
        let alive = guard
            .as_ref()
            .is_some_and(|c| c.is_alive().unwrap_or(false));
        if !alive {
            // Dropping a Connect closes it.
            guard.take();
            *guard = Some(Connect::open(Some(&self.uri)).map_err(|e| self.unreachable(&e))?);
        }
        let conn = guard.as_ref().expect("connection just opened");
        f(conn).map_err(|e| self.map_err(op, e, id))
    }

    fn domain<T>(
        &self,
        op: &'static str,
        id: Uuid,
        f: impl FnOnce(&Connect, &Domain) -> Result<T, virt::error::Error>,
    ) -> Result<T, DriverError> {
        self.with_conn_for(op, Some(id), |c| {
            let d = c.lookup_domain_by_uuid_string(&id.to_string())?;
            f(c, &d)
        })
    }

    fn power_state(d: &Domain) -> Result<PowerState, virt::error::Error> {
        let (s, _) = d.state()?;
        let s: Result<DomainState, _> = s.into();
        Ok(match s {
            Ok(DomainState::Running | DomainState::Blocked) => PowerState::Running,
            Ok(DomainState::Paused | DomainState::PMSuspended) => PowerState::Paused,
            Ok(DomainState::Shutdown) => PowerState::ShuttingDown,
            Ok(DomainState::Shutoff) => PowerState::Shutoff,
            Ok(DomainState::Crashed) => PowerState::Crashed,
            Ok(DomainState::NoState) | Err(_) => PowerState::Unknown,
        })
    }

    fn describe(&self, d: &Domain) -> Result<VmInfo, virt::error::Error> {
        let id = Uuid::parse_str(&d.uuid_string()?).unwrap_or_default();
        let xml = d.xml_desc(0)?;
        let state = Self::power_state(d)?;
        let parsed = vdc_driver::domxml::parse_domain_xml(&xml).ok();
        let info = d.info()?;
        let (disks, nics) = match &parsed {
            Some(p) => (
                p.disks
                    .iter()
                    .filter(|x| x.device == "disk")
                    .map(|x| DiskInfo {
                        device: x.target.clone().unwrap_or_default(),
                        size_gib: d
                            .block_info(x.target.as_deref().unwrap_or(""), 0)
                            .map(|b| b.capacity.div_ceil(1 << 30))
                            .unwrap_or(0),
                        datastore: x.source.clone().unwrap_or_default(),
                        format: x.format.clone().unwrap_or_else(|| "raw".into()),
                    })
                    .collect(),
                p.nics
                    .iter()
                    .map(|n| NicInfo {
                        mac: n.mac.clone().unwrap_or_default(),
                        network: n.source.clone().unwrap_or_else(|| n.kind.clone()),
                    })
                    .collect(),
            ),
            None => (Vec::new(), Vec::new()),
        };
        let vcpus = parsed.as_ref().map_or(info.nr_virt_cpu, |p| p.vcpus);
        let memory_mib = parsed
            .as_ref()
            .map_or(info.max_mem / 1024, |p| p.memory_mib);
        let metadata = crate::metadata::from_domain_xml(&xml);
        let fingerprint = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (state.as_str(), &xml).hash(&mut h);
            h.finish()
        };
        let generation = self.generation(id, fingerprint);
        Ok(VmInfo {
            id,
            name: d.name()?,
            vcpus,
            memory_mib,
            disks,
            nics,
            state,
            generation,
            metadata,
        })
    }

    fn generation(&self, id: Uuid, fingerprint: u64) -> u64 {
        let mut seen = self.seen.lock().expect("generation map lock");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        let entry = seen.entry(id).or_insert((fingerprint, now));
        if entry.0 != fingerprint {
            *entry = (fingerprint, now.max(entry.1 + 1));
        }
        entry.1
    }

    fn domain_xml(&self, spec: &VmSpec, disk_paths: &[String]) -> String {
        let esc = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('\'', "&apos;")
        };
        let mut devices = String::new();
        for (d, path) in spec.disks.iter().zip(disk_paths) {
            devices.push_str(&format!(
                "<disk type='file' device='disk'><driver name='qemu' type='{}'/><source file='{}'/><target dev='{}' bus='virtio'/></disk>",
                esc(&d.format),
                esc(path),
                esc(&d.device)
            ));
        }
        for n in &spec.nics {
            devices.push_str(&format!(
                "<interface type='network'><mac address='{}'/><source network='{}'/><model type='virtio'/></interface>",
                esc(&n.mac),
                esc(&n.network)
            ));
        }
        format!(
            "<domain type='{}'><name>{}</name><uuid>{}</uuid><metadata>{}</metadata><memory unit='MiB'>{}</memory><vcpu>{}</vcpu>\
             <os><type arch='x86_64'>hvm</type><boot dev='hd'/></os><features><acpi/></features>\
             <devices>{devices}<memballoon model='virtio'><stats period='5'/></memballoon><video><model type='none'/></video></devices></domain>",
            esc(&self.opts.domain_type),
            esc(&spec.name),
            spec.id,
            crate::metadata::to_xml(&spec.metadata),
            spec.memory_mib,
            spec.vcpus
        )
    }

    /// Creates (or finds) the volume of each disk in its storage pool; returns their paths.
    fn ensure_volumes(c: &Connect, spec: &VmSpec) -> Result<Vec<String>, virt::error::Error> {
        spec.disks
            .iter()
            .map(|d| {
                let pool = c.lookup_storage_pool_by_name(&d.datastore)?;
                let name = format!("{}-{}.{}", spec.name, d.device, d.format);
                let vol = match pool.lookup_storage_vol_by_name(&name) {
                    Ok(v) => v,
                    Err(_) => StorageVol::create_xml(
                        &pool,
                        &format!(
                            "<volume><name>{name}</name><capacity unit='GiB'>{}</capacity><target><format type='{}'/></target></volume>",
                            d.size_gib, d.format
                        ),
                        0,
                    )?,
                };
                vol.path()
            })
            .collect()
    }
}

impl HostDriver for LibvirtHost {
    fn uri(&self) -> &str {
        &self.uri
    }

    fn host_info(&self) -> Result<HostInfo, DriverError> {
        self.with_conn("host_info", |c| {
            let node = c.node_info()?;
            let caps = c.capabilities()?;
            let version = c.hyp_version().unwrap_or(0);
            let driver = c.driver_type().unwrap_or_default().to_lowercase();
            let pools = c.list_all_storage_pools(0)?;
            let nets = c.list_all_networks(0)?;
            Ok((node, caps, version, driver, pools, nets))
        })
        .and_then(|(node, caps, version, driver, pools, nets)| {
            let shape =
                from_capabilities_xml_assuming_memory(&caps, node.memory / 1024).map_err(|e| {
                    DriverError::OperationFailed {
                        op: "host_info",
                        reason: format!("capabilities: {e}"),
                    }
                })?;
            let hypervisor = match driver.as_str() {
                "qemu" if self.opts.domain_type == "kvm" => HypervisorType::Kvm,
                "qemu" => HypervisorType::Qemu,
                "xen" | "libxl" => HypervisorType::Xen,
                "lxc" => HypervisorType::Lxc,
                "esx" => HypervisorType::Esx,
                "hyperv" => HypervisorType::Hyperv,
                _ => HypervisorType::Test,
            };
            let datastores = pools
                .iter()
                .filter_map(|p| {
                    let info = p.info().ok()?;
                    Some(DatastoreInfo {
                        name: p.name().ok()?,
                        kind: "libvirt-pool".into(),
                        capacity_gib: info.capacity >> 30,
                        free_gib: info.available >> 30,
                    })
                })
                .collect();
            let networks = nets
                .iter()
                .filter_map(|n| {
                    Some(NetworkInfo {
                        name: n.name().ok()?,
                        vlan: None,
                    })
                })
                .collect();
            Ok(HostInfo {
                hostname: self
                    .with_conn("hostname", |c| c.hostname())
                    .unwrap_or_default(),
                hypervisor,
                hypervisor_version: format!(
                    "{}.{}.{}",
                    version / 1_000_000,
                    version / 1000 % 1000,
                    version % 1000
                ),
                cpu_vendor: shape.cpu_vendor,
                cpu_model: shape.cpu_model,
                cpu_features: shape.cpu_features,
                sockets: shape.sockets,
                cores_per_socket: shape.cores_per_socket,
                threads_per_core: shape.threads_per_core,
                memory_mib: node.memory / 1024,
                numa_cells: shape.numa_cells,
                datastores,
                networks,
            })
        })
    }

    fn list_vms(&self) -> Result<Vec<VmInfo>, DriverError> {
        self.with_conn("list_vms", |c| {
            c.list_all_domains(0)?
                .iter()
                .map(|d| self.describe(d))
                .collect()
        })
    }

    fn vm_info(&self, id: Uuid) -> Result<VmInfo, DriverError> {
        self.domain("vm_info", id, |_, d| self.describe(d))
    }

    fn define(&self, spec: &VmSpec) -> Result<VmInfo, DriverError> {
        match self.vm_info(spec.id) {
            Ok(existing) if existing.name == spec.name => return Ok(existing),
            Ok(_) => {
                return Err(DriverError::AlreadyExists {
                    name: spec.name.clone(),
                });
            }
            Err(DriverError::NoSuchVm { .. }) => {}
            Err(e) => return Err(e),
        }
        self.with_conn("define", |c| {
            let paths = Self::ensure_volumes(c, spec)?;
            let d = c.define_domain_xml(&self.domain_xml(spec, &paths))?;
            self.describe(&d)
        })
    }

    fn act(&self, id: Uuid, action: VmAction) -> Result<VmInfo, DriverError> {
        let current = self.vm_info(id)?;
        transition(current.state, action)?;
        self.domain(action.as_str(), id, |_, d| {
            match action {
                VmAction::Start => d.create()?,
                VmAction::Shutdown => d.shutdown()?,
                VmAction::Stop => d.destroy()?,
                VmAction::Suspend => d.suspend()?,
                VmAction::Resume => d.resume()?,
            }
            self.describe(d)
        })
    }

    fn undefine(&self, id: Uuid) -> Result<(), DriverError> {
        let current = self.vm_info(id)?;
        if state::consumes_resources(current.state) {
            return Err(DriverError::InvalidTransition(
                vdc_driver::InvalidStateTransition {
                    from: current.state,
                    to: PowerState::Shutoff,
                },
            ));
        }
        self.domain("undefine", id, |_, d| {
            d.undefine_flags(
                sys::VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | sys::VIR_DOMAIN_UNDEFINE_NVRAM,
            )
        })?;
        self.seen.lock().expect("generation map lock").remove(&id);
        Ok(())
    }

    fn migrate(&self, id: Uuid, target_uri: &str) -> Result<VmInfo, DriverError> {
        let dest = Connect::open(Some(target_uri)).map_err(|e| DriverError::OperationFailed {
            op: "migrate",
            reason: format!("cannot open {target_uri}: {}", e.message()),
        })?;
        let flags = sys::VIR_MIGRATE_LIVE
            | sys::VIR_MIGRATE_PERSIST_DEST
            | sys::VIR_MIGRATE_UNDEFINE_SOURCE;
        let res = self.domain("migrate", id, |_, d| {
            let moved = d.migrate(&dest, flags, None, None, 0)?;
            let target = LibvirtHost {
                uri: target_uri.to_string(),
                opts: self.opts.clone(),
                conn: Mutex::new(None),
                seen: Mutex::new(HashMap::new()),
            };
            let mut info = target.describe(&moved)?;
            info.generation = info.generation.max(
                self.seen
                    .lock()
                    .expect("generation map lock")
                    .get(&id)
                    .map_or(0, |s| s.1)
                    + 1,
            );
            Ok(info)
        });
        drop(dest);
        res
    }

    fn host_stats(&self) -> Result<HostStats, DriverError> {
        let vms = self.list_vms()?;
        self.with_conn("host_stats", |c| {
            let node = c.node_info()?;
            let free = c.free_memory()?;
            Ok((node, free))
        })
        .map(|(node, free)| HostStats {
            cpu_utilisation: 0.0,
            memory_used_mib: (node.memory / 1024).saturating_sub(free >> 20),
            running_vms: vms
                .iter()
                .filter(|v| v.state == PowerState::Running)
                .count() as u32,
        })
    }

    fn vm_stats(&self, id: Uuid) -> Result<VmStats, DriverError> {
        self.domain("vm_stats", id, |_, d| {
            let info = d.info()?;
            Ok(VmStats {
                cpu_time_ns: info.cpu_time,
                memory_rss_mib: info.memory / 1024,
            })
        })
    }
}
