//! `vdc bench …`: measurements at scale. Each prints a human summary and, with `--json`, one
//! JSON object on its last line; each compares against a baseline measured in the same run.

use anyhow::{Context, Result};
use std::time::Instant;
use vdc_server::{Config, SimConfig};
use vdc_types::{DepartmentView, LoginResponse, Page, VmView};

#[derive(Debug, clap::Subcommand)]
pub enum BenchCmd {
    /// Full inventory sync and filtered VM listing at fleet scale (simulator + SQLite).
    Inventory(InventoryArgs),
    /// Explained placement decisions at fleet scale (host shapes from libvirt capability
    /// dumps, VMs from the Azure V1 trace), against a naive baseline; or a replay of the
    /// trace comparing vdc's ranking with first-fit and best-fit.
    Placement(crate::bench_placement::PlacementArgs),
    /// How well the capacity trend predicts daily peaks (Bitbrains VMs: fit on July,
    /// predict August and September), against naive forecasts.
    Forecast(crate::bench_forecast::ForecastArgs),
    /// Dynamic consolidation in CloudSim's PlanetLab model: the ported CloudSim policies
    /// against CloudSim's own figures, and vdc's policy beside them.
    Consolidation(crate::bench_consolidation::ConsolidationArgs),
    /// The load balancer over a week of real VM load (Bitbrains), against no balancing and a
    /// naive threshold balancer.
    Balance(crate::bench_balance::BalanceArgs),
    /// Host-side metrics: ingest into vdc's store and a 7-day chart of one VM, against one
    /// row per value.
    Metrics(crate::bench_metrics::MetricsArgs),
    /// Behaviour profiles on Bitbrains traces with injected anomalies, against fixed
    /// thresholds.
    Anomalies(crate::bench_anomalies::AnomaliesArgs),
    /// Host failures on a simulated fleet through the HA controller: time to detect, fence
    /// and have the last VM running elsewhere; VMs lost or duplicated.
    Ha(crate::bench_ha::HaArgs),
}

#[derive(Debug, clap::Args)]
pub struct InventoryArgs {
    #[arg(long, default_value_t = 10_000)]
    hosts: usize,
    #[arg(long, default_value_t = 200_000)]
    vms: usize,
    /// Listing requests to time (after 20 warm-up requests).
    #[arg(long, default_value_t = 500)]
    requests: usize,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Print one JSON object as the last line.
    #[arg(long)]
    json: bool,
}

pub async fn run(cmd: BenchCmd) -> Result<()> {
    match cmd {
        BenchCmd::Inventory(a) => inventory(a).await,
        BenchCmd::Placement(a) => crate::bench_placement::run(a),
        BenchCmd::Forecast(a) => crate::bench_forecast::run(a),
        BenchCmd::Consolidation(a) => crate::bench_consolidation::run(a),
        BenchCmd::Balance(a) => crate::bench_balance::run(a),
        BenchCmd::Metrics(a) => crate::bench_metrics::run(a).await,
        BenchCmd::Anomalies(a) => crate::bench_anomalies::run(a),
        BenchCmd::Ha(a) => crate::bench_ha::run(a).await,
    }
}

pub(crate) fn percentile(sorted_ms: &[f64], p: f64) -> f64 {
    if sorted_ms.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted_ms.len() as f64).ceil() as usize;
    sorted_ms[rank.clamp(1, sorted_ms.len()) - 1]
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<f64>()
                    .unwrap_or(0.0)
            })
        })
        .unwrap_or(0.0)
        / 1024.0
}

