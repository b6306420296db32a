//! CloudSim 3.0.3's consolidation policies behind [`EpochPolicy`], and their building blocks,
//! public so that another policy can reuse them.
//!
//! [`CloudSimPolicy`] is `PowerVmAllocationPolicyMigrationAbstract.optimizeAllocation` with one
//! of the four overload [`Detector`]s and MMT selection (reference §2.7):
//!
//! 1. **Over-utilised hosts**: every host, in id order, is tested with the detector.
//! 2. **Selection**: from each of them (in id order), the VM with the least RAM (first in list
//!    order on ties) is removed tentatively until the detector is satisfied.
//! 3. **Placement**: those VMs, sorted by current MIPS descending (stable), each go to the host
//!    [`Tentative::find_host_for_vm`] (PABFD) picks, excluding the over-utilised hosts.
//! 4. **Under-utilised hosts**: repeatedly, the host with the least measured utilisation in
//!    (0, 1) not yet excluded is emptied, all or nothing, onto hosts that are neither
//!    over-utilised, switched off (utilisation 0) nor already picked; hosts that received VMs
//!    can no longer be picked. As in CloudSim, the targets of step 3 are *not* protected from
//!    being picked (the code adds an empty list; reference 2.7-d), so a VM placed there in step
//!    3 can be moved on again, and the plan then holds two moves of it.
//! 5. The moves of 3 then 4 are returned; the tentative state is dropped.
//!
//! All of it runs on a [`Tentative`] copy of the hosts that mirrors CloudSim's host and
//! scheduler bookkeeping (`vmCreate`/`vmDestroy`, over-subscription, list order, the order of
//! floating-point sums), so the same ties and thresholds come out.

use super::model::{
    EpochPolicy, EpochView, HISTORY_LENGTH, HostType, Move, Share, VM_BW, VmType, allocate_all,
    allocate_last, migration_time_s,
};
use super::stats::{count_non_zero_beginning, iqr, mad, ols_on_index};

/// The THR threshold IQR, MAD and LR fall back to without enough history.
pub const FALLBACK_THRESHOLD: f64 = 0.7;
/// History values IQR and MAD need (CloudSim: "12 has been suggested as a safe value").
pub const MIN_HISTORY_IQR_MAD: usize = 12;
/// History values LR fits (the newest ones).
pub const LR_WINDOW: usize = 10;

/// An overload detector, as in `PowerVmAllocationPolicyMigration*.isHostOverUtilized`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Detector {
    /// Static threshold: overloaded if Σ requested / host MIPS > the threshold.
    Thr(f64),
    /// Inter-quartile range with safety parameter s: threshold 1 − s·IQR(history).
    Iqr(f64),
    /// Median absolute deviation with safety parameter s: threshold 1 − s·MAD(history).
    Mad(f64),
    /// Local regression with safety parameter s: overloaded if s · (OLS prediction one interval
    /// past the migration time) ≥ 1.
    Lr(f64),
}

impl Detector {
    /// "THR", "IQR", "MAD" or "LR".
    pub fn label(&self) -> &'static str {
        match self {
            Detector::Thr(_) => "THR",
            Detector::Iqr(_) => "IQR",
            Detector::Mad(_) => "MAD",
            Detector::Lr(_) => "LR",
        }
    }

    /// The threshold or safety parameter.
    pub fn parameter(&self) -> f64 {
        match *self {
            Detector::Thr(p) | Detector::Iqr(p) | Detector::Mad(p) | Detector::Lr(p) => p,
        }
    }

    /// Whether a host is overloaded.
    ///
    /// - `requested_mips`: Σ of its VMs' current requests (uncapped);
    /// - `host_mips`: its total MIPS;
    /// - `history`: its utilisation history, newest first, with trailing zeros trimmed (see
    ///   [`host_history`]);
    /// - `max_migration_time_s`: the longest migration among its VMs (LR predicts
    ///   `ceil(that / 300)` intervals ahead).
    ///
    /// IQR and MAD need ≥ 12 history values, LR ≥ 10; with fewer they are THR 0.7.
    pub fn is_overloaded(
        &self,
        requested_mips: f64,
        host_mips: f64,
        history: &[f64],
        max_migration_time_s: f64,
    ) -> bool {
        let utilization = requested_mips / host_mips;
        match *self {
            Detector::Thr(threshold) => utilization > threshold,
            Detector::Iqr(s) => {
                if count_non_zero_beginning(history) >= MIN_HISTORY_IQR_MAD {
                    utilization > 1.0 - s * iqr(history)
                } else {
                    utilization > FALLBACK_THRESHOLD
                }
            }
            Detector::Mad(s) => {
                if count_non_zero_beginning(history) >= MIN_HISTORY_IQR_MAD {
                    utilization > 1.0 - s * mad(history)
                } else {
                    utilization > FALLBACK_THRESHOLD
                }
            }
            Detector::Lr(s) => match lr_prediction(history, max_migration_time_s) {
                Some(predicted) => predicted * s >= 1.0,
                None => utilization > FALLBACK_THRESHOLD,
            },
        }
    }
}

