"""The specified schema, column by column: the seed's "Expected Schema" plus the additions that
migrations/README.md documents (project_id everywhere, OTLP fields the seed lacks, LLM tables)."""

UUID, TEXT, TSTZ, JSONB = "uuid", "text", "timestamp with time zone", "jsonb"
BIGINT, INT, FLOAT, BOOL = "bigint", "integer", "double precision", "boolean"


def varchar(n: int) -> str:
    return f"character varying({n})"


NOT_NULL, NULL = True, False

EXPECTED_COLUMNS: dict[str, list[tuple[str, str, bool]]] = {
    "traces": [
        ("id", UUID, NOT_NULL), ("project_id", UUID, NOT_NULL), ("trace_id", varchar(32), NOT_NULL),
        ("service_name", varchar(255), NOT_NULL), ("start_time", TSTZ, NOT_NULL),
        ("end_time", TSTZ, NULL), ("duration_us", BIGINT, NULL), ("status", varchar(50), NOT_NULL),
        ("status_message", TEXT, NULL), ("root_span_name", varchar(255), NULL),
        ("attributes", JSONB, NOT_NULL), ("resource_attributes", JSONB, NOT_NULL),
        ("span_count", INT, NOT_NULL), ("created_at", TSTZ, NOT_NULL), ("updated_at", TSTZ, NOT_NULL),
    ],
    "trace_spans": [
        ("id", UUID, NOT_NULL), ("project_id", UUID, NOT_NULL), ("trace_id", UUID, NOT_NULL),
        ("span_id", varchar(16), NOT_NULL), ("parent_span_id", varchar(16), NULL),
        ("name", varchar(255), NOT_NULL), ("kind", varchar(50), NOT_NULL),
        ("service_name", varchar(255), NOT_NULL), ("start_time", TSTZ, NOT_NULL),
        ("end_time", TSTZ, NULL), ("duration_us", BIGINT, NULL), ("status", varchar(50), NOT_NULL),
        ("status_message", TEXT, NULL), ("attributes", JSONB, NOT_NULL), ("events", JSONB, NULL),
        ("links", JSONB, NULL), ("resource_attributes", JSONB, NOT_NULL),
        ("scope_name", varchar(255), NULL), ("scope_version", varchar(50), NULL),
        ("trace_state", TEXT, NULL), ("flags", INT, NULL),
        ("dropped_attributes_count", INT, NOT_NULL), ("dropped_events_count", INT, NOT_NULL),
        ("dropped_links_count", INT, NOT_NULL), ("created_at", TSTZ, NOT_NULL),
    ],
    "trace_events": [
        ("id", UUID, NOT_NULL), ("project_id", UUID, NOT_NULL), ("span_id", UUID, NOT_NULL),
        ("trace_id", UUID, NOT_NULL), ("name", varchar(255), NOT_NULL), ("timestamp", TSTZ, NOT_NULL),
        ("attributes", JSONB, NOT_NULL), ("dropped_attributes_count", INT, NOT_NULL),
        ("created_at", TSTZ, NOT_NULL),
    ],
    "metrics": [
        ("id", UUID, NOT_NULL), ("project_id", UUID, NOT_NULL), ("name", varchar(255), NOT_NULL),
        ("description", TEXT, NULL), ("unit", varchar(50), NULL), ("metric_type", varchar(50), NOT_NULL),
        ("temporality", varchar(20), NULL), ("is_monotonic", BOOL, NULL),
        ("service_name", varchar(255), NOT_NULL), ("attributes", JSONB, NOT_NULL),
        ("resource_attributes", JSONB, NOT_NULL), ("created_at", TSTZ, NOT_NULL),
        ("updated_at", TSTZ, NOT_NULL),
    ],
    "metric_data_points": [
        ("id", UUID, NOT_NULL), ("project_id", UUID, NOT_NULL), ("metric_id", UUID, NOT_NULL),
        ("timestamp", TSTZ, NOT_NULL), ("start_timestamp", TSTZ, NULL), ("value", FLOAT, NULL),
        ("count", BIGINT, NULL), ("sum", FLOAT, NULL), ("min", FLOAT, NULL), ("max", FLOAT, NULL),
        ("buckets", JSONB, NULL), ("quantiles", JSONB, NULL), ("exemplars", JSONB, NULL),
        ("attributes", JSONB, NOT_NULL), ("flags", INT, NOT_NULL), ("created_at", TSTZ, NOT_NULL),
    ],
    "logs": [
        ("id", UUID, NOT_NULL), ("project_id", UUID, NOT_NULL), ("timestamp", TSTZ, NOT_NULL),
        ("observed_timestamp", TSTZ, NOT_NULL), ("severity_number", INT, NOT_NULL),
        ("severity_text", varchar(20), NOT_NULL), ("body", TEXT, NOT_NULL),
        ("service_name", varchar(255), NOT_NULL), ("trace_id", varchar(32), NULL),
        ("span_id", varchar(16), NULL), ("trace_flags", INT, NULL), ("event_name", varchar(255), NULL),
        ("attributes", JSONB, NOT_NULL), ("resource_attributes", JSONB, NOT_NULL),
        ("scope_name", varchar(255), NULL), ("scope_version", varchar(50), NULL),
        ("scope_attributes", JSONB, NULL), ("dropped_attributes_count", INT, NOT_NULL),
        ("created_at", TSTZ, NOT_NULL),
    ],
    "llm_traces": [
        ("id", UUID, NOT_NULL), ("project_id", UUID, NOT_NULL), ("ts", TSTZ, NOT_NULL),
        ("trace_id", varchar(32), NOT_NULL), ("span_id", varchar(16), NOT_NULL),
        ("parent_span_id", varchar(16), NULL), ("span_name", varchar(255), NOT_NULL),
        ("span_kind", varchar(50), NOT_NULL), ("service_name", varchar(255), NOT_NULL),
        ("provider", varchar(100), NULL), ("model", varchar(255), NULL),
        ("operation", varchar(100), NULL), ("input_text", TEXT, NULL), ("output_text", TEXT, NULL),
        ("input_messages", JSONB, NULL), ("output_messages", JSONB, NULL),
        ("finish_reason", varchar(100), NULL), ("prompt_tokens", INT, NULL),
        ("completion_tokens", INT, NULL), ("total_tokens", INT, NULL),
        ("cache_read_tokens", INT, NULL), ("cache_write_tokens", INT, NULL),
        ("reasoning_tokens", INT, NULL), ("prompt_cost_usd", "numeric(20,10)", NULL),
        ("completion_cost_usd", "numeric(20,10)", NULL), ("total_cost_usd", "numeric(20,10)", NULL),
        ("duration_ms", FLOAT, NULL), ("ttft_ms", FLOAT, NULL), ("status_code", varchar(50), NOT_NULL),
        ("error_message", TEXT, NULL), ("user_id", varchar(255), NULL),
        ("session_id", varchar(255), NULL), ("environment", varchar(100), NULL),
        ("attributes", JSONB, NOT_NULL), ("resource_attributes", JSONB, NOT_NULL),
        ("created_at", TSTZ, NOT_NULL),
    ],
    "llm_metrics": [
        ("id", UUID, NOT_NULL), ("project_id", UUID, NOT_NULL), ("ts", TSTZ, NOT_NULL),
        ("name", varchar(255), NOT_NULL), ("provider", varchar(100), NULL),
        ("model", varchar(255), NULL), ("operation", varchar(100), NULL),
        ("token_type", varchar(50), NULL), ("value", FLOAT, NULL), ("count", BIGINT, NULL),
        ("sum", FLOAT, NULL), ("min", FLOAT, NULL), ("max", FLOAT, NULL),
        ("attributes", JSONB, NOT_NULL), ("created_at", TSTZ, NOT_NULL),
    ],
    "llm_logs": [
        ("id", UUID, NOT_NULL), ("project_id", UUID, NOT_NULL), ("ts", TSTZ, NOT_NULL),
        ("trace_id", varchar(32), NULL), ("span_id", varchar(16), NULL),
        ("provider", varchar(100), NULL), ("model", varchar(255), NULL),
        ("event_name", varchar(255), NULL), ("severity_number", INT, NULL),
        ("severity_text", varchar(20), NULL), ("body", TEXT, NULL), ("attributes", JSONB, NOT_NULL),
        ("created_at", TSTZ, NOT_NULL),
    ],
    "projects": [
        ("id", UUID, NOT_NULL), ("name", varchar(255), NOT_NULL), ("created_at", TSTZ, NOT_NULL),
        ("updated_at", TSTZ, NOT_NULL),
    ],
    "users": [
        ("id", UUID, NOT_NULL), ("email", varchar(320), NOT_NULL),
        ("display_name", varchar(255), NULL), ("created_at", TSTZ, NOT_NULL),
        ("updated_at", TSTZ, NOT_NULL),
    ],
    "api_keys": [
        ("id", UUID, NOT_NULL), ("project_id", UUID, NOT_NULL), ("user_id", UUID, NULL),
        ("name", varchar(255), NULL), ("key_prefix", varchar(32), NOT_NULL),
        ("key_hash", "bytea", NOT_NULL), ("created_at", TSTZ, NOT_NULL),
        ("last_used_at", TSTZ, NULL), ("revoked_at", TSTZ, NULL),
    ],
    "model_pricing": [
        ("id", UUID, NOT_NULL), ("provider", varchar(100), NOT_NULL), ("model", varchar(255), NOT_NULL),
        ("input_usd_per_mtok", "numeric(14,6)", NOT_NULL),
        ("output_usd_per_mtok", "numeric(14,6)", NOT_NULL),
        ("cache_read_usd_per_mtok", "numeric(14,6)", NULL),
        ("cache_write_usd_per_mtok", "numeric(14,6)", NULL),
        ("effective_from", TSTZ, NOT_NULL), ("effective_to", TSTZ, NULL),
        ("created_at", TSTZ, NOT_NULL), ("updated_at", TSTZ, NOT_NULL),
    ],
}

