-- Rows the database refused for a data reason, isolated from their batch so that every other row
-- of it could be stored. Kept for inspection; the Export call that sent them got partial success.
CREATE TABLE ingest_rejects (
    id BIGSERIAL PRIMARY KEY,
    received_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    signal VARCHAR(20) NOT NULL,
    project_id UUID NOT NULL,
    table_name VARCHAR(63) NOT NULL,
    reason TEXT NOT NULL,
    row JSONB NOT NULL
);

CREATE INDEX idx_ingest_rejects_received_at ON ingest_rejects (received_at DESC);
CREATE INDEX idx_ingest_rejects_project_received_at ON ingest_rejects (project_id, received_at DESC);