/// LR's predicted utilisation (before the safety factor): OLS over the newest 10 history
/// values (oldest first, x = 1…10), evaluated at `10 + ceil(max_migration_time_s / 300)`.
/// `None` with fewer than 10 values.
pub fn lr_prediction(history: &[f64], max_migration_time_s: f64) -> Option<f64> {
    if history.len() < LR_WINDOW {
        return None;
    }
    let mut y = [0.0; LR_WINDOW];
    for (i, slot) in y.iter_mut().enumerate() {
        *slot = history[LR_WINDOW - i - 1];
    }
    let (intercept, slope) = ols_on_index(&y)?;
    let intervals = (max_migration_time_s / super::trace::SAMPLE_INTERVAL_S).ceil();
    Some(intercept + slope * (LR_WINDOW as f64 + intervals))
}

/// `PowerHostUtilizationHistory.getUtilizationHistory`: per history slot, Σ over the host's VMs
/// (in list order) of `vm history · vm MIPS / host MIPS`; returns the 30 slots and the length
/// once trailing zeros are trimmed (an all-zero history has length 1, as in CloudSim).
pub fn host_history<'h>(
    vms: impl IntoIterator<Item = (&'h [f64], f64)>,
    host_mips: f64,
) -> ([f64; HISTORY_LENGTH], usize) {
    let mut h = [0.0; HISTORY_LENGTH];
    for (hist, mips) in vms {
        for (slot, &x) in h.iter_mut().zip(hist) {
            *slot += x * mips / host_mips;
        }
    }
    let len = count_non_zero_beginning(&h);
    (h, len)
}

/// Hosts a placement may not use, as CloudSim's `excludedHosts` sets: listed hosts, and
/// optionally every switched-off host (measured utilisation 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusions {
    hosts: Vec<bool>,
    switched_off: bool,
}

impl Exclusions {
    /// Nothing excluded, for `hosts` hosts.
    pub fn none(hosts: usize) -> Exclusions {
        Exclusions {
            hosts: vec![false; hosts],
            switched_off: false,
        }
    }

    /// Excludes host `h`.
    pub fn exclude(&mut self, h: usize) {
        if let Some(x) = self.hosts.get_mut(h) {
            *x = true;
        }
    }

    /// Excludes every host whose measured utilisation is 0.
    pub fn exclude_switched_off(&mut self) {
        self.switched_off = true;
    }

    /// Whether host `h`, measured at `utilization`, is excluded.
    pub fn contains(&self, h: usize, utilization: f64) -> bool {
        self.hosts.get(h).copied().unwrap_or(true) || (self.switched_off && utilization == 0.0)
    }
}

#[derive(Debug, Clone)]
struct THost {
    kind: HostType,
    total_mips: f64,
    group: usize,
    vms: Vec<usize>,
    alloc: Vec<f64>,
    available: f64,
    requested: f64,
    alloc_sum: f64,
    ram_mb: u32,
    history: [f64; HISTORY_LENGTH],
    utilization: f64,
    power_now: f64,
}

/// The tentative allocation CloudSim plans on within an epoch: host VM lists and CPU
/// schedulers that VMs are tentatively created on and destroyed from, starting from the
/// epoch's state. Dropping it is CloudSim's `restoreAllocation`.
#[derive(Debug, Clone)]
pub struct Tentative<'a> {
    view: EpochView<'a>,
    ram_enforced: bool,
    hosts: Vec<THost>,
    /// Hosts evaluated one by one, sorted: all but the pristine ones.
    active: Vec<usize>,
    /// Empty list, measured utilisation 0: interchangeable with any other pristine host of the
    /// same type, so only the first eligible one per type is evaluated.
    pristine: Vec<bool>,
    pristine_by_group: Vec<Vec<usize>>,
    scratch: Vec<(f64, Share)>,
    candidates: Vec<usize>,
    scored: Vec<(usize, f64)>,
}

impl<'a> Tentative<'a> {
    /// The epoch's allocation, as the view shows it.
    pub fn new(view: &EpochView<'a>) -> Tentative<'a> {
        let mut groups: Vec<HostType> = Vec::new();
        let mut hosts = Vec::with_capacity(view.host_count());
        for h in 0..view.host_count() {
            let hv = view.host(h);
            let group = match groups.iter().position(|k| k == hv.kind) {
                Some(g) => g,
                None => {
                    groups.push(*hv.kind);
                    groups.len() - 1
                }
            };
            let utilization = hv.utilization;
            let mut host = THost {
                kind: *hv.kind,
                total_mips: hv.kind.total_mips(),
                group,
                vms: hv.vms.to_vec(),
                alloc: hv.allocated.to_vec(),
                available: hv.available_mips,
                requested: 0.0,
                alloc_sum: 0.0,
                ram_mb: 0,
                history: [0.0; HISTORY_LENGTH],
                utilization,
                power_now: hv
                    .kind
                    .power
                    .power(utilization.clamp(0.0, 1.0))
                    .unwrap_or(hv.kind.power.max()),
            };
            refresh_sums(view, &mut host);
            hosts.push(host);
        }
        let pristine: Vec<bool> = hosts
            .iter()
            .map(|h| h.vms.is_empty() && h.utilization == 0.0)
            .collect();
        let mut pristine_by_group = vec![Vec::new(); groups.len()];
        let mut active = Vec::new();
        for (h, host) in hosts.iter().enumerate() {
            if pristine[h] {
                pristine_by_group[host.group].push(h);
            } else {
                active.push(h);
            }
        }
        Tentative {
            view: *view,
            ram_enforced: view.ram_enforced(),
            hosts,
            active,
            pristine,
            pristine_by_group,
            scratch: Vec::new(),
            candidates: Vec::new(),
            scored: Vec::new(),
        }
    }

    /// The view this plan started from.
    pub fn view(&self) -> &EpochView<'a> {
        &self.view
    }

