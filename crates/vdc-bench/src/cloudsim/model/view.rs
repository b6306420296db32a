//! What a policy may read at an epoch.

use super::*;

// ---------------------------------------------------------------------------------------------
// The policy's view

/// What a policy may read at an epoch: the state right after the epoch's accounting update,
/// before any migration starts. (Migrations always finish within an epoch, so none is in
/// flight.)
#[derive(Debug, Clone, Copy)]
pub struct EpochView<'a> {
    pub(crate) sim: &'a Sim,
}

/// One host as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct HostView<'a> {
    /// Host id.
    pub id: usize,
    /// Its model (cores, MIPS, RAM, power table).
    pub kind: &'a HostType,
    /// Its VMs in list order (arrival order; CloudSim's MMT breaks ties by it).
    pub vms: &'a [usize],
    /// CPU allocated to each VM of `vms`, same order (the scheduler's current allocation).
    pub allocated: &'a [f64],
    /// MIPS the scheduler has left (0 when over-subscribed).
    pub available_mips: f64,
    /// Σ requested MIPS of its VMs (uncapped).
    pub requested_mips: f64,
    /// Measured utilisation: what the host's VMs got over its MIPS (VMs migrating out counted
    /// at their full request), as CloudSim's `getUtilizationOfCpu`. 0 means switched off.
    pub utilization: f64,
    /// Nominal RAM of its VMs (MB): binding only with RAM enforced.
    pub ram_used_mb: u32,
}

/// One VM as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct VmView<'a> {
    /// VM id (trace row).
    pub id: usize,
    /// Its model (MIPS, RAM).
    pub kind: &'a VmType,
    /// The host it runs on; `None` if never placed or finished.
    pub host: Option<usize>,
    /// Demand now, as a fraction of its MIPS.
    pub utilization: f64,
    /// Demand now in MIPS (`utilization · MIPS`, uncapped).
    pub requested_mips: f64,
    /// CPU its host gives it now.
    pub allocated_mips: f64,
    /// Its utilisation at the last epochs, newest first (this epoch's value first), ≤ 30.
    pub history: &'a [f64],
    /// Whether it is migrating (never at an epoch in this model).
    pub in_migration: bool,
    /// Destroyed because its demand hit 0 (CloudSim's "completed" VMs); never comes back.
    pub finished: bool,
}

impl<'a> EpochView<'a> {
    /// Simulation time of the epoch (s).
    pub fn time_s(&self) -> f64 {
        self.sim.time
    }

    /// Epoch index (0 at 300.1 s).
    pub fn epoch(&self) -> usize {
        self.sim.epoch
    }

    /// Whether RAM is enforced in this run (policies should then check it when placing).
    pub fn ram_enforced(&self) -> bool {
        self.sim.ram_enforced
    }

    /// Number of hosts (ids 0..n).
    pub fn host_count(&self) -> usize {
        self.sim.hosts.len()
    }

    /// Number of VMs (ids 0..n).
    pub fn vm_count(&self) -> usize {
        self.sim.vms.len()
    }

    /// Host `h` (panics if out of range).
    pub fn host(&self, h: usize) -> HostView<'a> {
        let host = &self.sim.hosts[h];
        HostView {
            id: h,
            kind: &host.kind,
            vms: &host.vms,
            allocated: &host.alloc,
            available_mips: host.available_mips,
            requested_mips: host.requested_mips,
            utilization: host_utilization(host.utilization_mips, host.total_mips),
            ram_used_mb: self.sim.ram_used(h),
        }
    }

    /// Host `h`'s utilisation history as CloudSim's detectors see it
    /// (`PowerHostUtilizationHistory.getUtilizationHistory`): per past epoch, newest first,
    /// Σ over its current VMs of their utilisation × MIPS / host MIPS, trailing zeros trimmed.
    pub fn host_history(&self, h: usize) -> Vec<f64> {
        let host = &self.sim.hosts[h];
        let (history, len) = crate::cloudsim::policies::host_history(
            host.vms.iter().map(|&v| {
                let vm = &self.sim.vms[v];
                (&vm.history[..vm.history_len], vm.kind.mips)
            }),
            host.total_mips,
        );
        history[..len].to_vec()
    }

    /// VM `v` (panics if out of range).
    pub fn vm(&self, v: usize) -> VmView<'a> {
        let vm = &self.sim.vms[v];
        VmView {
            id: v,
            kind: &vm.kind,
            host: vm.host,
            utilization: vm.utilization,
            requested_mips: vm.requested_mips,
            allocated_mips: vm.allocated_mips,
            history: &vm.history[..vm.history_len],
            in_migration: vm.in_migration,
            finished: vm.finished,
        }
    }
}
