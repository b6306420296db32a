//! `HostDriver` over one libvirt connection: lifecycle, discovery, pool volumes, metadata,
//! snapshots, bulk stats ([`crate::stats`]), live migration and lifecycle events
//! ([`crate::events`]).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use uuid::Uuid;
use vdc_driver::domxml::DomainDisk;
use vdc_driver::shapes::{HostShape, from_capabilities_xml_assuming_memory};
use vdc_driver::{
    DatastoreInfo, DiskInfo, DriverError, HostDriver, HostInfo, HostStats, NetworkInfo, NicInfo,
    SnapshotInfo, VmEventSink, VmInfo, VmMetadata, VmSpec, VmStats, VolumeInfo, state, transition,
};
use vdc_types::{CpuTopology, HypervisorType, PowerState, UnixMs, VmAction};
use virt::connect::Connect;
use virt::domain::{Domain, DomainState};
use virt::error::ErrorNumber;
use virt::storage_vol::StorageVol;
use virt::sys;

use crate::METADATA_NS;
use crate::events::{self, Connection};
use crate::stats;

mod host;
mod xml;

use xml::*;

/// How this driver defines domains.
#[derive(Debug, Clone)]
pub struct Options {
    /// `<domain type='…'>` for domains vdc defines: `kvm` on hosts with hardware
    /// virtualisation, `qemu` (TCG software emulation) where there is none, `test` for
    /// libvirt's test driver.
    pub domain_type: String,
    /// Directory on the host where the serial console of each domain vdc defines is logged,
    /// as `{dir}/{name}-console.log` (written by libvirt's virtlogd, appended across
    /// restarts). It must exist on every host the domain runs on, migration targets
    /// included: libvirt does not create it, and a domain whose log directory is missing
    /// neither starts nor migrates in. `None`: the console is not logged.
    pub console_log_dir: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            domain_type: "kvm".into(),
            console_log_dir: Some("/var/log/libvirt/qemu".into()),
        }
    }
}

/// The driver's connection and the event sink registered on it, under one lock so that a
/// reconnect and a `watch` never interleave.
pub(crate) struct Link {
    /// `None` until first used and after the connection was found dead.
    live: Option<Connection>,
    /// What [`HostDriver::watch`] asked for, registered on every connection as it is
    /// opened.
    sink: Option<VmEventSink>,
}

/// Domains whose events may have been missed while no callback was registered (the
/// connection was down), to be reported to the sink once the connection lock is released.
type Missed = Option<(VmEventSink, Vec<Uuid>)>;