    /// Host `h`'s tentative VM list.
    pub fn vms_on(&self, h: usize) -> &[usize] {
        &self.hosts[h].vms
    }

    /// Host `h`'s measured utilisation at the epoch (unchanged by tentative moves).
    pub fn measured_utilization(&self, h: usize) -> f64 {
        self.hosts[h].utilization
    }

    /// Σ of the CPU allocated on host `h` now (`getUtilizationOfCpuMips`).
    pub fn allocated_mips(&self, h: usize) -> f64 {
        self.hosts[h].alloc_sum
    }

    /// `Host.vmCreate`: appends `vm` to host `h` and allocates its request.
    pub fn place(&mut self, h: usize, vm: usize) {
        let view = self.view;
        let host = &mut self.hosts[h];
        host.vms.push(vm);
        host.alloc.push(0.0);
        self.scratch.clear();
        self.scratch.extend(
            host.vms
                .iter()
                .map(|&v| (view.vm(v).requested_mips, Share::Full)),
        );
        host.available = allocate_last(
            host.total_mips,
            host.kind.pe_mips,
            host.available,
            &self.scratch,
            &mut host.alloc,
        );
        let v = view.vm(vm);
        host.requested += v.requested_mips;
        host.alloc_sum = host.alloc.iter().fold(0.0, |s, a| s + a);
        host.ram_mb += v.kind.ram_mb;
        for (slot, &x) in host.history.iter_mut().zip(v.history) {
            *slot += x * v.kind.mips / host.total_mips;
        }
        if self.pristine[h] {
            self.pristine[h] = false;
            if let Err(pos) = self.active.binary_search(&h) {
                self.active.insert(pos, h);
            }
        }
    }

    /// `Host.vmDestroy`: removes `vm` from host `h` (if there) and re-allocates the rest.
    pub fn remove(&mut self, h: usize, vm: usize) {
        let view = self.view;
        let host = &mut self.hosts[h];
        let Some(k) = host.vms.iter().position(|&v| v == vm) else {
            return;
        };
        host.vms.remove(k);
        host.alloc.remove(k);
        self.scratch.clear();
        self.scratch.extend(
            host.vms
                .iter()
                .map(|&v| (view.vm(v).requested_mips, Share::Full)),
        );
        host.available = allocate_all(
            host.total_mips,
            host.kind.pe_mips,
            &self.scratch,
            &mut host.alloc,
        );
        refresh_sums(&view, host);
    }

    /// The detector's verdict on host `h` as it stands, or with `extra` tentatively added
    /// (`isHostOverUtilizedAfterAllocation`).
    pub fn is_overloaded(&self, h: usize, extra: Option<usize>, detector: &Detector) -> bool {
        let host = &self.hosts[h];
        let mut requested = host.requested;
        let mut history = host.history;
        let mut max_ram = host.vms.iter().map(|&v| self.view.vm(v).kind.ram_mb).max();
        if let Some(v) = extra {
            let v = self.view.vm(v);
            requested += v.requested_mips;
            for (slot, &x) in history.iter_mut().zip(v.history) {
                *slot += x * v.kind.mips / host.total_mips;
            }
            max_ram = max_ram.max(Some(v.kind.ram_mb));
        }
        let len = count_non_zero_beginning(&history);
        let max_migration = max_ram.map_or(f64::from(i32::MIN) / 62.5, migration_time_s);
        detector.is_overloaded(requested, host.total_mips, &history[..len], max_migration)
    }

    /// `Host.isSuitableForVm` after t = 0: the VM's request fits one core and the MIPS left
    /// (RAM and bandwidth are requested at 0, quirk Q1), and with RAM enforced its nominal RAM
    /// fits beside the listed VMs'.
    pub fn is_suitable(&self, h: usize, vm: usize) -> bool {
        let v = self.view.vm(vm);
        self.fits(h, v.requested_mips, v.kind.ram_mb)
    }

    fn fits(&self, h: usize, requested_mips: f64, ram_mb: u32) -> bool {
        let host = &self.hosts[h];
        host.kind.pe_mips >= requested_mips
            && host.available >= requested_mips
            && (!self.ram_enforced || host.ram_mb + ram_mb <= host.kind.ram_mb)
    }

