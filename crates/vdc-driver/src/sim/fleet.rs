//! [`SimFleet`]: the handle on a fleet, its knobs (host down, latency, failures, storage
//! heartbeats, power) and its test hooks.

use super::*;

// ---------------------------------------------------------------------------------------------
// SimFleet
// ---------------------------------------------------------------------------------------------

/// A handle on a simulated fleet. Clones share the same fleet.
#[derive(Clone)]
pub struct SimFleet {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for SimFleet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimFleet")
            .field("hosts", &self.shared.host_count)
            .finish_non_exhaustive()
    }
}

impl SimFleet {
    /// A fleet of one empty host per shape, numbered from 1 (`sim:///host-0001`,
    /// hostname `sim-host-0001`, …).
    pub fn new(shapes_per_host: Vec<HostShape>, clock: SimClock) -> SimFleet {
        SimFleet::from_inner(Inner::new(shapes_per_host, clock))
    }

    pub(crate) fn from_inner(inner: Inner) -> SimFleet {
        SimFleet {
            shared: Arc::new(Shared {
                latency_ns: AtomicU64::new(0),
                host_count: inner.hosts.len(),
                inner: Mutex::new(inner),
            }),
        }
    }

    /// A fleet of `hosts` hosts, cycling through [`builtin_shapes`], with `vms` VMs spread
    /// over them. Deterministic for a given `seed` (names, UUIDs, sizes, owners, states).
    ///
    /// VMs are drawn from a realistic mix (vCPUs from {1, 2, 2, 4, 4, 8, 16}, 1–4 GiB per
    /// vCPU, one qcow2 disk of 10–200 GiB on `local`, one NIC on `default` with a MAC
    /// `52:54:00:xx:xx:xx` unique in the fleet for up to 2²⁴ VMs, ~80 % running, owner,
    /// department, purpose and a `prod`/`dev` tag). When the drawn sizes add up to more than
    /// 85 % of the fleet's memory, every VM's memory is scaled down by the same factor (in
    /// 512 MiB steps, at least 512 MiB; vCPUs drop to a power of two that leaves at least
    /// 1 GiB each). VMs are then spread so hosts end up about equally utilised, each on a host
    /// where it fits in memory and local disk counting every VM, running or not: no host is
    /// overcommitted even if all its VMs run. A VM that fits nowhere is shrunk to the largest
    /// gap; only when no host can take a 512 MiB VM any more are VMs placed shut off without a
    /// fit (starting one then fails with `NoResources`).
    ///
    /// Cost: O(VMs + hosts × 64); 10,000 hosts × 200,000 VMs take about 0.8 s in an
    /// unoptimised debug build on 2 cores. With no hosts, no VMs are created.
    pub fn generate(hosts: usize, vms: usize, seed: u64, clock: SimClock) -> SimFleet {
        let shapes = builtin_shapes();
        let per_host: Vec<HostShape> = if shapes.is_empty() {
            Vec::new()
        } else {
            (0..hosts)
                .map(|i| shapes[i % shapes.len()].clone())
                .collect()
        };
        let mut inner = Inner::new(per_host, clock);
        generate_vms(&mut inner, vms, seed);
        SimFleet::from_inner(inner)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.shared.inner.lock().expect("sim fleet lock poisoned")
    }

    /// Locks the fleet and settles what is due.
    pub(crate) fn touch(&self) -> (MutexGuard<'_, Inner>, Duration) {
        let mut inner = self.lock();
        let now = inner.now();
        inner.settle_due(now);
        (inner, now)
    }

    pub(crate) fn check_index(&self, index: usize) {
        assert!(
            index < self.shared.host_count,
            "sim fleet has {} hosts; no host index {index}",
            self.shared.host_count
        );
    }

    /// Number of hosts.
    pub fn len(&self) -> usize {
        self.shared.host_count
    }

    /// True for a fleet without hosts.
    pub fn is_empty(&self) -> bool {
        self.shared.host_count == 0
    }

    /// The driver for host `index` (0-based; its URI is `sim:///host-{index + 1:04}`).
    ///
    /// # Panics
    /// When `index >= self.len()`.
    pub fn host(&self, index: usize) -> SimHost {
        self.check_index(index);
        let uri = self.lock().hosts[index].uri.clone();
        SimHost {
            fleet: self.clone(),
            index,
            uri,
        }
    }

