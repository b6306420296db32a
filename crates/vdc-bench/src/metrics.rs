//! `vdc bench metrics`: ingest of host-side samples into vdc's metric store (hourly chunks
//! and roll-ups in the embedded SQLite store) and the query of a 7-day chart of one VM,
//! against a row-per-sample table in the same store, in the same process.

use anyhow::Result;
use std::time::{Duration, Instant};
use vdc_db::DataStore;
use vdc_server::monitoring::metrics::MetricStore;
use vdc_types::Metric;

use crate::percentile;

#[derive(Debug, clap::Args)]
pub struct MetricsArgs {
    /// VMs recorded.
    #[arg(long, default_value_t = 100)]
    vms: usize,
    /// Days of samples, one every 20 s (at least 7 for the 7-day chart).
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// Chart queries to time.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Print one JSON object as the last line.
    #[arg(long)]
    json: bool,
}

const STEP_MS: i64 = 20_000;
const DAY_MS: i64 = 86_400_000;
/// Samples between writes (5 minutes of 20-second samples, as the collector's default
/// flush of one minute would write them at least as often).
const FLUSH_EVERY: i64 = 15;

/// A cheap deterministic value stream per VM: a daily wave plus noise.
fn value(vm: usize, step: i64, metric: usize) -> f32 {
    let mut x = (vm as u64) << 32 ^ (step as u64) << 4 ^ metric as u64;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    let noise = (x % 1000) as f32 / 100.0;
    let wave = ((step % 4320) as f32 / 4320.0 * std::f32::consts::TAU).sin() * 20.0 + 40.0;
    wave + noise + metric as f32
}

fn sample(vm: usize, step: i64) -> [f32; Metric::COUNT] {
    std::array::from_fn(|m| value(vm, step, m))
}

fn file_size(path: &std::path::Path) -> u64 {
    ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", path.display())).ok())
        .map(|m| m.len())
        .sum()
}

pub async fn run(a: MetricsArgs) -> Result<()> {
    anyhow::ensure!(
        a.days >= 7,
        "--days must be at least 7 (the chart spans 7 days)"
    );
    anyhow::ensure!(
        a.vms >= 1 && a.queries >= 1,
        "--vms and --queries must be positive"
    );
    let dir = std::env::temp_dir().join(format!("vdc-bench-metrics-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("metrics.sqlite");
    let db = DataStore::connect(&format!("sqlite://{}?mode=rwc", file.display())).await?;
    let store = MetricStore::new(db.clone(), std::time::Duration::from_secs(20));
    let entities: Vec<String> = (0..a.vms).map(|i| format!("vm:bench-{i:05}")).collect();
    let steps = i64::from(a.days) * DAY_MS / STEP_MS;
    let t0 = 20_000 * DAY_MS;
    let values = a.vms as u64 * steps as u64 * Metric::COUNT as u64;
    eprintln!(
        "ingesting {} days of 20-second samples of {} VMs ({values} values)…",
        a.days, a.vms
    );
    let before = file_size(&file);
    let t = Instant::now();
    for step in 0..steps {
        let at = t0 + step * STEP_MS;
        for (vm, e) in entities.iter().enumerate() {
            store.ingest(e, at, sample(vm, step));
        }
        if step % FLUSH_EVERY == FLUSH_EVERY - 1 {
            store.flush(at + 1).await?;
        }
        if step > 0 && step % (DAY_MS / STEP_MS) == 0 {
            eprintln!("  day {} of {}", step / (DAY_MS / STEP_MS), a.days);
        }
    }
    let end = t0 + steps * STEP_MS;
    store.flush(end).await?;
    let ingest_s = t.elapsed().as_secs_f64();
    let ingest_rate = values as f64 / ingest_s;
    let bytes = file_size(&file).saturating_sub(before);

    eprintln!("timing {} 7-day charts…", a.queries);
    let nominal = Duration::from_millis(STEP_MS as u64);
    let mut ms = Vec::with_capacity(a.queries);
    let mut points = 0;
    for q in 0..a.queries + 10 {
        let e = &entities[(q * 7919) % a.vms];
        let m = Metric::ALL[q % Metric::COUNT];
        let t = Instant::now();
        let s = store.series(e, m, end - 7 * DAY_MS, end, nominal).await?;
        if q >= 10 {
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        points = s.t.len();
    }
    ms.sort_by(f64::total_cmp);

    // The baseline: the same VM's 7 days, one row per value.
    eprintln!("baseline: one VM's 7 days as one row per value…");
    db.baseline_create().await?;
    let e = &entities[0];
    let before = file_size(&file);
    let t = Instant::now();
    let first = steps - 7 * DAY_MS / STEP_MS;
    let mut base_values = 0u64;
    let mut rows = Vec::with_capacity(15 * Metric::COUNT * 60);
    for step in first..steps {
        let s = sample(0, step);
        for (m, v) in s.iter().enumerate() {
            rows.push((e.as_str(), m as i64, t0 + step * STEP_MS, *v));
        }
        if rows.len() >= 10_000 || step == steps - 1 {
            db.baseline_insert(&rows).await?;
            base_values += rows.len() as u64;
            rows.clear();
        }
    }
    let base_ingest_rate = base_values as f64 / t.elapsed().as_secs_f64();
    let base_bytes = file_size(&file).saturating_sub(before);
    let mut base_ms = Vec::with_capacity(a.queries);
    for q in 0..a.queries + 10 {
        let m = (q % Metric::COUNT) as i64;
        let t = Instant::now();
        let rows = db
            .baseline_chart(e, m, end - 7 * DAY_MS, end, 300_000)
            .await?;
        if q >= 10 {
            base_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        anyhow::ensure!(
            rows.len() as i64 == 7 * DAY_MS / 300_000,
            "baseline chart points"
        );
    }
    base_ms.sort_by(f64::total_cmp);
    db.close().await;
    let _ = std::fs::remove_dir_all(&dir);

    let (p50, p99) = (percentile(&ms, 50.0), percentile(&ms, 99.0));
    let (bp50, bp99) = (percentile(&base_ms, 50.0), percentile(&base_ms, 99.0));
    let per_value = bytes as f64 / values as f64;
    let base_per_value = base_bytes as f64 / base_values as f64;
    println!(
        "metrics: {} VMs × {} days of 20-second samples, {values} values",
        a.vms, a.days
    );
    println!(
        "  vdc (hourly chunks + roll-ups): ingest {:.0} values/s ({ingest_s:.1} s), {per_value:.2} bytes/value; 7-day chart ({points} points, min/mean/max/p95): p50 {p50:.2} ms, p99 {p99:.2} ms",
        ingest_rate
    );
    println!(
        "  baseline (row per value): ingest {base_ingest_rate:.0} values/s, {base_per_value:.1} bytes/value; 7-day chart (min/mean/max per 5 min): p50 {bp50:.2} ms, p99 {bp99:.2} ms"
    );
    println!(
        "  ingest {:.1}× the baseline's rate, chart p99 {:.1}× faster",
        ingest_rate / base_ingest_rate,
        bp99 / p99.max(1e-9)
    );
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "vms": a.vms,
                "days": a.days,
                "values": values,
                "ingest_samples_per_s": ingest_rate,
                "bytes_per_sample": per_value,
                "chart_points": points,
                "query_p50_ms": p50,
                "query_p99_ms": p99,
                "baseline_ingest_samples_per_s": base_ingest_rate,
                "baseline_bytes_per_sample": base_per_value,
                "baseline_query_p50_ms": bp50,
                "baseline_query_p99_ms": bp99,
            })
        );
    }
    Ok(())
}