    /// PABFD (`findHostForVm(vm, excludedHosts)`): among the suitable hosts not excluded, in
    /// id order, the one whose power rises least, `P((allocated + request) / MIPS) −
    /// P(measured utilisation)`, strict minimum so the first wins ties; a non-empty host is
    /// skipped if the detector would call it overloaded with the VM. An empty host is a
    /// candidate (this can power a host on). `None` if no host fits.
    pub fn find_host_for_vm(
        &mut self,
        vm: usize,
        excluded: &Exclusions,
        detector: &Detector,
    ) -> Option<usize> {
        let (r, ram) = {
            let v = self.view.vm(vm);
            (v.requested_mips, v.kind.ram_mb)
        };
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.clear();
        candidates.extend_from_slice(&self.active);
        if !excluded.switched_off {
            for group in &self.pristine_by_group {
                if let Some(&h) = group
                    .iter()
                    .find(|&&h| self.pristine[h] && !excluded.contains(h, 0.0))
                    && let Err(pos) = candidates.binary_search(&h)
                {
                    candidates.insert(pos, h);
                }
            }
        }
        let mut scored = std::mem::take(&mut self.scored);
        scored.clear();
        for &h in &candidates {
            let host = &self.hosts[h];
            if excluded.contains(h, host.utilization) || !self.fits(h, r, ram) {
                continue;
            }
            let after = (host.alloc_sum + r) / host.total_mips;
            let Some(after) = host.kind.power.power(after) else {
                continue;
            };
            scored.push((h, after - host.power_now));
        }
        // CloudSim tests each host for overload, then keeps the strict minimum (first in id
        // order on ties). Testing hosts in (score, id) order and keeping the first that passes
        // is the same choice, with far fewer detector runs.
        let best = loop {
            let mut pick: Option<(usize, f64)> = None;
            for (i, &(_, diff)) in scored.iter().enumerate() {
                if diff < pick.map_or(f64::MAX, |p| p.1) {
                    pick = Some((i, diff));
                }
            }
            let Some((i, _)) = pick else {
                break None;
            };
            let h = scored[i].0;
            if self.hosts[h].alloc_sum != 0.0 && self.is_overloaded(h, Some(vm), detector) {
                scored[i].1 = f64::INFINITY;
                continue;
            }
            break Some(h);
        };
        self.candidates = candidates;
        self.scored = scored;
        best
    }

    /// MMT (`PowerVmSelectionPolicyMinimumMigrationTime`): the VM on host `h` with the least
    /// nominal RAM, first in list order on ties, among those not migrating.
    pub fn select_mmt(&self, h: usize) -> Option<usize> {
        let mut best: Option<(usize, u32)> = None;
        for &v in &self.hosts[h].vms {
            let vm = self.view.vm(v);
            if vm.in_migration {
                continue;
            }
            if best.is_none_or(|(_, ram)| vm.kind.ram_mb < ram) {
                best = Some((v, vm.kind.ram_mb));
            }
        }
        best.map(|(v, _)| v)
    }
}

/// Recomputes a host's list-order sums (requested, allocated, RAM, history) from scratch.
fn refresh_sums(view: &EpochView<'_>, host: &mut THost) {
    let mut requested = 0.0;
    let mut ram = 0;
    let mut history = [0.0; HISTORY_LENGTH];
    for &v in &host.vms {
        let vm = view.vm(v);
        requested += vm.requested_mips;
        ram += vm.kind.ram_mb;
        for (slot, &x) in history.iter_mut().zip(vm.history) {
            *slot += x * vm.kind.mips / host.total_mips;
        }
    }
    host.requested = requested;
    host.ram_mb = ram;
    host.history = history;
    host.alloc_sum = host.alloc.iter().fold(0.0, |s, a| s + a);
}

/// Sorts VMs by current MIPS, descending, stable (`PowerVmList.sortByCpuUtilization`).
fn sort_by_mips_desc(view: &EpochView<'_>, vms: &mut [usize]) {
    vms.sort_by(|&a, &b| {
        view.vm(b)
            .requested_mips
            .total_cmp(&view.vm(a).requested_mips)
    });
}

/// One of CloudSim's dynamic consolidation policies: a detector with MMT selection and PABFD
/// placement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CloudSimPolicy {
    /// The overload detector.
    pub detector: Detector,
}

impl CloudSimPolicy {
    /// THR-MMT with a static threshold (CloudSim example: 0.8).
    pub fn thr_mmt(threshold: f64) -> CloudSimPolicy {
        CloudSimPolicy {
            detector: Detector::Thr(threshold),
        }
    }

    /// IQR-MMT (CloudSim example: 1.5).
    pub fn iqr_mmt(safety: f64) -> CloudSimPolicy {
        CloudSimPolicy {
            detector: Detector::Iqr(safety),
        }
    }

    /// MAD-MMT (CloudSim example: 2.5).
    pub fn mad_mmt(safety: f64) -> CloudSimPolicy {
        CloudSimPolicy {
            detector: Detector::Mad(safety),
        }
    }

    /// LR-MMT (CloudSim example: 1.2). LRR-MMT is identical in CloudSim 3.0.3 (quirk Q3).
    pub fn lr_mmt(safety: f64) -> CloudSimPolicy {
        CloudSimPolicy {
            detector: Detector::Lr(safety),
        }
    }

    /// The four gated policies: THR-MMT-0.8, IQR-MMT-1.5, MAD-MMT-2.5, LR-MMT-1.2.
    pub fn gated() -> [CloudSimPolicy; 4] {
        [
            CloudSimPolicy::thr_mmt(0.8),
            CloudSimPolicy::iqr_mmt(1.5),
            CloudSimPolicy::mad_mmt(2.5),
            CloudSimPolicy::lr_mmt(1.2),
        ]
    }
}

