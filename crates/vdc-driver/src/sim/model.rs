//! The simulator's internal state: VMs, hosts, their pools and networks, the fleet-wide lock,
//! and what a VM costs its host (memory, CPU load, disk space).

use super::*;

// ---------------------------------------------------------------------------------------------
// Internal state
// ---------------------------------------------------------------------------------------------

/// The FxHash scheme with a final mix: much cheaper than SipHash for the simulator's maps,
/// whose keys (UUIDs) need no protection against hash flooding.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl FxHasher {
    pub(crate) fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        if let Ok(pair) = <[u8; 16]>::try_from(bytes) {
            // A UUID: two words, no loop.
            let (a, b) = pair.split_at(8);
            let (mut x, mut y) = ([0u8; 8], [0u8; 8]);
            x.copy_from_slice(a);
            y.copy_from_slice(b);
            self.add(u64::from_le_bytes(x));
            self.add(u64::from_le_bytes(y));
            return;
        }
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        mix64(self.0)
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Text that is usually one of a few constants (pool, format, owner …): the generator
/// borrows its `'static` strings instead of allocating 200,000 copies of each.
pub(crate) type Text = Cow<'static, str>;

pub(crate) fn text(s: &str) -> Text {
    Cow::Owned(s.to_string())
}

/// A disk as the simulator keeps it ([`DiskInfo`] with shared strings).
#[derive(Debug, Clone)]
pub(crate) struct SimDisk {
    pub(crate) device: Text,
    pub(crate) size_gib: u64,
    pub(crate) datastore: Text,
    pub(crate) format: Text,
}

/// A NIC as the simulator keeps it.
#[derive(Debug, Clone)]
pub(crate) struct SimNic {
    pub(crate) mac: String,
    pub(crate) network: Text,
}

/// [`VmMetadata`] as the simulator keeps it.
#[derive(Debug, Clone)]
pub(crate) struct SimMetadata {
    pub(crate) managed: bool,
    pub(crate) owner: Option<Text>,
    pub(crate) department: Option<Text>,
    pub(crate) purpose: Option<Text>,
    pub(crate) tags: Vec<Text>,
    pub(crate) lease_expires_at: Option<UnixMs>,
}

/// One simulated VM.
#[derive(Debug, Clone)]
pub(crate) struct SimVm {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) vcpus: u32,
    pub(crate) memory_mib: u64,
    pub(crate) disks: Vec<SimDisk>,
    pub(crate) nics: Vec<SimNic>,
    pub(crate) metadata: SimMetadata,
    /// libosinfo id of the guest OS.
    pub(crate) os_id: Option<Text>,
    pub(crate) snapshots: Vec<SimSnapshot>,
    pub(crate) state: PowerState,
    pub(crate) generation: u64,
    /// When a `ShuttingDown` VM settles into `Shutoff`.
    pub(crate) shutdown_at: Option<Duration>,
    /// CPU time consumed up to `burning_since` (or in total when not burning).
    pub(crate) cpu_ns: u64,
    /// Sim time since which the VM burns CPU (running or shutting down).
    pub(crate) burning_since: Option<Duration>,
    /// Share of each vCPU the guest keeps busy, in thousandths.
    pub(crate) load_permille: u64,
}

/// A snapshot as the simulator keeps it: when, and the power state to return to.
#[derive(Debug, Clone)]
pub(crate) struct SimSnapshot {
    pub(crate) name: String,
    pub(crate) created_at: UnixMs,
    pub(crate) state: PowerState,
}

impl SimMetadata {
    pub(crate) fn from_metadata(m: &VmMetadata) -> SimMetadata {
        SimMetadata {
            managed: m.managed,
            owner: m.owner.as_deref().map(text),
            department: m.department.as_deref().map(text),
            purpose: m.purpose.as_deref().map(text),
            tags: m.tags.iter().map(|t| text(t)).collect(),
            lease_expires_at: m.lease_expires_at,
        }
    }
}

