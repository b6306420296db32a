//! Every background activity of the server, registered once in [`activities`]: its name, when
//! it runs and a one-line purpose. [`start`] runs each one that is on in its own task, and every
//! run is recorded (start, duration, result, what it did, next run), so `GET
//! /api/v1/background-tasks`, `vdc status` and the web UI show what the server does unasked and
//! how it went. `docs/background-tasks.md` is this list, checked against it by a test.
//!
//! An activity is a function of the app returning a one-line summary of what it did; the
//! capability that owns the work owns the function, this module only schedules and records.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use vdc_db as db;
use vdc_types::{BackgroundTaskView, Error, Permission, UnixMs, rfc3339};

use crate::app::config::Config;
use crate::app::{Actor, App, On, Part};
use crate::governance::lease::LeaseReport;
use crate::monitoring::metrics::MetricStore;

/// What a run returns: a summary of what it did, or why it failed.
pub(crate) type Outcome<'a> = Pin<Box<dyn Future<Output = Result<String, Error>> + Send + 'a>>;

/// One run of an activity.
pub(crate) type Run = for<'a> fn(&'a App) -> Outcome<'a>;

/// When an activity runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// Every period, the first run at the server's start; a long run pushes the next one back
    /// (see [`next_start`]) unless the activity keeps its period.
    Every(Duration),
    /// Right after each run of the named activity, in the same task: balancing and leases
    /// act on the loads just sampled, and never at the same time as each other (both skip the
    /// VMs that have unfinished jobs, which the other may have just submitted).
    After(&'static str),
    /// When drivers report changes (the event sync).
    OnEvents,
    /// Not on this server (turned off in the configuration; tests drive it themselves).
    Off,
}

impl Schedule {
    fn text(self) -> String {
        match self {
            Schedule::Every(d) => format!("every {}", humantime::format_duration(d)),
            Schedule::After(first) => format!("after {first}"),
            Schedule::OnEvents => "on driver events".into(),
            Schedule::Off => "off".into(),
        }
    }
}

/// A registered activity.
#[derive(Debug, Clone, Copy)]
pub struct Activity {
    pub name: &'static str,
    pub purpose: &'static str,
    pub schedule: Schedule,
    /// `None` for the event sync, which its event loop runs.
    run: Option<Run>,
    /// Whether a long run pushes the next one back ([`next_start`]); HA keeps its period:
    /// a round is long when hosts do not answer, which is when the next one must not wait.
    paced: bool,
}

/// The name the event sync records its runs under.
pub(crate) const EVENT_SYNC: &str = "event-sync";

/// How often loads are sampled and the controllers that read them (balancing, leases) run.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(60);

/// How often behaviour profiles are relearnt and old metrics pruned.
const HOURLY: Duration = Duration::from_secs(3600);

/// A paced periodic activity (with the activities that run after it) takes at most one part in
/// `SHARE` of the wall time while its runs are shorter than `MAX_STRETCH / SHARE` periods: on a
/// large fleet a full inventory sync or a metrics write can take seconds, and run back to back
/// they would leave the API a fraction of the CPU. Driver events keep the inventory fresh
/// between the (then rarer) full syncs.
pub const SHARE: u32 = 4;

/// The longest a run may push the next one back, in periods: a one-off long run (the first
/// sync into an empty store) must not hold the activity back for long.
pub const MAX_STRETCH: u32 = 10;

/// How long after a run's start the next one starts: its period, or [`SHARE`] times as long as
/// the run took when that is longer, but at most [`MAX_STRETCH`] periods (and never before the
/// run ended).
pub fn next_start(period: Duration, took: Duration) -> Duration {
    let stretched = took
        .saturating_mul(SHARE)
        .min(period.saturating_mul(MAX_STRETCH));
    period.max(stretched).max(took)
}