impl EpochPolicy for CloudSimPolicy {
    fn name(&self) -> String {
        format!(
            "{}-MMT-{:.1}",
            self.detector.label(),
            self.detector.parameter()
        )
    }

    fn initial_placement(&mut self, hosts: &[HostType], vms: &[VmType]) -> Vec<Option<usize>> {
        initial_placement_pabfd(hosts, vms, &self.detector)
    }

    fn plan(&mut self, view: &EpochView<'_>) -> Vec<Move> {
        plan_cloudsim(view, &self.detector)
    }
}

/// `optimizeAllocation` with `detector` and MMT: the migrations CloudSim would start now.
pub fn plan_cloudsim(view: &EpochView<'_>, detector: &Detector) -> Vec<Move> {
    let n = view.host_count();
    let mut tent = Tentative::new(view);

    // (a) Over-utilised hosts, in id order. An empty host never is (no request, no history).
    let over: Vec<usize> = (0..n)
        .filter(|&h| !tent.vms_on(h).is_empty() && tent.is_overloaded(h, None, detector))
        .collect();

    // (b) MMT selection until each is no longer overloaded.
    let mut to_migrate = Vec::new();
    for &h in &over {
        while let Some(v) = tent.select_mmt(h) {
            to_migrate.push(v);
            tent.remove(h, v);
            if !tent.is_overloaded(h, None, detector) {
                break;
            }
        }
    }

    // (c) PABFD away from the over-utilised hosts.
    let mut excluded = Exclusions::none(n);
    for &h in &over {
        excluded.exclude(h);
    }
    sort_by_mips_desc(view, &mut to_migrate);
    let mut moves = Vec::new();
    for v in to_migrate {
        if let Some(h) = tent.find_host_for_vm(v, &excluded, detector) {
            tent.place(h, v);
            moves.push(Move { vm: v, host: h });
        }
    }

    // (d) Empty the under-utilised hosts, least loaded first, all or nothing.
    let mut picked_out = vec![false; n];
    for &h in &over {
        picked_out[h] = true;
    }
    excluded.exclude_switched_off();
    let mut order: Vec<usize> = (0..n)
        .filter(|&h| {
            let u = tent.measured_utilization(h);
            u > 0.0 && u < 1.0
        })
        .collect();
    order.sort_by(|&a, &b| {
        tent.measured_utilization(a)
            .total_cmp(&tent.measured_utilization(b))
            .then(a.cmp(&b))
    });
    for &h in &order {
        // A host whose list is empty is skipped (`areAllVmsMigratingOutOrAnyVmMigratingIn`);
        // it cannot gain VMs later without being excluded.
        if picked_out[h] || tent.vms_on(h).is_empty() {
            continue;
        }
        picked_out[h] = true;
        excluded.exclude(h);
        let mut vms: Vec<usize> = tent
            .vms_on(h)
            .iter()
            .copied()
            .filter(|&v| !view.vm(v).in_migration)
            .collect();
        if vms.is_empty() {
            continue;
        }
        sort_by_mips_desc(view, &mut vms);
        let mut placed: Vec<Move> = Vec::with_capacity(vms.len());
        for v in vms {
            match tent.find_host_for_vm(v, &excluded, detector) {
                Some(t) => {
                    tent.place(t, v);
                    placed.push(Move { vm: v, host: t });
                }
                None => {
                    for m in &placed {
                        tent.remove(m.host, m.vm);
                    }
                    placed.clear();
                    break;
                }
            }
        }
        for m in &placed {
            picked_out[m.host] = true;
        }
        moves.extend(placed);
    }
    moves
}

/// CloudSim's t = 0 placement for the migration policies: VMs in id order, each asking for its
/// full MIPS, RAM and bandwidth, go to the PABFD host scored against measured utilisation 0
/// (so empty hosts win and the VMs spread out, reference Q9). Earlier VMs already ask for 0
/// MIPS (their cloudlets have not arrived), so the detector only sees the new VM's MIPS, and
/// with no history IQR/MAD/LR are THR 0.7.
pub fn initial_placement_pabfd(
    hosts: &[HostType],
    vms: &[VmType],
    detector: &Detector,
) -> Vec<Option<usize>> {
    let mut st = InitialState::new(hosts);
    vms.iter()
        .map(|vm| {
            let r = vm.mips;
            let mut best = None;
            let mut min = f64::MAX;
            for (h, kind) in hosts.iter().enumerate() {
                if !st.is_suitable(h, kind, vm) {
                    continue;
                }
                let total = kind.total_mips();
                if st.alloc_sum[h] != 0.0
                    && detector.is_overloaded(r, total, &[0.0], migration_time_s(vm.ram_mb))
                {
                    continue;
                }
                let Some(after) = kind.power.power((st.alloc_sum[h] + r) / total) else {
                    continue;
                };
                let diff = after - kind.power.idle();
                if diff < min {
                    min = diff;
                    best = Some(h);
                }
            }
            if let Some(h) = best {
                st.create(h, &hosts[h], vm);
            }
            best
        })
        .collect()
}

