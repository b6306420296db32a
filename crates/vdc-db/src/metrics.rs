//! Monitoring samples and roll-ups. A chunk holds one entity's (VM's or host's) samples of one
//! hour, packed column by column: `n` (u32), `n` time offsets from the hour's start (u32 ms),
//! then for each metric `n` values (f32); all little-endian, NaN where a value is missing.
//! A roll-up row packs min, mean, max and p95 (f32) of every metric over one bucket.

use sqlx::AssertSqlSafe;
use std::collections::HashMap;
use vdc_types::{Metric, UnixMs};

use crate::*;

/// One value per metric, in [`Metric`] order.
pub type Sample = [f32; Metric::COUNT];

/// Min, mean, max and p95 of one metric over a bucket (NaN: no sample).
pub type Summary = [f32; 4];

/// One entity's samples in one hour (or, while the hour is open, some of them).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricChunk {
    /// `vm:<uuid>` or `host:<uuid>`.
    pub entity: String,
    pub start_ms: UnixMs,
    /// The first sample's offset in the hour (ms): parts of an hour sort and join in time
    /// order; 0 for a whole hour.
    pub part: i64,
    /// Each sample's time, ms after `start_ms`.
    pub offsets: Vec<u32>,
    pub samples: Vec<Sample>,
}

/// One entity's roll-up of one bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct RollupRow {
    pub entity: String,
    /// 300, 3600 or 86400.
    pub resolution_s: i64,
    pub start_ms: UnixMs,
    pub summaries: [Summary; Metric::COUNT],
}

/// Rows per multi-row INSERT.
const BATCH: usize = 100;

impl MetricChunk {
    /// The packed form (see the module docs).
    pub fn encode(&self) -> Vec<u8> {
        let n = self.offsets.len();
        let mut out = Vec::with_capacity(4 + n * 4 * (1 + Metric::COUNT));
        out.extend_from_slice(&(n as u32).to_le_bytes());
        for o in &self.offsets {
            out.extend_from_slice(&o.to_le_bytes());
        }
        for m in 0..Metric::COUNT {
            for s in &self.samples {
                out.extend_from_slice(&s[m].to_le_bytes());
            }
        }
        out
    }

    /// Unpacks `data`; `None` when it is not a chunk.
    pub fn decode(entity: String, start_ms: UnixMs, part: i64, data: &[u8]) -> Option<MetricChunk> {
        let word = |i: usize| -> Option<[u8; 4]> { data.get(i * 4..i * 4 + 4)?.try_into().ok() };
        let n = u32::from_le_bytes(word(0)?) as usize;
        if data.len() != 4 * (1 + n * (1 + Metric::COUNT)) {
            return None;
        }
        let offsets = (0..n)
            .map(|i| word(1 + i).map(u32::from_le_bytes))
            .collect::<Option<Vec<_>>>()?;
        let mut samples = vec![[f32::NAN; Metric::COUNT]; n];
        for m in 0..Metric::COUNT {
            for (i, s) in samples.iter_mut().enumerate() {
                s[m] = f32::from_le_bytes(word(1 + n + m * n + i)?);
            }
        }
        Some(MetricChunk {
            entity,
            start_ms,
            part,
            offsets,
            samples,
        })
    }
}

/// Chunks from rows of `entity, start_ms, part, data` in (entity, hour, part) order.
fn chunks_from_rows(rows: &[sqlx::any::AnyRow]) -> DbResult<Vec<MetricChunk>> {
    let parts = rows
        .iter()
        .map(|r| {
            let (entity, start): (String, i64) = (get(r, "entity")?, get(r, "start_ms")?);
            let (part, data): (i64, Vec<u8>) = (get(r, "part")?, get(r, "data")?);
            MetricChunk::decode(entity.clone(), start, part, &data).ok_or_else(|| {
                DbError::Corrupt {
                    what: "metric chunk",
                    detail: format!("{entity} at {start}"),
                }
            })
        })
        .collect::<DbResult<Vec<_>>>()?;
    Ok(join_parts(parts))
}

