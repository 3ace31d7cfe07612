"""A decoded ExportTraceServiceRequest (convert/wire.py) -> rows for trace_spans, trace_events,
and for LLM call spans llm_traces and llm_logs (traces, the per-trace summary, is merged in SQL)."""

from __future__ import annotations

from hashlib import blake2b
from typing import Any

import orjson

from observatory_ingest.convert.columns import (
    SPAN_ATTRIBUTES_AT,
    SPAN_ID_AT,
    SPAN_KIND_AT,
    SPAN_NAME_AT,
    SPAN_PARENT_AT,
    SPAN_PROJECT_AT,
    SPAN_RESOURCE_AT,
    SPAN_SERVICE_AT,
    SPAN_SPAN_AT,
    SPAN_START_AT,
    SPAN_STATUS_AT,
    SPAN_TRACE_AT,
)
from observatory_ingest.convert.common import (
    Converted,
    Row,
    described_resource,
    pg_timestamp,
    to_json,
)
from observatory_ingest.convert.context import ConvertContext
from observatory_ingest.convert.genai import is_llm_call, llm_fields, resource_environment, strip_content
from observatory_ingest.convert.native import (
    MAX_TEXT,
    NATIVE,
    POSTGRES_EPOCH_US,
    add_to_trace_part,
    span_rows,
)
from observatory_ingest.convert.pricing import new_usage
from observatory_ingest.convert.sanitize import (
    FUTURE_LIMIT_NS,
    NUL,
    PAST_LIMIT_NS,
    SANITIZED_KEY,
    int32_bits,
    int32_count,
    optional_text,
    plausible,
    text,
)
from observatory_ingest.convert.wire import (
    ATTRIBUTES,
    END,
    NAME,
    PARENT_SPAN_ID,
    SPAN_ID,
    START,
    STATUS_CODE,
    STATUS_MESSAGE,
    TRACE_ID,
    DecodedSpan,
    DecodedTraces,
)

SPAN_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
STATUS_CODES = ("unset", "ok", "error")
# Protobuf enums are open: a newer client may send a number we do not know.
KIND_NAMES = dict(enumerate(SPAN_KINDS))
STATUS_NAMES = dict(enumerate(STATUS_CODES))
ZERO_TRACE_ID = bytes(16)
ZERO_SPAN_ID = bytes(8)


def span_problem(span: DecodedSpan) -> str | None:
    """Why a span cannot be stored, or None."""
    trace_id, span_id, parent = span[TRACE_ID], span[SPAN_ID], span[PARENT_SPAN_ID]
    if len(trace_id) != 16 or trace_id == ZERO_TRACE_ID:
        return f"span {span[NAME]!r}: trace_id must be 16 non-zero bytes, got {len(trace_id)}"
    if len(span_id) != 8 or span_id == ZERO_SPAN_ID:
        return f"span {span[NAME]!r}: span_id must be 8 non-zero bytes, got {len(span_id)}"
    if len(parent) not in (0, 8):
        return f"span {span[NAME]!r}: parent_span_id must be empty or 8 bytes, got {len(parent)}"
    return None


