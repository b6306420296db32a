//! The simulated hypervisor: a fleet of in-memory hosts that implement [`HostDriver`] the way
//! the libvirt driver does, following the same state machine ([`crate::state`]).
//!
//! This module owns:
//! - [`SimFleet`], a cheap-to-clone handle on N simulated hosts, their VMs, a simulated clock
//!   and the fault knobs ([`SimFleet::set_host_down`], [`SimFleet::set_latency`],
//!   [`SimFleet::fail_next`]);
//! - [`SimHost`], one host of a fleet, which implements [`HostDriver`];
//! - [`SimClock`], automatic (real time) or manual (moves only on [`SimFleet::advance`]);
//! - [`SimFleet::generate`], a deterministic fleet generator (10,000 hosts × 200,000 VMs in
//!   under a second, even in an unoptimised debug build).
//!
//! # Model
//!
//! Each host has a [`HostShape`] (CPU, memory, NUMA; [`HostDriver::host_info`] reports that
//! hardware with hypervisor [`HypervisorType::Sim`]), a local `dir` pool `local`, the shared
//! `netfs` pool `san-01` (one pool for the whole fleet), and the networks `default` and
//! `vlan-100`. A VM holds memory while [`consumes_resources`] says so; `Start` and `Resume`
//! fail with [`DriverError::NoResources`] when the host's memory would be overcommitted.
//! Disks are allocated on their pool at definition and freed at undefinition. VM UUIDs are
//! unique across the fleet, as they would be in one datacenter.
//!
//! Every change of a VM (definition, state change, migration, settling) takes the next value
//! of one fleet-wide counter as the VM's `generation`, so generations strictly increase per
//! VM, across migrations, and even across undefine and redefine.
//!
//! Time only matters for graceful shutdowns: `Shutdown` enters `ShuttingDown`, which settles
//! ([`settle`]) into `Shutoff` once the shutdown delay of sim time has passed. Settling is
//! applied lazily whenever the fleet is touched (any driver call, knob or
//! [`SimFleet::advance`]); there are no background threads. CPU time of a VM grows with sim
//! time while it runs, at a load derived from its UUID, so it is deterministic under a manual
//! clock.
//!
//! Each driver call takes the fleet lock once, after sleeping the configured latency, and
//! costs O(VMs on that host) at most.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use uuid::Uuid;
use vdc_types::{HypervisorType, PowerState, UnixMs, VmAction};

use crate::shapes::{HostShape, builtin_shapes};
use crate::state::{consumes_resources, settle, transition};
use crate::{
    DatastoreInfo, DiskInfo, DriverError, HostDriver, HostInfo, HostStats, InvalidStateTransition,
    NetworkInfo, NicInfo, SnapshotInfo, VmInfo, VmMetadata, VmSpec, VmStats,
};

/// The local storage pool every simulated host has.
pub const LOCAL_DATASTORE: &str = "local";
/// The shared storage pool every simulated host sees (one pool for the whole fleet).
pub const SHARED_DATASTORE: &str = "san-01";
/// Capacity of [`SHARED_DATASTORE`], GiB (512 TiB).
pub const SHARED_DATASTORE_CAPACITY_GIB: u64 = 512 * 1024;
/// The untagged network every simulated host has.
pub const DEFAULT_NETWORK: &str = "default";
/// The VLAN-tagged network every simulated host has (VLAN 100).
pub const VLAN_NETWORK: &str = "vlan-100";
/// The shutdown delay a new fleet starts with.
pub const DEFAULT_SHUTDOWN_DELAY: Duration = Duration::from_secs(1);

const UNREACHABLE_REASON: &str = "simulated host failure";
const FAILURE_REASON: &str = "simulated failure";

// ---------------------------------------------------------------------------------------------
// Clock and operations
// ---------------------------------------------------------------------------------------------

/// The simulator's notion of time.
///
/// Sim time starts at zero. An automatic clock follows real time since the clock was created;
/// a manual clock stands still until [`SimFleet::advance`] moves it. `advance` also works on
/// an automatic clock (it jumps ahead).
#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    /// `Some` for an automatic clock: the real instant sim time zero corresponds to.
    epoch: Option<Instant>,
}