/// Chunks with the parts of each entity's hour joined, in (entity, hour) order; `parts` in
/// (entity, hour, part) order.
fn join_parts(parts: Vec<MetricChunk>) -> Vec<MetricChunk> {
    let mut out: Vec<MetricChunk> = Vec::new();
    for p in parts {
        match out.last_mut() {
            Some(c) if c.entity == p.entity && c.start_ms == p.start_ms => {
                c.offsets.extend(p.offsets);
                c.samples.extend(p.samples);
            }
            _ => out.push(MetricChunk { part: 0, ..p }),
        }
    }
    out
}

impl RollupRow {
    fn encode(&self) -> Vec<u8> {
        self.summaries
            .iter()
            .flatten()
            .flat_map(|v| v.to_le_bytes())
            .collect()
    }

    fn decode(entity: String, resolution_s: i64, start_ms: UnixMs, data: &[u8]) -> Option<Self> {
        if data.len() != Metric::COUNT * 16 {
            return None;
        }
        let mut summaries = [[f32::NAN; 4]; Metric::COUNT];
        for (i, v) in data.chunks_exact(4).enumerate() {
            summaries[i / 4][i % 4] = f32::from_le_bytes(v.try_into().ok()?);
        }
        Some(RollupRow {
            entity,
            resolution_s,
            start_ms,
            summaries,
        })
    }
}

/// A roll-up from a row with `start_ms` and `data`.
fn rollup_from_row(r: &AnyRow, entity: String, resolution_s: i64) -> DbResult<RollupRow> {
    let start: i64 = get(r, "start_ms")?;
    let data: Vec<u8> = get(r, "data")?;
    RollupRow::decode(entity.clone(), resolution_s, start, &data).ok_or_else(|| DbError::Corrupt {
        what: "metric rollup",
        detail: format!("{entity} at {start}"),
    })
}

impl DataStore {
    /// Writes chunks or parts of chunks and roll-ups, in one transaction.
    pub async fn write_metrics(
        &self,
        chunks: &[MetricChunk],
        rollups: &[RollupRow],
    ) -> DbResult<()> {
        let mut tx = self.pool().begin().await.map_err(q("begin"))?;
        insert_rows(
            &mut *tx,
            "metric_chunks (entity, start_ms, part, samples, data)",
            "ON CONFLICT (entity, start_ms, part) DO UPDATE SET samples = excluded.samples, data = excluded.data",
            chunks,
            bind_chunk,
        )
        .await
        .map_err(q("write metric chunks"))?;
        insert_rows(
            &mut *tx,
            "metric_rollups (entity, resolution_s, start_ms, data)",
            "ON CONFLICT (entity, resolution_s, start_ms) DO UPDATE SET data = excluded.data",
            rollups,
            |query, r| {
                query
                    .bind(r.entity.clone())
                    .bind(r.resolution_s)
                    .bind(r.start_ms)
                    .bind(r.encode())
            },
        )
        .await
        .map_err(q("write metric rollups"))?;
        tx.commit().await.map_err(q("commit"))
    }

    /// An entity's chunks of the hours that overlap `[from, to)`, oldest first, parts joined.
    pub async fn metric_chunks(
        &self,
        entity: &str,
        from: UnixMs,
        to: UnixMs,
    ) -> DbResult<Vec<MetricChunk>> {
        let rows = sqlx::query(
            "SELECT entity, start_ms, part, data FROM metric_chunks \
             WHERE entity = $1 AND start_ms > $2 AND start_ms < $3 ORDER BY start_ms, part",
        )
        .bind(entity)
        .bind(from - 3_600_000)
        .bind(to)
        .fetch_all(self.pool())
        .await
        .map_err(q("metric chunks"))?;
        chunks_from_rows(&rows)
    }

