"""Pure-Python twins of what the C extensions export, for OBSERVATORY_NO_NATIVE=1 (convert/native.py
is the switch, as aiohttp's NO_EXTENSIONS): the same constants and the same small functions.
tests/unit/test_python_twins.py holds each to its C original. The decoders' twins live beside
their users: convert/wire.py (trace requests) and convert/nesting.py (the depth rewrite)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from observatory_ingest.convert.columns import (
    EVENT_COLUMNS,
    SPAN_COLUMNS,
    TRACE_PART_COLUMNS,
    position,
)

MAX_DEPTH = 16  # nesting of AnyValue arrays and key-value lists kept (native/otlp_wire.c)
MAX_NESTING = 10_000  # protobuf message levels read, the request being the first (the Go runtime's)
RUNTIME_NESTING = 101  # the protobuf runtime's: the request and 100 levels below it
TOO_DEEP = f"[nested deeper than {MAX_DEPTH} levels]"
MAX_NAME = 255  # VARCHAR(255) names (native/trace_rows.c)
MAX_TEXT = 1024 * 1024
POSTGRES_EPOCH_US = 946_684_800_000_000  # binary timestamps count from 2000-01-01 UTC
SPAN_ROW_LAYOUT = SPAN_COLUMNS
EVENT_ROW_LAYOUT = EVENT_COLUMNS
TRACE_PART_LAYOUT = TRACE_PART_COLUMNS


class DecodeError(ValueError):
    """Bytes that are not the request they claim to be."""


def blake2b_16(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def span_rows(
    span: tuple[Any, ...],
    project: bytes,
    project_id: str,
    service: str,
    resource_json: str,
    scope_name: str | None,
    scope_version: str | None,
    earliest: int,
    latest: int,
    dumps: Callable[[Any], bytes],
) -> tuple[tuple[Any, ...], list[tuple[Any, ...]], list[tuple[Any, ...]], int, int | None] | None:
    """The C row builder takes the spans that need no care; this one declines them all, and the
    reference (traces.TraceConverter.reference_rows) builds every span's rows."""
    return None


_ROW_TRACE = position(SPAN_COLUMNS, "trace_id")
_ROW_PROJECT = position(SPAN_COLUMNS, "project_id")
_ROW_SERVICE = position(SPAN_COLUMNS, "service_name")
_ROW_START = position(SPAN_COLUMNS, "start_time")
_ROW_END = position(SPAN_COLUMNS, "end_time")
_ROW_STATUS = position(SPAN_COLUMNS, "status")
_ROW_MESSAGE = position(SPAN_COLUMNS, "status_message")
_ROW_PARENT = position(SPAN_COLUMNS, "parent_span_id")
_ROW_NAME = position(SPAN_COLUMNS, "name")
_ROW_ATTRIBUTES = position(SPAN_COLUMNS, "attributes")
_ROW_RESOURCE = position(SPAN_COLUMNS, "resource_attributes")
_PART_SERVICE = position(TRACE_PART_COLUMNS, "service_name")
_PART_START = position(TRACE_PART_COLUMNS, "start_time")
_PART_END = position(TRACE_PART_COLUMNS, "end_time")
_PART_STATUS = position(TRACE_PART_COLUMNS, "status")
_PART_MESSAGE = position(TRACE_PART_COLUMNS, "status_message")
_PART_ROOT_NAME = position(TRACE_PART_COLUMNS, "root_span_name")
_PART_ATTRIBUTES = position(TRACE_PART_COLUMNS, "attributes")
_PART_RESOURCE = position(TRACE_PART_COLUMNS, "resource_attributes")
_PART_SPANS = position(TRACE_PART_COLUMNS, "span_count")
_STATUS_RANKS = {"error": 2, "ok": 1}


def add_to_trace_part(parts: dict[str, list[Any]], row: tuple[Any, ...]) -> None:
    """A span's share of its trace's summary, folded into parts (trace id -> a TRACE_PART_COLUMNS
    list): earliest start, latest end, error over ok over unset, the least error message, the root
    span's name, service and JSON, else the least service name."""
    trace, service, start, end = row[_ROW_TRACE], row[_ROW_SERVICE], row[_ROW_START], row[_ROW_END]
    status, message = row[_ROW_STATUS], row[_ROW_MESSAGE]
    part = parts.get(trace)
    if part is None:
        part = [trace, row[_ROW_PROJECT], trace, service, start, end, "unset", None, None, "{}", "{}", 0]
        parts[trace] = part
    part[_PART_SPANS] += 1
    if start < part[_PART_START]:
        part[_PART_START] = start
    if end is not None and (part[_PART_END] is None or part[_PART_END] < end):
        part[_PART_END] = end
    rank = _STATUS_RANKS.get(status, 0)
    if rank > _STATUS_RANKS.get(part[_PART_STATUS], 0):
        part[_PART_STATUS] = status
    if rank == 2 and message is not None and (part[_PART_MESSAGE] is None or message < part[_PART_MESSAGE]):
        part[_PART_MESSAGE] = message
    if part[_PART_ROOT_NAME] is not None:  # the root span named it
        return
    if row[_ROW_PARENT] is None:
        part[_PART_SERVICE] = service
        part[_PART_ROOT_NAME] = row[_ROW_NAME]
        part[_PART_ATTRIBUTES] = row[_ROW_ATTRIBUTES]
        part[_PART_RESOURCE] = row[_ROW_RESOURCE]
    elif service < part[_PART_SERVICE]:
        part[_PART_SERVICE] = service


def first_values(
    attributes: dict[str, Any], key_ranks: dict[str, tuple[int, int]], names: tuple[str, ...]
) -> dict[str, Any]:
    """For each field, the value of its lowest-ranked key that attributes holds with a value
    (neither None nor ""); fields without one are left out."""
    best: dict[int, tuple[int, Any]] = {}
    for key, value in attributes.items():
        placed = key_ranks.get(key)
        if placed is None or value is None or (value.__class__ is str and value == ""):
            continue
        field, rank = placed
        if field not in best or rank < best[field][0]:
            best[field] = (rank, value)
    return {names[field]: best[field][1] for field in range(len(names)) if field in best}