pub(crate) fn burns_cpu(state: PowerState) -> bool {
    matches!(state, PowerState::Running | PowerState::ShuttingDown)
}

impl SimVm {
    pub(crate) fn from_spec(
        spec: &VmSpec,
        state: PowerState,
        generation: u64,
        now: Duration,
    ) -> SimVm {
        let m = &spec.metadata;
        SimVm {
            id: spec.id,
            name: spec.name.clone(),
            vcpus: spec.vcpus,
            memory_mib: spec.memory_mib,
            disks: spec
                .disks
                .iter()
                .map(|d| SimDisk {
                    device: text(&d.device),
                    size_gib: d.size_gib,
                    datastore: text(&d.datastore),
                    format: text(&d.format),
                })
                .collect(),
            nics: spec
                .nics
                .iter()
                .map(|n| SimNic {
                    mac: n.mac.clone(),
                    network: text(&n.network),
                })
                .collect(),
            metadata: SimMetadata::from_metadata(m),
            os_id: spec.os_id.as_deref().map(text),
            snapshots: Vec::new(),
            state,
            generation,
            shutdown_at: None,
            cpu_ns: 0,
            burning_since: burns_cpu(state).then_some(now),
            load_permille: load_permille(spec.id),
        }
    }

    pub(crate) fn info(&self) -> VmInfo {
        let m = &self.metadata;
        VmInfo {
            id: self.id,
            name: self.name.clone(),
            vcpus: self.vcpus,
            memory_mib: self.memory_mib,
            disks: self
                .disks
                .iter()
                .map(|d| DiskInfo {
                    path: None,
                    device: d.device.to_string(),
                    size_gib: d.size_gib,
                    datastore: d.datastore.to_string(),
                    format: d.format.to_string(),
                })
                .collect(),
            nics: self
                .nics
                .iter()
                .map(|n| NicInfo {
                    mac: n.mac.clone(),
                    network: n.network.to_string(),
                })
                .collect(),
            state: self.state,
            generation: self.generation,
            metadata: VmMetadata {
                managed: m.managed,
                owner: m.owner.as_deref().map(str::to_string),
                department: m.department.as_deref().map(str::to_string),
                purpose: m.purpose.as_deref().map(str::to_string),
                tags: m.tags.iter().map(|t| t.to_string()).collect(),
                lease_expires_at: m.lease_expires_at,
            },
            guest_os: self
                .os_id
                .as_deref()
                .and_then(vdc_types::GuestOs::from_libosinfo),
        }
    }

    pub(crate) fn cpu_ns_between(&self, from: Duration, to: Duration) -> u64 {
        let dt = to.saturating_sub(from).as_nanos();
        let ns = dt * u128::from(self.vcpus) * u128::from(self.load_permille) / 1000;
        u64::try_from(ns).unwrap_or(u64::MAX)
    }

    pub(crate) fn cpu_time_ns(&self, now: Duration) -> u64 {
        match self.burning_since {
            Some(since) => self.cpu_ns.saturating_add(self.cpu_ns_between(since, now)),
            None => self.cpu_ns,
        }
    }

    /// Enters `to` at sim time `at` (not scheduling any shutdown).
    pub(crate) fn set_state(&mut self, to: PowerState, at: Duration, generation: u64) {
        self.cpu_ns = self.cpu_time_ns(at);
        self.burning_since = burns_cpu(to).then_some(at);
        self.state = to;
        self.shutdown_at = None;
        self.generation = generation;
    }

