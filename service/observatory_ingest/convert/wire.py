"""OTLP trace requests decoded from their wire bytes by the C decoder (native/otlp_wire.c) into
plain tuples, dicts and strings: reading them costs a fraction of what the protobuf runtime's
message objects cost per field."""

from __future__ import annotations

from typing import Any

from observatory_ingest.convert.columns import position
from observatory_ingest.convert.common import DEFAULT_MAX_ATTRIBUTE_BYTES, capped_value
from observatory_ingest.convert.native import DecodeError, decode_traces

__all__ = ["DecodeError", "DecodedSpan", "DecodedTraces", "decode_trace_request"]

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
    return decode_traces(payload, max_bytes, capped_value)
