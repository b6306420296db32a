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

mod clock;
mod driver;
mod fleet;
mod generation;
mod model;

pub use clock::{SimClock, SimOp};
pub use driver::SimHost;
pub use fleet::SimFleet;
use generation::*;
use model::*;