async fn inventory(a: InventoryArgs) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("vdc-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}?mode=rwc", dir.join("bench.sqlite").display());
    let mut config = Config::new(url);
    config.listen = "127.0.0.1:0".parse()?;
    config.sync_interval = None;
    config.admin_password = Some(vdc_server::config::Secret::new("bench-password"));
    config.sim = Some(SimConfig {
        hosts: a.hosts,
        vms: a.vms,
        seed: a.seed,
        ..SimConfig::default()
    });
    eprintln!(
        "building a simulated fleet of {} hosts and {} VMs and registering the hosts…",
        a.hosts, a.vms
    );
    let t = Instant::now();
    let server = vdc_server::start(config).await?;
    let setup_s = t.elapsed().as_secs_f64();
    eprintln!("full inventory sync…");
    let t = Instant::now();
    let report = vdc_server::sync::sync_all(&server.app).await?;
    let sync_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let resync = vdc_server::sync::sync_all(&server.app).await?;
    let resync_s = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        report.inserted == a.vms,
        "sync inserted {} VMs, expected {}",
        report.inserted,
        a.vms
    );

    let base = format!("http://{}/api/v1", server.addr);
    let http = reqwest::Client::new();
    let login: LoginResponse = http
        .post(format!("{base}/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": "bench-password"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let depts: Vec<DepartmentView> = http
        .get(format!("{base}/departments"))
        .bearer_auth(&login.token)
        .send()
        .await?
        .json()
        .await?;
    let dept = depts.first().context("no department")?.id;

    // The measured request: one department's running VMs, 100 a page, walking pages via the
    // returned token so later requests hit deep keyset positions.
    let mut http_ms = Vec::with_capacity(a.requests);
    let mut store_ms = Vec::with_capacity(a.requests);
    let mut token: Option<String> = None;
    let mut listed = 0usize;
    for i in 0..a.requests + 20 {
        let mut q = vec![
            ("department_id", dept.to_string()),
            ("state", "running".to_string()),
            ("limit", "100".to_string()),
        ];
        if let Some(t) = &token {
            q.push(("page_token", t.clone()));
        }
        let t = Instant::now();
        let page: Page<VmView> = http
            .get(format!("{base}/vms"))
            .bearer_auth(&login.token)
            .query(&q)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        // Baseline: the same page straight from the store, no HTTP, auth or JSON.
        let filter = vdc_db::VmFilter {
            department_id: Some(dept),
            state: Some(vdc_types::PowerState::Running),
            after: token
                .as_deref()
                .map(vdc_server::views::parse_page_token)
                .transpose()?,
            limit: 100,
            ..Default::default()
        };
        let t = Instant::now();
        let (rows, _) = server.app.db.list_vms(&filter).await?;
        let store = t.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(
            rows.len() == page.items.len(),
            "store and API disagree on the page"
        );
        if i >= 20 {
            http_ms.push(ms);
            store_ms.push(store);
            listed += page.items.len();
        }
        token = page.next_page_token;
    }
    http_ms.sort_by(f64::total_cmp);
    store_ms.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&http_ms, 50.0), percentile(&http_ms, 99.0));
    let (b50, b99) = (percentile(&store_ms, 50.0), percentile(&store_ms, 99.0));
    let rss = rss_mib();
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "vdc bench inventory: {} hosts, {} VMs (simulator + SQLite, one process)",
        a.hosts, a.vms
    );
    println!("  setup (generate fleet, register hosts): {setup_s:.2} s");
    println!(
        "  full sync: {sync_s:.2} s ({} VMs inserted, {:.0} VMs/s); steady-state resync: {resync_s:.2} s ({} updated)",
        report.inserted,
        a.vms as f64 / sync_s,
        resync.updated
    );
    println!(
        "  GET /api/v1/vms (department + state filter, 100/page, {} requests, {} VMs listed): p50 {p50:.2} ms, p99 {p99:.2} ms",
        http_ms.len(),
        listed
    );
    println!(
        "  baseline, same page from the store without HTTP/auth/JSON: p50 {b50:.2} ms, p99 {b99:.2} ms (HTTP stack adds {:.2} ms at p50)",
        p50 - b50
    );
    println!(
        "  goal p99 < 100 ms: {}",
        if p99 < 100.0 { "met" } else { "NOT met" }
    );
    println!("  RSS of the whole process (server + simulator + client): {rss:.0} MiB");
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "hosts": a.hosts, "vms": a.vms, "setup_s": setup_s, "sync_s": sync_s, "resync_s": resync_s,
                "list_p50_ms": p50, "list_p99_ms": p99,
                "baseline_store_p50_ms": b50, "baseline_store_p99_ms": b99,
                "rss_mib": rss, "requests": http_ms.len(),
            })
        );
    }
    Ok(())
}