/// First fit at t = 0 (`PowerVmAllocationPolicySimple`, used by NPA and DVFS).
pub fn initial_placement_first_fit(hosts: &[HostType], vms: &[VmType]) -> Vec<Option<usize>> {
    let mut st = InitialState::new(hosts);
    vms.iter()
        .map(|vm| {
            let best = (0..hosts.len()).find(|&h| st.is_suitable(h, &hosts[h], vm));
            if let Some(h) = best {
                st.create(h, &hosts[h], vm);
            }
            best
        })
        .collect()
}

/// Host bookkeeping while VMs are being created at t = 0.
struct InitialState {
    available: Vec<f64>,
    alloc_sum: Vec<f64>,
    ram_free: Vec<i64>,
    bw_free: Vec<f64>,
}

impl InitialState {
    fn new(hosts: &[HostType]) -> InitialState {
        InitialState {
            available: hosts.iter().map(HostType::total_mips).collect(),
            alloc_sum: vec![0.0; hosts.len()],
            ram_free: hosts.iter().map(|k| i64::from(k.ram_mb)).collect(),
            bw_free: vec![super::model::HOST_BW; hosts.len()],
        }
    }

    fn is_suitable(&self, h: usize, kind: &HostType, vm: &VmType) -> bool {
        kind.pe_mips >= vm.mips
            && self.available[h] >= vm.mips
            && self.ram_free[h] >= i64::from(vm.ram_mb)
            && self.bw_free[h] >= VM_BW
    }

    fn create(&mut self, h: usize, kind: &HostType, vm: &VmType) {
        let capped = vm.mips.min(kind.pe_mips);
        self.available[h] -= capped;
        self.alloc_sum[h] += capped;
        self.ram_free[h] -= i64::from(vm.ram_mb);
        self.bw_free[h] -= VM_BW;
    }
}

/// CloudSim's DVFS baseline: first-fit placement, no migrations; power follows utilisation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dvfs;

impl EpochPolicy for Dvfs {
    fn name(&self) -> String {
        "DVFS".to_string()
    }

    fn initial_placement(&mut self, hosts: &[HostType], vms: &[VmType]) -> Vec<Option<usize>> {
        initial_placement_first_fit(hosts, vms)
    }

