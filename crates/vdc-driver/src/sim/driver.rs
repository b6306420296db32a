//! [`SimHost`]: one simulated host, implementing [`HostDriver`] through the fleet's lock.

use super::*;

// ---------------------------------------------------------------------------------------------
// SimHost
// ---------------------------------------------------------------------------------------------

/// One host of a [`SimFleet`], as a [`HostDriver`].
#[derive(Debug, Clone)]
pub struct SimHost {
    pub(crate) fleet: SimFleet,
    pub(crate) index: usize,
    pub(crate) uri: String,
}

impl SimHost {
    /// This host's index in its fleet.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The fleet this host belongs to.
    pub fn fleet(&self) -> &SimFleet {
        &self.fleet
    }

    /// Sleeps the latency, locks once, settles what is due, fails if the host is down or a
    /// failure of `op` is pending, then runs `f`.
    pub(crate) fn call<T>(
        &self,
        op: Option<SimOp>,
        f: impl FnOnce(&mut Inner, Duration) -> Result<T, DriverError>,
    ) -> Result<T, DriverError> {
        self.fleet.sleep_latency();
        let (mut inner, now) = self.fleet.touch();
        let host = &inner.hosts[self.index];
        if host.down {
            return Err(host.unreachable());
        }
        if let Some(op) = op
            && inner.take_failure(op)
        {
            return Err(DriverError::OperationFailed {
                op: op.as_str(),
                reason: FAILURE_REASON.into(),
            });
        }
        f(&mut inner, now)
    }
}

impl HostDriver for SimHost {
    fn uri(&self) -> &str {
        &self.uri
    }

    /// Works on a powered-off (down) host, as a BMC does.
    fn set_power(&self, on: bool) -> Result<(), DriverError> {
        self.fleet.sleep_latency();
        let (mut inner, _) = self.fleet.touch();
        let host = &mut inner.hosts[self.index];
        let running = host
            .vms
            .values()
            .filter(|vm| consumes_resources(vm.state))
            .count();
        if !on && running > 0 {
            return Err(DriverError::OperationFailed {
                op: "power",
                reason: format!("{} runs {running} VMs", host.hostname),
            });
        }
        host.down = !on;
        Ok(())
    }

    fn clock_ns(&self) -> u128 {
        self.fleet.now().as_nanos()
    }

    fn ping(&self) -> Result<(), DriverError> {
        self.call(Some(SimOp::HostInfo), |_, _| Ok(()))
    }

    fn host_info(&self) -> Result<HostInfo, DriverError> {
        let h = self.index;
        self.call(Some(SimOp::HostInfo), |inner, _| {
            let host = &inner.hosts[h];
            let s = &host.shape;
            Ok(HostInfo {
                hostname: host.hostname.clone(),
                hypervisor: HypervisorType::Sim,
                hypervisor_version: env!("CARGO_PKG_VERSION").to_string(),
                cpu_vendor: s.cpu_vendor.clone(),
                cpu_model: s.cpu_model.clone(),
                cpu_features: s.cpu_features.clone(),
                topology: s.topology,
                memory_mib: s.memory_mib,
                numa_cells: s.numa_cells.clone(),
                datastores: vec![
                    DatastoreInfo {
                        name: LOCAL_DATASTORE.into(),
                        kind: "dir".into(),
                        capacity_gib: host.local_capacity_gib,
                        free_gib: host.local_capacity_gib.saturating_sub(host.local_used_gib),
                    },
                    DatastoreInfo {
                        name: SHARED_DATASTORE.into(),
                        kind: "netfs".into(),
                        capacity_gib: SHARED_DATASTORE_CAPACITY_GIB,
                        free_gib: SHARED_DATASTORE_CAPACITY_GIB
                            .saturating_sub(inner.shared_used_gib),
                    },
                ],
                // The simulator keeps disk sizes, not volume files.
                volumes: Vec::new(),
                networks: vec![
                    NetworkInfo {
                        name: DEFAULT_NETWORK.into(),
                        vlan: None,
                    },
                    NetworkInfo {
                        name: VLAN_NETWORK.into(),
                        vlan: Some(100),
                    },
                ],
            })
        })
    }