    /// The drivers of all hosts, in index order.
    pub fn hosts(&self) -> Vec<SimHost> {
        let inner = self.lock();
        inner
            .hosts
            .iter()
            .enumerate()
            .map(|(index, h)| SimHost {
                fleet: self.clone(),
                index,
                uri: h.uri.clone(),
            })
            .collect()
    }

    /// The index of the host with this URI.
    pub fn host_index_of(&self, uri: &str) -> Option<usize> {
        self.lock().host_index_of(uri)
    }

    /// Total number of VMs in the fleet.
    pub fn vm_count(&self) -> usize {
        self.lock().index.len()
    }

    /// Current sim time (zero at creation).
    pub fn now(&self) -> Duration {
        self.lock().now()
    }

    /// Moves sim time forward by `by` and settles what became due. The only way time moves
    /// under a manual clock; under an automatic clock it jumps ahead.
    pub fn advance(&self, by: Duration) {
        let mut inner = self.lock();
        inner.advanced += by;
        let now = inner.now();
        inner.settle_due(now);
    }

    /// How long a graceful shutdown takes, in sim time, for shutdowns requested from now on.
    pub fn set_shutdown_delay(&self, delay: Duration) {
        self.lock().shutdown_delay = delay;
    }

    /// The current shutdown delay.
    pub fn shutdown_delay(&self) -> Duration {
        self.lock().shutdown_delay
    }

    /// Marks host `index` down (every driver call on it fails with
    /// [`DriverError::HostUnreachable`]) or back up. Its VMs carry on meanwhile.
    ///
    /// # Panics
    /// When `index >= self.len()`.
    pub fn set_host_down(&self, index: usize, down: bool) {
        self.check_index(index);
        let (mut inner, _) = self.touch();
        inner.hosts[index].down = down;
        if !down {
            inner.hosts[index].died_at_ms = None;
        }
    }

    /// Kills host `index`: every driver call on it fails, its VMs' processes are gone (their
    /// definitions with them: the disks on shared storage stay), and its storage heartbeat
    /// stops. [`SimFleet::set_host_down`] `false` brings it back, empty.
    ///
    /// # Panics
    /// When `index >= self.len()`.
    pub fn kill_host(&self, index: usize) {
        self.check_index(index);
        let (mut inner, _) = self.touch();
        let ids: Vec<Uuid> = inner.hosts[index].vms.keys().copied().collect();
        for id in ids {
            inner.detach(index, id);
        }
        let host = &mut inner.hosts[index];
        host.down = true;
        host.died_at_ms = Some(wall_ms());
    }

    /// Moves every disk of VM `id` to `datastore` ([`LOCAL_DATASTORE`] or
    /// [`SHARED_DATASTORE`]), as when its images were copied there.
    pub fn move_vm_disks(&self, id: Uuid, datastore: &'static str) -> Result<(), DriverError> {
        if datastore != LOCAL_DATASTORE && datastore != SHARED_DATASTORE {
            return Err(DriverError::OperationFailed {
                op: "move disks",
                reason: format!("no datastore {datastore}"),
            });
        }
        let (mut inner, _) = self.touch();
        let h = *inner.index.get(&id).ok_or(DriverError::NoSuchVm { id })?;
        let mut vm = inner.detach(h, id).expect("indexed VM");
        for d in &mut vm.disks {
            d.datastore = Cow::Borrowed(datastore);
        }
        vm.generation = inner.next_generation();
        inner.attach(h, vm);
        Ok(())
    }

    /// When host `index` last wrote its heartbeat on the shared datastore (wall-clock ms):
    /// now while it lives (also when only its management path is down), its death time once
    /// killed.
    ///
    /// # Panics
    /// When `index >= self.len()`.
    pub fn heartbeat_ms(&self, index: usize) -> i64 {
        self.check_index(index);
        self.lock().hosts[index].died_at_ms.unwrap_or_else(wall_ms)
    }

    /// True when host `index` is marked down.
    ///
    /// # Panics
    /// When `index >= self.len()`.
    pub fn is_host_down(&self, index: usize) -> bool {
        self.check_index(index);
        self.lock().hosts[index].down
    }

    /// Puts memory pressure on host `index` from now: the balloon holds back `balloon` (0..1)
    /// of each running VM's memory and its guests swap `swap_kib_s` KiB/s between them, as on a
    /// host whose memory is overcommitted. `(0.0, 0)` lifts it.
    ///
    /// # Panics
    /// When `index >= self.len()`.
    pub fn set_memory_pressure(&self, index: usize, balloon: f64, swap_kib_s: u64) {
        self.check_index(index);
        let (mut inner, now) = self.touch();
        inner.hosts[index].squeeze = (balloon > 0.0 || swap_kib_s > 0).then(|| Squeeze {
            balloon_permille: (balloon.clamp(0.0, 1.0) * 1000.0).round() as u64,
            swap_kib_s,
            since: now,
        });
    }

