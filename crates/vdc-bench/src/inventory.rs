//! `vdc bench inventory`: a full inventory sync and a department's filtered VM listing at fleet
//! scale (simulator + SQLite, one process), against the same page read from the store without
//! HTTP, authentication or JSON.

use anyhow::{Context, Result};
use std::time::Instant;
use vdc_server::{Config, SimConfig};
use vdc_types::{DepartmentView, LoginResponse, Page, VmView};

use crate::{percentile, rss_mib};

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

pub async fn run(a: InventoryArgs) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("vdc-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}?mode=rwc", dir.join("bench.sqlite").display());
    let mut config = Config::new(url);
    config.listen = "127.0.0.1:0".parse()?;
    config.admin_password = Some(vdc_server::app::config::Secret::new("bench-password"));
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
    let rss_setup = rss_mib();
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
    // The server's own inventory sync (every 10 s, as in production, beside every other
    // background activity): its first run is the full sync into the empty store, its second
    // the steady-state resync. Watched in process, every 20 ms.
    eprintln!("full inventory sync (the server's first background run)…");
    let sync_runs = |n: u64| {
        let app = &server.app;
        async move {
            loop {
                let tasks = vdc_server::background::views(app);
                let sync = tasks
                    .iter()
                    .find(|t| t.name == "inventory-sync")
                    .context("no inventory-sync activity")?;
                anyhow::ensure!(sync.runs <= n, "missed inventory sync run {n}");
                if sync.runs == n {
                    anyhow::ensure!(
                        sync.last_result.as_deref() == Some("ok"),
                        "inventory sync failed: {:?}",
                        sync.last_outcome
                    );
                    let ms = sync.last_duration_ms.context("no duration")?;
                    return anyhow::Ok((ms as f64 / 1000.0, sync.last_outcome.clone()));
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    };
    let (sync_s, _) = sync_runs(1).await?;
    let rss_synced = rss_mib();
    let inserted = server.app.db.count_vms().await? as usize;
    anyhow::ensure!(
        inserted == a.vms,
        "the sync left {inserted} VMs in the store, expected {}",
        a.vms
    );
    let (resync_s, resync) = sync_runs(2).await?;
    let rss_resynced = rss_mib();
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
    // What the server does in the background while the requests are timed.
    let before = vdc_server::background::views(&server.app);
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
                .map(vdc_server::app::views::parse_page_token)
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
    let after = vdc_server::background::views(&server.app);
    let ran: Vec<String> = after
        .iter()
        .filter_map(|t| {
            let runs = t.runs
                - before
                    .iter()
                    .find(|b| b.name == t.name)
                    .map_or(0, |b| b.runs);
            (runs > 0 || t.running).then(|| {
                let last = t
                    .last_duration_ms
                    .map(|ms| format!(", last took {:.1} s", ms as f64 / 1000.0))
                    .unwrap_or_default();
                let under_way = if t.running { ", one under way" } else { "" };
                format!("{} ({runs} runs{last}{under_way})", t.name)
            })
        })
        .collect();
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
        "  full sync: {sync_s:.2} s ({inserted} VMs inserted, {:.0} VMs/s); steady-state resync: {resync_s:.2} s ({})",
        a.vms as f64 / sync_s,
        resync.unwrap_or_default()
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
    println!(
        "  RSS of the whole process (server + simulator + client): {rss:.0} MiB \
         (after setup {rss_setup:.0}, after the full sync {rss_synced:.0}, after the resync {rss_resynced:.0})"
    );
    println!(
        "  background activities that ran while the requests were timed: {}",
        if ran.is_empty() {
            "none".to_string()
        } else {
            ran.join(", ")
        }
    );
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