# The seed's essential indexes (its "Indexes" section), by name and table.
SEED_INDEXES = {
    "idx_traces_trace_id": "traces", "idx_traces_service_name": "traces",
    "idx_traces_start_time": "traces", "idx_traces_status": "traces", "idx_traces_duration": "traces",
    "idx_spans_trace_id": "trace_spans", "idx_spans_span_id": "trace_spans",
    "idx_spans_parent_span_id": "trace_spans", "idx_spans_start_time": "trace_spans",
    "idx_metrics_name": "metrics", "idx_metrics_service_name": "metrics",
    "idx_metric_points_metric_id": "metric_data_points",
    "idx_metric_points_timestamp": "metric_data_points",
    "idx_logs_timestamp": "logs", "idx_logs_service_name": "logs", "idx_logs_severity": "logs",
    "idx_logs_trace_id": "logs", "idx_logs_span_id": "logs", "idx_logs_body_fts": "logs",
}

PRIMARY_KEYS = {
    "traces": ["project_id", "id"], "trace_spans": ["id", "start_time"],
    "trace_events": ["id", "timestamp"], "metrics": ["id"],
    "metric_data_points": ["id", "timestamp"], "logs": ["id", "timestamp"],
    "llm_traces": ["id", "ts"], "llm_metrics": ["id", "ts"], "llm_logs": ["id", "ts"],
    "projects": ["id"], "users": ["id"], "api_keys": ["id"], "model_pricing": ["id"],
}

ROLLUP_COLUMNS = [
    "bucket", "project_id", "provider", "model", "service_name", "request_count", "error_count",
    "prompt_tokens", "completion_tokens", "total_tokens", "cache_read_tokens", "cache_write_tokens",
    "reasoning_tokens", "prompt_cost_usd", "completion_cost_usd", "total_cost_usd",
    "avg_duration_ms", "min_duration_ms", "max_duration_ms", "p50_duration_ms", "p95_duration_ms",
    "p99_duration_ms",
]
