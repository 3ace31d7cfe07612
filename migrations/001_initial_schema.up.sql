-- OpenTelemetry tables (seed "Expected Schema") and the LLM tables.
-- Deviations from the seed, forced by TimescaleDB or by multi-tenancy, are listed in README.md.

CREATE TABLE traces (
    id UUID NOT NULL,
    project_id UUID NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    trace_id VARCHAR(32) NOT NULL,
    service_name VARCHAR(255) NOT NULL,
    start_time TIMESTAMPTZ NOT NULL,
    end_time TIMESTAMPTZ,
    duration_us BIGINT,
    status VARCHAR(50) NOT NULL,
    status_message TEXT,
    root_span_name VARCHAR(255),
    attributes JSONB NOT NULL DEFAULT '{}',
    resource_attributes JSONB NOT NULL DEFAULT '{}',
    span_count INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (project_id, id)
);

CREATE TABLE trace_spans (
    id UUID NOT NULL,
    project_id UUID NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    trace_id UUID NOT NULL,
    span_id VARCHAR(16) NOT NULL,
    parent_span_id VARCHAR(16),
    name VARCHAR(255) NOT NULL,
    kind VARCHAR(50) NOT NULL,
    service_name VARCHAR(255) NOT NULL,
    start_time TIMESTAMPTZ NOT NULL,
    end_time TIMESTAMPTZ,
    duration_us BIGINT,
    status VARCHAR(50) NOT NULL,
    status_message TEXT,
    attributes JSONB NOT NULL DEFAULT '{}',
    events JSONB,
    links JSONB,
    resource_attributes JSONB NOT NULL DEFAULT '{}',
    scope_name VARCHAR(255),
    scope_version VARCHAR(50),
    trace_state TEXT,
    flags INTEGER,
    dropped_attributes_count INTEGER NOT NULL DEFAULT 0,
    dropped_events_count INTEGER NOT NULL DEFAULT 0,
    dropped_links_count INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (id, start_time)
);

CREATE TABLE trace_events (
    id UUID NOT NULL,
    project_id UUID NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    span_id UUID NOT NULL,
    trace_id UUID NOT NULL,
    name VARCHAR(255) NOT NULL,
    timestamp TIMESTAMPTZ NOT NULL,
    attributes JSONB NOT NULL DEFAULT '{}',
    dropped_attributes_count INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (id, timestamp)
);

CREATE TABLE metrics (
    id UUID NOT NULL PRIMARY KEY,
    project_id UUID NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    name VARCHAR(255) NOT NULL,
    description TEXT,
    unit VARCHAR(50),
    metric_type VARCHAR(50) NOT NULL,
    temporality VARCHAR(20),
    is_monotonic BOOLEAN,
    service_name VARCHAR(255) NOT NULL,
    attributes JSONB NOT NULL DEFAULT '{}',
    resource_attributes JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (project_id, name, service_name)
);

CREATE TABLE metric_data_points (
    id UUID NOT NULL,
    project_id UUID NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    metric_id UUID NOT NULL REFERENCES metrics(id) ON DELETE CASCADE,
    timestamp TIMESTAMPTZ NOT NULL,
    start_timestamp TIMESTAMPTZ,
    value DOUBLE PRECISION,
    count BIGINT,
    sum DOUBLE PRECISION,
    min DOUBLE PRECISION,
    max DOUBLE PRECISION,
    buckets JSONB,
    quantiles JSONB,
    exemplars JSONB,
    attributes JSONB NOT NULL DEFAULT '{}',
    flags INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (id, timestamp)
);

CREATE TABLE logs (
    id UUID NOT NULL,
    project_id UUID NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    timestamp TIMESTAMPTZ NOT NULL,
    observed_timestamp TIMESTAMPTZ NOT NULL,
    severity_number INTEGER NOT NULL,
    severity_text VARCHAR(20) NOT NULL,
    body TEXT NOT NULL,
    service_name VARCHAR(255) NOT NULL,
    trace_id VARCHAR(32),
    span_id VARCHAR(16),
    trace_flags INTEGER,
    event_name VARCHAR(255),
    attributes JSONB NOT NULL DEFAULT '{}',
    resource_attributes JSONB NOT NULL DEFAULT '{}',
    scope_name VARCHAR(255),
    scope_version VARCHAR(50),
    scope_attributes JSONB,
    dropped_attributes_count INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (id, timestamp)
);

-- One row per LLM call span (the OTel tables keep every span).
CREATE TABLE llm_traces (
    id UUID NOT NULL,
    project_id UUID NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    ts TIMESTAMPTZ NOT NULL,
    trace_id VARCHAR(32) NOT NULL,
    span_id VARCHAR(16) NOT NULL,
    parent_span_id VARCHAR(16),
    span_name VARCHAR(255) NOT NULL,
    span_kind VARCHAR(50) NOT NULL,
    service_name VARCHAR(255) NOT NULL,
    provider VARCHAR(100),
    model VARCHAR(255),
    operation VARCHAR(100),
    input_text TEXT,
    output_text TEXT,
    input_messages JSONB,
    output_messages JSONB,
    finish_reason VARCHAR(100),
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    total_tokens INTEGER,
    cache_read_tokens INTEGER,
    cache_write_tokens INTEGER,
    reasoning_tokens INTEGER,
    prompt_cost_usd NUMERIC(20, 10),
    completion_cost_usd NUMERIC(20, 10),
    total_cost_usd NUMERIC(20, 10),
    duration_ms DOUBLE PRECISION,
    ttft_ms DOUBLE PRECISION,
    status_code VARCHAR(50) NOT NULL,
    error_message TEXT,
    user_id VARCHAR(255),
    session_id VARCHAR(255),
    environment VARCHAR(100),
    attributes JSONB NOT NULL DEFAULT '{}',
    resource_attributes JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (id, ts)
);

-- LLM metric points (gen_ai.client.token.usage, gen_ai.client.operation.duration, ...).
CREATE TABLE llm_metrics (
    id UUID NOT NULL,
    project_id UUID NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    ts TIMESTAMPTZ NOT NULL,
    name VARCHAR(255) NOT NULL,
    provider VARCHAR(100),
    model VARCHAR(255),
    operation VARCHAR(100),
    token_type VARCHAR(50),
    value DOUBLE PRECISION,
    count BIGINT,
    sum DOUBLE PRECISION,
    min DOUBLE PRECISION,
    max DOUBLE PRECISION,
    attributes JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (id, ts)
);

-- LLM events and log records correlated with LLM spans.
CREATE TABLE llm_logs (
    id UUID NOT NULL,
    project_id UUID NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    ts TIMESTAMPTZ NOT NULL,
    trace_id VARCHAR(32),
    span_id VARCHAR(16),
    provider VARCHAR(100),
    model VARCHAR(255),
    event_name VARCHAR(255),
    severity_number INTEGER,
    severity_text VARCHAR(20),
    body TEXT,
    attributes JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (id, ts)
);
