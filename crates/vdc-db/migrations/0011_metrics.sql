-- Host-side monitoring (issue 8). Raw samples in chunks: one row per VM or host and hour,
-- its samples packed column by column (see vdc_db::metrics). While the hour is open each
-- write adds a part with the samples since the last one (`part`: the index of its first
-- sample); when the hour ends its whole chunk replaces the parts as part 0. Roll-ups: one row per entity, resolution (300 s, 3600 s, 86400 s) and bucket, with
-- min / mean / max / p95 of every metric packed the same way. BYTEA is a blob on both stores.
CREATE TABLE metric_chunks (
    entity TEXT NOT NULL,
    start_ms BIGINT NOT NULL,
    part INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (entity, start_ms, part)
);
CREATE INDEX metric_chunks_start ON metric_chunks (start_ms);

CREATE TABLE metric_rollups (
    entity TEXT NOT NULL,
    resolution_s INTEGER NOT NULL,
    start_ms BIGINT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (entity, resolution_s, start_ms)
);
CREATE INDEX metric_rollups_age ON metric_rollups (resolution_s, start_ms);