    /// Replaces the stored parts of each chunk's (entity, hour) by the chunk, whole (part 0),
    /// in one transaction: the join of [`DataStore::metric_chunks_in_parts`].
    pub async fn replace_with_whole_hours(&self, chunks: &[MetricChunk]) -> DbResult<()> {
        let mut tx = self.pool().begin().await.map_err(q("begin"))?;
        for c in chunks {
            sqlx::query("DELETE FROM metric_chunks WHERE entity = $1 AND start_ms = $2")
                .bind(&c.entity)
                .bind(c.start_ms)
                .execute(&mut *tx)
                .await
                .map_err(q("drop chunk parts"))?;
        }
        let whole: Vec<MetricChunk> = chunks
            .iter()
            .map(|c| MetricChunk {
                part: 0,
                ..c.clone()
            })
            .collect();
        insert_rows(
            &mut *tx,
            "metric_chunks (entity, start_ms, part, samples, data)",
            "",
            &whole,
            bind_chunk,
        )
        .await
        .map_err(q("write whole hours"))?;
        tx.commit().await.map_err(q("commit"))
    }

    /// Up to `limit` (entity, hour) chunks of hours that ended before `before` and are still
    /// stored in parts, oldest hours first, parts joined: writing them back as whole hours
    /// (part 0, [`DataStore::write_metrics`]) replaces the parts.
    pub async fn metric_chunks_in_parts(
        &self,
        before: UnixMs,
        limit: usize,
    ) -> DbResult<Vec<MetricChunk>> {
        let rows = sqlx::query(
            "SELECT c.entity, c.start_ms, c.part, c.data FROM metric_chunks c \
             JOIN (SELECT DISTINCT entity, start_ms FROM metric_chunks \
                   WHERE part > 0 AND start_ms < $1 ORDER BY start_ms, entity LIMIT $2) h \
             ON c.entity = h.entity AND c.start_ms = h.start_ms \
             ORDER BY c.entity, c.start_ms, c.part",
        )
        .bind(before)
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await
        .map_err(q("metric chunks in parts"))?;
        chunks_from_rows(&rows)
    }

    /// Every entity's chunk of the hour starting at `start`, parts joined.
    pub async fn metric_chunks_of_hour(&self, start: UnixMs) -> DbResult<Vec<MetricChunk>> {
        let rows = sqlx::query(
            "SELECT entity, start_ms, part, data FROM metric_chunks WHERE start_ms = $1 ORDER BY entity, part",
        )
        .bind(start)
        .fetch_all(self.pool())
        .await
        .map_err(q("metric chunks of an hour"))?;
        chunks_from_rows(&rows)
    }

    /// Every VM's roll-ups at a resolution with buckets starting in `[from, to)` (reports).
    pub async fn vm_rollups(
        &self,
        resolution_s: i64,
        from: UnixMs,
        to: UnixMs,
    ) -> DbResult<Vec<RollupRow>> {
        let rows = sqlx::query(
            "SELECT entity, start_ms, data FROM metric_rollups \
             WHERE resolution_s = $1 AND start_ms >= $2 AND start_ms < $3 AND entity LIKE 'vm:%'",
        )
        .bind(resolution_s)
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await
        .map_err(q("vm rollups"))?;
        rows.iter()
            .map(|r| rollup_from_row(r, get(r, "entity")?, resolution_s))
            .collect()
    }

