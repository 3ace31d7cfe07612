"""OTLP trace requests decoded from their wire bytes by the C decoder (native/otlp_wire.c) into
plain tuples, dicts and strings: reading them costs a fraction of what the protobuf runtime's
message objects cost per field."""

from __future__ import annotations

from typing import Any

from observatory_ingest._otlp_wire import DecodeError, decode_traces
from observatory_ingest.convert.common import DEFAULT_MAX_ATTRIBUTE_BYTES, capped_value

__all__ = ["DecodeError", "DecodedSpan", "DecodedTraces", "decode_trace_request"]

# A span: (trace_id, span_id, trace_state, parent_span_id, flags, name, kind, start_time_unix_nano,
# end_time_unix_nano, attributes, dropped_attributes_count, events, dropped_events_count, links,
# dropped_links_count, status_message, status_code); events are (time_unix_nano, name, attributes,
# dropped_attributes_count), links (trace_id, span_id, trace_state, attributes,
# dropped_attributes_count, flags). Positions, for readers of the tuple:
TRACE_ID, SPAN_ID, TRACE_STATE, PARENT_SPAN_ID, FLAGS, NAME, KIND, START, END = range(9)
ATTRIBUTES, DROPPED_ATTRIBUTES, EVENTS, DROPPED_EVENTS, LINKS, DROPPED_LINKS = range(9, 15)
STATUS_MESSAGE, STATUS_CODE = 15, 16

DecodedSpan = tuple[Any, ...]
# [(resource_attributes, [(scope_name, scope_version, [span, ...]), ...]), ...]
DecodedTraces = list[tuple[dict[str, Any], list[tuple[str, str, list[DecodedSpan]]]]]


def decode_trace_request(payload: bytes, max_bytes: int = DEFAULT_MAX_ATTRIBUTE_BYTES) -> DecodedTraces:
    """Raises DecodeError (a ValueError) or UnicodeDecodeError for bytes that are not a request."""
    return decode_traces(payload, max_bytes, capped_value)