impl SimClock {
    /// A clock that follows real time, starting now.
    pub fn automatic() -> SimClock {
        SimClock {
            epoch: Some(Instant::now()),
        }
    }

    /// A single-step clock: time moves only on [`SimFleet::advance`].
    pub fn manual() -> SimClock {
        SimClock { epoch: None }
    }

    /// True for a [`SimClock::manual`] clock.
    pub fn is_manual(&self) -> bool {
        self.epoch.is_none()
    }

    fn real_elapsed(&self) -> Duration {
        self.epoch.map(|e| e.elapsed()).unwrap_or_default()
    }
}

/// The driver operations [`SimFleet::fail_next`] can make fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimOp {
    /// [`HostDriver::define`].
    Define,
    /// [`HostDriver::act`] with [`VmAction::Start`].
    Start,
    /// [`HostDriver::act`] with [`VmAction::Shutdown`].
    Shutdown,
    /// [`HostDriver::act`] with [`VmAction::Stop`].
    Stop,
    /// [`HostDriver::act`] with [`VmAction::Suspend`].
    Suspend,
    /// [`HostDriver::act`] with [`VmAction::Resume`].
    Resume,
    /// [`HostDriver::undefine`].
    Undefine,
    /// [`HostDriver::migrate`].
    Migrate,
    /// [`HostDriver::list_vms`].
    ListVms,
    /// [`HostDriver::host_info`].
    HostInfo,
    /// [`HostDriver::snapshot_create`] and [`HostDriver::snapshot_revert`].
    Snapshot,
}

impl SimOp {
    /// Every operation, in declaration order.
    pub const ALL: &'static [SimOp] = &[
        SimOp::Define,
        SimOp::Start,
        SimOp::Shutdown,
        SimOp::Stop,
        SimOp::Suspend,
        SimOp::Resume,
        SimOp::Undefine,
        SimOp::Migrate,
        SimOp::ListVms,
        SimOp::HostInfo,
        SimOp::Snapshot,
    ];

    /// The name used as `op` in [`DriverError::OperationFailed`].
    pub fn as_str(self) -> &'static str {
        match self {
            SimOp::Define => "define",
            SimOp::Start => "start",
            SimOp::Shutdown => "shutdown",
            SimOp::Stop => "stop",
            SimOp::Suspend => "suspend",
            SimOp::Resume => "resume",
            SimOp::Undefine => "undefine",
            SimOp::Migrate => "migrate",
            SimOp::ListVms => "list_vms",
            SimOp::HostInfo => "host_info",
            SimOp::Snapshot => "snapshot",
        }
    }

    /// The operation of a power action.
    pub fn from_action(action: VmAction) -> SimOp {
        match action {
            VmAction::Start => SimOp::Start,
            VmAction::Shutdown => SimOp::Shutdown,
            VmAction::Stop => SimOp::Stop,
            VmAction::Suspend => SimOp::Suspend,
            VmAction::Resume => SimOp::Resume,
        }
    }

    fn slot(self) -> usize {
        self as usize
    }
}

impl fmt::Display for SimOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// Internal state
// ---------------------------------------------------------------------------------------------

/// The FxHash scheme with a final mix: much cheaper than SipHash for the simulator's maps,
/// whose keys (UUIDs) need no protection against hash flooding.
#[derive(Debug, Default, Clone, Copy)]
struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
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

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Text that is usually one of a few constants (pool, format, owner …): the generator
/// borrows its `'static` strings instead of allocating 200,000 copies of each.
type Text = Cow<'static, str>;

fn text(s: &str) -> Text {
    Cow::Owned(s.to_string())
}

/// A disk as the simulator keeps it ([`DiskInfo`] with shared strings).
#[derive(Debug, Clone)]
struct SimDisk {
    device: Text,
    size_gib: u64,
    datastore: Text,
    format: Text,
}

/// A NIC as the simulator keeps it.
#[derive(Debug, Clone)]
struct SimNic {
    mac: String,
    network: Text,
}

/// [`VmMetadata`] as the simulator keeps it.
#[derive(Debug, Clone)]
struct SimMetadata {
    managed: bool,
    owner: Option<Text>,
    department: Option<Text>,
    purpose: Option<Text>,
    tags: Vec<Text>,
    lease_expires_at: Option<UnixMs>,
}

