"""Per signal: how a batch is written. Two paths with the same result:

direct  COPY straight into the real tables. If that succeeds every row was new (the primary keys
        guarantee it), so per-request partial aggregates are enough to merge trace summaries.
merge   COPY into per-connection staging tables, then INSERT ... ON CONFLICT DO NOTHING. Used when
        the direct COPY meets a row that exists already (a replay): idempotent by construction.

Rows that only feed a statement (trace summaries' parts, the refs that link LLM spans and log
records, the metric catalogue) are that statement's parameters, one array per column: no COPY
round trip, and a direct batch touches no temporary table, so COMMIT has none to truncate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from observatory_ingest.convert.columns import (
    EVENT_COLUMNS,
    LLM_LOG_COLUMNS,
    LLM_METRIC_COLUMNS,
    LLM_SPAN_REF_COLUMNS,
    LLM_TRACE_COLUMNS,
    LOG_COLUMNS,
    LOG_REF_COLUMNS,
    METRIC_COLUMNS,
    POINT_COLUMNS,
    SPAN_COLUMNS,
    TRACE_PART_COLUMNS,
)


@dataclass(frozen=True)
class StagedTable:
    """A table's rows as the writer handles them: COPY, straight or through staging, or, given
    the columns' SQL types, as array parameters of a statement (see unnest)."""

    table: str
    columns: tuple[str, ...]
    types: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.types and len(self.types) != len(self.columns):
            raise ValueError(f"{self.table}: {len(self.columns)} columns but {len(self.types)} types")

    @property
    def staging(self) -> str:
        return f"stage_{self.table}"

    @property
    def create_staging(self) -> str:
        # Temporary, per connection, emptied by every commit.
        return (
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.staging} "
            f"(LIKE {self.table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )

    def insert_ignoring_duplicates(self, order_by: str = "id") -> str:
        columns = ", ".join(self.columns)
        return (
            f"INSERT INTO {self.table} ({columns}) SELECT {columns} FROM {self.staging} "
            f"ORDER BY {order_by} ON CONFLICT DO NOTHING"
        )

    def unnest(self, alias: str) -> str:
        """A FROM item: the statement's parameters $1..$n, one array per column, as rows."""
        arrays = ", ".join(f"${number}::{sql_type}[]" for number, sql_type in enumerate(self.types, 1))
        return f"unnest({arrays}) AS {alias}({', '.join(self.columns)})"


@dataclass(frozen=True)
class FedStatement:
    """SQL whose parameters are the batch's rows of one table (StagedTable.unnest); skipped when
    the batch has none."""

    sql: str
    rows: StagedTable


Statement: TypeAlias = "str | FedStatement"


@dataclass(frozen=True)
class WritePlan:
    signal: str
    staged: tuple[StagedTable, ...]  # merge path: COPY into staging, then the merge statements
    merge: tuple[Statement, ...]
    direct: tuple[StagedTable, ...]  # direct path: COPY into the real table
    direct_before: tuple[Statement, ...]  # direct path: SQL before the direct COPY
    direct_after: tuple[Statement, ...]  # direct path: SQL after it
    context_tables: tuple[str, ...] = ()  # rows every part of a split batch needs (foreign keys)

    @property
    def merged_tables(self) -> tuple[StagedTable, ...]:
        """Every table whose rows the merge path writes: staged or fed to a statement."""
        fed = tuple(statement.rows for statement in self.merge if isinstance(statement, FedStatement))
        return tuple(dict.fromkeys(self.staged + fed))


# Varchar columns are text here: a value too long for its column fails the INSERT, as in COPY,
# instead of being cut short by a cast to varchar(n).
SPANS = StagedTable("trace_spans", SPAN_COLUMNS)
EVENTS = StagedTable("trace_events", EVENT_COLUMNS)
LLM_TRACES = StagedTable("llm_traces", LLM_TRACE_COLUMNS)
LLM_LOGS = StagedTable("llm_logs", LLM_LOG_COLUMNS)
TRACE_PARTS = StagedTable(
    "trace_parts",
    TRACE_PART_COLUMNS,
    (
        "uuid",
        "uuid",
        "text",
        "text",
        "timestamptz",
        "timestamptz",
        "text",
        "text",
        "text",
        "jsonb",
        "jsonb",
        "integer",
    ),
)
LLM_SPAN_REFS = StagedTable(
    "llm_span_refs", LLM_SPAN_REF_COLUMNS, ("uuid", "text", "text", "timestamptz", "text", "text")
)
LOGS_TABLE = StagedTable("logs", LOG_COLUMNS)
LOG_REFS = StagedTable("log_refs", LOG_REF_COLUMNS, ("uuid", "uuid", "timestamptz", "text", "text"))
METRICS_TABLE = StagedTable(
    "metrics",
    METRIC_COLUMNS,
    ("uuid", "uuid", "text", "text", "text", "text", "text", "boolean", "text", "jsonb", "jsonb"),
)
POINTS = StagedTable("metric_data_points", POINT_COLUMNS)
LLM_METRICS = StagedTable("llm_metrics", LLM_METRIC_COLUMNS)


