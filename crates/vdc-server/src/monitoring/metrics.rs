//! Host-side monitoring: a collector reads every reachable host and its VMs through the
//! drivers (default every 20 s) and records a sample of every [`Metric`] per VM and host. The
//! store keeps each entity's current hour in memory (written out at each flush, so a restart
//! loses at most one flush interval), one chunk row per entity and hour, and roll-ups
//! (min / mean / max / p95) per 5 minutes and per hour as the buckets close, per day from the
//! day's chunks. Charts read raw samples for short ranges and the coarsest roll-up that still
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
/// A chart gets at most about this many points: the finest resolution that stays below it.
const MAX_POINTS: i64 = 2200;

/// The store key of a VM's or host's series.
pub fn vm_entity(id: VmId) -> String {
    format!("vm:{id}")
}

pub fn host_entity(id: HostId) -> String {
    format!("host:{id}")
}

/// Samples held in memory and not yet written, and the collector's last counter readings.
#[derive(Debug)]
pub struct MetricStore {
    db: DataStore,
    inner: Mutex<Inner>,
    readings: Mutex<HashMap<uuid::Uuid, Counters>>,
}

#[derive(Debug, Default)]
struct Inner {
    open: HashMap<String, Open>,
    /// Chunks of hours that ended, to write.
    closed: Vec<MetricChunk>,
    rollups: Vec<RollupRow>,
    /// (entity, day start) whose day ended: the daily roll-up is due.
    days_due: Vec<(String, i64)>,
    scratch: Vec<f32>,
    /// Each entity's last sample and when it was taken.
    latest: HashMap<String, (i64, Sample)>,
    /// Each entity's last closed 5-minute bucket: its start and the mean of each metric.
    buckets: HashMap<String, (i64, Sample)>,
}

/// An entity's current hour.
#[derive(Debug)]
struct Open {
    chunk: MetricChunk,
    /// Samples already in a closed 5-minute roll-up.
    rolled: usize,
    /// Samples in the copy last written.
    flushed: usize,
}

fn summaries(r: [Option<Rollup>; Metric::COUNT]) -> [Summary; Metric::COUNT] {
    r.map(|r| r.map_or([f32::NAN; 4], |r| [r.min, r.mean, r.max, r.p95]))
}

/// Rolls samples `from..to` of `chunk` up into the bucket of `resolution_s` they start in.
fn roll(
    rollups: &mut Vec<RollupRow>,
    scratch: &mut Vec<f32>,
    chunk: &MetricChunk,
    (from, to): (usize, usize),
    resolution_s: i64,
) {
    if from >= to {
        return;
    }
    let first = chunk.start_ms + i64::from(chunk.offsets[from]);
    rollups.push(RollupRow {
        entity: chunk.entity.clone(),
        resolution_s,
        start_ms: first - first.rem_euclid(resolution_s * 1000),
        summaries: summaries(math::rollup_all(chunk.samples[from..to].iter(), scratch)),
    });
}

impl Inner {
    /// Ends an entity's hour: its last 5-minute bucket and the hour are rolled up, the chunk
    /// queued, and the day marked due when it was the day's last hour.
    fn close(&mut self, o: Open) {
        let n = o.chunk.samples.len();
        roll(
            &mut self.rollups,
            &mut self.scratch,
            &o.chunk,
            (o.rolled, n),
            300,
        );
        roll(&mut self.rollups, &mut self.scratch, &o.chunk, (0, n), 3600);
        if (o.chunk.start_ms + HOUR).rem_euclid(DAY) == 0 {
            self.days_due
                .push((o.chunk.entity.clone(), o.chunk.start_ms + HOUR - DAY));
        }
        self.closed.push(o.chunk);
    }
}

impl Part for MetricStore {
    fn new(app: &App) -> Self {
        MetricStore::new(app.db.clone())
    }
}