def span_times(span: DecodedSpan, now: int) -> tuple[int, int | None, list[str]]:
    """Start and end to store, and what had to be fixed: a missing or implausible start falls back
    to the end, else to the receive time; an implausible or inverted end is dropped."""
    start, end = span[START], span[END] or None
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

    def __init__(self, context: ConvertContext, native_rows: bool = True) -> None:
        self.context = context
        # The C row builder (native/trace_rows.c) takes what it can; it never strips content.
        self.native_rows = native_rows and NATIVE and context.content.keep
        self.project = context.project
        self.spans: list[Row] = []
        self.events: list[Row] = []
        self.llm_traces: list[Row] = []
        self.llm_logs: list[Row] = []
        self.now = context.received_ns
        self.plausible_window = (self.now - PAST_LIMIT_NS, self.now + FUTURE_LIMIT_NS)
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

    def convert(self, request: DecodedTraces) -> Converted:
        keep_content, native_rows = self.context.content.keep, self.native_rows
        project, project_id = self.project, self.context.project_id
        earliest, latest = self.plausible_window
        dumps = orjson.dumps  # looked up once: the loop below runs per span
        for resource_attributes, scopes in request:
            resource = described_resource(resource_attributes)
            service, resource_json = resource.service, resource.json
            environment = resource_environment(resource_attributes)
            for scope_name, scope_version, spans in scopes:
                scope = (optional_text(scope_name, 255), optional_text(scope_version, 50))
                stored_scope_name, stored_scope_version = scope
                for span in spans:
                    built = None
                    if native_rows:
                        # None for whatever needs the reference's care, invalid spans included.
                        built = span_rows(
                            span,
                            project,
                            project_id,
                            service,
                            resource_json,
                            stored_scope_name,
                            stored_scope_version,
                            earliest,
                            latest,
                            dumps,
                        )
                    span_attributes = span[ATTRIBUTES]
                    if built is None:
                        problem = span_problem(span)
                        if problem:
                            self.result.reject(problem)
                            continue
                        if not keep_content:
                            span_attributes = strip_content(span_attributes)
                        built = self.reference_rows(span, span_attributes, resource_json, service, scope)
                    self.add_span(span, built, span_attributes, environment)
                    self.result.accepted += 1
        self.result.tables["trace_parts"] = [tuple(part) for part in self.trace_parts.values()]
        return self.result

    def add_span(
        self,
        span: DecodedSpan,
        built: SpanRows,
        span_attributes: dict[str, Any],
        environment: Any,
    ) -> None:
        row, event_rows, events, start, end = built
        self.spans.append(row)
        self.events.extend(event_rows)
        add_to_trace_part(self.trace_parts, row)  # this request's share of the trace's summary
        if is_llm_call(span_attributes):
            self.add_llm_call(span, row, start, end, span_attributes, environment, events)

    def reference_rows(
        self,
        span: DecodedSpan,
        span_attributes: dict[str, Any],
        resource_json: str,
        service: str,
        scope: tuple[str | None, str | None],
    ) -> SpanRows:
        """The trace_spans row, trace_events rows and kept events of a span, with every fix-up
        (native/trace_rows.c builds the same for the spans that need none)."""
        project_id = self.context.project_id
        (
            trace_id,
            span_id,
            trace_state,
            parent_span_id,
            flags,
            name,
            kind,
            start,
            end,
            _,
            dropped_attributes,
            span_events,
            dropped_events,
            span_links,
            dropped_links,
            status_message,
            status_code,
        ) = span
        # derived_id, inlined.
        span_key = self.project + trace_id + span_id
        span_uuid = blake2b(span_key, digest_size=16).hexdigest()
        trace_uuid = trace_id.hex()
        earliest, latest = self.plausible_window
        if not earliest <= start <= end <= latest:
            start, end, fixed = span_times(span, self.now)
            if fixed:
                span_attributes[SANITIZED_KEY] = fixed
                self.result.sanitized += 1
        events: list[SpanEvent] = []
        event_rows: list[Row] = []
        for index, (event_time, event_name, event_attributes, event_dropped) in enumerate(span_events):
            if not earliest <= event_time <= latest:
                event_time = start
            if not self.context.content.keep:
                event_attributes = strip_content(event_attributes)
            event_id = blake2b(span_key + index.to_bytes(4, "big"), digest_size=16).hexdigest()
            event_name = text(event_name, 255)
            event_json = to_json(event_attributes)
            events.append((event_id, event_name, event_time, event_attributes, event_json, event_dropped))
            event_rows.append(
                (
                    event_id,
                    project_id,
                    span_uuid,
                    trace_uuid,
                    event_name,
                    (event_time // 1000 - POSTGRES_EPOCH_US,),
                    event_json,
                    int32_count(event_dropped),
                )
            )
        status = STATUS_NAMES.get(status_code, "unset")
        attributes_json = to_json(span_attributes)
        parent = parent_span_id.hex() or None
        if len(name) > 255 or NUL in name:
            name = text(name, 255)
        start_ts = (start // 1000 - POSTGRES_EPOCH_US,)
        end_ts = (end // 1000 - POSTGRES_EPOCH_US,) if end else None
        message = optional_text(status_message, MAX_TEXT)
        row = (
            span_uuid,
            project_id,
            trace_uuid,
            span_id.hex(),
            parent,
            name,
            KIND_NAMES.get(kind, "unspecified"),
            service,
            start_ts,
            end_ts,
            (end - start) // 1000 if end else None,
            status,
            message,
            attributes_json,
            events_json(events) if events else None,
            to_json(links(span_links)) if span_links else None,
            resource_json,
            scope[0],
            scope[1],
            optional_text(trace_state, MAX_TEXT),
            int32_bits(flags),
            int32_count(dropped_attributes),
            int32_count(dropped_events),
            int32_count(dropped_links),
        )
        return row, event_rows, events, start, end

    def add_llm_call(
        self,
        span: DecodedSpan,
        row: Row,
        start: int,
        end: int | None,
        span_attributes: dict[str, Any],
        environment: Any,
        events: list[SpanEvent],
    ) -> None:
        """llm_traces, llm_span_refs and llm_logs rows; what they share with the trace_spans row
        (ids, names, times, JSON) is taken from it."""
        fields = llm_fields(
            span_attributes,
            environment,
            [(name, time_ns, attributes) for _, name, time_ns, attributes, _, _ in events],
            start,
            self.context.content,
        )
        provider, model = fields["provider"], fields["model"]
        usage = new_usage(
            (
                fields["prompt_tokens"],
                fields["completion_tokens"],
                fields["cache_read_tokens"],
                fields["cache_write_tokens"],
                fields["reasoning_tokens"],
                fields["reported_total_tokens"],
                fields["usage_details"],
            )
        )
        context = self.context
        cost = context.prices.cost(context.project_id, provider, model, usage, start // 1000)
        if cost is None and model:
            self.result.unpriced += 1
        span_uuid, project_id, trace_hex = row[SPAN_ID_AT], row[SPAN_PROJECT_AT], row[SPAN_TRACE_AT]
        span_hex, parent, name, kind = (
            row[SPAN_SPAN_AT],
            row[SPAN_PARENT_AT],
            row[SPAN_NAME_AT],
            row[SPAN_KIND_AT],
        )
        service, start_ts, status = row[SPAN_SERVICE_AT], row[SPAN_START_AT], row[SPAN_STATUS_AT]
        attributes_json, resource_json = row[SPAN_ATTRIBUTES_AT], row[SPAN_RESOURCE_AT]
        self.llm_traces.append(
            (
                span_uuid,
                project_id,
                start_ts,
                trace_hex,
                span_hex,
                parent,
                name,
                kind,
                service,
                provider,
                model,
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
        self.llm_span_refs.append((project_id, trace_hex, span_hex, start_ts, provider, model))
        for event_id, name, time_ns, _, event_json, _ in events:
            if name.startswith("gen_ai."):
                self.llm_logs.append(
                    (
                        event_id,
                        project_id,
                        pg_timestamp(time_ns),
                        trace_hex,
                        span_hex,
                        provider,
                        model,
                        name,
                        None,
                        None,
                        event_json,
                        event_json,
                    )
                )


# A span's event as conversion keeps it: (id, name, time_unix_nano, attributes, attributes as JSON,
# dropped_attributes_count). A plain tuple: a class instance per event costs measurably more.
SpanEvent = tuple[str, str, int, dict[str, Any], str, int]
# A span's trace_spans row, its trace_events rows, its kept events, its start and end (ns).
SpanRows = tuple[Row, list[Row], list[SpanEvent], int, int | None]


def events_json(events: list[SpanEvent]) -> str:
    return to_json(
        [
            {
                "name": name,
                "time_unix_nano": time_ns,
                "attributes": attributes,
                "dropped_attributes_count": dropped,
            }
            for _, name, time_ns, attributes, _, dropped in events
        ]
    )


def error_message(span: DecodedSpan, span_attributes: dict[str, Any], events: list[SpanEvent]) -> str | None:
    if span[STATUS_CODE] != 2:
        return None
    if span[STATUS_MESSAGE]:
        return str(span[STATUS_MESSAGE])
    for _, name, _, attributes, _, _ in events:
        if name == "exception" and attributes.get("exception.message"):
            return str(attributes["exception.message"])
    error_type = span_attributes.get("error.type")
    return str(error_type) if error_type else None


def convert_traces(request: DecodedTraces, context: ConvertContext, native_rows: bool = True) -> Converted:
    return TraceConverter(context, native_rows).convert(request)


def links(span_links: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [
        {
            "trace_id": trace_id.hex(),
            "span_id": span_id.hex(),
            "trace_state": trace_state,
            "attributes": link_attributes,
            "dropped_attributes_count": dropped,
            "flags": flags,
        }
        for trace_id, span_id, trace_state, link_attributes, dropped, flags in span_links
    ]