    fn list_vms(&self) -> Result<Vec<VmInfo>, DriverError> {
        let h = self.index;
        self.call(Some(SimOp::ListVms), |inner, _| {
            let mut vms: Vec<VmInfo> = inner.hosts[h].vms.values().map(SimVm::info).collect();
            vms.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(vms)
        })
    }

    fn vm_info(&self, id: Uuid) -> Result<VmInfo, DriverError> {
        let h = self.index;
        self.call(None, |inner, _| inner.hosts[h].vm(id).map(SimVm::info))
    }

    fn define(&self, spec: &VmSpec) -> Result<VmInfo, DriverError> {
        let h = self.index;
        self.call(Some(SimOp::Define), |inner, now| {
            inner.define_vm(h, spec, PowerState::Shutoff, now, SimOp::Define.as_str())
        })
    }

    fn act(&self, id: Uuid, action: VmAction) -> Result<VmInfo, DriverError> {
        let h = self.index;
        self.call(Some(SimOp::from_action(action)), |inner, now| {
            let host = &inner.hosts[h];
            let vm = host.vm(id)?;
            let next = transition(vm.state, action)?;
            if matches!(action, VmAction::Start | VmAction::Resume) {
                host.check_memory(&vm.name, vm.memory_mib, Some(id))?;
            }
            inner.change_state(h, id, next, now)
        })
    }

    fn undefine(&self, id: Uuid) -> Result<(), DriverError> {
        let h = self.index;
        self.call(Some(SimOp::Undefine), |inner, _| {
            let vm = inner.hosts[h].vm(id)?;
            if !matches!(vm.state, PowerState::Shutoff | PowerState::Crashed) {
                return Err(InvalidStateTransition {
                    from: vm.state,
                    to: PowerState::Shutoff,
                }
                .into());
            }
            inner.detach(h, id);
            Ok(())
        })
    }

    fn migrate(&self, id: Uuid, target_uri: &str) -> Result<VmInfo, DriverError> {
        let h = self.index;
        self.call(Some(SimOp::Migrate), |inner, _| {
            let failed = |reason: String| DriverError::OperationFailed {
                op: SimOp::Migrate.as_str(),
                reason,
            };
            let vm = inner.hosts[h].vm(id)?;
            let t = inner
                .host_index_of(target_uri)
                .ok_or_else(|| failed(format!("unknown target host {target_uri}")))?;
            if t == h {
                return Err(failed(format!("VM {} already is on {target_uri}", vm.name)));
            }
            let target = &inner.hosts[t];
            if target.down {
                return Err(failed(format!(
                    "target host {target_uri} unreachable: {UNREACHABLE_REASON}"
                )));
            }
            let from = &inner.hosts[h].shape;
            if consumes_resources(vm.state) && target.shape.cpu_vendor != from.cpu_vendor {
                return Err(failed(format!(
                    "cannot live-migrate VM {} across CPU vendors ({} to {})",
                    vm.name, from.cpu_vendor, target.shape.cpu_vendor
                )));
            }
            if target.has_name(&vm.name) {
                return Err(DriverError::AlreadyExists {
                    name: vm.name.clone(),
                });
            }
            if consumes_resources(vm.state) {
                target.check_memory(&vm.name, vm.memory_mib, None)?;
            }
            let (local, _) = vm.disk_usage();
            check_space(
                target,
                LOCAL_DATASTORE,
                target.local_used_gib,
                local,
                target.local_capacity_gib,
            )?;

            let generation = inner.next_generation();
            let mut vm = inner.detach(h, id).ok_or(DriverError::NoSuchVm { id })?;
            vm.generation = generation;
            let info = vm.info();
            inner.attach(t, vm);
            Ok(info)
        })
    }