    /// What the host measures of this VM at sim time `now`: `wait` is the share of its run
    /// time its vCPUs wait for a host CPU; under a `squeeze` shared by `running` VMs the balloon
    /// holds back its share and the guest swaps its part of the traffic (half in, half out).
    /// Block and network counters are not simulated (zero).
    pub(crate) fn stats(
        &self,
        now: Duration,
        wait: f64,
        squeeze: Option<(Squeeze, u64)>,
    ) -> VmStats {
        let on = consumes_resources(self.state);
        let cpu_time_ns = self.cpu_time_ns(now);
        let per_vcpu = cpu_time_ns / u64::from(self.vcpus.max(1));
        let memory_rss_mib = if on { self.rss_mib() } else { 0 };
        let (balloon, swap_each_kib) = match squeeze {
            Some((q, running)) if on => {
                let ms = u64::try_from(now.saturating_sub(q.since).as_millis()).unwrap_or(u64::MAX);
                (
                    self.memory_mib * (1000 - q.balloon_permille.min(1000)) / 1000,
                    q.swap_kib_s.saturating_mul(ms) / 2000 / running.max(1),
                )
            }
            _ => (self.memory_mib, 0),
        };
        VmStats {
            cpu_time_ns,
            vcpu_delay_ns: vec![(per_vcpu as f64 * wait) as u64; self.vcpus as usize],
            memory_rss_mib: memory_rss_mib.min(balloon),
            balloon_current_mib: on.then_some(balloon),
            balloon_maximum_mib: on.then_some(self.memory_mib),
            balloon_available_mib: on.then_some(balloon),
            swap_in_kib: on.then_some(swap_each_kib),
            swap_out_kib: on.then_some(swap_each_kib),
            ..VmStats::default()
        }
    }

    /// Resident memory while it runs: 60–95 % of the VM's memory, fixed per VM.
    pub(crate) fn rss_mib(&self) -> u64 {
        self.memory_mib * (600 + (uuid_hash(self.id) >> 16) % 351) / 1000
    }

    /// GiB this VM allocates on the local pool and on the shared pool.
    pub(crate) fn disk_usage(&self) -> (u64, u64) {
        disk_usage(self.disks.iter().map(|d| (&*d.datastore, d.size_gib)))
    }
}

/// Share of each vCPU a VM keeps busy, 10–60 %, fixed per VM.
pub(crate) fn load_permille(id: Uuid) -> u64 {
    100 + uuid_hash(id) % 500
}

/// GiB on the local pool and on the shared pool, from `(datastore, size)` pairs.
pub(crate) fn disk_usage<'a>(disks: impl Iterator<Item = (&'a str, u64)>) -> (u64, u64) {
    let mut local = 0u64;
    let mut shared = 0u64;
    for (datastore, size_gib) in disks {
        if datastore == SHARED_DATASTORE {
            shared = shared.saturating_add(size_gib);
        } else {
            local = local.saturating_add(size_gib);
        }
    }
    (local, shared)
}

/// One simulated host.
#[derive(Debug)]
pub(crate) struct Host {
    pub(crate) uri: String,
    pub(crate) hostname: String,
    pub(crate) shape: HostShape,
    pub(crate) local_capacity_gib: u64,
    pub(crate) local_used_gib: u64,
    pub(crate) down: bool,
    /// When the host died ([`SimFleet::kill_host`]), wall-clock ms: its storage heartbeat
    /// stopped then.
    pub(crate) died_at_ms: Option<i64>,
    /// Memory pressure injected by [`SimFleet::set_memory_pressure`].
    pub(crate) squeeze: Option<Squeeze>,
    pub(crate) vms: FastMap<Uuid, SimVm>,
}

/// Memory pressure on a host: the balloon takes back a share of every running VM's memory and
/// the guests swap, together `swap_kib_s`, since `since`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Squeeze {
    pub(crate) balloon_permille: u64,
    pub(crate) swap_kib_s: u64,
    pub(crate) since: Duration,
}

impl Host {
    pub(crate) fn new(number: usize, shape: HostShape) -> Host {
        // Local pool: 16 GiB of disk per GiB of memory, at least 2 TiB, in whole TiB.
        let gib = shape.memory_mib / 1024;
        let local_capacity_gib = (gib.saturating_mul(16).max(2048)).div_ceil(1024) * 1024;
        Host {
            uri: format!("sim:///host-{number:04}"),
            hostname: format!("sim-host-{number:04}"),
            shape,
            local_capacity_gib,
            local_used_gib: 0,
            down: false,
            died_at_ms: None,
            squeeze: None,
            vms: FastMap::default(),
        }
    }