/// One simulated VM.
#[derive(Debug, Clone)]
struct SimVm {
    id: Uuid,
    name: String,
    vcpus: u32,
    memory_mib: u64,
    disks: Vec<SimDisk>,
    nics: Vec<SimNic>,
    metadata: SimMetadata,
    /// libosinfo id of the guest OS.
    os_id: Option<Text>,
    snapshots: Vec<SimSnapshot>,
    state: PowerState,
    generation: u64,
    /// When a `ShuttingDown` VM settles into `Shutoff`.
    shutdown_at: Option<Duration>,
    /// CPU time consumed up to `burning_since` (or in total when not burning).
    cpu_ns: u64,
    /// Sim time since which the VM burns CPU (running or shutting down).
    burning_since: Option<Duration>,
    /// Share of each vCPU the guest keeps busy, in thousandths.
    load_permille: u64,
}

/// A snapshot as the simulator keeps it: when, and the power state to return to.
#[derive(Debug, Clone)]
struct SimSnapshot {
    name: String,
    created_at: UnixMs,
    state: PowerState,
}

impl SimMetadata {
    fn from_metadata(m: &VmMetadata) -> SimMetadata {
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

fn burns_cpu(state: PowerState) -> bool {
    matches!(state, PowerState::Running | PowerState::ShuttingDown)
}

impl SimVm {
    fn from_spec(spec: &VmSpec, state: PowerState, generation: u64, now: Duration) -> SimVm {
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

    fn info(&self) -> VmInfo {
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

    fn cpu_ns_between(&self, from: Duration, to: Duration) -> u64 {
        let dt = to.saturating_sub(from).as_nanos();
        let ns = dt * u128::from(self.vcpus) * u128::from(self.load_permille) / 1000;
        u64::try_from(ns).unwrap_or(u64::MAX)
    }

    fn cpu_time_ns(&self, now: Duration) -> u64 {
        match self.burning_since {
            Some(since) => self.cpu_ns.saturating_add(self.cpu_ns_between(since, now)),
            None => self.cpu_ns,
        }
    }

    /// Enters `to` at sim time `at` (not scheduling any shutdown).
    fn set_state(&mut self, to: PowerState, at: Duration, generation: u64) {
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
    fn stats(&self, now: Duration, wait: f64, squeeze: Option<(Squeeze, u64)>) -> VmStats {
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
    fn rss_mib(&self) -> u64 {
        self.memory_mib * (600 + (uuid_hash(self.id) >> 16) % 351) / 1000
    }

    /// GiB this VM allocates on the local pool and on the shared pool.
    fn disk_usage(&self) -> (u64, u64) {
        disk_usage(self.disks.iter().map(|d| (&*d.datastore, d.size_gib)))
    }
}

/// Share of each vCPU a VM keeps busy, 10–60 %, fixed per VM.
fn load_permille(id: Uuid) -> u64 {
    100 + uuid_hash(id) % 500
}

/// GiB on the local pool and on the shared pool, from `(datastore, size)` pairs.
fn disk_usage<'a>(disks: impl Iterator<Item = (&'a str, u64)>) -> (u64, u64) {
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
struct Host {
    uri: String,
    hostname: String,
    shape: HostShape,
    local_capacity_gib: u64,
    local_used_gib: u64,
    down: bool,
    /// When the host died ([`SimFleet::kill_host`]), wall-clock ms: its storage heartbeat
    /// stopped then.
    died_at_ms: Option<i64>,
    /// Memory pressure injected by [`SimFleet::set_memory_pressure`].
    squeeze: Option<Squeeze>,
    vms: FastMap<Uuid, SimVm>,
}

/// Memory pressure on a host: the balloon takes back a share of every running VM's memory and
/// the guests swap, together `swap_kib_s`, since `since`.
#[derive(Debug, Clone, Copy)]
struct Squeeze {
    balloon_permille: u64,
    swap_kib_s: u64,
    since: Duration,
}

impl Host {
    fn new(number: usize, shape: HostShape) -> Host {
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
    fn demand_and_supply_permille(&self) -> (u64, u64) {
        let demand: u64 = self
            .vms
            .values()
            .filter(|vm| burns_cpu(vm.state))
            .map(|vm| u64::from(vm.vcpus) * vm.load_permille)
            .sum();
        (demand, u64::from(self.shape.logical_cpus()) * 1000)
    }

    /// The share of its time a vCPU waits when demand exceeds the host's logical CPUs
    /// (1 − supply / demand).
    fn vcpu_wait(&self) -> f64 {
        let (demand, supply) = self.demand_and_supply_permille();
        let supply = supply.max(1000);
        if demand > supply {
            1.0 - supply as f64 / demand as f64
        } else {
            0.0
        }
    }

    /// The memory pressure on the host with how many VMs share it, if any.
    fn squeeze(&self) -> Option<(Squeeze, u64)> {
        let q = self.squeeze?;
        let running = self
            .vms
            .values()
            .filter(|vm| consumes_resources(vm.state))
            .count() as u64;
        Some((q, running))
    }

    /// Logical CPUs the running VMs want beyond the host's.
    fn unserved_cpus(&self) -> f64 {
        let (demand, supply) = self.demand_and_supply_permille();
        demand.saturating_sub(supply) as f64 / 1000.0
    }

    fn used_memory_mib(&self, excluding: Option<Uuid>) -> u64 {
        self.vms
            .values()
            .filter(|vm| consumes_resources(vm.state) && Some(vm.id) != excluding)
            .map(|vm| vm.memory_mib)
            .sum()
    }

    /// Names are checked by a scan: O(VMs on the host), like every other per-host call, and
    /// cheaper for the generator than keeping a second map.
    fn has_name(&self, name: &str) -> bool {
        self.vms.values().any(|vm| vm.name == name)
    }

    fn unreachable(&self) -> DriverError {
        DriverError::HostUnreachable {
            uri: self.uri.clone(),
            reason: UNREACHABLE_REASON.into(),
        }
    }

    fn vm(&self, id: Uuid) -> Result<&SimVm, DriverError> {
        self.vms.get(&id).ok_or(DriverError::NoSuchVm { id })
    }

    /// Fails with `NoResources` unless `memory_mib` more fits in the memory not held by
    /// consuming VMs other than `excluding`.
    fn check_memory(
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
struct Inner {
    clock: SimClock,
    /// Sim time added by [`SimFleet::advance`].
    advanced: Duration,
    hosts: Vec<Host>,
    /// VM id → host index.
    index: FastMap<Uuid, usize>,
    /// Last generation handed out.
    generation: u64,
    shutdown_delay: Duration,
    /// Pending `fail_next` counts, by [`SimOp::slot`].
    failures: [u32; SimOp::ALL.len()],
    /// Pending settlements: (when, VM). Entries whose VM moved on are skipped.
    shutdowns: BinaryHeap<Reverse<(Duration, Uuid)>>,
    shared_used_gib: u64,
}

impl Inner {
    fn new(shapes: Vec<HostShape>, clock: SimClock) -> Inner {
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

    fn now(&self) -> Duration {
        self.clock.real_elapsed() + self.advanced
    }

    fn next_generation(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    /// Settles every shutdown due by `now`, at its own due time.
    fn settle_due(&mut self, now: Duration) {
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
    fn take_failure(&mut self, op: SimOp) -> bool {
        let slot = &mut self.failures[op.slot()];
        if *slot > 0 {
            *slot -= 1;
            true
        } else {
            false
        }
    }

    /// Moves VM `id` on host `h` into `to` now, scheduling settlement of a shutdown.
    fn change_state(
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
    fn check_new_vm(
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
    fn attach(&mut self, h: usize, vm: SimVm) {
        let (local, shared) = vm.disk_usage();
        let host = &mut self.hosts[h];
        host.local_used_gib = host.local_used_gib.saturating_add(local);
        self.shared_used_gib = self.shared_used_gib.saturating_add(shared);
        self.index.insert(vm.id, h);
        host.vms.insert(vm.id, vm);
    }

    /// Removes a VM from host `h`, releasing its disk allocations and index entries.
    fn detach(&mut self, h: usize, id: Uuid) -> Option<SimVm> {
        let host = &mut self.hosts[h];
        let vm = host.vms.remove(&id)?;
        self.index.remove(&id);
        let (local, shared) = vm.disk_usage();
        host.local_used_gib = host.local_used_gib.saturating_sub(local);
        self.shared_used_gib = self.shared_used_gib.saturating_sub(shared);
        Some(vm)
    }

    /// Defines `spec` on host `h` in `state` (no memory check).
    fn define_vm(
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

    fn host_index_of(&self, uri: &str) -> Option<usize> {
        let n: usize = uri.strip_prefix("sim:///host-")?.parse().ok()?;
        let i = n.checked_sub(1)?;
        (self.hosts.get(i)?.uri == uri).then_some(i)
    }
}

fn check_space(
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
struct Shared {
    /// Driver-call latency in nanoseconds; outside the lock so sleeping callers do not
    /// serialise on it.
    latency_ns: AtomicU64,
    host_count: usize,
    inner: Mutex<Inner>,
}

// ---------------------------------------------------------------------------------------------
// SimFleet
// ---------------------------------------------------------------------------------------------

/// A handle on a simulated fleet. Clones share the same fleet.
#[derive(Clone)]
pub struct SimFleet {
    shared: Arc<Shared>,
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

    fn from_inner(inner: Inner) -> SimFleet {
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

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.shared.inner.lock().expect("sim fleet lock poisoned")
    }

    /// Locks the fleet and settles what is due.
    fn touch(&self) -> (MutexGuard<'_, Inner>, Duration) {
        let mut inner = self.lock();
        let now = inner.now();
        inner.settle_due(now);
        (inner, now)
    }

    fn check_index(&self, index: usize) {
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

    fn sleep_latency(&self) {
        let ns = self.shared.latency_ns.load(AtomicOrdering::Relaxed);
        if ns > 0 {
            std::thread::sleep(Duration::from_nanos(ns));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------------------------

/// splitmix64: a tiny, good-enough, deterministic PRNG.
/// Wall-clock Unix milliseconds.
fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }

    /// Uniform-enough in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn uuid_hash(id: Uuid) -> u64 {
    let (a, b) = id.as_u64_pair();
    mix64(a ^ mix64(b))
}

const OWNERS: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
];
const DEPARTMENTS: &[&str] = &["engineering", "finance", "sales", "operations", "research"];
const PURPOSES: &[&str] = &[
    "web",
    "database",
    "build",
    "analytics",
    "cache",
    "ci-runner",
    "batch",
];
const VCPU_CHOICES: &[u32] = &[1, 2, 2, 4, 4, 8, 16];
const MIN_VM_MEMORY_MIB: u64 = 512;
const MEMORY_STEP_MIB: u64 = 512;
const MIN_DISK_GIB: u64 = 10;
const MAX_DISK_GIB: u64 = 200;
/// Share of fleet memory the generator fills at most, in percent.
const FILL_PERCENT: u64 = 85;

/// A VM's size and home, decided before it is built.
struct Placed {
    host: usize,
    vcpus: u32,
    memory_mib: u64,
    disk_gib: u64,
    fits: bool,
}

/// `vcpus`, or the largest power of two that leaves at least 1 GiB per vCPU.
fn fit_vcpus(vcpus: u32, memory_mib: u64) -> u32 {
    let max = u32::try_from((memory_mib / 1024).max(1)).unwrap_or(u32::MAX);
    if vcpus <= max {
        vcpus.max(1)
    } else {
        1 << max.ilog2()
    }
}

/// `vm-000123`, `52:54:00:0a:1b:2c`: written by hand, `format!` is slow in debug builds.
fn push_decimal(out: &mut String, n: usize, width: usize) {
    let digits = n.checked_ilog10().unwrap_or(0) as usize + 1;
    for _ in digits..width {
        out.push('0');
    }
    let mut div = 10usize.pow(digits as u32 - 1);
    while div > 0 {
        out.push(char::from(b'0' + ((n / div) % 10) as u8));
        div /= 10;
    }
}

fn mac_address(low24: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut mac = String::with_capacity(17);
    mac.push_str("52:54:00");
    for shift in [16, 8, 0] {
        let byte = (low24 >> shift) & 0xff;
        mac.push(':');
        mac.push(char::from(HEX[(byte >> 4) as usize]));
        mac.push(char::from(HEX[(byte & 0xf) as usize]));
    }
    mac
}

/// Decides every VM's size and host: sizes scaled down together when the fleet cannot hold
/// them, then each VM on the least utilised host it fits on.
fn place(hosts: &[Host], rng: &mut SplitMix64, count: usize) -> Vec<Placed> {
    let mut placed: Vec<Placed> = (0..count)
        .map(|_| {
            let vcpus = *rng.pick(VCPU_CHOICES);
            let per_vcpu_gib = 1 + rng.below(4);
            Placed {
                host: 0,
                vcpus,
                memory_mib: u64::from(vcpus) * per_vcpu_gib * 1024,
                disk_gib: MIN_DISK_GIB + rng.below(MAX_DISK_GIB - MIN_DISK_GIB + 1),
                fits: false,
            }
        })
        .collect();
    let capacity: u128 = hosts.iter().map(|h| u128::from(h.shape.memory_mib)).sum();
    let budget = capacity * u128::from(FILL_PERCENT) / 100;
    let demand: u128 = placed.iter().map(|p| u128::from(p.memory_mib)).sum();
    if demand > budget {
        for p in &mut placed {
            let scaled = u64::try_from(u128::from(p.memory_mib) * budget / demand).unwrap_or(0);
            p.memory_mib = (scaled / MEMORY_STEP_MIB * MEMORY_STEP_MIB).max(MIN_VM_MEMORY_MIB);
            p.vcpus = fit_vcpus(p.vcpus, p.memory_mib);
        }
    }

    // Water-filling: a cursor walks the hosts round-robin and puts the VM on the first host
    // whose memory stays within `level` sixty-fourths and whose local pool has room; when a
    // whole round finds none, the level rises. Every host ends up about equally utilised, at
    // O(1) amortised per VM plus one round per level step.
    const LEVELS: u64 = 64;
    let n = hosts.len();
    let caps: Vec<u64> = hosts.iter().map(|h| h.shape.memory_mib).collect();
    let disk_caps: Vec<u64> = hosts.iter().map(|h| h.local_capacity_gib).collect();
    let mut used = vec![0u64; n];
    let mut disk_used = vec![0u64; n];
    let mut level = 1u64;
    let mut cursor = 0usize;
    // Set once no host can take even the smallest VM; from then on VMs overflow.
    let mut full = false;
    for (i, p) in placed.iter_mut().enumerate() {
        let mut chosen = None;
        while !full && chosen.is_none() {
            let mut h = cursor;
            for _ in 0..n {
                if used[h] + p.memory_mib <= caps[h].saturating_mul(level) / LEVELS
                    && disk_used[h] + p.disk_gib <= disk_caps[h]
                {
                    chosen = Some(h);
                    break;
                }
                h += 1;
                if h == n {
                    h = 0;
                }
            }
            if chosen.is_some() {
                break;
            }
            if level < LEVELS {
                level += 1;
                continue;
            }
            // Fits nowhere: shrink it to the largest memory gap among hosts with disk room.
            let gap =
                |k: usize| caps[k].saturating_sub(used[k]) / MEMORY_STEP_MIB * MEMORY_STEP_MIB;
            let best = (0..n)
                .filter(|&k| disk_caps[k].saturating_sub(disk_used[k]) >= MIN_DISK_GIB)
                .max_by_key(|&k| (gap(k), Reverse(k)));
            match best {
                Some(k) if gap(k) >= MIN_VM_MEMORY_MIB => {
                    p.memory_mib = gap(k).min(p.memory_mib);
                    p.vcpus = fit_vcpus(p.vcpus, p.memory_mib);
                    p.disk_gib = p.disk_gib.min(disk_caps[k] - disk_used[k]);
                    chosen = Some(k);
                }
                _ => full = true,
            }
        }
        match chosen {
            Some(h) => {
                used[h] += p.memory_mib;
                disk_used[h] += p.disk_gib;
                p.host = h;
                p.fits = true;
                cursor = if h + 1 == n { 0 } else { h + 1 };
            }
            None => p.host = i % n,
        }
    }
    placed
}

/// Guest OSes of generated VMs, as virt-install records them (libosinfo ids).
const GUEST_OSES: &[&str] = &[
    "http://debian.org/debian/12",
    "http://debian.org/debian/11",
    "http://redhat.com/rhel/9.4",
    "http://redhat.com/rhel/9.2",
    "http://redhat.com/rhel/8.10",
    "http://ubuntu.com/ubuntu/24.04",
    "http://ubuntu.com/ubuntu/22.04",
    "http://ubuntu.com/ubuntu/20.04",
    "http://microsoft.com/win/2k19",
    "http://microsoft.com/win/2k22",
];

fn generate_vms(inner: &mut Inner, count: usize, seed: u64) {
    if inner.hosts.is_empty() || count == 0 {
        return;
    }
    let mut rng = SplitMix64(seed);
    let placed = place(&inner.hosts, &mut rng, count);

    let mut per_host = vec![0usize; inner.hosts.len()];
    for p in &placed {
        per_host[p.host] += 1;
    }
    for (host, n) in inner.hosts.iter_mut().zip(per_host) {
        host.vms.reserve(n);
    }
    inner.index.reserve(count);

    let mac_mask = mix64(seed) & 0x00FF_FFFF;
    for (i, p) in placed.into_iter().enumerate() {
        let running = p.fits && rng.below(10) < 8;
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
        let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
        let owner = *rng.pick(OWNERS);
        let department = *rng.pick(DEPARTMENTS);
        let purpose = *rng.pick(PURPOSES);
        let tag = if rng.below(10) < 6 { "prod" } else { "dev" };
        // A repeated UUID (122 random bits: never in practice) is skipped rather than
        // allowed to corrupt the index.
        let Entry::Vacant(slot) = inner.index.entry(id) else {
            continue;
        };
        slot.insert(p.host);
        inner.generation += 1;
        let mut name = String::with_capacity(10);
        name.push_str("vm-");
        push_decimal(&mut name, i + 1, 6);
        let state = if running {
            PowerState::Running
        } else {
            PowerState::Shutoff
        };
        let vm = SimVm {
            id,
            name,
            vcpus: p.vcpus,
            memory_mib: p.memory_mib,
            disks: vec![SimDisk {
                device: Cow::Borrowed("vda"),
                size_gib: p.disk_gib,
                datastore: Cow::Borrowed(LOCAL_DATASTORE),
                format: Cow::Borrowed("qcow2"),
            }],
            nics: vec![SimNic {
                mac: mac_address(((i as u64 + 1) ^ mac_mask) & 0x00FF_FFFF),
                network: Cow::Borrowed(DEFAULT_NETWORK),
            }],
            metadata: SimMetadata {
                managed: true,
                owner: Some(Cow::Borrowed(owner)),
                department: Some(Cow::Borrowed(department)),
                purpose: Some(Cow::Borrowed(purpose)),
                tags: vec![Cow::Borrowed(tag)],
                lease_expires_at: None,
            },
            // From the UUID, not the generator's stream: fleets of a seed keep their shape.
            os_id: Some(Cow::Borrowed(
                GUEST_OSES[(uuid_hash(id) % GUEST_OSES.len() as u64) as usize],
            )),
            snapshots: Vec::new(),
            state,
            generation: inner.generation,
            shutdown_at: None,
            cpu_ns: 0,
            burning_since: running.then_some(Duration::ZERO),
            load_permille: load_permille(id),
        };
        let host = &mut inner.hosts[p.host];
        host.local_used_gib = host.local_used_gib.saturating_add(p.disk_gib);
        host.vms.insert(id, vm);
    }
}

// ---------------------------------------------------------------------------------------------
// SimHost
// ---------------------------------------------------------------------------------------------

/// One host of a [`SimFleet`], as a [`HostDriver`].
#[derive(Debug, Clone)]
pub struct SimHost {
    fleet: SimFleet,
    index: usize,
    uri: String,
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
    fn call<T>(
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
                sockets: s.sockets,
                cores_per_socket: s.cores_per_socket,
                threads_per_core: s.threads_per_core,
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
            let logical = u64::from(host.shape.logical_cpus().max(1));
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
    fn info(&self) -> SnapshotInfo {
        SnapshotInfo {
            name: self.name.clone(),
            created_at: self.created_at,
            state: self.state,
        }
    }
}
