"""OTLP trace requests decoded from their wire bytes by the C decoder (native/otlp_wire.c) into
plain tuples, dicts and strings: reading them costs a fraction of what the protobuf runtime's
message objects cost per field. Its twin, runtime_decoded_traces, reads the same shapes through the
protobuf runtime: the pure-Python path (OBSERVATORY_NO_NATIVE=1) and the tests' reference."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from observatory_ingest.convert.columns import position
from observatory_ingest.convert.common import DEFAULT_MAX_ATTRIBUTE_BYTES, attributes, capped_value
from observatory_ingest.convert.native import DecodeError, decode_traces
from observatory_ingest.convert.nesting import TRACES, parse_request

__all__ = [
    "DecodeError",
    "DecodedSpan",
    "DecodedTraces",
    "decode_trace_request",
    "decoded_from_message",
    "runtime_decoded_traces",
]

# A decoded span: a tuple with these fields, in this order (native/span_tuple.h builds it; events
# are (time_unix_nano, name, attributes, dropped_attributes_count), links (trace_id, span_id,
# trace_state, attributes, dropped_attributes_count, flags)).
DECODED_SPAN_FIELDS = (
    "trace_id",
    "span_id",
    "trace_state",
    "parent_span_id",
    "flags",
    "name",
    "kind",
    "start_time_unix_nano",
    "end_time_unix_nano",
    "attributes",
    "dropped_attributes_count",
    "events",
    "dropped_events_count",
    "links",
    "dropped_links_count",
    "status_message",
    "status_code",
)
DECODED_EVENT_FIELDS = ("time_unix_nano", "name", "attributes", "dropped_attributes_count")
# Positions read by name.
TRACE_ID = position(DECODED_SPAN_FIELDS, "trace_id")
SPAN_ID = position(DECODED_SPAN_FIELDS, "span_id")
PARENT_SPAN_ID = position(DECODED_SPAN_FIELDS, "parent_span_id")
NAME = position(DECODED_SPAN_FIELDS, "name")
START = position(DECODED_SPAN_FIELDS, "start_time_unix_nano")
END = position(DECODED_SPAN_FIELDS, "end_time_unix_nano")
ATTRIBUTES = position(DECODED_SPAN_FIELDS, "attributes")
STATUS_MESSAGE = position(DECODED_SPAN_FIELDS, "status_message")
STATUS_CODE = position(DECODED_SPAN_FIELDS, "status_code")

DecodedSpan = tuple[Any, ...]
# [(resource_attributes, [(scope_name, scope_version, [span, ...]), ...]), ...]
DecodedTraces = list[tuple[dict[str, Any], list[tuple[str, str, list[DecodedSpan]]]]]


def decode_trace_request(payload: bytes, max_bytes: int = DEFAULT_MAX_ATTRIBUTE_BYTES) -> DecodedTraces:
    """Raises DecodeError (a ValueError) or UnicodeDecodeError for bytes that are not a request."""
    if decode_traces is None:
        return runtime_decoded_traces(payload, max_bytes)
    return decode_traces(payload, max_bytes, capped_value)  # type: ignore[no-any-return]


def runtime_decoded_traces(payload: bytes, max_bytes: int = DEFAULT_MAX_ATTRIBUTE_BYTES) -> DecodedTraces:
    """What decode_trace_request returns, read through the protobuf runtime's message objects
    under the depth policy (convert/nesting.py)."""
    return decoded_from_message(parse_request(ExportTraceServiceRequest, payload, TRACES), max_bytes)


def decoded_from_message(request: ExportTraceServiceRequest, max_bytes: int) -> DecodedTraces:
    return [
        (
            attributes(resource_spans.resource.attributes, max_bytes),
            [
                (
                    scope_spans.scope.name,
                    scope_spans.scope.version,
                    [span_tuple(span, max_bytes) for span in scope_spans.spans],
                )
                for scope_spans in resource_spans.scope_spans
            ],
        )
        for resource_spans in request.resource_spans
    ]


def span_tuple(span: Span, max_bytes: int) -> DecodedSpan:
    return (
        span.trace_id,
        span.span_id,
        span.trace_state,
        span.parent_span_id,
        span.flags,
        span.name,
        span.kind,
        span.start_time_unix_nano,
        span.end_time_unix_nano,
        attributes(span.attributes, max_bytes),
        span.dropped_attributes_count,
        [
            (
                event.time_unix_nano,
                event.name,
                attributes(event.attributes, max_bytes),
                event.dropped_attributes_count,
            )
            for event in span.events
        ],
        span.dropped_events_count,
        [
            (
                link.trace_id,
                link.span_id,
                link.trace_state,
                attributes(link.attributes, max_bytes),
                link.dropped_attributes_count,
                link.flags,
            )
            for link in span.links
        ],
        span.dropped_links_count,
        span.status.message,
        span.status.code,
    )
