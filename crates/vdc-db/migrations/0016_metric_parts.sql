-- Metrics at fleet scale (issue 20): the server no longer holds each series' whole hour in
-- memory, so an hour that ends is not rewritten at once as part 0. Its parts stay until a
-- metrics write joins them (a bounded number of hours per write, oldest first). This index
-- finds the hours that still have parts.
CREATE INDEX metric_chunk_parts ON metric_chunks (start_ms, entity) WHERE part > 0;
