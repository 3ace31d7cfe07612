"""ExportTraceServiceRequest -> rows for trace_spans, trace_events, and for LLM call spans
llm_traces and llm_logs (traces, the per-trace summary, is merged in SQL)."""

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
    service_name,
    to_json,
)
from observatory_ingest.convert.context import ConvertContext
from observatory_ingest.convert.genai import is_llm_call, llm_fields, strip_content
from observatory_ingest.convert.pricing import Usage, cost_of
from observatory_ingest.convert.sanitize import (
    MAX_TEXT,
    SANITIZED_KEY,
    optional_text,
    plausible,
    text,
)

SPAN_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
STATUS_CODES = ("unset", "ok", "error")
STATUS_RANK = {"unset": 0, "ok": 1, "error": 2}
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
    return None


def span_times(span: Span, now: int) -> tuple[int, int | None, list[str]]:
    """Start and end to store, and what had to be fixed: a missing or implausible start falls back
    to the end, else to the receive time; an implausible or inverted end is dropped."""
    start, end = span.start_time_unix_nano, span.end_time_unix_nano or None
    fixed = []
    if end is not None and not plausible(end, now):
        end, fixed = None, ["end_time"]
    if not plausible(start, now):
        start = end if end is not None else now
        fixed.append("start_time")
    if end is not None and end < start:
        end = None
        fixed.append("end_time")
    return start, end, fixed