/// Every background activity, in the order they are shown. The controllers that act on
/// sampled loads (load sampling, then balancing, then leases) run when the inventory sync does,
/// at most once a minute and not more often than it: a server whose sync is off (tests drive
/// it) has them off too. A zero period is off.
pub fn activities(config: &Config) -> Vec<Activity> {
    let every = |d: Option<Duration>| {
        d.filter(|d| !d.is_zero())
            .map_or(Schedule::Off, Schedule::Every)
    };
    let sync = config.sync_interval.filter(|d| !d.is_zero());
    let on = sync.is_some();
    let sampling = every(sync.map(|d| d.max(SAMPLE_EVERY)));
    let after = |first| {
        if on {
            Schedule::After(first)
        } else {
            Schedule::Off
        }
    };
    let with_metrics = |d: Duration| every(config.metrics.interval.map(|_| d));
    // On while the inventory sync is (a server whose sync is off is driven by its tests).
    let after_sync = |d: Duration| every(sync.map(|_| d));
    let a = |name, purpose, schedule, run| Activity {
        name,
        purpose,
        schedule,
        run,
        paced: true,
    };
    vec![
        a(
            "inventory-sync",
            "asks every host what it runs and reconciles the store; flags rogue VMs, reconnects lost hosts",
            every(config.sync_interval),
            Some(inventory_sync as Run),
        ),
        a(
            EVENT_SYNC,
            "resyncs the hosts whose drivers reported changes (100 ms after the first event)",
            Schedule::OnEvents,
            None,
        ),
        a(
            "metrics-collection",
            "reads every connected host's and VM's counters and holds one sample each",
            every(config.metrics.interval),
            Some(metrics_collection as Run),
        ),
        a(
            "metrics-write",
            "writes the held samples and roll-ups to the store, then steps the anomaly detectors",
            with_metrics(config.metrics.flush_every),
            Some(metrics_write as Run),
        ),
        a(
            "anomaly-learning",
            "relearns each VM's behaviour profile from its last 28 days of 5-minute roll-ups",
            with_metrics(HOURLY),
            Some(anomaly_learning as Run),
        ),
        a(
            "metrics-pruning",
            "deletes samples and roll-ups older than their retention",
            with_metrics(HOURLY),
            Some(metrics_pruning as Run),
        ),
        a(
            "load-sampling",
            "samples each host's CPU use, vCPU wait and memory pressure for placement and balancing",
            sampling,
            Some(load_sampling as Run),
        ),
        a(
            "balancing",
            "migrates VMs off hot hosts and takes power steps, in clusters whose balancer is automatic",
            after("load-sampling"),
            Some(balancing as Run),
        ),
        a(
            "leases",
            "warns before a lease ends, powers the VM off at its end, deletes it after retention",
            after("balancing"),
            Some(leases as Run),
        ),
        a(
            "token-pruning",
            "deletes sessions and API tokens that have ended",
            after_sync(HOURLY),
            Some(token_pruning as Run),
        ),
        Activity {
            paced: false,
            ..a(
                "ha",
                "pings every host and reads its datastore heartbeat; fences dead hosts and restarts their VMs",
                every(config.ha.interval),
                Some(ha as Run),
            )
        },
    ]
}

fn inventory_sync(app: &App) -> Outcome<'_> {
    Box::pin(async move {
        let r = crate::inventory::sync::sync_all(app).await?;
        tracing::info!(
            hosts = r.hosts,
            unreachable = r.unreachable,
            inserted = r.inserted,
            updated = r.updated,
            unchanged = r.unchanged,
            stale = r.stale,
            vanished = r.vanished,
            unmanaged_found = r.unmanaged_found,
            elapsed_ms = r.elapsed_ms,
            "inventory sync done"
        );
        Ok(format!(
            "{} hosts ({} unreachable), {} VMs: {} new, {} updated, {} vanished, {} unmanaged found",
            r.hosts,
            r.unreachable,
            r.vms_reported,
            r.inserted,
            r.updated,
            r.vanished,
            r.unmanaged_found
        ))
    })
}

fn metrics_collection(app: &App) -> Outcome<'_> {
    Box::pin(async move {
        let n = app.collect_metrics().await?;
        Ok(format!("{n} series sampled"))
    })
}

fn metrics_write(app: &App) -> Outcome<'_> {
    Box::pin(async move {
        let written = app.part::<MetricStore>().flush(db::now_ms()).await;
        // The detectors read the buckets in memory: they step even when the write failed.
        let open = app.detect_anomalies();
        written?;
        Ok(format!("written; {open} anomaly alerts open"))
    })
}

fn anomaly_learning(app: &App) -> Outcome<'_> {
    Box::pin(async move {
        let n = app.learn_profiles(db::now_ms()).await?;
        Ok(format!("{n} VMs profiled"))
    })
}

