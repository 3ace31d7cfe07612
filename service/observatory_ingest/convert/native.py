"""The C boundary: the one module that imports the extensions built from native/*.c, and re-exports
what conversion uses, with the constants the C code defines (so Python never defines them again).

OBSERVATORY_NO_NATIVE=1 switches to the pure-Python path (as aiohttp's NO_EXTENSIONS does): the
constants and small functions of convert/python_twins.py stand in, the C row builder declines
every span (the reference builds them all), and the decoders are None here so their users take
their Python twins (convert/wire.py, convert/nesting.py). CI runs the suite once that way."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

NATIVE = os.environ.get("OBSERVATORY_NO_NATIVE", "") in ("", "0")

decode_traces: Callable[[bytes, int, Callable[[Any, int, bool], Any]], Any] | None
flatten_values: Callable[[bytes, int], bytes] | None

if NATIVE:
    from observatory_ingest._attribute_fields import first_values
    from observatory_ingest._otlp_wire import (
        EVENT_TUPLE_LAYOUT,
        MAX_DEPTH,
        MAX_NESTING,
        RUNTIME_NESTING,
        SPAN_TUPLE_LAYOUT,
        TOO_DEEP,
        DecodeError,
        decode_traces,
        flatten_values,
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
else:
    from observatory_ingest.convert.python_twins import (  # type: ignore[assignment]
        EVENT_ROW_LAYOUT,
        MAX_DEPTH,
        MAX_NAME,
        MAX_NESTING,
        MAX_TEXT,
        POSTGRES_EPOCH_US,
        RUNTIME_NESTING,
        SPAN_ROW_LAYOUT,
        TOO_DEEP,
        TRACE_PART_LAYOUT,
        DecodeError,
        add_to_trace_part,
        blake2b_16,
        first_values,
        span_rows,
    )

    decode_traces = None
    flatten_values = None

__all__ = [
    "EVENT_ROW_LAYOUT",
    "MAX_DEPTH",
    "MAX_NAME",
    "MAX_NESTING",
    "MAX_TEXT",
    "NATIVE",
    "POSTGRES_EPOCH_US",
    "RUNTIME_NESTING",
    "SPAN_ROW_LAYOUT",
    "TOO_DEEP",
    "TRACE_PART_LAYOUT",
    "DecodeError",
    "add_to_trace_part",
    "blake2b_16",
    "decode_traces",
    "first_values",
    "flatten_values",
    "span_rows",
]
if NATIVE:
    __all__ += ["EVENT_TUPLE_LAYOUT", "SPAN_TUPLE_LAYOUT"]
