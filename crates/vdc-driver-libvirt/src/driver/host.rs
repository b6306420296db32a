//! [`LibvirtHost`]'s own workings: opening and reopening its connection, finding domains,
//! pools and volumes, generations from observed changes, metadata.

use super::*;

impl LibvirtHost {
    /// Opens `uri` (fails with `HostUnreachable` when libvirt cannot be reached).
    pub fn connect(uri: &str, opts: Options) -> Result<LibvirtHost, DriverError> {
        // libvirt prints every error to stderr unless told not to; errors reach the caller.
        virt::error::clear_error_callback();
        let host = LibvirtHost::unconnected(uri, opts);
        host.with_conn("connect", |_| Ok(()))?;
        Ok(host)
    }

    pub(crate) fn unreachable(&self, e: &virt::error::Error) -> DriverError {
        DriverError::HostUnreachable {
            uri: self.uri.clone(),
            reason: e.message().to_string(),
        }
    }

    pub(crate) fn map_err(
        &self,
        op: &'static str,
        e: virt::error::Error,
        id: Option<Uuid>,
    ) -> DriverError {
        match (code(&e), id) {
            (Some(ErrorNumber::NoDomain), Some(id)) => DriverError::NoSuchVm { id },
            (Some(ErrorNumber::NoConnect | ErrorNumber::AuthFailed), _) => self.unreachable(&e),
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
    pub(crate) fn with_conn<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Connect) -> Result<T, virt::error::Error>,
    ) -> Result<T, DriverError> {
        self.with_conn_for(op, None, f)
    }

    /// [`Self::with_conn`] for an operation on domain `id`, so "no such domain" maps to
    /// `NoSuchVm`.
    ///
    /// A call that fails because the connection died under it (libvirtd restarted or was
    /// killed) is `HostUnreachable`, and the dead connection is dropped so the next call
    /// reconnects: a `LibvirtHost` outlives daemon restarts. A reconnect while a sink is
    /// set registers it on the new connection and then reports every domain to it, on this
    /// thread once the connection lock is released (see [`Self::live`]).
    pub(crate) fn with_conn_for<T>(
        &self,
        op: &'static str,
        id: Option<Uuid>,
        f: impl FnOnce(&Connect) -> Result<T, virt::error::Error>,
    ) -> Result<T, DriverError> {
        let mut link = self.link.lock().expect("libvirt connection lock");
        let missed = self.live(&mut link)?;
        let conn = link.live.as_ref().expect("connection just opened").conn();
        let result = match f(conn) {
            Ok(v) => Ok(v),
            Err(e) => {
                // The event loop notices a closed socket at once, but a hung daemon only
                // after the keepalive gives up, so liveness is asked after a failure too.
                if !conn.is_alive().unwrap_or(false) {
                    // Deregisters the event callback, then closes.
                    link.live.take();
                    Err(self.unreachable(&e))
                } else {
                    Err(self.map_err(op, e, id))
                }
            }
        };
        // Outside the lock: a sink may call back into the driver.
        drop(link);
        if let Some((sink, ids)) = missed {
            tracing::debug!(uri = %self.uri, vms = ids.len(), "reconnected: every VM reported");
            for id in ids {
                sink(id);
            }
        }
        result
    }

    /// Makes `link` hold a live connection, opening a new one when there is none or it
    /// died (the dead one's callback deregistered, then closed), and makes sure the sink,
    /// if any, is registered on it.
    ///
    /// Events are lost while no callback is registered, so after registering on a new
    /// connection this returns every domain the host lists, for the caller to report. A
    /// registration that fails is logged and tried again by the next call.
    pub(crate) fn live(&self, link: &mut Link) -> Result<Missed, DriverError> {
        let alive = link
            .live
            .as_ref()
            .is_some_and(|l| l.conn().is_alive().unwrap_or(false));
        if !alive {
            link.live = None;
            link.live = Some(Connection::open(&self.uri).map_err(|e| self.unreachable(&e))?);
        }
        let Link {
            live: Some(live),
            sink: Some(sink),
        } = link
        else {
            return Ok(None);
        };
        if live.is_watched() {
            return Ok(None);
        }
        if let Err(e) = live.watch(sink) {
            tracing::warn!(uri = %self.uri, error = %e, "VM events not registered; retried on the next call");
            return Ok(None);
        }
        let ids = match live.conn().list_all_domains(0) {
            Ok(doms) => doms
                .iter()
                .filter_map(|d| Uuid::parse_str(&d.uuid_string().ok()?).ok())
                .collect(),
            Err(e) => {
                tracing::warn!(uri = %self.uri, error = %e, "cannot list the VMs whose events may be lost");
                Vec::new()
            }
        };
        Ok(Some((sink.clone(), ids)))
    }

