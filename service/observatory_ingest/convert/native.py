"""The C boundary: the one module that imports the extensions built from native/*.c, and re-exports
what conversion uses, with the constants the C code defines (so Python never defines them again)."""

from __future__ import annotations

from observatory_ingest._attribute_fields import first_values
from observatory_ingest._otlp_wire import (
    EVENT_TUPLE_LAYOUT,
    MAX_DEPTH,
    SPAN_TUPLE_LAYOUT,
    TOO_DEEP,
    DecodeError,
    decode_traces,
)
from observatory_ingest._trace_rows import (
    EVENT_ROW_LAYOUT,
    MAX_NAME,
    MAX_TEXT,
    POSTGRES_EPOCH_US,
    SPAN_ROW_LAYOUT,
    TRACE_PART_LAYOUT,
    add_to_trace_part,
    blake2b_16,
    span_rows,
)

__all__ = [
    "EVENT_ROW_LAYOUT",
    "EVENT_TUPLE_LAYOUT",
    "MAX_DEPTH",
    "MAX_NAME",
    "MAX_TEXT",
    "POSTGRES_EPOCH_US",
    "SPAN_ROW_LAYOUT",
    "SPAN_TUPLE_LAYOUT",
    "TOO_DEEP",
    "TRACE_PART_LAYOUT",
    "DecodeError",
    "add_to_trace_part",
    "blake2b_16",
    "decode_traces",
    "first_values",
    "span_rows",
]