def status_rule(any_error: str, any_ok: str) -> str:
    """A trace's status from its spans': error wins over ok, which wins over unset."""
    return f"CASE WHEN {any_error} THEN 'error' WHEN {any_ok} THEN 'ok' ELSE 'unset' END"


SPANS_STATUS = status_rule("bool_or(status = 'error')", "bool_or(status = 'ok')")  # over a group of rows

# How a trace's summary absorbs a new share of its spans. Order-independent: min/max/sum, the
# status rule, the root span (the one without parent) names the trace.
TRACE_SUMMARY_MERGE = f"""
ON CONFLICT (project_id, id) DO UPDATE SET
    start_time = least(t.start_time, excluded.start_time),
    end_time = greatest(t.end_time, excluded.end_time),
    duration_us = (extract(epoch FROM greatest(t.end_time, excluded.end_time)
                                      - least(t.start_time, excluded.start_time)) * 1000000)::bigint,
    span_count = t.span_count + excluded.span_count,
    status = {status_rule("'error' IN (t.status, excluded.status)", "'ok' IN (t.status, excluded.status)")},
    status_message = CASE WHEN t.status = 'error' AND excluded.status = 'error'
                          THEN least(t.status_message, excluded.status_message)
                          WHEN excluded.status = 'error' THEN excluded.status_message
                          ELSE t.status_message END,
    root_span_name = coalesce(t.root_span_name, excluded.root_span_name),
    service_name = CASE WHEN t.root_span_name IS NOT NULL THEN t.service_name
                        WHEN excluded.root_span_name IS NOT NULL THEN excluded.service_name
                        ELSE least(t.service_name, excluded.service_name) END,
    attributes = CASE WHEN t.root_span_name IS NOT NULL THEN t.attributes ELSE excluded.attributes END,
    resource_attributes = CASE WHEN t.root_span_name IS NOT NULL THEN t.resource_attributes
                               ELSE excluded.resource_attributes END,
    updated_at = now()
"""

TRACE_SUMMARY_INSERT = """
INSERT INTO traces AS t (id, project_id, trace_id, service_name, start_time, end_time, duration_us, status,
                         status_message, root_span_name, attributes, resource_attributes, span_count)
"""

# Merge path: only the spans that were new (not replays) count towards their trace's summary.
MERGE_SPANS_AND_TRACES = f"""
WITH new_spans AS (
    {SPANS.insert_ignoring_duplicates()}
    RETURNING project_id, trace_id, parent_span_id, name, service_name, start_time, end_time,
              status, status_message, attributes, resource_attributes
), per_trace AS (
    SELECT project_id, trace_id,
           min(start_time) AS start_time,
           max(end_time) AS end_time,
           count(*) AS span_count,
           {SPANS_STATUS} AS status,
           min(status_message) FILTER (WHERE status = 'error') AS status_message,
           min(name) FILTER (WHERE parent_span_id IS NULL) AS root_span_name,
           coalesce(min(service_name) FILTER (WHERE parent_span_id IS NULL), min(service_name))
               AS service_name,
           (array_agg(attributes) FILTER (WHERE parent_span_id IS NULL))[1] AS root_attributes,
           (array_agg(resource_attributes) FILTER (WHERE parent_span_id IS NULL))[1]
               AS root_resource_attributes
    FROM new_spans
    GROUP BY project_id, trace_id
)
{TRACE_SUMMARY_INSERT}
SELECT trace_id, project_id, replace(trace_id::text, '-', ''), service_name, start_time, end_time,
       (extract(epoch FROM end_time - start_time) * 1000000)::bigint, status, status_message,
       root_span_name, coalesce(root_attributes, '{{}}'), coalesce(root_resource_attributes, '{{}}'),
       span_count
FROM per_trace
-- Rows are locked in (project, trace) order so concurrent writers cannot deadlock.
ORDER BY project_id, trace_id
{TRACE_SUMMARY_MERGE}
"""

# Direct path: every span of the batch was new; combine the requests' shares of each trace.
UPSERT_TRACES_FROM_PARTS = f"""
{TRACE_SUMMARY_INSERT}
SELECT id, project_id, min(trace_id),
       coalesce(min(service_name) FILTER (WHERE root_span_name IS NOT NULL), min(service_name)),
       min(start_time), max(end_time),
       (extract(epoch FROM max(end_time) - min(start_time)) * 1000000)::bigint,
       {SPANS_STATUS},
       min(status_message) FILTER (WHERE status = 'error'), min(root_span_name),
       coalesce((array_agg(attributes) FILTER (WHERE root_span_name IS NOT NULL))[1], '{{}}'),
       coalesce((array_agg(resource_attributes) FILTER (WHERE root_span_name IS NOT NULL))[1], '{{}}'),
       sum(span_count)
FROM {TRACE_PARTS.unnest("p")}
GROUP BY project_id, id
ORDER BY project_id, id
{TRACE_SUMMARY_MERGE}
"""

