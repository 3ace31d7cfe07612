"""Every row's layout, declared once: the columns of each table (and of the light rows that only
feed a statement) in the order conversion builds its tuples and COPY writes them.

Rows are tuples on the hot path; code that reads a row by position uses the positions derived
here, the C row builder exports its own layout and a test holds the two equal, and the write plans
build their SQL from the same tuples.
"""

from __future__ import annotations


def position(columns: tuple[str, ...], name: str) -> int:
    """Where a column sits in its rows (a ValueError names a column the table does not have)."""
    return columns.index(name)


SPAN_COLUMNS = (
    "id",
    "project_id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "service_name",
    "start_time",
    "end_time",
    "duration_us",
    "status",
    "status_message",
    "attributes",
    "events",
    "links",
    "resource_attributes",
    "scope_name",
    "scope_version",
    "trace_state",
    "flags",
    "dropped_attributes_count",
    "dropped_events_count",
    "dropped_links_count",
)

EVENT_COLUMNS = (
    "id",
    "project_id",
    "span_id",
    "trace_id",
    "name",
    "timestamp",
    "attributes",
    "dropped_attributes_count",
)

TRACE_PART_COLUMNS = (
    "id",
    "project_id",
    "trace_id",
    "service_name",
    "start_time",
    "end_time",
    "status",
    "status_message",
    "root_span_name",
    "attributes",
    "resource_attributes",
    "span_count",
)

LLM_TRACE_COLUMNS = (
    "id",
    "project_id",
    "ts",
    "trace_id",
    "span_id",
    "parent_span_id",
    "span_name",
    "span_kind",
    "service_name",
    "provider",
    "model",
    "operation",
    "input_text",
    "output_text",
    "input_messages",
    "output_messages",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "prompt_cost_usd",
    "completion_cost_usd",
    "total_cost_usd",
    "duration_ms",
    "ttft_ms",
    "status_code",
    "error_message",
    "user_id",
    "session_id",
    "environment",
    "attributes",
    "resource_attributes",
)

# Light rows that let log records and LLM spans find each other, whichever arrives second.
LLM_SPAN_REF_COLUMNS = ("project_id", "trace_id", "span_id", "ts", "provider", "model")

LLM_LOG_COLUMNS = (
    "id",
    "project_id",
    "ts",
    "trace_id",
    "span_id",
    "provider",
    "model",
    "event_name",
    "severity_number",
    "severity_text",
    "body",
    "attributes",
)

LOG_COLUMNS = (
    "id",
    "project_id",
    "timestamp",
    "observed_timestamp",
    "severity_number",
    "severity_text",
    "body",
    "service_name",
    "trace_id",
    "span_id",
    "trace_flags",
    "event_name",
    "attributes",
    "resource_attributes",
    "scope_name",
    "scope_version",
    "scope_attributes",
    "dropped_attributes_count",
)

LOG_REF_COLUMNS = ("id", "project_id", "timestamp", "trace_id", "span_id")

METRIC_COLUMNS = (
    "id",
    "project_id",
    "name",
    "description",
    "unit",
    "metric_type",
    "temporality",
    "is_monotonic",
    "service_name",
    "attributes",
    "resource_attributes",
)

POINT_COLUMNS = (
    "id",
    "project_id",
    "metric_id",
    "timestamp",
    "start_timestamp",
    "value",
    "count",
    "sum",
    "min",
    "max",
    "buckets",
    "quantiles",
    "exemplars",
    "attributes",
    "flags",
)

LLM_METRIC_COLUMNS = (
    "id",
    "project_id",
    "ts",
    "name",
    "provider",
    "model",
    "operation",
    "token_type",
    "value",
    "count",
    "sum",
    "min",
    "max",
    "attributes",
)


# Positions read on the hot path.
SPAN_ID_AT = position(SPAN_COLUMNS, "id")
SPAN_PROJECT_AT = position(SPAN_COLUMNS, "project_id")
SPAN_TRACE_AT = position(SPAN_COLUMNS, "trace_id")
SPAN_SPAN_AT = position(SPAN_COLUMNS, "span_id")
SPAN_PARENT_AT = position(SPAN_COLUMNS, "parent_span_id")
SPAN_NAME_AT = position(SPAN_COLUMNS, "name")
SPAN_KIND_AT = position(SPAN_COLUMNS, "kind")
SPAN_SERVICE_AT = position(SPAN_COLUMNS, "service_name")
SPAN_START_AT = position(SPAN_COLUMNS, "start_time")
SPAN_STATUS_AT = position(SPAN_COLUMNS, "status")
SPAN_ATTRIBUTES_AT = position(SPAN_COLUMNS, "attributes")
SPAN_RESOURCE_AT = position(SPAN_COLUMNS, "resource_attributes")
LOG_ID_AT = position(LOG_COLUMNS, "id")
LOG_TIMESTAMP_AT = position(LOG_COLUMNS, "timestamp")
LOG_TRACE_AT = position(LOG_COLUMNS, "trace_id")
LOG_SPAN_AT = position(LOG_COLUMNS, "span_id")
POINT_ATTRIBUTES_AT = position(POINT_COLUMNS, "attributes")