/// One libvirt connection, reopened on demand after it drops.
pub struct LibvirtHost {
    uri: String,
    opts: Options,
    link: Mutex<Link>,
    /// Per domain: a fingerprint of what was last observed and the generation given to it.
    /// libvirt has no per-domain version counter, so the driver makes one: a change of the
    /// observed facts takes the current time in microseconds (strictly above the previous
    /// generation), which also keeps generations increasing across vdc restarts.
    seen: Mutex<HashMap<Uuid, (u64, u64)>>,
    /// Domains asked to shut down (ACPI) that still run. libvirt's QEMU driver reports them
    /// `running` until the guest powers off; the driver reports `ShuttingDown`, as the shared
    /// state machine says.
    shutdowns: Mutex<HashSet<Uuid>>,
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
            let shape = match from_capabilities_xml_assuming_memory(&caps, node.memory / 1024) {
                Ok(shape) => shape,
                // Capabilities without a CPU topology (libvirt's test driver opened from a
                // file lists no NUMA cells): virNodeGetInfo's counts, one cell per node.
                Err(e) if node.sockets * node.cores * node.threads > 0 => {
                    tracing::debug!(uri = %self.uri, error = %e, "host shape from node info");
                    HostShape {
                        label: String::new(),
                        hypervisor: HypervisorType::Test,
                        hypervisor_version: String::new(),
                        cpu_vendor: String::new(),
                        cpu_model: node.model.clone(),
                        cpu_features: Vec::new(),
                        topology: CpuTopology::new(
                            node.nodes.max(1) * node.sockets,
                            node.cores,
                            node.threads,
                        ),
                        memory_mib: node.memory / 1024,
                        numa_cells: Vec::new(),
                    }
                }
                Err(e) => {
                    return Err(DriverError::OperationFailed {
                        op: "host_info",
                        reason: format!("capabilities: {e}"),
                    });
                }
            };
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
            let volumes = pools.iter().flat_map(pool_volumes).collect();
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
                topology: shape.topology,
                memory_mib: node.memory / 1024,
                numa_cells: shape.numa_cells,
                datastores,
                volumes,
                networks,
            })
        })
    }

    fn list_vms(&self) -> Result<Vec<VmInfo>, DriverError> {
        self.with_conn("list_vms", |c| {
            let mut vms = Vec::new();
            for d in c.list_all_domains(0)? {
                match self.describe(c, &d) {
                    Ok(v) => vms.push(v),
                    // Undefined between the listing and the look: it is gone, not an error.
                    Err(e) if code(&e) == Some(ErrorNumber::NoDomain) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(vms)
        })
    }

    fn vm_info(&self, id: Uuid) -> Result<VmInfo, DriverError> {
        self.domain("vm_info", id, |c, d| self.describe(c, d))
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
        let taken = self.with_conn("define", |c| match c.lookup_domain_by_name(&spec.name) {
            Ok(_) => Ok(true),
            Err(e) if code(&e) == Some(ErrorNumber::NoDomain) => Ok(false),
            Err(e) => Err(e),
        })?;
        if taken {
            // libvirt would refuse it too, but only after the volumes were made, and as a
            // generic "operation failed".
            return Err(DriverError::AlreadyExists {
                name: spec.name.clone(),
            });
        }
        self.with_conn("define", |c| {
            let paths = Self::ensure_volumes(c, spec)?;
            let d = c.define_domain_xml(&self.domain_xml(spec, &paths))?;
            self.describe(c, &d)
        })
    }

    fn act(&self, id: Uuid, action: VmAction) -> Result<VmInfo, DriverError> {
        let current = self.vm_info(id)?;
        transition(current.state, action)?;
        self.domain(action.as_str(), id, |c, d| {
            match action {
                VmAction::Start => d.create()?,
                VmAction::Shutdown => d.shutdown()?,
                VmAction::Stop => d.destroy()?,
                VmAction::Suspend => d.suspend()?,
                VmAction::Resume => d.resume()?,
            }
            let mut pending = self.shutdowns.lock().expect("shutdown set lock");
            if action == VmAction::Shutdown {
                pending.insert(id);
            } else {
                pending.remove(&id);
            }
            drop(pending);
            self.describe(c, d)
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
            // Snapshot metadata goes with the domain (the snapshots stay in the qcow2
            // disks), and so does UEFI variable storage; a driver without NVRAM support
            // (libvirt's test driver) rejects that flag, so it is retried without it.
            let snapshots = sys::VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA;
            match d.undefine_flags(snapshots | sys::VIR_DOMAIN_UNDEFINE_NVRAM) {
                Err(e) if code(&e) == Some(ErrorNumber::InvalidArg) => d.undefine_flags(snapshots),
                other => other,
            }
        })?;
        self.seen.lock().expect("generation map lock").remove(&id);
        Ok(())
    }

    /// Migrates to the libvirtd at `target_uri`, which vdc connects to itself (libvirt's
    /// client-managed migration): live for an active VM, offline (the definition only) for
    /// a shut-off one. The VM is defined on the target and undefined here.
    ///
    /// Storage is not copied: the VM's disks must be on storage both hosts see at the same
    /// path (a shared pool). `VIR_MIGRATE_UNSAFE` is passed because libvirt cannot tell that
    /// a `dir`/`netfs` pool is shared and refuses a live migration of disks whose cache mode
    /// is not `none`/`directsync` (vdc's default writeback cache) as possibly corrupting.
    /// TODO-correctness: define disks on shared datastores with `cache='none'` and drop the
    /// flag.
    ///
    /// When both daemons run on this machine (URIs without a host, as with the lab's second
    /// libvirtd), the migration stream goes to `tcp://127.0.0.1`: libvirt would otherwise
    /// resolve the target's hostname, which is this host's and resolves to a loopback it
    /// refuses.
    fn migrate(&self, id: Uuid, target_uri: &str) -> Result<VmInfo, DriverError> {
        let before = self.vm_info(id)?;
        let dest = events::open(target_uri).map_err(|e| DriverError::OperationFailed {
            op: "migrate",
            reason: format!("cannot open {target_uri}: {}", e.message()),
        })?;
        let stream_uri =
            (is_local_uri(&self.uri) && is_local_uri(target_uri)).then_some("tcp://127.0.0.1");
        let moved = self.domain("migrate", id, |_, d| {
            let flags = if d.is_active()? {
                sys::VIR_MIGRATE_LIVE
                    | sys::VIR_MIGRATE_PERSIST_DEST
                    | sys::VIR_MIGRATE_UNDEFINE_SOURCE
                    | sys::VIR_MIGRATE_UNSAFE
            } else {
                sys::VIR_MIGRATE_OFFLINE
                    | sys::VIR_MIGRATE_PERSIST_DEST
                    | sys::VIR_MIGRATE_UNDEFINE_SOURCE
            };
            d.migrate(&dest, flags, None, stream_uri, 0)
        })?;
        self.seen.lock().expect("generation map lock").remove(&id);
        let target = LibvirtHost::unconnected(target_uri, self.opts.clone());
        let mut info =
            target
                .describe(&dest, &moved)
                .map_err(|e| DriverError::OperationFailed {
                    op: "migrate",
                    reason: format!(
                        "migrated, but {target_uri} cannot describe it: {}",
                        e.message()
                    ),
                })?;
        // Generations are microsecond timestamps, so the target's is already newer; the
        // floor keeps it so should the clocks of vdc's hosts ever step back.
        info.generation = info.generation.max(before.generation + 1);
        Ok(info)
    }

    /// Host CPU utilisation over ~100 ms (two node CPU samples), memory in use, and the
    /// number of running (not paused) domains.
    ///
    /// Memory in use is the host's memory less its free memory. A host that cannot say how
    /// much is free (libvirt's test driver opened from a file has no NUMA cells to count it
    /// in) reports what its active domains hold instead.
    fn host_stats(&self) -> Result<HostStats, DriverError> {
        let before = self.with_conn("host_stats", stats::node_cpu_times)?;
        // Outside the connection lock: other calls go on while the host's counters move.
        std::thread::sleep(Duration::from_millis(100));
        self.with_conn("host_stats", |c| {
            let after = stats::node_cpu_times(c)?;
            let node = c.node_info()?;
            let active = c.list_all_domains(sys::VIR_CONNECT_LIST_DOMAINS_ACTIVE)?;
            let mut running = 0u32;
            let mut held_kib = 0u64;
            for d in &active {
                let info = d.info()?;
                held_kib += info.memory;
                if Self::power_state(d)? == PowerState::Running {
                    running += 1;
                }
            }
            let memory_used_mib = match c.free_memory() {
                Ok(free) => (node.memory / 1024).saturating_sub(free >> 20),
                Err(e) => {
                    tracing::debug!(uri = %self.uri, error = %e, "no free memory figure");
                    held_kib / 1024
                }
            };
            Ok(HostStats {
                cpu_utilisation: stats::cpu_utilisation(&before, &after),
                memory_used_mib,
                running_vms: running,
            })
        })
    }

    /// One domain's counters ([`stats::one`]); a shut-off VM has none: all zero.
    fn vm_stats(&self, id: Uuid) -> Result<VmStats, DriverError> {
        self.domain("vm_stats", id, |_, d| {
            if d.is_active()? {
                stats::one(d)
            } else {
                Ok(VmStats::default())
            }
        })
    }

    fn all_vm_stats(&self) -> Result<Vec<(Uuid, VmStats)>, DriverError> {
        self.with_conn("all_vm_stats", stats::all_active)
    }

    /// Rewrites vdc's element in the domain's `<metadata>` (key `vdc`, [`METADATA_NS`]) in
    /// its persistent definition and, while it runs, in the live one too (the driver reads
    /// the live XML of an active domain); unmanaged metadata removes the element.
    fn set_metadata(&self, id: Uuid, metadata: &VmMetadata) -> Result<VmInfo, DriverError> {
        let xml = crate::metadata::to_set_metadata_xml(metadata);
        self.domain("set_metadata", id, |c, d| {
            let mut flags = sys::VIR_DOMAIN_AFFECT_CONFIG;
            if d.is_active()? {
                flags |= sys::VIR_DOMAIN_AFFECT_LIVE;
            }
            d.set_metadata(
                sys::VIR_DOMAIN_METADATA_ELEMENT as i32,
                xml.as_deref(),
                Some("vdc"),
                Some(METADATA_NS),
                flags,
            )?;
            self.describe(c, d)
        })
    }

    /// An internal snapshot (inside the qcow2 disks; with memory when the VM is active), so
    /// it needs qcow2 disks. An existing snapshot of that name is returned as it is.
    fn snapshot_create(&self, id: Uuid, name: &str) -> Result<SnapshotInfo, DriverError> {
        let xml = self.domain("snapshot_create", id, |_, d| {
            let snap = match Domain::lookup_snapshot_by_name(d, name, 0) {
                Ok(s) => s,
                Err(e) if code(&e) == Some(ErrorNumber::NoDomainSnapshot) => {
                    d.create_snapshot_xml(&snapshot_xml(name, d.is_active()?), 0)?
                }
                Err(e) => return Err(e),
            };
            snap.xml_desc(0)
        })?;
        snapshot_from_xml(&xml).ok_or_else(|| DriverError::OperationFailed {
            op: "snapshot_create",
            reason: format!("unreadable snapshot description of {name}"),
        })
    }

    /// Oldest first: by creation time (whole seconds), ties in libvirt's topological order
    /// (a parent before its children).
    fn snapshot_list(&self, id: Uuid) -> Result<Vec<SnapshotInfo>, DriverError> {
        let xmls = self.domain("snapshot_list", id, |_, d| {
            d.list_all_snapshots(sys::VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL)?
                .iter()
                .map(|s| s.xml_desc(0))
                .collect::<Result<Vec<_>, _>>()
        })?;
        let mut list = xmls
            .iter()
            .map(|x| {
                snapshot_from_xml(x).ok_or_else(|| DriverError::OperationFailed {
                    op: "snapshot_list",
                    reason: "unreadable snapshot description".into(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        list.sort_by_key(|s| s.created_at);
        Ok(list)
    }

    fn snapshot_revert(&self, id: Uuid, name: &str) -> Result<VmInfo, DriverError> {
        self.domain(
            "snapshot_revert",
            id,
            |c, d| match Domain::lookup_snapshot_by_name(d, name, 0) {
                Ok(s) => {
                    s.revert(0)?;
                    Ok(Some(self.describe(c, d)?))
                }
                Err(e) if code(&e) == Some(ErrorNumber::NoDomainSnapshot) => Ok(None),
                Err(e) => Err(e),
            },
        )?
        .ok_or_else(|| DriverError::NoSuchSnapshot {
            id,
            name: name.to_string(),
        })
    }

    /// Registers `notify` on the connection (a lifecycle callback, in the private `events`
    /// module), and on every connection opened after it. A second call replaces the first sink.
    ///
    /// Events arrive on the process's libvirt event thread. Those of a time without a
    /// connection are lost; the reconnect that ends it (the next driver call) reports every
    /// domain the host lists, on the thread of that call. `false`: this driver has no
    /// domain events, or libvirt's event loop could not be started. An error: the sink
    /// could not be registered now; it stays set and the next driver call retries.
    fn watch(&self, notify: VmEventSink) -> Result<bool, DriverError> {
        if !events::event_loop() {
            return Ok(false);
        }
        let mut link = self.link.lock().expect("libvirt connection lock");
        if let Some(live) = link.live.as_mut() {
            live.unwatch();
        }
        link.sink = Some(notify.clone());
        let alive = link
            .live
            .as_ref()
            .is_some_and(|l| l.conn().is_alive().unwrap_or(false));
        if !alive {
            // Reconnecting registers the sink (and reports every domain: events were not
            // followed while the connection was down).
            drop(link);
            return self.with_conn("watch", |_| Ok(())).map(|()| true);
        }
        let live = link.live.as_mut().expect("a live connection");
        match live.watch(&notify) {
            Ok(()) => Ok(true),
            Err(e) if code(&e) == Some(ErrorNumber::NoSupport) => {
                tracing::info!(uri = %self.uri, "no domain events from this driver");
                link.sink = None;
                Ok(false)
            }
            Err(e) => Err(self.map_err("watch", e, None)),
        }
    }

    fn snapshot_delete(&self, id: Uuid, name: &str) -> Result<(), DriverError> {
        self.domain(
            "snapshot_delete",
            id,
            |_, d| match Domain::lookup_snapshot_by_name(d, name, 0) {
                Ok(s) => s.delete(0),
                Err(e) if code(&e) == Some(ErrorNumber::NoDomainSnapshot) => Ok(()),
                Err(e) => Err(e),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_descriptions() {
        let xml = "<domainsnapshot><name>s1</name><state>running</state>\
                   <creationTime>1795398899</creationTime><memory snapshot='internal'/>\
                   <domain type='test'><name>x</name></domain></domainsnapshot>";
        assert_eq!(
            snapshot_from_xml(xml),
            Some(SnapshotInfo {
                name: "s1".into(),
                created_at: 1_795_398_899_000,
                state: PowerState::Running
            })
        );
        let off = xml.replace("running", "shutoff");
        assert_eq!(snapshot_from_xml(&off).unwrap().state, PowerState::Shutoff);
        let paused = xml.replace("running", "paused");
        assert_eq!(
            snapshot_from_xml(&paused).unwrap().state,
            PowerState::Paused
        );
        assert_eq!(snapshot_from_xml("<domainsnapshot/>"), None);
        assert!(
            snapshot_xml("a<b", true).contains("<name>a&lt;b</name><memory snapshot='internal'/>")
        );
        assert!(snapshot_xml("s", false).contains("<memory snapshot='no'/>"));
    }

    #[test]
    fn local_uris() {
        for uri in [
            "qemu:///system",
            "qemu+unix:///system?socket=/var/lib/vdc-lab/host2/run/libvirt-sock",
            "qemu+tcp://localhost/system",
            "qemu+ssh://root@127.0.0.1:22/system",
            "qemu+tcp://[::1]:16509/system",
            "test:///default",
        ] {
            assert!(is_local_uri(uri), "{uri}");
        }
        for uri in [
            "qemu+ssh://kvm1/system",
            "qemu+tls://kvm2.example.org:16514/system",
        ] {
            assert!(!is_local_uri(uri), "{uri}");
        }
    }

    fn spec() -> VmSpec {
        VmSpec {
            id: Uuid::nil(),
            name: "web-1".into(),
            vcpus: 2,
            memory_mib: 128,
            disks: vec![DiskInfo {
                path: None,
                device: "vda".into(),
                size_gib: 1,
                datastore: "pool".into(),
                format: "qcow2".into(),
            }],
            nics: vec![],
            metadata: VmMetadata::default(),
            os_id: None,
            boot: Some(vdc_driver::KernelBoot {
                kernel: "/boot/vmlinuz".into(),
                initrd: Some("/boot/initrd.img".into()),
                cmdline: Some("console=ttyS0 panic=-1".into()),
            }),
        }
    }

    #[test]
    fn domain_xml_for_a_tcg_guest_with_kernel_boot() {
        let h = LibvirtHost::unconnected(
            "qemu:///system",
            Options {
                domain_type: "qemu".into(),
                ..Options::default()
            },
        );
        let xml = h.domain_xml(&spec(), &["/pool/web-1-vda.qcow2".into()]);
        let doc = vdc_driver::domxml::parse_domain_xml(&xml).unwrap();
        assert_eq!(
            (doc.domain_type.as_str(), doc.vcpus, doc.memory_mib),
            ("qemu", 2, 128)
        );
        for part in [
            "<kernel>/boot/vmlinuz</kernel><initrd>/boot/initrd.img</initrd><cmdline>console=ttyS0 panic=-1</cmdline></os>",
            "<features><acpi/><tcg><tb-cache unit='MiB'>32</tb-cache></tcg></features>",
            "<on_poweroff>destroy</on_poweroff>",
            "<serial type='pty'><log file='/var/log/libvirt/qemu/web-1-console.log' append='on'/><target port='0'/></serial><console type='pty'/>",
        ] {
            assert!(xml.contains(part), "{part} missing from {xml}");
        }
        assert!(!xml.contains("<boot dev"), "kernel boot replaces disk boot");
        assert!(!xml.contains("<metadata>"), "unmanaged: no vdc element");
        let mut s = spec();
        s.os_id = Some("http://debian.org/debian/12".into());
        let xml = h.domain_xml(&s, &["/pool/web-1-vda.qcow2".into()]);
        let doc = vdc_driver::domxml::parse_domain_xml(&xml).unwrap();
        assert_eq!(doc.os_id.as_deref(), s.os_id.as_deref(), "{xml}");
        assert!(
            !xml.contains(crate::METADATA_NS),
            "still no vdc element: {xml}"
        );
    }

    #[test]
    fn domain_xml_for_kvm_disk_boot_without_console_log() {
        let h = LibvirtHost::unconnected(
            "qemu:///system",
            Options {
                domain_type: "kvm".into(),
                console_log_dir: None,
            },
        );
        let mut s = spec();
        s.boot = None;
        s.metadata = VmMetadata {
            managed: true,
            owner: Some("alice".into()),
            ..VmMetadata::default()
        };
        let xml = h.domain_xml(&s, &["/pool/web-1-vda.qcow2".into()]);
        assert!(xml.contains("<boot dev='hd'/>"));
        assert!(!xml.contains("<tcg>"), "no TCG tuning for kvm");
        assert!(xml.contains("<serial type='pty'><target port='0'/></serial>"));
        assert_eq!(crate::metadata::from_domain_xml(&xml), s.metadata);
    }
}