    /// Whether any VM has samples or roll-ups (one row read, not a scan).
    pub async fn any_vm_metrics(&self) -> DbResult<bool> {
        for sql in [
            "SELECT entity FROM metric_chunks WHERE entity LIKE 'vm:%' LIMIT 1",
            "SELECT entity FROM metric_rollups WHERE entity LIKE 'vm:%' LIMIT 1",
        ] {
            if sqlx::query(sql)
                .fetch_optional(self.pool())
                .await
                .map_err(q("any vm metrics"))?
                .is_some()
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// When each VM last had samples: the start of its newest chunk (hour) or 5-minute
    /// roll-up, by entity.
    pub async fn vms_last_sampled(&self) -> DbResult<HashMap<String, UnixMs>> {
        let mut out: HashMap<String, UnixMs> = HashMap::new();
        for sql in [
            "SELECT entity, MAX(start_ms) AS last FROM metric_chunks WHERE entity LIKE 'vm:%' GROUP BY entity",
            "SELECT entity, MAX(start_ms) AS last FROM metric_rollups WHERE resolution_s = 300 \
             AND entity LIKE 'vm:%' GROUP BY entity",
        ] {
            for r in sqlx::query(sql)
                .fetch_all(self.pool())
                .await
                .map_err(q("last sampled"))?
            {
                let last: i64 = get(&r, "last")?;
                let e = out.entry(get(&r, "entity")?).or_insert(last);
                *e = (*e).max(last);
            }
        }
        Ok(out)
    }

    /// An entity's roll-ups at a resolution with buckets starting in `[from, to)`, oldest first.
    pub async fn metric_rollups(
        &self,
        entity: &str,
        resolution_s: i64,
        from: UnixMs,
        to: UnixMs,
    ) -> DbResult<Vec<RollupRow>> {
        let rows = sqlx::query(
            "SELECT start_ms, data FROM metric_rollups \
             WHERE entity = $1 AND resolution_s = $2 AND start_ms >= $3 AND start_ms < $4 ORDER BY start_ms",
        )
        .bind(entity)
        .bind(resolution_s)
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await
        .map_err(q("metric rollups"))?;
        rows.iter()
            .map(|r| rollup_from_row(r, entity.to_string(), resolution_s))
            .collect()
    }

    /// Deletes chunks of hours that ended before `raw_before` and roll-ups older than their
    /// resolution's limit (`(resolution_s, before)`); how many rows went.
    pub async fn prune_metrics(
        &self,
        raw_before: UnixMs,
        rollups_before: &[(i64, UnixMs)],
    ) -> DbResult<u64> {
        let mut n = sqlx::query("DELETE FROM metric_chunks WHERE start_ms < $1")
            .bind(raw_before - 3_600_000)
            .execute(self.pool())
            .await
            .map_err(q("prune metric chunks"))?
            .rows_affected();
        for (res, before) in rollups_before {
            n +=
                sqlx::query("DELETE FROM metric_rollups WHERE resolution_s = $1 AND start_ms < $2")
                    .bind(res)
                    .bind(before)
                    .execute(self.pool())
                    .await
                    .map_err(q("prune metric rollups"))?
                    .rows_affected();
        }
        Ok(n)
    }
}

/// The row-per-sample layout vdc's chunks are measured against (`vdc bench metrics`): one row
/// per entity, metric and time in a table the bench makes (not part of the schema).
impl DataStore {
    /// Makes the baseline's table and index.
    pub async fn baseline_create(&self) -> DbResult<()> {
        for sql in [
            "CREATE TABLE IF NOT EXISTS bench_samples (entity TEXT NOT NULL, metric INTEGER NOT NULL, t BIGINT NOT NULL, v DOUBLE PRECISION)",
            "CREATE INDEX IF NOT EXISTS bench_samples_series ON bench_samples (entity, metric, t)",
        ] {
            sqlx::query(sql)
                .execute(self.pool())
                .await
                .map_err(q("baseline table"))?;
        }
        Ok(())
    }

    /// Inserts samples (entity, metric, time, value) in one transaction, 100 rows a statement.
    pub async fn baseline_insert(&self, rows: &[(&str, i64, i64, f32)]) -> DbResult<()> {
        let mut tx = self.pool().begin().await.map_err(q("begin"))?;
        insert_rows(
            &mut *tx,
            "bench_samples (entity, metric, t, v)",
            "",
            rows,
            |query, (e, m, t, v)| {
                query
                    .bind(e.to_string())
                    .bind(*m)
                    .bind(*t)
                    .bind(f64::from(*v))
            },
        )
        .await
        .map_err(q("baseline insert"))?;
        tx.commit().await.map_err(q("commit"))
    }

    /// The baseline's chart: min, mean and max per bucket of `bucket_ms` (it has no p95:
    /// neither store computes percentiles in SQL portably).
    pub async fn baseline_chart(
        &self,
        entity: &str,
        metric: i64,
        from: UnixMs,
        to: UnixMs,
        bucket_ms: i64,
    ) -> DbResult<Vec<(i64, f64, f64, f64)>> {
        let rows = sqlx::query(
            "SELECT (t / $1) * $1 AS b, MIN(v) AS lo, AVG(v) AS mean, MAX(v) AS hi FROM bench_samples \
             WHERE entity = $2 AND metric = $3 AND t >= $4 AND t < $5 GROUP BY (t / $1) * $1 ORDER BY b",
        )
        .bind(bucket_ms)
        .bind(entity)
        .bind(metric)
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await
        .map_err(q("baseline chart"))?;
        rows.iter()
            .map(|r| Ok((get(r, "b")?, get(r, "lo")?, get(r, "mean")?, get(r, "hi")?)))
            .collect()
    }
}

/// A query being built through `sqlx::Any`.
type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Inserts `rows` into `target` (`table (columns)`) through `exec`, `BATCH` rows a statement,
/// each row's values bound by `bind`; `tail` follows the values (e.g. `ON CONFLICT …`).
/// Binds a `metric_chunks` row.
fn bind_chunk<'q>(query: AnyQuery<'q>, c: &MetricChunk) -> AnyQuery<'q> {
    query
        .bind(c.entity.clone())
        .bind(c.start_ms)
        .bind(c.part)
        .bind(c.offsets.len() as i64)
        .bind(c.encode())
}

