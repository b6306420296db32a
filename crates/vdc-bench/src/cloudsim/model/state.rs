//! The model's internal state: hosts and VMs with their records, migrations under way, and the
//! accounts of energy, SLA and migrations, advanced epoch by epoch.

use super::*;

// ---------------------------------------------------------------------------------------------
// Internal state

/// How a VM sits in a host's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Runs here (and migrates away if the VM is in migration).
    Resident,
    /// Migrating in.
    In,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct HostRecord {
    pub(crate) time: f64,
    pub(crate) allocated: f64,
    pub(crate) requested: f64,
    pub(crate) active: bool,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct VmRecord {
    pub(crate) time: f64,
    pub(crate) allocated: f64,
    pub(crate) requested: f64,
    pub(crate) migrating: bool,
}

#[derive(Debug)]
pub(crate) struct HostState {
    pub(crate) kind: HostType,
    pub(crate) total_mips: f64,
    pub(crate) vms: Vec<usize>,
    pub(crate) roles: Vec<Role>,
    pub(crate) alloc: Vec<f64>,
    pub(crate) available_mips: f64,
    pub(crate) utilization_mips: f64,
    pub(crate) previous_utilization_mips: f64,
    pub(crate) requested_mips: f64,
    pub(crate) record: Option<HostRecord>,
    pub(crate) previous_active: bool,
}

#[derive(Debug)]
pub(crate) struct VmState {
    pub(crate) kind: VmType,
    pub(crate) data: Vec<f64>,
    pub(crate) requested_mips: f64,
    pub(crate) utilization: f64,
    pub(crate) allocated_mips: f64,
    pub(crate) history: [f64; HISTORY_LENGTH],
    pub(crate) history_len: usize,
    pub(crate) host: Option<usize>,
    pub(crate) in_migration: bool,
    pub(crate) finished: bool,
    pub(crate) record: Option<VmRecord>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Completion {
    pub(crate) time: f64,
    pub(crate) vm: usize,
    pub(crate) target: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Accounts {
    pub(crate) energy_j: f64,
    pub(crate) sla_time: f64,
    pub(crate) active_time: f64,
    pub(crate) vm_requested: f64,
    pub(crate) vm_allocated: f64,
    pub(crate) vm_under_migration: f64,
    pub(crate) shutdowns: u64,
    pub(crate) power_overflows: u64,
}

#[derive(Debug)]
pub(crate) struct Sim {
    pub(crate) ram_enforced: bool,
    pub(crate) time: f64,
    pub(crate) epoch: usize,
    pub(crate) last_process_time: f64,
    pub(crate) hosts: Vec<HostState>,
    pub(crate) vms: Vec<VmState>,
    pub(crate) pending: Vec<Completion>,
    pub(crate) acc: Accounts,
    pub(crate) scratch: Vec<(f64, Share)>,
    pub(crate) finished: Vec<usize>,
}

impl Sim {
    pub(crate) fn new(traces: &[Vec<u8>], options: &RunOptions) -> Sim {
        let n = traces.len();
        let hosts = (0..options.hosts)
            .map(|h| {
                let kind = *host_type(h);
                HostState {
                    kind,
                    total_mips: kind.total_mips(),
                    vms: Vec::new(),
                    roles: Vec::new(),
                    alloc: Vec::new(),
                    available_mips: kind.total_mips(),
                    utilization_mips: 0.0,
                    previous_utilization_mips: 0.0,
                    requested_mips: 0.0,
                    record: None,
                    previous_active: true,
                }
            })
            .collect();
        let vms = traces
            .iter()
            .enumerate()
            .map(|(i, samples)| VmState {
                kind: VM_TYPES[vm_type_index(i, n)],
                data: trace::trace_fractions(samples),
                requested_mips: 0.0,
                utilization: 0.0,
                allocated_mips: 0.0,
                history: [0.0; HISTORY_LENGTH],
                history_len: 0,
                host: None,
                in_migration: false,
                finished: false,
                record: None,
            })
            .collect();
        Sim {
            ram_enforced: options.ram_enforced,
            time: 0.0,
            epoch: 0,
            last_process_time: 0.0,
            hosts,
            vms,
            pending: Vec::new(),
            acc: Accounts::default(),
            scratch: Vec::new(),
            finished: Vec::new(),
        }
    }

    /// Every VM's demand at `t` (what its cloudlet scheduler reports once updated at `t`).
    pub(crate) fn sample_demand(&mut self, t: f64) {
        for vm in &mut self.vms {
            vm.utilization = trace::utilization_at(&vm.data, t);
            vm.requested_mips = vm.utilization * vm.kind.mips;
        }
    }

    /// `PowerVm.updateVmProcessing` at an epoch: push the utilisation, newest first.
    pub(crate) fn push_histories(&mut self) {
        for vm in &mut self.vms {
            if vm.finished || vm.host.is_none() {
                continue;
            }
            vm.history.copy_within(0..HISTORY_LENGTH - 1, 1);
            vm.history[0] = vm.utilization;
            vm.history_len = (vm.history_len + 1).min(HISTORY_LENGTH);
        }
    }

    /// `HostDynamicWorkload.updateVmsProcessing(t)` for one host.
    pub(crate) fn update_host(&mut self, h: usize, t: f64) {
        let host = &self.hosts[h];
        if host.vms.is_empty()
            && host.utilization_mips == 0.0
            && host.previous_utilization_mips == 0.0
            && host.record.is_some_and(|r| !r.active)
        {
            // Off and staying off: another inactive record changes no figure.
            return;
        }
        let Sim {
            hosts,
            vms,
            scratch,
            acc,
            ..
        } = self;
        let host = &mut hosts[h];
        host.previous_utilization_mips = host.utilization_mips;
        scratch.clear();
        for (&v, &role) in host.vms.iter().zip(&host.roles) {
            let vm = &vms[v];
            let share = match role {
                Role::In => Share::MigratingIn,
                Role::Resident if vm.in_migration => Share::MigratingOut,
                Role::Resident => Share::Full,
            };
            scratch.push((vm.requested_mips, share));
        }
        host.alloc.resize(host.vms.len(), 0.0);
        host.available_mips =
            allocate_all(host.total_mips, host.kind.pe_mips, scratch, &mut host.alloc);
        let mut utilization_mips = 0.0;
        let mut requested_mips = 0.0;
        for k in 0..host.vms.len() {
            let v = host.vms[k];
            let vm = &mut vms[v];
            let mut allocated = host.alloc[k];
            if host.roles[k] == Role::Resident {
                vm.allocated_mips = allocated;
                record_vm(acc, vm, t, allocated);
                if vm.in_migration {
                    allocated /= 0.9;
                }
            }
            utilization_mips += allocated;
            requested_mips += vm.requested_mips;
        }
        host.utilization_mips = utilization_mips;
        host.requested_mips = requested_mips;
        let rec = HostRecord {
            time: t,
            allocated: utilization_mips,
            requested: requested_mips,
            active: utilization_mips > 0.0,
        };
        record_host(acc, host, rec);
    }

    /// `PowerDatacenter.updateCloudetProcessingWithoutSchedulingFutureEventsForce` at `t`.
    pub(crate) fn process_all(&mut self, t: f64) {
        let time_diff = t - self.last_process_time;
        for h in 0..self.hosts.len() {
            self.update_host(h, t);
        }
        if time_diff > 0.0 {
            let mut frame = 0.0;
            for host in &self.hosts {
                let from = host_utilization(host.previous_utilization_mips, host.total_mips);
                if from == 0.0 {
                    continue;
                }
                let to = host_utilization(host.utilization_mips, host.total_mips);
                let pf = power_clamped(&host.kind.power, from, &mut self.acc.power_overflows);
                let pt = power_clamped(&host.kind.power, to, &mut self.acc.power_overflows);
                frame += (pf + (pt - pf) / 2.0) * time_diff;
            }
            self.acc.energy_j += frame;
        }
        // getCompletedVms: a VM that asks for nothing and is not migrating is destroyed.
        let mut finished = std::mem::take(&mut self.finished);
        finished.clear();
        for host in &self.hosts {
            for (&v, &role) in host.vms.iter().zip(&host.roles) {
                let vm = &self.vms[v];
                if role == Role::Resident && !vm.in_migration && vm.requested_mips == 0.0 {
                    finished.push(v);
                }
            }
        }
        for &v in &finished {
            if let Some(h) = self.vms[v].host.take() {
                self.remove_from_host(h, v);
            }
            self.vms[v].finished = true;
        }
        self.finished = finished;
        self.last_process_time = t;
    }

    pub(crate) fn remove_from_host(&mut self, h: usize, v: usize) {
        let host = &mut self.hosts[h];
        if let Some(k) = host.vms.iter().position(|&x| x == v) {
            host.vms.remove(k);
            host.roles.remove(k);
            host.alloc.remove(k);
        }
    }

    pub(crate) fn ram_used(&self, h: usize) -> u32 {
        self.hosts[h]
            .vms
            .iter()
            .map(|&v| self.vms[v].kind.ram_mb)
            .sum()
    }

    /// Starts one migration (`Host.addMigratingInVm` + counting + completion event); false if
    /// the move cannot be applied.
    pub(crate) fn start_migration(&mut self, m: Move, t: f64) -> bool {
        let Some(vm) = self.vms.get(m.vm) else {
            return false;
        };
        if m.host >= self.hosts.len() || vm.finished {
            return false;
        }
        let Some(source) = vm.host else {
            return false;
        };
        let target = &self.hosts[m.host];
        if source == m.host
            || target
                .vms
                .iter()
                .zip(&target.roles)
                .any(|(&x, &r)| x == m.vm && r == Role::In)
        {
            return false;
        }
        if self.ram_enforced && self.ram_used(m.host) + vm.kind.ram_mb > target.kind.ram_mb {
            return false;
        }
        let ram = vm.kind.ram_mb;
        self.vms[m.vm].in_migration = true;
        let target = &mut self.hosts[m.host];
        target.vms.push(m.vm);
        target.roles.push(Role::In);
        target.alloc.push(0.0);
        self.update_host(m.host, t);
        self.update_host(source, t);
        self.pending.push(Completion {
            time: t + migration_time_s(ram),
            vm: m.vm,
            target: m.host,
        });
        true
    }

    /// `Datacenter.processVmMigrate` for one completion.
    pub(crate) fn complete(&mut self, c: Completion) {
        if let Some(h) = self.vms[c.vm].host {
            self.remove_from_host(h, c.vm);
        }
        let target = &mut self.hosts[c.target];
        if let Some(k) = target
            .vms
            .iter()
            .zip(&target.roles)
            .position(|(&x, &r)| x == c.vm && r == Role::In)
        {
            target.vms.remove(k);
            target.roles.remove(k);
            target.alloc.remove(k);
        }
        let vm = &mut self.vms[c.vm];
        vm.in_migration = false;
        vm.host = Some(c.target);
        let target = &mut self.hosts[c.target];
        target.vms.push(c.vm);
        target.roles.push(Role::Resident);
        target.alloc.push(0.0);
    }

    /// Runs every pending completion before `limit`, grouped by instant.
    pub(crate) fn run_completions_before(&mut self, limit: f64) {
        // Stable: same-instant completions keep their start order (CloudSim's event serials).
        self.pending.sort_by(|a, b| a.time.total_cmp(&b.time));
        let due = self.pending.partition_point(|c| c.time < limit);
        let batch: Vec<Completion> = self.pending.drain(..due).collect();
        let mut i = 0;
        while i < batch.len() {
            let t = batch[i].time;
            let mut j = i;
            while j < batch.len() && batch[j].time == t {
                j += 1;
            }
            self.time = t;
            self.sample_demand(t);
            if t > self.last_process_time {
                self.process_all(t);
            }
            for &c in &batch[i..j] {
                self.complete(c);
            }
            self.process_all(t);
            i = j;
        }
    }

    pub(crate) fn finish(&mut self) {
        for host in &mut self.hosts {
            if let Some(rec) = host.record.take()
                && host.previous_active
                && !rec.active
            {
                self.acc.shutdowns += 1;
            }
        }
    }
}

pub(crate) fn power_clamped(model: &PowerModel, u: f64, overflows: &mut u64) -> f64 {
    match model.power(u) {
        Some(p) => p,
        None => {
            *overflows += 1;
            model.power(u.clamp(0.0, 1.0)).unwrap_or(model.max())
        }
    }
}

/// Adds a host state record: integrates the previous one over the time since (SLATAH), or
/// replaces it when at the same instant.
pub(crate) fn record_host(acc: &mut Accounts, host: &mut HostState, rec: HostRecord) {
    if let Some(prev) = host.record {
        if prev.time == rec.time {
            host.record = Some(rec);
            return;
        }
        if prev.active {
            let dt = rec.time - prev.time;
            acc.active_time += dt;
            if prev.allocated < prev.requested {
                acc.sla_time += dt;
            }
        }
        if host.previous_active && !prev.active {
            acc.shutdowns += 1;
        }
        host.previous_active = prev.active;
    }
    host.record = Some(rec);
}

/// Adds a VM state record (PDM and overall SLA), same replacement rule.
pub(crate) fn record_vm(acc: &mut Accounts, vm: &mut VmState, t: f64, allocated: f64) {
    let rec = VmRecord {
        time: t,
        allocated,
        requested: vm.requested_mips,
        migrating: vm.in_migration,
    };
    if let Some(prev) = vm.record
        && prev.time != t
    {
        let dt = t - prev.time;
        acc.vm_allocated += prev.allocated * dt;
        acc.vm_requested += prev.requested * dt;
        if prev.allocated < prev.requested && prev.migrating {
            acc.vm_under_migration += (prev.requested - prev.allocated) * dt;
        }
    }
    vm.record = Some(rec);
}