    fn plan(&mut self, _view: &EpochView<'_>) -> Vec<Move> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudsim::model::{RunOptions, VM_TYPES, run_day};
    use crate::cloudsim::trace::SAMPLES_PER_DAY;
    use proptest::prelude::*;

    const G4_MIPS: f64 = 3720.0;

    #[test]
    fn thr_is_strict() {
        let d = Detector::Thr(0.8);
        assert!(!d.is_overloaded(0.8 * G4_MIPS, G4_MIPS, &[], 0.0));
        assert!(d.is_overloaded(0.81 * G4_MIPS, G4_MIPS, &[], 0.0));
    }

    #[test]
    fn iqr_by_hand_and_fallback() {
        let d = Detector::Iqr(1.5);
        // 12 values 0.01..0.12 (any order): q1 = x[2] = 0.03, q3 = x[9] = 0.10, IQR 0.07,
        // threshold 1 - 1.5 * 0.07 = 0.895.
        let h: Vec<f64> = (1..=12).rev().map(|i| f64::from(i) / 100.0).collect();
        assert!(d.is_overloaded(0.9 * G4_MIPS, G4_MIPS, &h, 0.0));
        assert!(!d.is_overloaded(0.89 * G4_MIPS, G4_MIPS, &h, 0.0));
        // 11 values: THR 0.7.
        assert!(d.is_overloaded(0.71 * G4_MIPS, G4_MIPS, &h[..11], 0.0));
        assert!(!d.is_overloaded(0.69 * G4_MIPS, G4_MIPS, &h[..11], 0.0));
    }

    #[test]
    fn mad_by_hand_and_fallback() {
        let d = Detector::Mad(2.5);
        // Six 0.5 and six 0.6: median 0.55, every deviation 0.05, MAD 0.05: threshold 0.875.
        let h: Vec<f64> = (0..12)
            .map(|i| if i % 2 == 0 { 0.5 } else { 0.6 })
            .collect();
        assert!(d.is_overloaded(0.88 * G4_MIPS, G4_MIPS, &h, 0.0));
        assert!(!d.is_overloaded(0.87 * G4_MIPS, G4_MIPS, &h, 0.0));
        assert!(d.is_overloaded(0.71 * G4_MIPS, G4_MIPS, &h[..11], 0.0));
        assert!(!d.is_overloaded(0.69 * G4_MIPS, G4_MIPS, &h[..11], 0.0));
    }

    #[test]
    fn lr_by_hand_and_fallback() {
        // Newest first 0.90, 0.89, …, 0.81: oldest first y = 0.80 + 0.01 x, x = 1..10.
        let h: Vec<f64> = (0..10).map(|i| 0.90 - 0.01 * f64::from(i)).collect();
        // Longest migration 27.84 s: one interval ahead, x = 11 -> 0.91.
        let p = lr_prediction(&h, 27.84).unwrap();
        assert!((p - 0.91).abs() < 1e-12, "{p}");
        // 1.2 · 0.91 >= 1; 1.0 · 0.91 < 1 (the request does not matter once LR applies).
        assert!(Detector::Lr(1.2).is_overloaded(0.0, G4_MIPS, &h, 27.84));
        assert!(!Detector::Lr(1.0).is_overloaded(G4_MIPS, G4_MIPS, &h, 27.84));
        // A 301 s migration reaches two intervals ahead: x = 12 -> 0.92.
        assert!((lr_prediction(&h, 301.0).unwrap() - 0.92).abs() < 1e-12);
        // Only the newest 10 values count.
        let mut longer = h.clone();
        longer.extend([5.0, 5.0]);
        assert_eq!(lr_prediction(&longer, 27.84), lr_prediction(&h, 27.84));
        // Nine values: THR 0.7 on the request.
        assert_eq!(lr_prediction(&h[..9], 27.84), None);
        assert!(Detector::Lr(1.2).is_overloaded(0.71 * G4_MIPS, G4_MIPS, &h[..9], 27.84));
        assert!(!Detector::Lr(1.2).is_overloaded(0.69 * G4_MIPS, G4_MIPS, &h[..9], 27.84));
    }

    #[test]
    fn host_history_weights_by_mips_and_trims() {
        // A 2500-MIPS VM at 0.372 and a 500-MIPS one at 0.744 on a G4: 0.25 + 0.1.
        let a = [0.372, 0.0, 0.0];
        let b = [0.744, 0.0];
        let (h, len) = host_history([(&a[..], 2500.0), (&b[..], 500.0)], G4_MIPS);
        assert_eq!(len, 1);
        assert!((h[0] - 0.35).abs() < 1e-12);
        let (_, len) = host_history([(&[0.1, 0.0, 0.2][..], 1000.0)], G4_MIPS);
        assert_eq!(len, 3);
        let (_, len) = host_history(std::iter::empty(), G4_MIPS);
        assert_eq!(len, 1, "CloudSim counts an all-zero history as one value");
    }

    #[test]
    fn exclusions() {
        let mut e = Exclusions::none(3);
        assert!(!e.contains(1, 0.0));
        e.exclude(1);
        assert!(e.contains(1, 0.5));
        e.exclude_switched_off();
        assert!(e.contains(0, 0.0) && !e.contains(0, 0.1));
        assert!(e.contains(7, 0.5), "unknown hosts are never candidates");
    }

    #[test]
    fn names() {
        let names: Vec<String> = CloudSimPolicy::gated().iter().map(|p| p.name()).collect();
        assert_eq!(
            names,
            ["THR-MMT-0.8", "IQR-MMT-1.5", "MAD-MMT-2.5", "LR-MMT-1.2"]
        );
        assert_eq!(CloudSimPolicy::thr_mmt(1.0).name(), "THR-MMT-1.0");
    }

    /// Wraps a CloudSim policy; at every epoch checks invariants of the view and compares the
    /// fast PABFD with a plain scan written from the CloudSim source.
    struct Probe {
        inner: CloudSimPolicy,
        epochs_seen: usize,
        moves_planned: u64,
    }

    fn naive_find(tent: &Tentative<'_>, vm: usize, ex: &Exclusions, d: &Detector) -> Option<usize> {
        let view = tent.view();
        let r = view.vm(vm).requested_mips;
        let mut min = f64::MAX;
        let mut best = None;
        for h in 0..view.host_count() {
            let kind = view.host(h).kind;
            let u = tent.measured_utilization(h);
            if ex.contains(h, u) || !tent.is_suitable(h, vm) {
                continue;
            }
            if tent.allocated_mips(h) != 0.0 && tent.is_overloaded(h, Some(vm), d) {
                continue;
            }
            let after = kind
                .power
                .power((tent.allocated_mips(h) + r) / kind.total_mips())
                .unwrap();
            let diff = after - kind.power.power(u.min(1.0)).unwrap();
            if diff < min {
                min = diff;
                best = Some(h);
            }
        }
        best
    }

    impl EpochPolicy for Probe {
        fn name(&self) -> String {
            self.inner.name()
        }
        fn initial_placement(&mut self, hosts: &[HostType], vms: &[VmType]) -> Vec<Option<usize>> {
            self.inner.initial_placement(hosts, vms)
        }
        fn plan(&mut self, view: &EpochView<'_>) -> Vec<Move> {
            self.epochs_seen += 1;
            let d = self.inner.detector;
            for h in 0..view.host_count() {
                let host = view.host(h);
                let total: f64 = host.allocated.iter().sum();
                assert!(
                    total <= host.kind.total_mips() + 1e-6,
                    "host {h} over capacity"
                );
                assert!(
                    host.allocated
                        .iter()
                        .all(|&a| a <= host.kind.pe_mips + 1e-9)
                );
                assert!((0.0..=1.0).contains(&host.utilization));
                if view.ram_enforced() {
                    assert!(host.ram_used_mb <= host.kind.ram_mb, "host {h} RAM");
                }
                for &v in host.vms {
                    assert_eq!(view.vm(v).host, Some(h));
                    assert!(!view.vm(v).in_migration, "migrations end within an epoch");
                }
            }
            // Fast PABFD = plain scan, with and without switched-off hosts excluded, also
            // after a few tentative placements.
            let mut tent = Tentative::new(view);
            let mut ex = Exclusions::none(view.host_count());
            ex.exclude(view.epoch() % view.host_count());
            let vms: Vec<usize> = (0..view.vm_count())
                .filter(|&v| view.vm(v).host.is_some())
                .collect();
            for (i, &v) in vms.iter().enumerate() {
                if i == vms.len() / 2 {
                    ex.exclude_switched_off();
                }
                let fast = tent.find_host_for_vm(v, &ex, &d);
                assert_eq!(fast, naive_find(&tent, v, &ex, &d), "VM {v}");
                if let Some(h) = fast {
                    tent.place(h, v);
                    assert!(tent.allocated_mips(h) <= view.host(h).kind.total_mips() + 1e-6);
                }
            }
            let moves = self.inner.plan(view);
            self.moves_planned += moves.len() as u64;
            moves
        }
    }

    #[test]
    fn mmt_picks_least_ram_first_in_list_on_ties() {
        // n = 8: VMs 0-1 type 0 (870 MB), 2-3 type 1 (1740), 4-5 type 2 (1740), 6-7 type 3
        // (613). Put 0, 4, 6 and 7 on host 1 (VMs are created in id order).
        struct Check;
        impl EpochPolicy for Check {
            fn name(&self) -> String {
                "check".into()
            }
            fn initial_placement(&mut self, _: &[HostType], _: &[VmType]) -> Vec<Option<usize>> {
                let mut p = vec![Some(3); 8];
                for v in [4, 0, 6, 7] {
                    p[v] = Some(1);
                }
                p
            }
            fn plan(&mut self, view: &EpochView<'_>) -> Vec<Move> {
                let mut tent = Tentative::new(view);
                assert_eq!(
                    tent.vms_on(1),
                    &[0, 4, 6, 7],
                    "list order is creation order"
                );
                assert_eq!(tent.select_mmt(1), Some(6));
                tent.remove(1, 6);
                assert_eq!(tent.select_mmt(1), Some(7));
                tent.remove(1, 7);
                assert_eq!(tent.select_mmt(1), Some(0));
                tent.remove(1, 0);
                assert_eq!(tent.select_mmt(1), Some(4));
                tent.remove(1, 4);
                assert_eq!(tent.select_mmt(1), None);
                assert_eq!(tent.allocated_mips(1), 0.0);
                Vec::new()
            }
        }
        let traces = vec![vec![5u8; SAMPLES_PER_DAY]; 8];
        let options = RunOptions {
            hosts: 4,
            epochs: 1,
            ..RunOptions::default()
        };
        run_day(&traces, &mut Check, &options);
        assert_eq!(VM_TYPES[3].ram_mb, 613);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]

        /// No host is ever allocated more than it has, PABFD's fast path agrees with the plain
        /// scan, and every planned move of a CloudSim policy is applied and counted.
        #[test]
        fn capacity_oracle_and_counting(
            traces in (1usize..30).prop_flat_map(|n| prop::collection::vec(
                prop::collection::vec(prop_oneof![Just(0u8), 1u8..40, 40u8..99], SAMPLES_PER_DAY), n)),
            hosts in 2usize..16,
            epochs in 1usize..16,
            which in 0usize..4,
            ram in any::<bool>(),
        ) {
            let mut probe = Probe { inner: CloudSimPolicy::gated()[which], epochs_seen: 0, moves_planned: 0 };
            let options = RunOptions { ram_enforced: ram, hosts, epochs };
            let r = run_day(&traces, &mut probe, &options);
            prop_assert_eq!(probe.epochs_seen, epochs);
            prop_assert_eq!(r.migrations + r.rejected_moves, probe.moves_planned);
            prop_assert_eq!(r.rejected_moves, 0);
        }

        /// Allocation never exceeds the host or a core, and gives every request in full when
        /// the host is not over-subscribed.
        #[test]
        fn allocation_respects_capacity(reqs in prop::collection::vec((0.0f64..2600.0, 0usize..3), 1..40), g5 in any::<bool>()) {
            let (total, pe) = if g5 { (5320.0, 2660.0) } else { (3720.0, 1860.0) };
            let shares = [Share::Full, Share::MigratingOut, Share::MigratingIn];
            let needs: Vec<(f64, Share)> = reqs.iter().map(|&(r, s)| (r, shares[s])).collect();
            let mut alloc = vec![0.0; needs.len()];
            let left = allocate_all(total, pe, &needs, &mut alloc);
            let sum: f64 = alloc.iter().sum();
            prop_assert!(sum <= total + 1e-6);
            prop_assert!(left >= 0.0);
            let need: f64 = needs.iter().map(|&(r, s)| {
                let c = r.min(pe);
                if s == Share::MigratingIn { c * 0.1 } else { c }
            }).sum();
            for (&a, &(r, s)) in alloc.iter().zip(&needs) {
                let c = r.min(pe);
                prop_assert!(a <= c + 1e-9);
                if need < total - 1e-6 {
                    let want = match s { Share::Full => c, Share::MigratingOut => c * 0.9, Share::MigratingIn => c * 0.1 };
                    prop_assert_eq!(a, want);
                }
            }
        }
    }
}