    /// CPU demand of the running VMs and the host's logical CPUs, in thousandths of a CPU.
    pub(crate) fn demand_and_supply_permille(&self) -> (u64, u64) {
        let demand: u64 = self
            .vms
            .values()
            .filter(|vm| burns_cpu(vm.state))
            .map(|vm| u64::from(vm.vcpus) * vm.load_permille)
            .sum();
        (demand, u64::from(self.shape.topology.logical_cpus()) * 1000)
    }

    /// The share of its time a vCPU waits when demand exceeds the host's logical CPUs
    /// (1 − supply / demand).
    pub(crate) fn vcpu_wait(&self) -> f64 {
        let (demand, supply) = self.demand_and_supply_permille();
        let supply = supply.max(1000);
        if demand > supply {
            1.0 - supply as f64 / demand as f64
        } else {
            0.0
        }
    }

    /// The memory pressure on the host with how many VMs share it, if any.
    pub(crate) fn squeeze(&self) -> Option<(Squeeze, u64)> {
        let q = self.squeeze?;
        let running = self
            .vms
            .values()
            .filter(|vm| consumes_resources(vm.state))
            .count() as u64;
        Some((q, running))
    }

    /// Logical CPUs the running VMs want beyond the host's.
    pub(crate) fn unserved_cpus(&self) -> f64 {
        let (demand, supply) = self.demand_and_supply_permille();
        demand.saturating_sub(supply) as f64 / 1000.0
    }

    pub(crate) fn used_memory_mib(&self, excluding: Option<Uuid>) -> u64 {
        self.vms
            .values()
            .filter(|vm| consumes_resources(vm.state) && Some(vm.id) != excluding)
            .map(|vm| vm.memory_mib)
            .sum()
    }

    /// Names are checked by a scan: O(VMs on the host), like every other per-host call, and
    /// cheaper for the generator than keeping a second map.
    pub(crate) fn has_name(&self, name: &str) -> bool {
        self.vms.values().any(|vm| vm.name == name)
    }

    pub(crate) fn unreachable(&self) -> DriverError {
        DriverError::HostUnreachable {
            uri: self.uri.clone(),
            reason: UNREACHABLE_REASON.into(),
        }
    }

    pub(crate) fn vm(&self, id: Uuid) -> Result<&SimVm, DriverError> {
        self.vms.get(&id).ok_or(DriverError::NoSuchVm { id })
    }

    /// Fails with `NoResources` unless `memory_mib` more fits in the memory not held by
    /// consuming VMs other than `excluding`.
    pub(crate) fn check_memory(
        &self,
        name: &str,
        memory_mib: u64,
        excluding: Option<Uuid>,
    ) -> Result<(), DriverError> {
        let capacity = self.shape.memory_mib;
        let used = self.used_memory_mib(excluding);
        if used.saturating_add(memory_mib) > capacity {
            return Err(DriverError::NoResources {
                reason: format!(
                    "VM {name} needs {memory_mib} MiB of memory; {} has {} MiB free of {capacity} MiB",
                    self.hostname,
                    capacity.saturating_sub(used)
                ),
            });
        }
        Ok(())
    }
}

/// Everything behind the fleet lock.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) clock: SimClock,
    /// Sim time added by [`SimFleet::advance`].
    pub(crate) advanced: Duration,
    pub(crate) hosts: Vec<Host>,
    /// VM id → host index.
    pub(crate) index: FastMap<Uuid, usize>,
    /// Last generation handed out.
    pub(crate) generation: u64,
    pub(crate) shutdown_delay: Duration,
    /// Pending `fail_next` counts, by [`SimOp::slot`].
    pub(crate) failures: [u32; SimOp::ALL.len()],
    /// Pending settlements: (when, VM). Entries whose VM moved on are skipped.
    pub(crate) shutdowns: BinaryHeap<Reverse<(Duration, Uuid)>>,
    pub(crate) shared_used_gib: u64,
}

