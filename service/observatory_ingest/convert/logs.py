"""ExportLogsServiceRequest -> rows for logs."""

from __future__ import annotations

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from observatory_ingest.convert.columns import LOG_ID_AT, LOG_SPAN_AT, LOG_TIMESTAMP_AT, LOG_TRACE_AT
from observatory_ingest.convert.common import (
    Converted,
    Row,
    any_value,
    attributes,
    derived_id,
    described_resource,
    pg_timestamp,
    to_json,
)
from observatory_ingest.convert.context import ConvertContext
from observatory_ingest.convert.genai import (
    PROVIDER_KEYS,
    REQUEST_MODEL_KEYS,
    RESPONSE_MODEL_KEYS,
    first,
    strip_content,
)
from observatory_ingest.convert.native import MAX_TEXT
from observatory_ingest.convert.sanitize import (
    SANITIZED_KEY,
    int32_count,
    optional_text,
    plausible,
    text,
)


def varchar(value: object, limit: int) -> str | None:
    """A GenAI attribute of any type (an int, a list...) as its VARCHAR column can hold it."""
    return None if value is None else text(value if value.__class__ is str else str(value), limit)


TRACE_FLAGS_MASK = 0xFF  # LogRecord.flags: bits 0-7 are the W3C trace flags, the rest reserved
SEVERITY_NAMES = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")


def severity_text(record: LogRecord) -> str:
    """The record's own text, else the spec's short name for its number (INFO, INFO2, ...)."""
    if record.severity_text:
        return record.severity_text
    number = record.severity_number
    if not 1 <= number <= 24:
        return "UNSPECIFIED"
    name = SEVERITY_NAMES[(number - 1) // 4]
    step = (number - 1) % 4
    return name if step == 0 else f"{name}{step + 1}"


def body_text(body: AnyValue) -> str:
    """A string body as is; any other value as JSON; no body as empty text."""
    if body.HasField("string_value"):
        return body.string_value
    if body.WhichOneof("value") is None:
        return ""
    return to_json(any_value(body))


def record_times(record: LogRecord, now: int) -> tuple[int, int, list[str]]:
    """(time, observed time, what was fixed): a missing or implausible time falls back to the
    other one, and to the receive time when neither can be used."""
    event_time = record.time_unix_nano if plausible(record.time_unix_nano, now) else 0
    observed = record.observed_time_unix_nano if plausible(record.observed_time_unix_nano, now) else 0
    fixed = []
    if record.time_unix_nano and not event_time:
        fixed.append("time")
    if record.observed_time_unix_nano and not observed:
        fixed.append("observed_time")
    if not event_time and not observed:
        fixed.append("received_time_used")
        event_time = observed = now
    return event_time or observed, observed or event_time, fixed


def record_problem(record: LogRecord) -> str | None:
    if len(record.trace_id) not in (0, 16):
        return f"log record: trace_id must be empty or 16 bytes, got {len(record.trace_id)}"
    if len(record.span_id) not in (0, 8):
        return f"log record: span_id must be empty or 8 bytes, got {len(record.span_id)}"
    return None


def is_genai_record(record: LogRecord, record_attributes: dict[str, object]) -> bool:
    """A GenAI event of any family: its event name, or GenAI attributes on the record."""
    if record.event_name.startswith("gen_ai."):
        return True
    # One C-level search over all keys instead of a Python loop: a prefix follows a newline.
    keys = "\n" + "\n".join(record_attributes)
    return "\ngen_ai." in keys or "\nllm." in keys


def convert_logs(request: ExportLogsServiceRequest, context: ConvertContext) -> Converted:
    rows: list[Row] = []
    llm_rows: list[Row] = []
    refs: list[Row] = []
    result = Converted({"logs": rows, "llm_logs": llm_rows, "log_refs": refs})
    project, project_id = context.project, context.project_id
    for resource_logs in request.resource_logs:
        resource = described_resource(
            attributes(resource_logs.resource.attributes, context.max_attribute_bytes)
        )
        service, resource_json = resource.service, resource.json
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope
            scope_attributes = to_json(attributes(scope.attributes)) if scope.attributes else None
            origin = b"\0".join((service.encode(), scope.name.encode(), scope.version.encode()))
            for record in scope_logs.log_records:
                problem = record_problem(record)
                if problem:
                    result.reject(problem)
                    continue
                row = log_row(
                    record,
                    project,
                    project_id,
                    origin,
                    service,
                    resource_json,
                    scope,
                    scope_attributes,
                    context,
                    llm_rows,
                )
                rows.append(row)
                trace_hex, span_hex = row[LOG_TRACE_AT], row[LOG_SPAN_AT]
                if trace_hex and span_hex:  # it may belong to an LLM call
                    refs.append((row[LOG_ID_AT], project_id, row[LOG_TIMESTAMP_AT], trace_hex, span_hex))
                result.accepted += 1
    return result


def log_row(
    record: LogRecord,
    project: bytes,
    project_id: str,
    origin: bytes,
    service: str,
    resource_json: str,
    scope: InstrumentationScope,
    scope_attributes: str | None,
    context: ConvertContext,
    llm_rows: list[Row],
) -> Row:
    """The logs row of one record; a GenAI record also adds its llm_logs row."""
    event_time, observed, fixed = record_times(record, context.received_ns)
    record_attributes = attributes(record.attributes, context.max_attribute_bytes)
    if fixed:
        record_attributes[SANITIZED_KEY] = fixed
    body = text(body_text(record.body), MAX_TEXT)
    # Logs carry no id: the record's own bytes and origin identify it across replays. Hashed once
    # its values are read: values nested too deep are the marker in the message too, as they are
    # when the request had to be rewritten (convert/nesting.py).
    record_id = derived_id(project, origin, record.SerializeToString(deterministic=True))
    genai = is_genai_record(record, record_attributes)
    if genai and not context.content.keep:
        record_attributes, body = strip_content(record_attributes), ""
    attributes_json = to_json(record_attributes)
    timestamp = pg_timestamp(event_time)
    trace_hex, span_hex = record.trace_id.hex() or None, record.span_id.hex() or None
    severity = text(severity_text(record), 20)
    event_name = optional_text(record.event_name, 255)
    if genai:
        model = varchar(
            first(record_attributes, RESPONSE_MODEL_KEYS) or first(record_attributes, REQUEST_MODEL_KEYS), 255
        )
        llm_rows.append(
            (
                record_id,
                project_id,
                timestamp,
                trace_hex,
                span_hex,
                varchar(first(record_attributes, PROVIDER_KEYS), 100),
                model,
                event_name,
                record.severity_number,
                severity,
                body,
                attributes_json,
            )
        )
    return (
        record_id,
        project_id,
        timestamp,
        pg_timestamp(observed),
        record.severity_number,
        severity,
        body,
        service,
        trace_hex,
        span_hex,
        record.flags & TRACE_FLAGS_MASK,
        event_name,
        attributes_json,
        resource_json,
        optional_text(scope.name, 255),
        optional_text(scope.version, 50),
        scope_attributes,
        int32_count(record.dropped_attributes_count),
    )
