"""ExportTraceServiceRequest -> rows for trace_spans and trace_events (traces is merged in SQL)."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from observatory_ingest.convert.common import (
    Converted,
    Row,
    attributes,
    derived_id,
    pg_timestamp,
    project_bytes,
    service_name,
    to_json,
)

SPAN_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
STATUS_CODES = ("unset", "ok", "error")
ZERO_TRACE_ID = bytes(16)
ZERO_SPAN_ID = bytes(8)

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


def enum_name(names: tuple[str, ...], number: int) -> str:
    # Protobuf enums are open: a newer client may send a number we do not know.
    return names[number] if 0 <= number < len(names) else names[0]


def span_problem(span: Span) -> str | None:
    """Why a span cannot be stored, or None."""
    if len(span.trace_id) != 16 or span.trace_id == ZERO_TRACE_ID:
        return f"span {span.name!r}: trace_id must be 16 non-zero bytes, got {len(span.trace_id)}"
    if len(span.span_id) != 8 or span.span_id == ZERO_SPAN_ID:
        return f"span {span.name!r}: span_id must be 8 non-zero bytes, got {len(span.span_id)}"
    if len(span.parent_span_id) not in (0, 8):
        return f"span {span.name!r}: parent_span_id must be empty or 8 bytes, got {len(span.parent_span_id)}"
    if span.start_time_unix_nano == 0:
        return f"span {span.name!r}: start_time_unix_nano is missing"
    return None


def convert_traces(request: ExportTraceServiceRequest, project_id: str) -> Converted:
    spans: list[Row] = []
    events: list[Row] = []
    result = Converted({"trace_spans": spans, "trace_events": events})
    project = project_bytes(project_id)
    for resource_spans in request.resource_spans:
        resource_attributes = attributes(resource_spans.resource.attributes)
        service = service_name(resource_attributes)
        resource_json = to_json(resource_attributes)
        for scope_spans in resource_spans.scope_spans:
            scope_name = scope_spans.scope.name or None
            scope_version = scope_spans.scope.version or None
            for span in scope_spans.spans:
                problem = span_problem(span)
                if problem:
                    result.reject(problem)
                    continue
                span_uuid = derived_id(project, span.trace_id, span.span_id)
                trace_uuid = span.trace_id.hex()
                span_events = []
                for index, event in enumerate(span.events):
                    event_time = event.time_unix_nano or span.start_time_unix_nano
                    event_attributes = attributes(event.attributes)
                    span_events.append(
                        {
                            "name": event.name,
                            "time_unix_nano": event_time,
                            "attributes": event_attributes,
                            "dropped_attributes_count": event.dropped_attributes_count,
                        }
                    )
                    events.append(
                        (
                            derived_id(project, span.trace_id, span.span_id, index.to_bytes(4, "big")),
                            project_id,
                            span_uuid,
                            trace_uuid,
                            event.name,
                            pg_timestamp(event_time),
                            to_json(event_attributes),
                            event.dropped_attributes_count,
                        )
                    )
                end = span.end_time_unix_nano
                spans.append(
                    (
                        span_uuid,
                        project_id,
                        trace_uuid,
                        span.span_id.hex(),
                        span.parent_span_id.hex() or None,
                        span.name,
                        enum_name(SPAN_KINDS, span.kind),
                        service,
                        pg_timestamp(span.start_time_unix_nano),
                        pg_timestamp(end) if end else None,
                        (end - span.start_time_unix_nano) // 1000 if end else None,
                        enum_name(STATUS_CODES, span.status.code),
                        span.status.message or None,
                        to_json(attributes(span.attributes)),
                        to_json(span_events) if span_events else None,
                        to_json(links(span)) if span.links else None,
                        resource_json,
                        scope_name,
                        scope_version,
                        span.trace_state or None,
                        span.flags,
                        span.dropped_attributes_count,
                        span.dropped_events_count,
                        span.dropped_links_count,
                    )
                )
                result.accepted += 1
    return result


def links(span: Span) -> list[dict[str, Any]]:
    return [
        {
            "trace_id": link.trace_id.hex(),
            "span_id": link.span_id.hex(),
            "trace_state": link.trace_state,
            "attributes": attributes(link.attributes),
            "dropped_attributes_count": link.dropped_attributes_count,
            "flags": link.flags,
        }
        for link in span.links
    ]
