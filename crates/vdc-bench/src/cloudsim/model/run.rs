//! Running a day of the model under a policy.

use super::*;

// ---------------------------------------------------------------------------------------------
// Running a day

/// Runs one day: `traces` holds per VM (row order) its 288 percent samples. The decision time
/// is not measured (see [`run_day_timed`]).
pub fn run_day(
    traces: &[Vec<u8>],
    policy: &mut dyn EpochPolicy,
    options: &RunOptions,
) -> DayResult {
    run(traces, policy, options, None)
}

/// [`run_day`], timing each [`EpochPolicy::plan`] call with `clock` (any monotonic reading,
/// e.g. `|| start.elapsed()`); the engine itself reads no clock.
pub fn run_day_timed(
    traces: &[Vec<u8>],
    policy: &mut dyn EpochPolicy,
    options: &RunOptions,
    clock: &mut dyn FnMut() -> Duration,
) -> DayResult {
    run(traces, policy, options, Some(clock))
}

pub(crate) fn run(
    traces: &[Vec<u8>],
    policy: &mut dyn EpochPolicy,
    options: &RunOptions,
    mut clock: Option<&mut dyn FnMut() -> Duration>,
) -> DayResult {
    let mut sim = Sim::new(traces, options);
    let host_kinds: Vec<HostType> = sim.hosts.iter().map(|h| h.kind).collect();
    let vm_kinds: Vec<VmType> = sim.vms.iter().map(|v| v.kind).collect();
    let placement = policy.initial_placement(&host_kinds, &vm_kinds);
    let mut unplaced = 0;
    for v in 0..sim.vms.len() {
        match placement.get(v).copied().flatten() {
            Some(h) if h < sim.hosts.len() => {
                sim.vms[v].host = Some(h);
                let host = &mut sim.hosts[h];
                host.vms.push(v);
                host.roles.push(Role::Resident);
                host.alloc.push(0.0);
            }
            _ => {
                unplaced += 1;
                sim.vms[v].finished = true;
            }
        }
    }

    let mut decision = Duration::ZERO;
    let mut migrations_per_epoch = Vec::with_capacity(options.epochs);
    let (mut migrations, mut rejected, mut repeats) = (0u64, 0u64, 0u64);
    let mut moved = vec![false; sim.vms.len()];
    let mut t = FIRST_EPOCH_S;
    for k in 0..options.epochs {
        sim.run_completions_before(t);
        sim.time = t;
        sim.epoch = k;
        sim.sample_demand(t);
        sim.push_histories();
        sim.process_all(t);

        let start = clock.as_mut().map(|c| c());
        let moves = policy.plan(&EpochView { sim: &sim });
        if let (Some(c), Some(s)) = (clock.as_mut(), start) {
            decision += c().saturating_sub(s);
        }

        let mut started = 0u32;
        moved.fill(false);
        for m in moves {
            if sim.start_migration(m, t) {
                started += 1;
                if moved[m.vm] {
                    repeats += 1;
                }
                moved[m.vm] = true;
            } else {
                rejected += 1;
            }
        }
        migrations += u64::from(started);
        migrations_per_epoch.push(started);
        t += SAMPLE_INTERVAL_S;
    }
    sim.run_completions_before(t.min(SIMULATION_LIMIT_S));
    sim.finish();

    let acc = &sim.acc;
    let energy_kwh = acc.energy_j / 3.6e6;
    let slatah = ratio(acc.sla_time, acc.active_time);
    let pdm = ratio(acc.vm_under_migration, acc.vm_requested);
    let slav = slatah * pdm;
    DayResult {
        policy: policy.name(),
        hosts: sim.hosts.len(),
        vms: sim.vms.len(),
        energy_kwh,
        migrations,
        slatah,
        pdm,
        slav,
        esv: energy_kwh * slav,
        overall_sla_violation: ratio(acc.vm_requested - acc.vm_allocated, acc.vm_requested),
        host_shutdowns: acc.shutdowns,
        decision_ms_per_epoch: if options.epochs == 0 {
            0.0
        } else {
            decision.as_secs_f64() * 1000.0 / options.epochs as f64
        },
        epochs: options.epochs,
        migrations_per_epoch,
        rejected_moves: rejected,
        repeat_moves: repeats,
        unplaced_vms: unplaced,
        finished_vms: sim.vms.iter().filter(|v| v.finished).count() - unplaced,
        power_overflows: acc.power_overflows,
        active_hosts_at_end: sim
            .hosts
            .iter()
            .filter(|h| h.utilization_mips > 0.0)
            .count(),
    }
}

pub(crate) fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}
