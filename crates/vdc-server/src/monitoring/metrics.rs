//! Host-side monitoring: a collector reads every reachable host and its VMs through the
//! drivers (default every 20 s) and records a sample of every [`Metric`] per VM and host. The
//! store holds only the samples not written yet (each write adds them as a part of their
//! hour's chunk, so a restart loses at most one write interval) and, per series, the current
//! 5-minute bucket and hour as running roll-ups, so its memory does not grow with the hour.
//! Roll-ups (min / mean / max / p95) are written per 5 minutes and per hour as the buckets
//! close, per day from the day's chunks; later writes join each past hour's parts into one
//! chunk row. Charts read raw samples for short ranges and the coarsest roll-up that still
//! gives enough points for long ones. Old data goes after its retention.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use vdc_db::metrics::{MetricChunk, RollupRow, Sample, Summary};
use vdc_db::{self as db, DataStore};
use vdc_engine::metrics::{self as math, Counters, Rollup};
use vdc_types::*;

use crate::app::config::MetricsConfig;
use crate::app::{Actor, App, Part};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// Roll-up resolutions, seconds.
pub const RESOLUTIONS: [i64; 3] = [300, 3600, 86_400];
/// Rows (chunks and roll-ups) per write transaction.
const WRITE_ROWS: usize = 2_000;
/// Past hours whose parts a metrics write joins into whole-hour chunks, at most.
const JOIN_PER_WRITE: usize = 5_000;
/// Past hours joined per transaction.
const JOIN_ROWS: usize = 500;
/// A chart gets at most about this many points: the finest resolution that stays below it.
const MAX_POINTS: i64 = 2200;

/// The store key of a VM's or host's series.
pub fn vm_entity(id: VmId) -> String {
    format!("vm:{id}")
}

pub fn host_entity(id: HostId) -> String {
    format!("host:{id}")
}

/// Per series (VM or host) what the roll-ups still need and the samples not yet written, and
/// the collector's last counter readings. Memory per series stays the same however long the
/// hour: the current 5-minute bucket and hour are kept as running roll-ups
/// ([`math::Running`]: count, minimum, sum and the few largest values of each metric), not
/// as samples.
#[derive(Debug)]
pub struct MetricStore {
    db: DataStore,
    /// Largest values kept per metric for a 5-minute bucket and for an hour: enough for the
    /// exact p95 of the samples the collection interval gives them.
    keep: (usize, usize),
    inner: Mutex<Inner>,
    readings: Mutex<HashMap<uuid::Uuid, Counters>>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Boxed: the table stays small (its empty slots are a pointer wide, not a series).
    series: HashMap<String, Box<Series>>,
    /// Samples not written yet of hours that ended.
    closed: Vec<MetricChunk>,
    rollups: Vec<RollupRow>,
    /// (entity, day start) whose day ended: the daily roll-up is due.
    days_due: Vec<(String, i64)>,
    /// Each entity's last closed 5-minute bucket: its start and the mean of each metric.
    buckets: HashMap<String, (i64, Sample)>,
}

/// A series' current hour.
#[derive(Debug)]
struct Series {
    hour_ms: i64,
    /// The last sample's offset in the hour.
    last: Option<u32>,
    /// The samples not written yet: offset in the hour, values.
    pending: Vec<(u32, Sample)>,
    /// The current 5-minute bucket and the hour, rolled up as they go.
    five: math::Running,
    hour: math::Running,
    /// The last sample and when it was taken.
    latest: (i64, Sample),
}

fn summaries(r: [Option<Rollup>; Metric::COUNT]) -> [Summary; Metric::COUNT] {
    r.map(|r| r.map_or([f32::NAN; 4], |r| [r.min, r.mean, r.max, r.p95]))
}

/// The 5-minute bucket an offset in the hour falls in.
fn bucket(offset: u32) -> u32 {
    offset / 300_000
}

fn rollup_row(entity: &str, resolution_s: i64, start_ms: i64, r: &math::Running) -> RollupRow {
    RollupRow {
        entity: entity.to_string(),
        resolution_s,
        start_ms,
        summaries: summaries(r.rollups()),
    }
}

