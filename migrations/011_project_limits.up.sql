-- Per-project rate limits, per signal: token buckets refilled at a rate, as deep as `burst_seconds`
-- of that rate. A NULL column takes the service-wide default (--rate-limit-items,
-- --rate-limit-bytes, --rate-limit-burst); 'Infinity' is no limit. Running services reload
-- this table every 30 s.
CREATE TABLE project_limits (
    project_id UUID NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    signal VARCHAR(20) NOT NULL CHECK (signal IN ('traces', 'metrics', 'logs')),
    -- Spans, data points or log records per second.
    items_per_second DOUBLE PRECISION CHECK (items_per_second > 0 AND items_per_second <> 'NaN'),
    -- Request bytes (after gzip inflation) per second.
    bytes_per_second DOUBLE PRECISION CHECK (bytes_per_second > 0 AND bytes_per_second <> 'NaN'),
    burst_seconds DOUBLE PRECISION CHECK (burst_seconds > 0 AND burst_seconds < 'Infinity'),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (project_id, signal)
);