fn metrics_pruning(app: &App) -> Outcome<'_> {
    Box::pin(async move {
        let n = app
            .part::<MetricStore>()
            .prune(db::now_ms(), &app.config.metrics)
            .await?;
        Ok(format!("{n} rows pruned"))
    })
}

fn load_sampling(app: &App) -> Outcome<'_> {
    Box::pin(async move {
        let n = crate::monitoring::load::sample_all(app).await?;
        Ok(format!("{n} hosts sampled"))
    })
}

fn balancing(app: &App) -> Outcome<'_> {
    Box::pin(async move {
        let n = app.balance_round().await?;
        if n > 0 {
            tracing::info!(migrations = n, "balancer started migrations");
        }
        Ok(format!("{n} migrations started"))
    })
}

fn leases(app: &App) -> Outcome<'_> {
    Box::pin(async move {
        let LeaseReport {
            warned,
            expired,
            deleted,
        } = app.lease_round(app.clock().now_ms()).await?;
        if warned + expired + deleted > 0 {
            tracing::info!(warned, expired, deleted, "lease controller acted");
        }
        Ok(format!(
            "{warned} warned, {expired} powered off, {deleted} deleted"
        ))
    })
}

fn token_pruning(app: &App) -> Outcome<'_> {
    Box::pin(async move {
        let n = app.db.prune_tokens(db::now_ms()).await?;
        Ok(format!("{n} ended tokens deleted"))
    })
}

fn ha(app: &App) -> Outcome<'_> {
    Box::pin(async move {
        let verdicts = app.ha_round().await?;
        let mut by: BTreeMap<String, usize> = BTreeMap::new();
        for (_, v) in &verdicts {
            *by.entry(v.to_string()).or_default() += 1;
        }
        let counts: Vec<String> = by.iter().map(|(v, n)| format!("{n} {v}")).collect();
        Ok(format!(
            "{} hosts judged: {}",
            verdicts.len(),
            counts.join(", ")
        ))
    })
}