class TraceConverter:
    """Rows of one request; one instance per request."""

    def __init__(self, context: ConvertContext) -> None:
        self.context = context
        self.project = context.project
        self.spans: list[Row] = []
        self.events: list[Row] = []
        self.llm_traces: list[Row] = []
        self.llm_logs: list[Row] = []
        self.now = context.received_ns
        self.llm_span_refs: list[Row] = []
        self.trace_parts: dict[str, list[Any]] = {}
        self.result = Converted(
            {
                "trace_spans": self.spans,
                "trace_events": self.events,
                "llm_traces": self.llm_traces,
                "llm_logs": self.llm_logs,
                "llm_span_refs": self.llm_span_refs,
            }
        )

    def convert(self, request: ExportTraceServiceRequest) -> Converted:
        keep_content = self.context.content.keep
        limit = self.context.max_attribute_bytes
        for resource_spans in request.resource_spans:
            resource_attributes = attributes(resource_spans.resource.attributes, limit)
            service = service_name(resource_attributes)
            resource_json = to_json(resource_attributes)
            for scope_spans in resource_spans.scope_spans:
                scope = (
                    optional_text(scope_spans.scope.name, 255),
                    optional_text(scope_spans.scope.version, 50),
                )
                for span in scope_spans.spans:
                    problem = span_problem(span)
                    if problem:
                        self.result.reject(problem)
                        continue
                    span_attributes = attributes(span.attributes, limit)
                    if not keep_content:
                        span_attributes = strip_content(span_attributes)
                    self.add_span(span, span_attributes, resource_attributes, resource_json, service, scope)
                    self.result.accepted += 1
        self.result.tables["trace_parts"] = [tuple(part) for part in self.trace_parts.values()]
        return self.result

    def add_to_trace_part(
        self,
        trace_uuid: str,
        is_root: bool,
        name: str,
        service: str,
        start: tuple[int],
        end: tuple[int] | None,
        status: str,
        message: str | None,
        span_attributes_json: str,
        resource_json: str,
    ) -> None:
        """This request's share of a trace's summary, merged with other shares in SQL."""
        part = self.trace_parts.get(trace_uuid)
        if part is None:
            # Columns of TRACE_PART_COLUMNS: id, project_id, trace_id, service_name, start_time, end_time,
            # status, status_message, root_span_name, attributes, resource_attributes, span_count.
            part = [
                trace_uuid,
                self.context.project_id,
                trace_uuid,
                service,
                start,
                end,
                "unset",
                None,
                None,
                "{}",
                "{}",
                0,
            ]
            self.trace_parts[trace_uuid] = part
        part[11] += 1
        if start < part[4]:
            part[4] = start
        if end is not None and (part[5] is None or end > part[5]):
            part[5] = end
        if STATUS_RANK[status] > STATUS_RANK[part[6]]:
            part[6] = status
        if status == "error" and message is not None and (part[7] is None or message < part[7]):
            part[7] = message
        if is_root and part[8] is None:
            part[3], part[8], part[9], part[10] = service, name, span_attributes_json, resource_json
        elif part[8] is None and service < part[3]:
            part[3] = service

    def add_span(
        self,
        span: Span,
        span_attributes: dict[str, Any],
        resource_attributes: dict[str, Any],
        resource_json: str,
        service: str,
        scope: tuple[str | None, str | None],
    ) -> None:
        project_id = self.context.project_id
        span_uuid = derived_id(self.project, span.trace_id, span.span_id)
        trace_uuid = span.trace_id.hex()
        start, end, fixed = span_times(span, self.now)
        if fixed:
            span_attributes[SANITIZED_KEY] = fixed
            self.result.sanitized += 1
        event_list = []
        span_events = []
        for index, event in enumerate(span.events):
            event_time = event.time_unix_nano if plausible(event.time_unix_nano, self.now) else start
            event_name = text(event.name, 255)
            event_attributes = attributes(event.attributes, self.context.max_attribute_bytes)
            if not self.context.content.keep:
                event_attributes = strip_content(event_attributes)
            event_list.append((event_name, event_time, event_attributes, index))
            span_events.append(
                {
                    "name": event_name,
                    "time_unix_nano": event_time,
                    "attributes": event_attributes,
                    "dropped_attributes_count": event.dropped_attributes_count,
                }
            )
            self.events.append(
                (
                    derived_id(self.project, span.trace_id, span.span_id, index.to_bytes(4, "big")),
                    project_id,
                    span_uuid,
                    trace_uuid,
                    event_name,
                    pg_timestamp(event_time),
                    to_json(event_attributes),
                    event.dropped_attributes_count,
                )
            )
        status = enum_name(STATUS_CODES, span.status.code)
        kind = enum_name(SPAN_KINDS, span.kind)
        attributes_json = to_json(span_attributes)
        parent = span.parent_span_id.hex() or None
        name = text(span.name, 255)
        start_ts, end_ts = pg_timestamp(start), pg_timestamp(end) if end else None
        message = optional_text(span.status.message, MAX_TEXT)
        self.spans.append(
            (
                span_uuid,
                project_id,
                trace_uuid,
                span.span_id.hex(),
                parent,
                name,
                kind,
                service,
                start_ts,
                end_ts,
                (end - start) // 1000 if end else None,
                status,
                message,
                attributes_json,
                to_json(span_events) if span_events else None,
                to_json(links(span)) if span.links else None,
                resource_json,
                scope[0],
                scope[1],
                optional_text(span.trace_state, MAX_TEXT),
                span.flags,
                span.dropped_attributes_count,
                span.dropped_events_count,
                span.dropped_links_count,
            )
        )
        self.add_to_trace_part(
            trace_uuid,
            parent is None,
            name,
            service,
            start_ts,
            end_ts,
            status,
            message,
            attributes_json,
            resource_json,
        )
        if is_llm_call(span_attributes):
            self.add_llm_call(
                span,
                start,
                end,
                span_uuid,
                kind,
                status,
                service,
                span_attributes,
                attributes_json,
                resource_attributes,
                resource_json,
                event_list,
            )

    def add_llm_call(
        self,
        span: Span,
        start: int,
        end: int | None,
        span_uuid: str,
        kind: str,
        status: str,
        service: str,
        span_attributes: dict[str, Any],
        attributes_json: str,
        resource_attributes: dict[str, Any],
        resource_json: str,
        events: list[tuple[str, int, dict[str, Any], int]],
    ) -> None:
        fields = llm_fields(
            span_attributes, resource_attributes, [e[:3] for e in events], start, self.context.content
        )
        price = self.context.prices.find(fields["provider"], fields["model"], start // 1000)
        cost = None
        if price is not None:
            cost = cost_of(
                price,
                Usage(
                    fields["prompt_tokens"] or 0,
                    fields["completion_tokens"] or 0,
                    fields["cache_read_tokens"] or 0,
                    fields["cache_write_tokens"] or 0,
                ),
            )
        elif fields["model"]:
            self.result.unpriced += 1
        trace_hex, span_hex = span.trace_id.hex(), span.span_id.hex()
        self.llm_traces.append(
            (
                span_uuid,
                self.context.project_id,
                pg_timestamp(start),
                trace_hex,
                span_hex,
                span.parent_span_id.hex() or None,
                text(span.name, 255),
                kind,
                service,
                fields["provider"],
                fields["model"],
                fields["operation"],
                fields["input_text"],
                fields["output_text"],
                fields["input_messages"],
                fields["output_messages"],
                fields["finish_reason"],
                fields["prompt_tokens"],
                fields["completion_tokens"],
                fields["total_tokens"],
                fields["cache_read_tokens"],
                fields["cache_write_tokens"],
                fields["reasoning_tokens"],
                cost.prompt_usd if cost else None,
                cost.completion_usd if cost else None,
                cost.total_usd if cost else None,
                (end - start) / 1e6 if end else None,
                fields["ttft_ms"],
                status,
                error_message(span, span_attributes, events),
                fields["user_id"],
                fields["session_id"],
                fields["environment"],
                attributes_json,
                resource_json,
            )
        )
        self.llm_span_refs.append(
            (
                self.context.project_id,
                trace_hex,
                span_hex,
                pg_timestamp(start),
                fields["provider"],
                fields["model"],
            )
        )
        for name, time_ns, event_attributes, index in events:
            if name.startswith("gen_ai."):
                event_json = to_json(event_attributes)
                self.llm_logs.append(
                    (
                        derived_id(self.project, span.trace_id, span.span_id, index.to_bytes(4, "big")),
                        self.context.project_id,
                        pg_timestamp(time_ns),
                        trace_hex,
                        span_hex,
                        fields["provider"],
                        fields["model"],
                        name,
                        None,
                        None,
                        event_json,
                        event_json,
                    )
                )


def error_message(
    span: Span, span_attributes: dict[str, Any], events: list[tuple[str, int, dict[str, Any], int]]
) -> str | None:
    if span.status.code != 2:
        return None
    if span.status.message:
        return span.status.message
    for name, _, event_attributes, _ in events:
        if name == "exception" and event_attributes.get("exception.message"):
            return str(event_attributes["exception.message"])
    error_type = span_attributes.get("error.type")
    return str(error_type) if error_type else None


def convert_traces(request: ExportTraceServiceRequest, context: ConvertContext) -> Converted:
    return TraceConverter(context).convert(request)


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