impl Series {
    fn new(hour_ms: i64, (five, hour): (usize, usize), at_ms: i64, sample: Sample) -> Series {
        Series {
            hour_ms,
            last: None,
            pending: Vec::new(),
            five: math::Running::new(five),
            hour: math::Running::new(hour),
            latest: (at_ms, sample),
        }
    }

    /// The samples not written yet, as a part of the hour's chunk keyed by its first sample's
    /// offset (`None` when there are none).
    fn part(&self, entity: &str) -> Option<MetricChunk> {
        let first = self.pending.first()?.0;
        Some(MetricChunk {
            entity: entity.to_string(),
            start_ms: self.hour_ms,
            part: i64::from(first),
            offsets: self.pending.iter().map(|p| p.0).collect(),
            samples: self.pending.iter().map(|p| p.1).collect(),
        })
    }

    /// [`Series::part`], counted as written.
    fn take_part(&mut self, entity: &str) -> Option<MetricChunk> {
        let part = self.part(entity)?;
        self.pending.clear();
        Some(part)
    }
}

impl Inner {
    /// Ends a series' hour: its last 5-minute bucket and the hour are rolled up, the samples
    /// not written yet queued, and the day marked due when it was the day's last hour; the
    /// series then starts `next_hour` empty.
    fn close(&mut self, entity: &str, next_hour: i64) {
        let Some(s) = self.series.get_mut(entity) else {
            return;
        };
        if let Some(last) = s.last {
            let start = s.hour_ms + i64::from(bucket(last)) * 300_000;
            self.rollups.push(rollup_row(entity, 300, start, &s.five));
            self.rollups
                .push(rollup_row(entity, 3600, s.hour_ms, &s.hour));
            if (s.hour_ms + HOUR).rem_euclid(DAY) == 0 {
                self.days_due
                    .push((entity.to_string(), s.hour_ms + HOUR - DAY));
            }
        }
        self.closed.extend(s.take_part(entity));
        s.hour_ms = next_hour;
        s.last = None;
        s.five.clear();
        s.hour.clear();
    }
}

impl Part for MetricStore {
    fn new(app: &App) -> Self {
        MetricStore::new(
            app.db.clone(),
            app.config
                .metrics
                .interval
                .unwrap_or(Duration::from_secs(20)),
        )
    }
}