/// What the server remembers of each activity's runs.
#[derive(Debug, Default)]
pub(crate) struct Runs(Mutex<BTreeMap<&'static str, Record>>);

#[derive(Debug, Default, Clone)]
struct Record {
    runs: u64,
    running: bool,
    started_at: Option<UnixMs>,
    duration_ms: Option<u64>,
    ok: Option<bool>,
    outcome: Option<String>,
    /// When a periodic activity runs next.
    next_at: Option<UnixMs>,
}

impl Runs {
    /// Records that `name` runs again `wait` after its last start.
    fn next_at(&self, name: &'static str, wait: Duration) {
        let mut g = self.0.lock().expect("runs lock");
        let r = g.entry(name).or_default();
        let wait = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
        r.next_at = r.started_at.map(|s| s.saturating_add(wait));
    }
}

impl Part for Runs {
    fn new(_: &App) -> Self {
        Runs::default()
    }
}

/// Runs `run` once as `name`, recording it; logs a failure.
pub(crate) async fn run_once<F>(app: &App, name: &'static str, run: F)
where
    F: Future<Output = Result<String, Error>>,
{
    let runs = app.part::<Runs>();
    {
        let mut g = runs.0.lock().expect("runs lock");
        let r = g.entry(name).or_default();
        r.running = true;
        r.started_at = Some(db::now_ms());
    }
    let t = Instant::now();
    let result = run.await;
    let duration_ms = t.elapsed().as_millis() as u64;
    match &result {
        Ok(s) => tracing::debug!(activity = name, duration_ms, outcome = %s, "background run done"),
        Err(e) => tracing::warn!(activity = name, duration_ms, error = %e, "background run failed"),
    }
    let mut g = runs.0.lock().expect("runs lock");
    let r = g.entry(name).or_default();
    r.runs += 1;
    r.running = false;
    r.duration_ms = Some(duration_ms);
    r.ok = Some(result.is_ok());
    r.outcome = Some(match result {
        Ok(s) => s,
        Err(e) => e.to_string(),
    });
}

/// How long host events are collected before the hosts that had them are synced: a
/// migration or a restart fires several events in a row.
const EVENT_DEBOUNCE: Duration = Duration::from_millis(100);

/// Keeps the inventory fresh between full syncs: each batch of driver events (host URIs)
/// resyncs just the hosts they came from.
pub async fn run_event_loop(app: App, mut events: tokio::sync::mpsc::UnboundedReceiver<String>) {
    while let Some(first) = events.recv().await {
        tokio::time::sleep(EVENT_DEBOUNCE).await;
        let mut uris = std::collections::HashSet::from([first]);
        while let Ok(u) = events.try_recv() {
            uris.insert(u);
        }
        let hosts = match app.db.all_hosts().await {
            Ok(h) => h
                .into_iter()
                .filter(|h| uris.contains(&h.uri))
                .collect::<Vec<_>>(),
            Err(e) => {
                tracing::error!(error = %e, "cannot read hosts for an event sync");
                continue;
            }
        };
        run_once(&app, EVENT_SYNC, async {
            let r = crate::inventory::sync::sync_hosts(&app, &hosts).await?;
            Ok(format!(
                "{} hosts: {} VMs updated, {} new, {} vanished",
                r.hosts, r.updated, r.inserted, r.vanished
            ))
        })
        .await;
    }
}

/// Starts a task for each periodic activity that is on, which also runs the activities that
/// come after it; returns their handles.
pub fn start(app: &App) -> Vec<tokio::task::JoinHandle<()>> {
    let all = activities(&app.config);
    all.iter()
        .filter_map(|a| match (a.schedule, a.run) {
            (Schedule::Every(period), Some(run)) => {
                let chain = followers(&all, a.name);
                let (app, name, paced) = (app.clone(), a.name, a.paced);
                Some(tokio::spawn(async move {
                    loop {
                        let started = tokio::time::Instant::now();
                        run_once(&app, name, run(&app)).await;
                        for (next, run) in &chain {
                            run_once(&app, next, run(&app)).await;
                        }
                        let took = started.elapsed();
                        let wait = if paced {
                            next_start(period, took)
                        } else {
                            period.max(took)
                        };
                        app.part::<Runs>().next_at(name, wait);
                        tokio::time::sleep(wait.saturating_sub(started.elapsed())).await;
                    }
                }))
            }
            _ => None,
        })
        .collect()
}

/// The activities that run after `first`, in order (each after the one before it).
fn followers(all: &[Activity], first: &'static str) -> Vec<(&'static str, Run)> {
    let mut out = Vec::new();
    let mut last = first;
    while let Some(a) = all.iter().find(|a| a.schedule == Schedule::After(last)) {
        if let Some(run) = a.run {
            out.push((a.name, run));
        }
        last = a.name;
    }
    out
}

/// The registry with each activity's last run, unfiltered: for the process that embeds the
/// server (the benchmarks); requests go through [`App::background_tasks`].
pub fn views(app: &App) -> Vec<BackgroundTaskView> {
    let runs = app.part::<Runs>().0.lock().expect("runs lock").clone();
    activities(&app.config)
        .into_iter()
        .map(|a| {
            let r = runs.get(a.name).cloned().unwrap_or_default();
            let period = match a.schedule {
                Schedule::Every(d) => Some(d),
                _ => None,
            };
            BackgroundTaskView {
                name: a.name.into(),
                purpose: a.purpose.into(),
                schedule: a.schedule.text(),
                period_s: period.map(|d| d.as_secs_f64()),
                runs: r.runs,
                running: r.running,
                last_started_at: r.started_at.map(rfc3339),
                last_duration_ms: r.duration_ms,
                last_result: r.ok.map(|ok| if ok { "ok" } else { "failed" }.into()),
                last_outcome: r.outcome,
                // Set when a run ends; while one is under way (or before the first ends), the
                // soonest the next can start.
                next_run_at: match (r.next_at, r.started_at, period) {
                    (Some(next), Some(start), _) if next > start => Some(rfc3339(next)),
                    (_, Some(start), Some(d)) => {
                        let d = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
                        Some(rfc3339(start.saturating_add(d)))
                    }
                    _ => None,
                },
            }
        })
        .collect()
}

impl App {
    /// The background activities with their last runs (those who read the audit log
    /// globally: admins and auditors).
    pub async fn background_tasks(&self, actor: &Actor) -> Result<Vec<BackgroundTaskView>, Error> {
        let check = actor.require(Permission::AuditRead, On::global());
        self.authorize(actor, "background.read", ("background", None), check)
            .await?;
        Ok(views(self))
    }
}

/// `docs/background-tasks.md`: the registry as the default `vdc serve` runs it.
pub fn markdown(config: &Config) -> String {
    let mut s = String::from(
        "# Background tasks\n\n\
         What `vdc serve` does unasked, as registered in `crates/vdc-server/src/background/mod.rs`\n\
         (this file is generated from that list and a test fails when they differ:\n\
         `VDC_UPDATE_DOCS=1 cargo nextest run -p vdc-server background` rewrites it). Each run is\n\
         recorded: `GET /api/v1/background-tasks` (admins and auditors), `vdc status` and the web\n\
         UI's Background page show the last start, duration, result, what it did and the next run.\n\n\
         | name | when (default settings) | what it does |\n|---|---|---|\n",
    );
    for a in activities(config) {
        s.push_str(&format!(
            "| `{}` | {} | {} |\n",
            a.name,
            a.schedule.text(),
            a.purpose
        ));
    }
    s.push_str(
        "\nLoad sampling runs only while the inventory sync runs (every minute, or as seldom as\n\
         the sync), and balancing then leases run right after each sample in the same task, so\n\
         they act on fresh loads and never at the same time; anomaly learning, metrics writing\n\
         and pruning run only while metrics are collected, token pruning while the sync runs. Power steps (standby and wake) are\n\
         part of a balancing round, because the power plan counts the VMs the round's moves\n\
         leave on each host.\n\n\
         A periodic activity other than HA takes at most a quarter of the time: a run that takes\n\
         longer than a quarter of its period (a full inventory sync of thousands of hosts, say)\n\
         starts the next one four times its length after its start, but at most ten periods after\n\
         it (a one-off long run, like the first sync into an empty store, does not hold it back\n\
         for long); the next run's time shown says so. HA keeps its period: its rounds are long\n\
         when hosts stop answering, which is when the next round must not wait.\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedules(config: &Config) -> Vec<(&'static str, Schedule)> {
        activities(config)
            .into_iter()
            .map(|a| (a.name, a.schedule))
            .collect()
    }

    /// A run shorter than a quarter of the period keeps the period; a longer one pushes the
    /// next start to four times its length, up to ten periods.
    #[test]
    fn long_runs_push_the_next_start_back() {
        let s = Duration::from_secs;
        assert_eq!(next_start(s(10), Duration::from_millis(200)), s(10));
        assert_eq!(next_start(s(10), Duration::from_millis(2500)), s(10));
        assert_eq!(next_start(s(10), s(6)), s(24));
        assert_eq!(
            next_start(s(1), Duration::from_millis(300)),
            Duration::from_millis(1200)
        );
        assert_eq!(next_start(Duration::MAX, s(1)), Duration::MAX);
        // At most ten periods; a run longer than that is followed at once.
        assert_eq!(next_start(s(10), s(40)), s(100));
        assert_eq!(next_start(s(10), s(150)), s(150));
    }

    /// Balancing and leases run after each load sample, in that order; a zero or absent
    /// period turns an activity (and those after it) off.
    #[test]
    fn chains_and_periods() {
        let mut c = Config::new("sqlite://unused");
        let all = activities(&c);
        let chain: Vec<&str> = followers(&all, "load-sampling")
            .iter()
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(chain, ["balancing", "leases"]);
        // Every periodic activity is paced but HA, whose long rounds are its emergencies.
        for a in &all {
            assert_eq!(a.paced, a.name != "ha", "{}", a.name);
        }
        assert!(followers(&all, "ha").is_empty());
        c.sync_interval = Some(Duration::from_secs(300));
        let s = schedules(&c);
        assert!(s.contains(&("load-sampling", Schedule::Every(Duration::from_secs(300)))));
        c.sync_interval = Some(Duration::ZERO);
        c.metrics.interval = None;
        for (name, schedule) in schedules(&c) {
            let expected = if name == EVENT_SYNC {
                Schedule::OnEvents
            } else if name == "ha" {
                Schedule::Every(Duration::from_secs(1))
            } else {
                Schedule::Off
            };
            assert_eq!(schedule, expected, "{name}");
        }
    }
}