async fn insert_rows<E, T>(
    exec: &mut E,
    target: &str,
    tail: &str,
    rows: &[T],
    bind: impl for<'q> Fn(AnyQuery<'q>, &T) -> AnyQuery<'q>,
) -> Result<(), sqlx::Error>
where
    for<'e> &'e mut E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let cols = target.matches(',').count() + 1;
    for batch in rows.chunks(BATCH) {
        let values = placeholders(batch.len(), cols);
        let mut query = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {target} VALUES {values} {tail}"
        )));
        for row in batch {
            query = bind(query, row);
        }
        query.execute(&mut *exec).await?;
    }
    Ok(())
}

/// `($1, $2, …), (…)` for `rows` rows of `cols` values.
fn placeholders(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| {
            let cells: Vec<String> = (1..=cols).map(|c| format!("${}", r * cols + c)).collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_and_rollups_round_trip() {
        let mut a = [f32::NAN; Metric::COUNT];
        a[0] = 12.5;
        a[11] = 1e9;
        let c = MetricChunk {
            entity: "vm:x".into(),
            start_ms: 3_600_000,
            part: 0,
            offsets: vec![0, 20_000],
            samples: vec![a, [1.0; Metric::COUNT]],
        };
        let back = MetricChunk::decode("vm:x".into(), 3_600_000, 0, &c.encode()).unwrap();
        assert_eq!(back.offsets, c.offsets);
        assert_eq!(back.samples[0][0], 12.5);
        assert!(back.samples[0][1].is_nan());
        assert_eq!(back.samples[1], [1.0; Metric::COUNT]);
        assert!(MetricChunk::decode("vm:x".into(), 0, 0, &c.encode()[..7]).is_none());
        let tail = MetricChunk {
            part: 2,
            offsets: vec![40_000],
            samples: vec![[2.0; Metric::COUNT]],
            ..c.clone()
        };
        let joined = join_parts(vec![c.clone(), tail]);
        assert_eq!(joined.len(), 1);
        assert_eq!(joined[0].offsets, vec![0, 20_000, 40_000]);
        assert_eq!(joined[0].samples[2], [2.0; Metric::COUNT]);
        let mut summaries = [[f32::NAN; 4]; Metric::COUNT];
        summaries[3] = [1.0, 2.0, 3.0, 2.5];
        let r = RollupRow {
            entity: "vm:x".into(),
            resolution_s: 300,
            start_ms: 0,
            summaries,
        };
        let back = RollupRow::decode("vm:x".into(), 300, 0, &r.encode()).unwrap();
        assert_eq!(back.summaries[3], [1.0, 2.0, 3.0, 2.5]);
        assert!(back.summaries[0][0].is_nan());
    }

    #[test]
    fn placeholders_number_every_cell() {
        assert_eq!(placeholders(2, 2), "($1, $2), ($3, $4)");
    }
}