# Log records of an LLM call join llm_logs whichever arrives second: the span (first statement)
# or the record (second). Time bounds let TimescaleDB skip unrelated chunks.
LINK_LLM_SPANS_TO_LOGS = f"""
INSERT INTO llm_logs ({", ".join(LLM_LOG_COLUMNS)})
SELECT l.id, l.project_id, l.timestamp, l.trace_id, l.span_id, s.provider, s.model, l.event_name,
       l.severity_number, l.severity_text, l.body, l.attributes
FROM {LLM_SPAN_REFS.unnest("s")}
JOIN logs l ON l.trace_id = s.trace_id AND l.span_id = s.span_id AND l.project_id = s.project_id
WHERE l.timestamp BETWEEN s.ts - interval '1 hour' AND s.ts + interval '1 day'
ORDER BY l.id
ON CONFLICT DO NOTHING
"""
LINK_LOGS_TO_LLM_SPANS = f"""
INSERT INTO llm_logs ({", ".join(LLM_LOG_COLUMNS)})
SELECT l.id, l.project_id, l.timestamp, l.trace_id, l.span_id, t.provider, t.model, l.event_name,
       l.severity_number, l.severity_text, l.body, l.attributes
FROM {LOG_REFS.unnest("r")}
JOIN llm_traces t ON t.trace_id = r.trace_id AND t.span_id = r.span_id AND t.project_id = r.project_id
JOIN logs l ON l.id = r.id AND l.timestamp = r.timestamp
WHERE t.ts BETWEEN r.timestamp - interval '1 day' AND r.timestamp + interval '1 hour'
ORDER BY l.id
ON CONFLICT DO NOTHING
"""

# One row per (project, name, service): created on first sight, updated only when what describes
# the metric changed. DISTINCT ON: a batch may carry the same metric many times.
UPSERT_METRICS = f"""
INSERT INTO metrics AS m ({", ".join(METRIC_COLUMNS)})
SELECT DISTINCT ON (id) {", ".join(METRIC_COLUMNS)} FROM {METRICS_TABLE.unnest("r")} ORDER BY id
ON CONFLICT (id) DO UPDATE SET
    description = coalesce(excluded.description, m.description),
    unit = coalesce(excluded.unit, m.unit),
    metric_type = excluded.metric_type,
    temporality = excluded.temporality,
    is_monotonic = excluded.is_monotonic,
    attributes = excluded.attributes,
    resource_attributes = excluded.resource_attributes,
    updated_at = now()
WHERE (m.description, m.unit, m.metric_type, m.temporality, m.is_monotonic, m.attributes)
      IS DISTINCT FROM (coalesce(excluded.description, m.description), coalesce(excluded.unit, m.unit),
                        excluded.metric_type, excluded.temporality, excluded.is_monotonic,
                        excluded.attributes)
"""

UPSERT_TRACES = FedStatement(UPSERT_TRACES_FROM_PARTS, TRACE_PARTS)
LINK_SPANS = FedStatement(LINK_LLM_SPANS_TO_LOGS, LLM_SPAN_REFS)
LINK_LOGS = FedStatement(LINK_LOGS_TO_LLM_SPANS, LOG_REFS)
UPSERT_METRIC_CATALOGUE = FedStatement(UPSERT_METRICS, METRICS_TABLE)

TRACES_PLAN = WritePlan(
    signal="traces",
    staged=(SPANS, EVENTS, LLM_TRACES, LLM_LOGS),
    merge=(
        MERGE_SPANS_AND_TRACES,
        EVENTS.insert_ignoring_duplicates(),
        LLM_TRACES.insert_ignoring_duplicates(),
        LLM_LOGS.insert_ignoring_duplicates(),
        LINK_SPANS,
    ),
    direct=(SPANS, EVENTS, LLM_TRACES, LLM_LOGS),
    direct_before=(),
    direct_after=(UPSERT_TRACES, LINK_SPANS),
)

METRICS_PLAN = WritePlan(
    signal="metrics",
    staged=(POINTS, LLM_METRICS),
    merge=(
        UPSERT_METRIC_CATALOGUE,
        POINTS.insert_ignoring_duplicates(),
        LLM_METRICS.insert_ignoring_duplicates(),
    ),
    direct=(POINTS, LLM_METRICS),
    # Points reference their metric: the catalogue rows go first.
    direct_before=(UPSERT_METRIC_CATALOGUE,),
    direct_after=(),
    context_tables=("metrics",),
)

LOGS_PLAN = WritePlan(
    signal="logs",
    staged=(LOGS_TABLE, LLM_LOGS),
    merge=(
        LOGS_TABLE.insert_ignoring_duplicates(),
        LLM_LOGS.insert_ignoring_duplicates(),
        LINK_LOGS,
    ),
    direct=(LOGS_TABLE, LLM_LOGS),
    direct_before=(),
    direct_after=(LINK_LOGS,),
)

WRITE_PLANS = {plan.signal: plan for plan in (TRACES_PLAN, METRICS_PLAN, LOGS_PLAN)}