    /// What VM `id` uses while it runs: its CPU load (% of its vCPUs) and resident memory
    /// (MiB), and whether it runs now.
    pub fn vm_usage(&self, id: Uuid) -> Option<(f64, f64, bool)> {
        let (inner, _) = self.touch();
        let vm = inner.hosts[*inner.index.get(&id)?].vms.get(&id)?;
        Some((
            vm.load_permille as f64 / 10.0,
            vm.rss_mib() as f64,
            consumes_resources(vm.state),
        ))
    }

    /// Sets the share of each vCPU VM `id`'s guest keeps busy from now on, in thousandths
    /// (0–1000), as a replayed load trace does. The CPU time used so far is kept.
    pub fn set_vm_load(&self, id: Uuid, permille: u64) -> Result<(), DriverError> {
        let (mut inner, now) = self.touch();
        let h = *inner.index.get(&id).ok_or(DriverError::NoSuchVm { id })?;
        let vm = inner.hosts[h]
            .vms
            .get_mut(&id)
            .ok_or(DriverError::NoSuchVm { id })?;
        vm.cpu_ns = vm.cpu_time_ns(now);
        if vm.burning_since.is_some() {
            vm.burning_since = Some(now);
        }
        vm.load_permille = permille.min(1000);
        Ok(())
    }

    /// Logical CPUs the fleet's running VMs want beyond what their hosts have, summed over
    /// the hosts (the CPU demand left unserved now).
    pub fn unserved_cpus(&self) -> f64 {
        self.lock().hosts.iter().map(Host::unserved_cpus).sum()
    }

    /// Makes every driver call sleep `latency` (real time, outside the fleet lock) before
    /// doing anything, like a slow hypervisor.
    pub fn set_latency(&self, latency: Duration) {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.shared.latency_ns.store(ns, AtomicOrdering::Relaxed);
    }

    /// Makes the next `count` calls of `op` (on any host of the fleet) fail with
    /// [`DriverError::OperationFailed`] `{ op: op.as_str(), reason: "simulated failure" }`,
    /// without effect. Replaces any count still pending for `op`; 0 cancels it. A call to a
    /// down host fails with `HostUnreachable` first and does not use up a count.
    pub fn fail_next(&self, op: SimOp, count: u32) {
        self.lock().failures[op.slot()] = count;
    }

    /// For tests and demos: changes a VM's state behind vdc's back (a guest crash, an admin
    /// on the host), without checking the state machine or resources. Bumps the generation.
    /// `ShuttingDown` settles after the shutdown delay as usual.
    pub fn poke_state(&self, id: Uuid, state: PowerState) -> Result<VmInfo, DriverError> {
        let (mut inner, now) = self.touch();
        let h = *inner.index.get(&id).ok_or(DriverError::NoSuchVm { id })?;
        inner.change_state(h, id, state, now)
    }

    /// For tests and demos: defines a VM on host `host_index` behind vdc's back, directly in
    /// `state` (no memory check, works on a down host). Fails like [`HostDriver::define`] on
    /// name or UUID clashes, unknown datastores or networks, or lack of disk space.
    ///
    /// # Panics
    /// When `host_index >= self.len()`.
    pub fn inject_vm(
        &self,
        host_index: usize,
        spec: VmSpec,
        state: PowerState,
    ) -> Result<VmInfo, DriverError> {
        self.check_index(host_index);
        let (mut inner, now) = self.touch();
        inner.define_vm(host_index, &spec, state, now, "inject_vm")
    }

    /// For tests and demos: where VM `id` is (host index) and what it looks like.
    pub fn find_vm(&self, id: Uuid) -> Option<(usize, VmInfo)> {
        let (inner, _) = self.touch();
        let h = *inner.index.get(&id)?;
        let vm = inner.hosts[h].vms.get(&id)?;
        Some((h, vm.info()))
    }

    pub(crate) fn sleep_latency(&self) {
        let ns = self.shared.latency_ns.load(AtomicOrdering::Relaxed);
        if ns > 0 {
            std::thread::sleep(Duration::from_nanos(ns));
        }
    }
}