    pub(crate) fn domain<T>(
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

    /// A fresh `LibvirtHost` for `uri` that does not connect until used.
    pub(crate) fn unconnected(uri: &str, opts: Options) -> LibvirtHost {
        LibvirtHost {
            uri: uri.to_string(),
            opts,
            link: Mutex::new(Link {
                live: None,
                sink: None,
            }),
            seen: Mutex::new(HashMap::new()),
            shutdowns: Mutex::new(HashSet::new()),
        }
    }

    /// `Running` while an ACPI shutdown is pending is `ShuttingDown`; any other state ends
    /// the pending shutdown.
    pub(crate) fn track_shutdown(&self, id: Uuid, state: PowerState) -> PowerState {
        let mut pending = self.shutdowns.lock().expect("shutdown set lock");
        match state {
            PowerState::Running if pending.contains(&id) => PowerState::ShuttingDown,
            PowerState::Running | PowerState::ShuttingDown => state,
            _ => {
                pending.remove(&id);
                state
            }
        }
    }

    pub(crate) fn power_state(d: &Domain) -> Result<PowerState, virt::error::Error> {
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

    pub(crate) fn describe(&self, c: &Connect, d: &Domain) -> Result<VmInfo, virt::error::Error> {
        let id = Uuid::parse_str(&d.uuid_string()?).unwrap_or_default();
        let xml = d.xml_desc(0)?;
        let state = self.track_shutdown(id, Self::power_state(d)?);
        let parsed = vdc_driver::domxml::parse_domain_xml(&xml).ok();
        let info = d.info()?;
        let (disks, nics) = match &parsed {
            Some(p) => (
                p.disks
                    .iter()
                    .filter(|x| x.device == "disk")
                    .map(|x| Self::disk_info(c, d, x))
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
            guest_os: parsed
                .as_ref()
                .and_then(|p| p.os_id.as_deref())
                .and_then(vdc_types::GuestOs::from_libosinfo),
        })
    }

    /// A disk as vdc names it: its datastore is the storage pool that holds the file (the
    /// pool of the volume at that path, else the pool whose target directory contains it,
    /// which also finds a volume another host created in a shared pool that this host has
    /// not refreshed), or the path itself for a file outside any pool; its size is the
    /// volume's capacity, else what the hypervisor reports for the block device.
    pub(crate) fn disk_info(c: &Connect, d: &Domain, x: &DomainDisk) -> DiskInfo {
        let device = x.target.clone().unwrap_or_default();
        let source = x.source.clone().unwrap_or_default();
        let mut datastore = None;
        let mut capacity = None;
        if source.starts_with('/') {
            if let Ok(vol) = c.lookup_storage_vol_by_path(&source) {
                datastore = vol.lookup_storage_pool().and_then(|p| p.name()).ok();
                capacity = vol.info().ok().map(|i| i.capacity);
            }
            if datastore.is_none()
                && let Some((dir, _)) = source.rsplit_once('/')
            {
                datastore = c
                    .lookup_storage_pool_by_target_path(if dir.is_empty() { "/" } else { dir })
                    .and_then(|p| p.name())
                    .ok();
            }
        }
        let capacity = capacity.or_else(|| d.block_info(&device, 0).ok().map(|b| b.capacity));
        DiskInfo {
            size_gib: capacity.unwrap_or(0).div_ceil(1 << 30),
            path: source.starts_with('/').then(|| source.clone()),
            datastore: datastore.unwrap_or(source),
            format: x.format.clone().unwrap_or_else(|| "raw".into()),
            device,
        }
    }

    pub(crate) fn generation(&self, id: Uuid, fingerprint: u64) -> u64 {
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

    /// The domain XML vdc defines for `spec`, its disks at `disk_paths`.
    ///
    /// vdc's metadata element is written iff `spec.metadata.managed` (see
    /// [`crate::metadata`]): a spec that says "not vdc's" defines a domain that reads back
    /// unmanaged, with no ownership fields.
    pub(crate) fn domain_xml(&self, spec: &VmSpec, disk_paths: &[String]) -> String {
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
        // The serial port is the console (a pty, so `virsh console` works); virtlogd keeps
        // what the guest prints there when a log directory is configured.
        let log = self
            .opts
            .console_log_dir
            .as_ref()
            .map_or(String::new(), |dir| {
                format!(
                    "<log file='{}/{}-console.log' append='on'/>",
                    esc(dir.trim_end_matches('/')),
                    esc(&spec.name)
                )
            });
        devices.push_str(&format!(
            "<serial type='pty'>{log}<target port='0'/></serial><console type='pty'/>"
        ));
        let boot = match &spec.boot {
            Some(k) => {
                let mut b = format!("<kernel>{}</kernel>", esc(&k.kernel));
                if let Some(initrd) = &k.initrd {
                    b.push_str(&format!("<initrd>{}</initrd>", esc(initrd)));
                }
                if let Some(cmdline) = &k.cmdline {
                    b.push_str(&format!("<cmdline>{}</cmdline>", esc(cmdline)));
                }
                b
            }
            None => "<boot dev='hd'/>".to_string(),
        };
        // TCG keeps translated code in a cache that defaults to 1 GiB per guest in QEMU 10;
        // 32 MiB is plenty for the guests vdc runs without hardware virtualisation.
        let tcg = if self.opts.domain_type == "qemu" {
            "<tcg><tb-cache unit='MiB'>32</tb-cache></tcg>"
        } else {
            ""
        };
        let os = spec.os_id.as_deref().map_or(String::new(), |id| {
            format!(
                "<libosinfo:libosinfo xmlns:libosinfo='{}'><libosinfo:os id='{}'/></libosinfo:libosinfo>",
                vdc_driver::domxml::LIBOSINFO_NS,
                esc(id)
            )
        });
        let metadata = match crate::metadata::to_xml(&spec.metadata) {
            None if os.is_empty() => String::new(),
            m => format!("<metadata>{}{os}</metadata>", m.unwrap_or_default()),
        };
        format!(
            "<domain type='{}'><name>{}</name><uuid>{}</uuid>{metadata}<memory unit='MiB'>{}</memory><vcpu>{}</vcpu>\
             <os><type arch='x86_64'>hvm</type>{boot}</os><features><acpi/>{tcg}</features>\
             <on_poweroff>destroy</on_poweroff>\
             <devices>{devices}<memballoon model='virtio'><stats period='5'/></memballoon><video><model type='none'/></video></devices></domain>",
            esc(&self.opts.domain_type),
            esc(&spec.name),
            spec.id,
            spec.memory_mib,
            spec.vcpus
        )
    }

    /// Creates (or finds) the volume of each disk in its storage pool; returns their paths.
    /// A volume another host made on shared storage (a VM restarted here by HA) is found
    /// after the pool is refreshed.
    pub(crate) fn ensure_volumes(
        c: &Connect,
        spec: &VmSpec,
    ) -> Result<Vec<String>, virt::error::Error> {
        spec.disks
            .iter()
            .map(|d| {
                let pool = c.lookup_storage_pool_by_name(&d.datastore)?;
                let name = format!("{}-{}.{}", spec.name, d.device, d.format);
                let found = pool.lookup_storage_vol_by_name(&name).or_else(|_| {
                    pool.refresh(0)?;
                    pool.lookup_storage_vol_by_name(&name)
                });
                let vol = match found {
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