    fn host_stats(&self) -> Result<HostStats, DriverError> {
        let h = self.index;
        self.call(None, |inner, _| {
            let host = &inner.hosts[h];
            let mut busy_permille: u64 = 0;
            let mut running_vms: u32 = 0;
            for vm in host.vms.values() {
                if burns_cpu(vm.state) {
                    busy_permille += u64::from(vm.vcpus) * vm.load_permille;
                }
                if vm.state == PowerState::Running {
                    running_vms += 1;
                }
            }
            let logical = u64::from(host.shape.topology.logical_cpus().max(1));
            let cpu_utilisation = (busy_permille as f64 / 1000.0 / logical as f64).min(1.0);
            Ok(HostStats {
                cpu_utilisation,
                memory_used_mib: host.used_memory_mib(None),
                running_vms,
            })
        })
    }

    fn vm_stats(&self, id: Uuid) -> Result<VmStats, DriverError> {
        let h = self.index;
        self.call(None, |inner, now| {
            let host = &inner.hosts[h];
            Ok(host.vm(id)?.stats(now, host.vcpu_wait(), host.squeeze()))
        })
    }

    fn all_vm_stats(&self) -> Result<Vec<(Uuid, VmStats)>, DriverError> {
        let h = self.index;
        self.call(None, |inner, now| {
            let host = &inner.hosts[h];
            let wait = host.vcpu_wait();
            let squeeze = host.squeeze();
            Ok(host
                .vms
                .values()
                .filter(|vm| consumes_resources(vm.state))
                .map(|vm| (vm.id, vm.stats(now, wait, squeeze)))
                .collect())
        })
    }

    fn set_metadata(&self, id: Uuid, metadata: &VmMetadata) -> Result<VmInfo, DriverError> {
        let h = self.index;
        self.call(None, |inner, _| {
            let generation = inner.next_generation();
            let vm = inner.hosts[h]
                .vms
                .get_mut(&id)
                .ok_or(DriverError::NoSuchVm { id })?;
            vm.metadata = SimMetadata::from_metadata(metadata);
            vm.generation = generation;
            Ok(vm.info())
        })
    }

    fn snapshot_create(&self, id: Uuid, name: &str) -> Result<SnapshotInfo, DriverError> {
        let h = self.index;
        self.call(Some(SimOp::Snapshot), |inner, _| {
            let vm = inner.hosts[h]
                .vms
                .get_mut(&id)
                .ok_or(DriverError::NoSuchVm { id })?;
            if let Some(s) = vm.snapshots.iter().find(|s| s.name == name) {
                return Ok(s.info());
            }
            let snap = SimSnapshot {
                name: name.to_string(),
                created_at: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as UnixMs),
                state: vm.state,
            };
            vm.snapshots.push(snap.clone());
            Ok(snap.info())
        })
    }

    fn snapshot_list(&self, id: Uuid) -> Result<Vec<SnapshotInfo>, DriverError> {
        let h = self.index;
        self.call(None, |inner, _| {
            Ok(inner.hosts[h]
                .vm(id)?
                .snapshots
                .iter()
                .map(SimSnapshot::info)
                .collect())
        })
    }

    fn snapshot_revert(&self, id: Uuid, name: &str) -> Result<VmInfo, DriverError> {
        let h = self.index;
        self.call(Some(SimOp::Snapshot), |inner, now| {
            let host = &inner.hosts[h];
            let vm = host.vm(id)?;
            let snap = vm
                .snapshots
                .iter()
                .find(|s| s.name == name)
                .ok_or_else(|| DriverError::NoSuchSnapshot {
                    id,
                    name: name.to_string(),
                })?;
            if consumes_resources(snap.state) {
                host.check_memory(&vm.name, vm.memory_mib, Some(id))?;
            }
            let to = snap.state;
            inner.change_state(h, id, to, now)
        })
    }

    fn snapshot_delete(&self, id: Uuid, name: &str) -> Result<(), DriverError> {
        let h = self.index;
        self.call(None, |inner, _| {
            let vm = inner.hosts[h]
                .vms
                .get_mut(&id)
                .ok_or(DriverError::NoSuchVm { id })?;
            vm.snapshots.retain(|s| s.name != name);
            Ok(())
        })
    }
}

impl SimSnapshot {
    pub(crate) fn info(&self) -> SnapshotInfo {
        SnapshotInfo {
            name: self.name.clone(),
            created_at: self.created_at,
            state: self.state,
        }
    }
}