impl MetricStore {
    pub fn new(db: DataStore) -> MetricStore {
        MetricStore {
            db,
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
        let current = inner.open.get(entity).map(|o| o.chunk.start_ms);
        match current {
            Some(h) if h > hour => return false,
            Some(h) if h < hour => {
                let o = inner.open.remove(entity).expect("open chunk");
                inner.close(o);
            }
            _ => {}
        }
        if !inner.open.contains_key(entity) {
            inner.open.insert(
                entity.to_string(),
                Open {
                    chunk: MetricChunk {
                        entity: entity.to_string(),
                        start_ms: hour,
                        part: 0,
                        offsets: Vec::with_capacity(180),
                        samples: Vec::with_capacity(180),
                    },
                    rolled: 0,
                    flushed: 0,
                },
            );
        }
        let o = inner.open.get_mut(entity).expect("open chunk");
        let offset = (at_ms - hour) as u32;
        if let Some(&last) = o.chunk.offsets.last() {
            if offset <= last {
                return false;
            }
            let bucket = |t: u32| t / 300_000;
            if bucket(offset) != bucket(last) {
                // The previous 5-minute bucket is complete.
                let span = (o.rolled, o.chunk.samples.len());
                o.rolled = span.1;
                roll(&mut inner.rollups, &mut inner.scratch, &o.chunk, span, 300);
            }
        }
        o.chunk.offsets.push(offset);
        o.chunk.samples.push(sample);
        match inner.latest.get_mut(entity) {
            Some(l) => *l = (at_ms, sample),
            None => {
                inner.latest.insert(entity.to_string(), (at_ms, sample));
            }
        }
        true
    }

    /// The last sample of every entity that reported since `since`.
    pub fn latest(&self, since: i64) -> HashMap<String, Sample> {
        self.lock()
            .latest
            .iter()
            .filter(|(_, (t, _))| *t >= since)
            .map(|(k, (_, s))| (k.clone(), *s))
            .collect()
    }

    /// Writes out what is held: hours that ended (also of entities that stopped reporting
    /// before `now`'s hour), roll-ups, the current hours' samples, and the daily roll-ups of
    /// days that ended. What fails to write is kept for the next flush.
    pub async fn flush(&self, now: i64) -> Result<(), Error> {
        let this_hour = now - now.rem_euclid(HOUR);
        let (closed, rollups, days, open) = {
            let mut g = self.lock();
            let idle: Vec<String> = g
                .open
                .iter()
                .filter(|(_, o)| o.chunk.start_ms < this_hour)
                .map(|(k, _)| k.clone())
                .collect();
            for k in idle {
                let o = g.open.remove(&k).expect("open chunk");
                g.close(o);
            }
            // Entities gone for an hour (deleted VMs, removed hosts) are forgotten.
            g.latest.retain(|_, (t, _)| *t >= now - HOUR);
            // Of each current hour, the samples since the last write, as a part.
            let open: Vec<MetricChunk> = g
                .open
                .values_mut()
                .filter(|o| o.flushed < o.chunk.samples.len())
                .map(|o| {
                    let from = o.flushed;
                    o.flushed = o.chunk.samples.len();
                    MetricChunk {
                        entity: o.chunk.entity.clone(),
                        start_ms: o.chunk.start_ms,
                        part: from as i64,
                        offsets: o.chunk.offsets[from..].to_vec(),
                        samples: o.chunk.samples[from..].to_vec(),
                    }
                })
                .collect();
            let g = &mut *g;
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
                std::mem::take(&mut g.closed),
                std::mem::take(&mut g.rollups),
                std::mem::take(&mut g.days_due),
                open,
            )
        };
        let chunks: Vec<MetricChunk> = closed.iter().cloned().chain(open).collect();
        if let Err(e) = self.db.write_metrics(&chunks, &rollups).await {
            let mut g = self.lock();
            g.closed.extend(closed);
            g.rollups.extend(rollups);
            g.days_due.extend(days);
            return Err(e.into());
        }
        let mut daily = Vec::new();
        let mut scratch = Vec::new();
        for (entity, day) in &days {
            let chunks = self.db.metric_chunks(entity, *day, day + DAY).await?;
            let samples = chunks
                .iter()
                .filter(|c| c.start_ms >= *day)
                .flat_map(|c| c.samples.iter());
            daily.push(RollupRow {
                entity: entity.clone(),
                resolution_s: 86_400,
                start_ms: *day,
                summaries: summaries(math::rollup_all(samples, &mut scratch)),
            });
        }
        self.db.write_metrics(&[], &daily).await?;
        Ok(())
    }

    /// Each entity's last closed 5-minute bucket (start, means), as of the last flush.
    pub fn last_buckets(&self) -> HashMap<String, (i64, Sample)> {
        self.lock().buckets.clone()
    }

    /// Takes back the current hours written before a restart, so their samples and buckets
    /// continue.
    pub async fn load(&self, now: i64) -> Result<usize, Error> {
        let hour = now - now.rem_euclid(HOUR);
        let chunks = self.db.metric_chunks_of_hour(hour).await?;
        let mut g = self.lock();
        let n = chunks.len();
        for c in chunks {
            let n = c.samples.len();
            // Samples of the last (still open) 5-minute bucket are not rolled up yet.
            let last = c.offsets.last().map(|t| t / 300_000);
            let rolled = c
                .offsets
                .iter()
                .take_while(|t| Some(*t / 300_000) != last)
                .count();
            g.open.insert(
                c.entity.clone(),
                Open {
                    chunk: c,
                    rolled,
                    flushed: n,
                },
            );
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
            if let Some(o) = self.lock().open.get(entity) {
                chunks.retain(|c| c.start_ms != o.chunk.start_ms);
                chunks.push(o.chunk.clone());
            }
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

/// What one host reported in a collection round.
struct Reading {
    cpu: f64,
    memory_used_mib: f64,
    /// Memory the balloons took back from the VMs.
    taken_mib: f64,
    vms: Vec<(uuid::Uuid, Counters)>,
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
        let read = crate::monitoring::load::read_connected_hosts(self, |d| {
            let host = d.host_stats().ok()?;
            let vms = d.all_vm_stats().ok()?;
            let at_ns = d.clock_ns();
            Some(Reading {
                cpu: host.cpu_utilisation,
                memory_used_mib: host.memory_used_mib as f64,
                taken_mib: vms
                    .iter()
                    .filter_map(|(_, s)| {
                        Some(
                            s.balloon_maximum_mib?
                                .saturating_sub(s.balloon_current_mib?),
                        )
                    })
                    .sum::<u64>() as f64,
                vms: vms
                    .iter()
                    .map(|(id, s)| (*id, counters(at_ns, s)))
                    .collect(),
            })
        })
        .await?;
        let mut recorded = 0;
        let store = self.part::<MetricStore>();
        let mut last = store.readings.lock().expect("readings lock");
        for (h, r) in &read {
            let Some(r) = r else { continue };
            let mut samples = Vec::with_capacity(r.vms.len());
            for (id, c) in &r.vms {
                let s = math::sample(last.get(id), c);
                last.insert(*id, *c);
                store.ingest(&vm_entity(VmId(*id)), now, s);
                samples.push(s);
                recorded += 1;
            }
            let hs = math::host_sample(r.cpu, r.memory_used_mib, r.taken_mib, &samples);
            store.ingest(&host_entity(h.id), now, hs);
            recorded += 1;
        }
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