impl MetricStore {
    /// A store for samples taken every `interval`.
    pub fn new(db: DataStore, interval: Duration) -> MetricStore {
        let per = |span_ms: u128| {
            let n = span_ms.div_ceil(interval.as_millis().max(1)) as usize;
            math::Running::keep_for(n)
        };
        MetricStore {
            db,
            keep: (per(300_000), per(HOUR as u128)),
            inner: Mutex::default(),
            readings: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("metric store lock")
    }

    /// Records `entity`'s sample taken at `at_ms`; false (dropped) when it is not newer than
    /// the entity's last.
    pub fn ingest(&self, entity: &str, at_ms: i64, sample: Sample) -> bool {
        let hour = at_ms - at_ms.rem_euclid(HOUR);
        let mut g = self.lock();
        let inner = &mut *g;
        match inner.series.get(entity).map(|s| s.hour_ms) {
            Some(h) if h > hour => return false,
            Some(h) if h < hour => inner.close(entity, hour),
            Some(_) => {}
            None => {
                let s = Series::new(hour, self.keep, at_ms, sample);
                inner.series.insert(entity.to_string(), Box::new(s));
            }
        }
        let Inner {
            series, rollups, ..
        } = inner;
        let s = series.get_mut(entity).expect("series");
        let offset = (at_ms - hour) as u32;
        if let Some(last) = s.last {
            if offset <= last {
                return false;
            }
            if bucket(offset) != bucket(last) {
                // The previous 5-minute bucket is complete.
                let start = hour + i64::from(bucket(last)) * 300_000;
                rollups.push(rollup_row(entity, 300, start, &s.five));
                s.five.clear();
            }
        }
        s.five.push(&sample);
        s.hour.push(&sample);
        s.pending.push((offset, sample));
        s.last = Some(offset);
        s.latest = (at_ms, sample);
        true
    }

    /// The last sample of every entity that reported since `since`.
    pub fn latest(&self, since: i64) -> HashMap<String, Sample> {
        self.lock()
            .series
            .iter()
            .filter(|(_, s)| s.latest.0 >= since)
            .map(|(k, s)| (k.clone(), s.latest.1))
            .collect()
    }

    /// Writes out what is held: the samples taken since the last write (as parts of their
    /// hour's chunk), the roll-ups of buckets and hours that ended (also of entities that
    /// stopped reporting before `now`'s hour), and the daily roll-ups of days that ended; then
    /// joins the parts of a bounded number of past hours into whole-hour chunks. What fails
    /// to write is kept for the next write.
    pub async fn flush(&self, now: i64) -> Result<(), Error> {
        let this_hour = now - now.rem_euclid(HOUR);
        let (chunks, rollups, days) = {
            let mut g = self.lock();
            let idle: Vec<String> = g
                .series
                .iter()
                .filter(|(_, s)| s.hour_ms < this_hour)
                .map(|(k, _)| k.clone())
                .collect();
            for k in &idle {
                g.close(k, this_hour);
            }
            // Entities gone for an hour (deleted VMs, removed hosts) are forgotten.
            g.series.retain(|_, s| s.latest.0 >= now - HOUR);
            let g = &mut *g;
            let mut chunks = std::mem::take(&mut g.closed);
            chunks.extend(g.series.iter_mut().filter_map(|(k, s)| s.take_part(k)));
            for r in g.rollups.iter().filter(|r| r.resolution_s == 300) {
                let means = r.summaries.map(|s| s[1]);
                match g.buckets.get_mut(&r.entity) {
                    Some(b) if b.0 >= r.start_ms => {}
                    Some(b) => *b = (r.start_ms, means),
                    None => {
                        g.buckets.insert(r.entity.clone(), (r.start_ms, means));
                    }
                }
            }
            g.buckets.retain(|_, (t, _)| *t >= now - HOUR);
            (
                chunks,
                std::mem::take(&mut g.rollups),
                std::mem::take(&mut g.days_due),
            )
        };
        // In transactions of a bounded size, so that the store's one writer lock (SQLite) is
        // never held for long: other writers (sync, loads, jobs) get their turn between them.
        // Every row is an upsert, so what a failed write requeues may be written twice, never
        // half.
        let (mut c, mut r) = (0, 0);
        while c < chunks.len() || r < rollups.len() {
            let cs = &chunks[c..(c + WRITE_ROWS).min(chunks.len())];
            let rs = &rollups[r..(r + WRITE_ROWS - cs.len()).min(rollups.len())];
            if let Err(e) = self.db.write_metrics(cs, rs).await {
                let mut g = self.lock();
                g.closed.extend(chunks.into_iter().skip(c));
                g.rollups.extend(rollups.into_iter().skip(r));
                g.days_due.extend(days);
                return Err(e.into());
            }
            (c, r) = (c + cs.len(), r + rs.len());
            tokio::task::yield_now().await;
        }
        // Daily roll-ups, a batch of days at a time; the days not written stay due.
        let mut scratch = Vec::new();
        for (i, batch) in days.chunks(WRITE_ROWS).enumerate() {
            if let Err(e) = self.daily_rollups(batch, &mut scratch).await {
                self.lock()
                    .days_due
                    .extend(days.into_iter().skip(i * WRITE_ROWS));
                return Err(e);
            }
            tokio::task::yield_now().await;
        }
        // Last, as it only tidies: past hours' parts joined into whole rows.
        for _ in 0..JOIN_PER_WRITE / JOIN_ROWS {
            let whole = self.db.metric_chunks_in_parts(this_hour, JOIN_ROWS).await?;
            if whole.is_empty() {
                break;
            }
            self.db.replace_with_whole_hours(&whole).await?;
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    /// Rolls up and writes the days of `due` (entity, day start) from their chunks.
    async fn daily_rollups(
        &self,
        due: &[(String, i64)],
        scratch: &mut Vec<f32>,
    ) -> Result<(), Error> {
        let mut daily = Vec::with_capacity(due.len());
        for (entity, day) in due {
            let chunks = self.db.metric_chunks(entity, *day, day + DAY).await?;
            let samples = chunks
                .iter()
                .filter(|c| c.start_ms >= *day)
                .flat_map(|c| c.samples.iter());
            daily.push(RollupRow {
                entity: entity.clone(),
                resolution_s: 86_400,
                start_ms: *day,
                summaries: summaries(math::rollup_all(samples, scratch)),
            });
        }
        Ok(self.db.write_metrics(&[], &daily).await?)
    }

    /// Each entity's last closed 5-minute bucket (start, means), as of the last flush.
    pub fn last_buckets(&self) -> HashMap<String, (i64, Sample)> {
        self.lock().buckets.clone()
    }

    /// Takes back the current hours written before a restart, so their roll-ups continue.
    pub async fn load(&self, now: i64) -> Result<usize, Error> {
        let hour = now - now.rem_euclid(HOUR);
        let chunks = self.db.metric_chunks_of_hour(hour).await?;
        let mut g = self.lock();
        let n = chunks.len();
        for c in chunks {
            let (Some(&last), Some(&sample)) = (c.offsets.last(), c.samples.last()) else {
                continue;
            };
            let mut s = Series::new(hour, self.keep, c.start_ms + i64::from(last), sample);
            for (off, sample) in c.offsets.iter().zip(&c.samples) {
                s.hour.push(sample);
                // Samples of the last (still open) 5-minute bucket are not rolled up yet.
                if bucket(*off) == bucket(last) {
                    s.five.push(sample);
                }
            }
            s.last = Some(last);
            g.series.insert(c.entity, Box::new(s));
        }
        Ok(n)
    }

    /// Deletes what is older than its retention.
    pub async fn prune(&self, now: i64, config: &MetricsConfig) -> Result<u64, Error> {
        let ms = |d: Duration| d.as_millis() as i64;
        let rollups: Vec<(i64, i64)> = RESOLUTIONS
            .iter()
            .zip(config.rollup_retention)
            .map(|(r, keep)| (*r, now - ms(keep)))
            .collect();
        Ok(self
            .db
            .prune_metrics(now - ms(config.raw_retention), &rollups)
            .await?)
    }

    /// One metric of `entity` over `[from, to)`: raw samples when few enough, else the
    /// coarsest-needed roll-up (5 min, 1 h, 1 day).
    pub async fn series(
        &self,
        entity: &str,
        metric: Metric,
        from: i64,
        to: i64,
        nominal_interval: Duration,
    ) -> Result<MetricSeriesView, Error> {
        let span = (to - from).max(1);
        let step = (nominal_interval.as_millis() as i64).max(1000);
        // Up to two hours are always raw: roll-ups would leave a short range (of a short
        // interval) empty until its first 5-minute bucket closes.
        let resolution_s = if span / step <= MAX_POINTS || span <= 2 * HOUR {
            0
        } else {
            *RESOLUTIONS
                .iter()
                .find(|r| span / (*r * 1000) <= MAX_POINTS)
                .unwrap_or(&86_400)
        };
        let i = metric.index();
        let mut out = MetricSeriesView {
            metric,
            unit: metric.unit().to_string(),
            resolution_s: resolution_s as u32,
            from: rfc3339(from),
            to: rfc3339(to),
            t: Vec::new(),
            min: Vec::new(),
            mean: Vec::new(),
            max: Vec::new(),
            p95: Vec::new(),
        };
        let mut push = |t: i64, s: Summary| {
            if s[1].is_nan() {
                return;
            }
            out.t.push(t);
            out.min.push(s[0]);
            out.mean.push(s[1]);
            out.max.push(s[2]);
            out.p95.push(s[3]);
        };
        if resolution_s == 0 {
            let mut chunks = self.db.metric_chunks(entity, from, to).await?;
            // The samples not written yet are the newest.
            chunks.extend(self.lock().series.get(entity).and_then(|s| s.part(entity)));
            for c in &chunks {
                for (off, s) in c.offsets.iter().zip(&c.samples) {
                    let t = c.start_ms + i64::from(*off);
                    if t >= from && t < to {
                        push(t, [s[i]; 4]);
                    }
                }
            }
        } else {
            let mut rows: Vec<(i64, Summary)> = self
                .db
                .metric_rollups(entity, resolution_s, from, to)
                .await?
                .iter()
                .map(|r| (r.start_ms, r.summaries[i]))
                .collect();
            // Roll-ups not written yet.
            rows.extend(
                self.lock()
                    .rollups
                    .iter()
                    .filter(|r| r.entity == entity && r.resolution_s == resolution_s)
                    .filter(|r| r.start_ms >= from && r.start_ms < to)
                    .map(|r| (r.start_ms, r.summaries[i])),
            );
            rows.sort_by_key(|r| r.0);
            rows.dedup_by_key(|r| r.0);
            for (t, s) in rows {
                push(t, s);
            }
        }
        Ok(out)
    }
}

fn counters(at_ns: u128, s: &vdc_driver::VmStats) -> Counters {
    Counters {
        at_ns,
        cpu_ns: s.cpu_time_ns,
        delay_ns: s.vcpu_delay_ns.iter().sum(),
        vcpus: s.vcpu_delay_ns.len() as u32,
        memory_mib: s.memory_rss_mib as f32,
        balloon_mib: s.balloon_current_mib.map(|b| b as f32),
        swap_in_kib: s.swap_in_kib,
        swap_out_kib: s.swap_out_kib,
        disk_read_bytes: s.block_rd_bytes,
        disk_write_bytes: s.block_wr_bytes,
        disk_read_ops: s.block_rd_reqs,
        disk_write_ops: s.block_wr_reqs,
        net_rx_bytes: s.net_rx_bytes,
        net_tx_bytes: s.net_tx_bytes,
    }
}

impl App {
    /// The server's metric store (samples held in memory, roll-ups, charts).
    pub fn metric_store(&self) -> std::sync::Arc<MetricStore> {
        self.part()
    }
}

impl App {
    /// One collection round: every connected host and its running VMs; samples recorded.
    pub async fn collect_metrics(&self) -> Result<usize, Error> {
        let now = db::now_ms();
        let pass = crate::monitoring::load::stats_pass(self).await?;
        // The same pass feeds the load sampler, as of when it ended.
        crate::monitoring::load::offer(self, db::now_ms(), &pass);
        // Turning 200,000 VMs' counters into samples is CPU work: off the async threads, so
        // requests are not kept waiting behind it.
        let store = self.part::<MetricStore>();
        let recorded = tokio::task::spawn_blocking(move || {
            let mut recorded = 0;
            let mut last = store.readings.lock().expect("readings lock");
            for (h, r) in &pass {
                let Some(r) = r else { continue };
                let mut samples = Vec::with_capacity(r.vms.len());
                let mut taken_mib = 0u64;
                for (id, stats) in &r.vms {
                    if let (Some(max), Some(current)) =
                        (stats.balloon_maximum_mib, stats.balloon_current_mib)
                    {
                        taken_mib += max.saturating_sub(current);
                    }
                    let c = counters(r.at_ns, stats);
                    let s = math::sample(last.get(id), &c);
                    last.insert(*id, c);
                    store.ingest(&vm_entity(VmId(*id)), now, s);
                    samples.push(s);
                    recorded += 1;
                }
                let hs = math::host_sample(
                    r.host.cpu_utilisation,
                    r.host.memory_used_mib as f64,
                    taken_mib as f64,
                    &samples,
                );
                store.ingest(&host_entity(h.id), now, hs);
                recorded += 1;
            }
            recorded
        })
        .await
        .map_err(|e| Error::internal(format!("metrics collection panicked: {e}")))?;
        Ok(recorded)
    }

    /// One metric of a VM the caller may see, over `range` ending at `until` (default now).
    pub async fn vm_metrics(
        &self,
        actor: &Actor,
        id: VmId,
        q: &MetricQuery,
    ) -> Result<MetricSeriesView, Error> {
        self.visible_vm(actor, id).await?;
        self.metric_series(&vm_entity(id), q).await
    }

    /// One metric of a host.
    pub async fn host_metrics(
        &self,
        id: HostId,
        q: &MetricQuery,
    ) -> Result<MetricSeriesView, Error> {
        self.db.get_host(id).await?;
        self.metric_series(&host_entity(id), q).await
    }

    async fn metric_series(
        &self,
        entity: &str,
        q: &MetricQuery,
    ) -> Result<MetricSeriesView, Error> {
        let (metric, from, to) = q.resolve(db::now_ms())?;
        let interval = self
            .config
            .metrics
            .interval
            .unwrap_or(Duration::from_secs(20));
        self.part::<MetricStore>()
            .series(entity, metric, from, to, interval)
            .await
    }
}