impl Inner {
    pub(crate) fn new(shapes: Vec<HostShape>, clock: SimClock) -> Inner {
        Inner {
            clock,
            advanced: Duration::ZERO,
            hosts: shapes
                .into_iter()
                .enumerate()
                .map(|(i, s)| Host::new(i + 1, s))
                .collect(),
            index: FastMap::default(),
            generation: 0,
            shutdown_delay: DEFAULT_SHUTDOWN_DELAY,
            failures: [0; SimOp::ALL.len()],
            shutdowns: BinaryHeap::new(),
            shared_used_gib: 0,
        }
    }

    pub(crate) fn now(&self) -> Duration {
        self.clock.real_elapsed() + self.advanced
    }

    pub(crate) fn next_generation(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    /// Settles every shutdown due by `now`, at its own due time.
    pub(crate) fn settle_due(&mut self, now: Duration) {
        while let Some(&Reverse((at, id))) = self.shutdowns.peek() {
            if at > now {
                break;
            }
            self.shutdowns.pop();
            let Some(&h) = self.index.get(&id) else {
                continue;
            };
            let Some(vm) = self.hosts[h].vms.get_mut(&id) else {
                continue;
            };
            if vm.state == PowerState::ShuttingDown && vm.shutdown_at == Some(at) {
                self.generation += 1;
                vm.set_state(settle(vm.state), at, self.generation);
            }
        }
    }

    /// Takes one pending failure of `op`, if any.
    pub(crate) fn take_failure(&mut self, op: SimOp) -> bool {
        let slot = &mut self.failures[op.slot()];
        if *slot > 0 {
            *slot -= 1;
            true
        } else {
            false
        }
    }

    /// Moves VM `id` on host `h` into `to` now, scheduling settlement of a shutdown.
    pub(crate) fn change_state(
        &mut self,
        h: usize,
        id: Uuid,
        to: PowerState,
        now: Duration,
    ) -> Result<VmInfo, DriverError> {
        let generation = self.next_generation();
        let vm = self.hosts[h]
            .vms
            .get_mut(&id)
            .ok_or(DriverError::NoSuchVm { id })?;
        vm.set_state(to, now, generation);
        if to == PowerState::ShuttingDown {
            let at = now + self.shutdown_delay;
            vm.shutdown_at = Some(at);
            self.shutdowns.push(Reverse((at, id)));
        }
        Ok(vm.info())
    }

    /// Checks that `spec` can be defined on host `h`. `Ok(Some(existing))` when the same VM
    /// (same UUID and name) already is there.
    pub(crate) fn check_new_vm(
        &self,
        h: usize,
        spec: &VmSpec,
        op: &'static str,
    ) -> Result<Option<VmInfo>, DriverError> {
        let host = &self.hosts[h];
        if let Some(existing) = host.vms.get(&spec.id) {
            if existing.name == spec.name {
                return Ok(Some(existing.info()));
            }
            return Err(DriverError::AlreadyExists {
                name: existing.name.clone(),
            });
        }
        if host.has_name(&spec.name) {
            return Err(DriverError::AlreadyExists {
                name: spec.name.clone(),
            });
        }
        if let Some(&other) = self.index.get(&spec.id) {
            let name = self.hosts[other]
                .vms
                .get(&spec.id)
                .map(|vm| vm.name.clone());
            return Err(DriverError::AlreadyExists {
                name: name.unwrap_or_else(|| spec.id.to_string()),
            });
        }
        let failed = |reason: String| DriverError::OperationFailed { op, reason };
        if spec.name.trim().is_empty() {
            return Err(failed("VM name is empty".into()));
        }
        if spec.vcpus == 0 {
            return Err(failed(format!("VM {} has 0 vCPUs", spec.name)));
        }
        if spec.memory_mib == 0 {
            return Err(failed(format!("VM {} has 0 MiB of memory", spec.name)));
        }
        for d in &spec.disks {
            if d.datastore != LOCAL_DATASTORE && d.datastore != SHARED_DATASTORE {
                return Err(failed(format!(
                    "disk {} of VM {}: no datastore {:?} on {}",
                    d.device, spec.name, d.datastore, host.hostname
                )));
            }
        }
        for n in &spec.nics {
            if n.network != DEFAULT_NETWORK && n.network != VLAN_NETWORK {
                return Err(failed(format!(
                    "NIC {} of VM {}: no network {:?} on {}",
                    n.mac, spec.name, n.network, host.hostname
                )));
            }
        }
        let (local, shared) = disk_usage(
            spec.disks
                .iter()
                .map(|d| (d.datastore.as_str(), d.size_gib)),
        );
        check_space(
            host,
            LOCAL_DATASTORE,
            host.local_used_gib,
            local,
            host.local_capacity_gib,
        )?;
        check_space(
            host,
            SHARED_DATASTORE,
            self.shared_used_gib,
            shared,
            SHARED_DATASTORE_CAPACITY_GIB,
        )?;
        Ok(None)
    }

    /// Adds a VM to host `h`, with its disk allocations and index entries.
    pub(crate) fn attach(&mut self, h: usize, vm: SimVm) {
        let (local, shared) = vm.disk_usage();
        let host = &mut self.hosts[h];
        host.local_used_gib = host.local_used_gib.saturating_add(local);
        self.shared_used_gib = self.shared_used_gib.saturating_add(shared);
        self.index.insert(vm.id, h);
        host.vms.insert(vm.id, vm);
    }

    /// Removes a VM from host `h`, releasing its disk allocations and index entries.
    pub(crate) fn detach(&mut self, h: usize, id: Uuid) -> Option<SimVm> {
        let host = &mut self.hosts[h];
        let vm = host.vms.remove(&id)?;
        self.index.remove(&id);
        let (local, shared) = vm.disk_usage();
        host.local_used_gib = host.local_used_gib.saturating_sub(local);
        self.shared_used_gib = self.shared_used_gib.saturating_sub(shared);
        Some(vm)
    }

    /// Defines `spec` on host `h` in `state` (no memory check).
    pub(crate) fn define_vm(
        &mut self,
        h: usize,
        spec: &VmSpec,
        state: PowerState,
        now: Duration,
        op: &'static str,
    ) -> Result<VmInfo, DriverError> {
        if let Some(existing) = self.check_new_vm(h, spec, op)? {
            return Ok(existing);
        }
        let generation = self.next_generation();
        let mut vm = SimVm::from_spec(spec, state, generation, now);
        if state == PowerState::ShuttingDown {
            let at = now + self.shutdown_delay;
            vm.shutdown_at = Some(at);
            self.shutdowns.push(Reverse((at, vm.id)));
        }
        let info = vm.info();
        self.attach(h, vm);
        Ok(info)
    }

    pub(crate) fn host_index_of(&self, uri: &str) -> Option<usize> {
        let n: usize = uri.strip_prefix("sim:///host-")?.parse().ok()?;
        let i = n.checked_sub(1)?;
        (self.hosts.get(i)?.uri == uri).then_some(i)
    }
}

pub(crate) fn check_space(
    host: &Host,
    datastore: &str,
    used: u64,
    need: u64,
    capacity: u64,
) -> Result<(), DriverError> {
    if need > 0 && used.saturating_add(need) > capacity {
        return Err(DriverError::NoResources {
            reason: format!(
                "datastore {datastore} on {} has {} GiB free, {need} GiB needed",
                host.hostname,
                capacity.saturating_sub(used)
            ),
        });
    }
    Ok(())
}

/// Shared by every clone of a [`SimFleet`] and every [`SimHost`].
pub(crate) struct Shared {
    /// Driver-call latency in nanoseconds; outside the lock so sleeping callers do not
    /// serialise on it.
    pub(crate) latency_ns: AtomicU64,
    pub(crate) host_count: usize,
    pub(crate) inner: Mutex<Inner>,
}
