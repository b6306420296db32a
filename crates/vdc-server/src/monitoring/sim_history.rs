//! A simulated fleet's past: on a fresh store, days of hourly and daily roll-ups for every
//! simulated VM from the simulator's own load model (its CPU load, busier by day, and its
//! resident memory), and its VMs recorded as that old — so that reports, charts and behaviour
//! profiles have history to show on a demo fleet. Only simulated VMs; never real hosts.

use vdc_db::metrics::RollupRow;
use vdc_db::{self as db};
use vdc_types::*;

use crate::app::App;
use crate::monitoring::metrics::vm_entity;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// Rows per write.
const BATCH: usize = 2000;

/// One roll-up bucket: CPU (min, mean, max, p95) and a steady resident memory.
fn bucket(vm: VmId, resolution_s: i64, start_ms: i64, cpu: [f32; 4], rss: f32) -> RollupRow {
    let mut summaries = [[f32::NAN; 4]; Metric::COUNT];
    summaries[Metric::Cpu.index()] = cpu;
    summaries[Metric::MemoryMib.index()] = [rss; 4];
    for m in [
        Metric::VcpuDelay,
        Metric::DiskReadBytesS,
        Metric::DiskWriteBytesS,
        Metric::DiskReadOpsS,
        Metric::DiskWriteOpsS,
        Metric::NetRxBytesS,
        Metric::NetTxBytesS,
    ] {
        summaries[m.index()] = [0.0; 4];
    }
    RollupRow {
        entity: vm_entity(vm),
        resolution_s,
        start_ms,
        summaries,
    }
}

/// Writes `days` of history for the simulated VMs unless the store already holds samples;
/// returns how many VMs got some.
pub async fn backfill(app: &App, days: u32) -> Result<usize, Error> {
    let Some(sim) = app.fleet.sim().cloned() else {
        return Ok(0);
    };
    if days == 0 || app.db.any_vm_metrics().await? {
        return Ok(0);
    }
    let now = db::now_ms();
    let today = now.div_euclid(DAY_MS) * DAY_MS;
    let from = today - i64::from(days) * DAY_MS;
    let mut rows = Vec::new();
    let mut with_history = 0;
    for vm in app.every_vm(db::VmFilter::default()).await? {
        let Some((load, rss, running)) = sim.vm_usage(vm.id.0) else {
            continue;
        };
        app.db
            .set_vm_created_at(vm.id, from.min(vm.created_at))
            .await?;
        if !running {
            continue;
        }
        with_history += 1;
        let rss = rss as f32;
        for d in 0..i64::from(days) {
            let day = from + d * DAY_MS;
            let mut peak = 0.0f32;
            for h in 0..24 {
                // Busier from 08:00 to 20:00 UTC; the day's mean is the VM's load.
                let f = if (8..20).contains(&h) { 1.3 } else { 0.7 };
                let mean = (load * f).min(100.0) as f32;
                let p95 = (mean * 1.15).min(100.0);
                peak = peak.max(p95);
                rows.push(bucket(
                    vm.id,
                    3600,
                    day + h * HOUR_MS,
                    [mean * 0.8, mean, (mean * 1.2).min(100.0), p95],
                    rss,
                ));
            }
            let mean = load as f32;
            rows.push(bucket(
                vm.id,
                86_400,
                day,
                [mean * 0.5, mean, peak, peak],
                rss,
            ));
        }
    }
    for chunk in rows.chunks(BATCH) {
        app.db.write_metrics(&[], chunk).await?;
    }
    tracing::info!(
        vms = with_history,
        days,
        rows = rows.len(),
        "simulated history written"
    );
    Ok(with_history)
}
