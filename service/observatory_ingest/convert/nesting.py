"""The depth policy, for the requests the protobuf runtime parses (metrics and logs; traces too on
the pure-Python path).

AnyValue arrays and key-value lists are read as deep as MAX_NESTING (10,000) protobuf message
levels, the request being the first and groups of unknown fields counting as levels, as the Go
runtime of the OpenTelemetry Collector reads them; deeper, the request is refused. Values nested
deeper than MAX_DEPTH (16) are kept as the TOO_DEEP marker. The protobuf runtime stops at 100
levels, so a request it refuses is rewritten and parsed again: every AnyValue nested past
MAX_DEPTH that holds an array or a key-value list becomes the marker, and oneof members a later
member replaced are left out, both checked first as the runtime would parse them. A request the
runtime reads at once keeps the same values: common.any_value puts the marker in the message
itself. What is kept is then read by the runtime, with its own limit; the C trace decoder
(native/otlp_wire.c) keeps exactly the same.

The rewrite is native/otlp_wire.c's flatten_values; flatten_values_python below is its twin, for
OBSERVATORY_NO_NATIVE=1 (tests and the fuzz targets hold the two to the same messages).
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import DecodeError as RuntimeDecodeError

from observatory_ingest.convert import native
from observatory_ingest.convert.native import MAX_DEPTH, MAX_NESTING, TOO_DEEP, DecodeError

TRACES, METRICS, LOGS = 0, 1, 2  # the signal argument of flatten_values

__all__ = ["LOGS", "METRICS", "TRACES", "flatten_values", "flatten_values_python", "parse_request"]


def parse_request(request_type: Any, payload: bytes, signal: int) -> Any:
    """The request message under the depth policy; DecodeError (a ValueError) for bytes that are
    not one."""
    try:
        return request_type.FromString(payload)
    except RuntimeDecodeError:
        pass  # perhaps nested deeper than the runtime reads: rewritten, and parsed again
    flattened = flatten_values(payload, signal)
    try:
        return request_type.FromString(flattened)
    except RuntimeDecodeError as error:
        raise DecodeError(str(error)) from None


VARINT, FIXED64, LEN, START_GROUP, END_GROUP, FIXED32 = range(6)
UINT32_MAX, INT32_MAX, UINT64_MASK = 2**32 - 1, 2**31 - 1, 2**64 - 1

# The messages checked whole (what values nested past MAX_DEPTH hold), and groups.
ANY_VALUE, ARRAY, KVLIST, KEY_VALUE, GROUP = range(5)
STRING = -1
CHECKED_FIELDS: dict[int, dict[int, int]] = {
    ANY_VALUE: {1: STRING, 5: ARRAY, 6: KVLIST},
    ARRAY: {1: ANY_VALUE},
    KVLIST: {1: KEY_VALUE},
    KEY_VALUE: {1: STRING, 2: ANY_VALUE},
    GROUP: {},
}
# The wire type each AnyValue member is read from (8: string_value_strindex).
MEMBER_WIRE_TYPES = {1: LEN, 5: LEN, 6: LEN, 7: LEN, 2: VARINT, 3: VARINT, 8: VARINT, 4: FIXED64}

# The messages on the way from a request to its AnyValues: field -> where it leads.
(
    M_TRACES,
    M_RESOURCE_SPANS,
    M_SCOPE_SPANS,
    M_SPAN,
    M_EVENT,
    M_LINK,
    M_RESOURCE,
    M_SCOPE,
    M_METRICS,
    M_RESOURCE_METRICS,
    M_SCOPE_METRICS,
    M_METRIC,
    M_NUMBER_POINTS,
    M_HISTOGRAM_POINTS,
    M_EXPONENTIAL_POINTS,
    M_SUMMARY_POINTS,
    M_NUMBER_POINT,
    M_HISTOGRAM_POINT,
    M_EXPONENTIAL_POINT,
    M_SUMMARY_POINT,
    M_EXEMPLAR,
    M_LOGS,
    M_RESOURCE_LOGS,
    M_SCOPE_LOGS,
    M_LOG_RECORD,
    M_KEY_VALUE,
    M_ANY_VALUE,
) = range(27)
PATHS: dict[int, dict[int, int]] = {
    M_TRACES: {1: M_RESOURCE_SPANS},
    M_RESOURCE_SPANS: {1: M_RESOURCE, 2: M_SCOPE_SPANS},
    M_SCOPE_SPANS: {1: M_SCOPE, 2: M_SPAN},
    M_SPAN: {9: M_KEY_VALUE, 11: M_EVENT, 13: M_LINK},
    M_EVENT: {3: M_KEY_VALUE},
    M_LINK: {4: M_KEY_VALUE},
    M_RESOURCE: {1: M_KEY_VALUE},
    M_SCOPE: {3: M_KEY_VALUE},
    M_METRICS: {1: M_RESOURCE_METRICS},
    M_RESOURCE_METRICS: {1: M_RESOURCE, 2: M_SCOPE_METRICS},
    M_SCOPE_METRICS: {1: M_SCOPE, 2: M_METRIC},
    M_METRIC: {
        5: M_NUMBER_POINTS,
        7: M_NUMBER_POINTS,
        9: M_HISTOGRAM_POINTS,
        10: M_EXPONENTIAL_POINTS,
        11: M_SUMMARY_POINTS,
        12: M_KEY_VALUE,
    },
    M_NUMBER_POINTS: {1: M_NUMBER_POINT},
    M_HISTOGRAM_POINTS: {1: M_HISTOGRAM_POINT},
    M_EXPONENTIAL_POINTS: {1: M_EXPONENTIAL_POINT},
    M_SUMMARY_POINTS: {1: M_SUMMARY_POINT},
    M_NUMBER_POINT: {7: M_KEY_VALUE, 5: M_EXEMPLAR},
    M_HISTOGRAM_POINT: {9: M_KEY_VALUE, 8: M_EXEMPLAR},
    M_EXPONENTIAL_POINT: {1: M_KEY_VALUE, 11: M_EXEMPLAR},
    M_SUMMARY_POINT: {7: M_KEY_VALUE},
    M_EXEMPLAR: {7: M_KEY_VALUE},
    M_LOGS: {1: M_RESOURCE_LOGS},
    M_RESOURCE_LOGS: {1: M_RESOURCE, 2: M_SCOPE_LOGS},
    M_SCOPE_LOGS: {1: M_SCOPE, 2: M_LOG_RECORD},
    M_LOG_RECORD: {6: M_KEY_VALUE, 5: M_ANY_VALUE},
    M_KEY_VALUE: {2: M_ANY_VALUE},
}
REQUEST_TYPES = (M_TRACES, M_METRICS, M_LOGS)


def encoded_varint(number: int) -> bytes:
    encoded = bytearray()
    while number >= 0x80:
        encoded.append(number & 0x7F | 0x80)
        number >>= 7
    encoded.append(number)
    return bytes(encoded)


_MARKER = TOO_DEEP.encode()
MARKER_VALUE = b"\x0a" + encoded_varint(len(_MARKER)) + _MARKER  # an AnyValue holding the marker alone


class WireReader:
    """The wire bytes of a message: data[p:end], its level (the request being 1) in nesting."""

    __slots__ = ("data", "end", "nesting", "p")

    def __init__(self, data: bytes, p: int, end: int, nesting: int) -> None:
        self.data, self.p, self.end, self.nesting = data, p, end, nesting

    def varint(self, max_bytes: int = 10, limit: int = UINT64_MASK) -> int:
        value = 0
        for index in range(max_bytes):
            if self.p >= self.end:
                raise DecodeError("truncated varint")
            byte = self.data[self.p]
            self.p += 1
            value |= (byte & 0x7F) << (7 * index)
            if byte < 0x80:
                if value > limit:
                    raise DecodeError("tag or length out of range")
                return value & UINT64_MASK
        raise DecodeError("varint too long")

    def raw_tag(self) -> tuple[int, int]:
        tag = self.varint(5, UINT32_MAX)  # the runtime reads tags of at most 5 bytes
        return tag >> 3, tag & 7

    def tag(self) -> tuple[int, int]:
        field, wire_type = self.raw_tag()
        if field == 0:
            raise DecodeError("invalid field number")
        return field, wire_type

    def length_delimited(self) -> WireReader:
        length = self.varint(5, INT32_MAX)
        if length > self.end - self.p:
            raise DecodeError("length-delimited field runs past its message")
        inner = WireReader(self.data, self.p, self.p + length, self.nesting)
        self.p += length
        return inner

    def message(self, limit: int = MAX_NESTING) -> WireReader:
        inner = self.length_delimited()
        inner.nesting += 1
        if inner.nesting > limit:
            raise DecodeError("messages nested too deep")
        return inner

    def fixed(self, size: int) -> None:
        if self.end - self.p < size:
            raise DecodeError("truncated fixed-width field")
        self.p += size

    def skip(self, field: int, wire_type: int, limit: int = MAX_NESTING) -> None:
        if wire_type == VARINT:
            self.varint()
        elif wire_type == FIXED64:
            self.fixed(8)
        elif wire_type == LEN:
            self.length_delimited()
        elif wire_type == FIXED32:
            self.fixed(4)
        elif wire_type == START_GROUP:
            check_nested(self, GROUP, field, limit)
        else:
            raise DecodeError("unexpected end-group tag or invalid wire type")


def check_text(reader: WireReader) -> None:
    try:
        bytes(reader.data[reader.p : reader.end]).decode()
    except UnicodeDecodeError:
        raise DecodeError("invalid UTF-8 in a string field") from None


def check_nested(reader: WireReader, kind: int, group: int, limit: int) -> None:
    """Checks a message of `kind` (reader holds its fields, reader.nesting its level), or with
    GROUP the rest of a group of field number `group` one level below reader.nesting, as the
    runtime parses them, up to `limit` levels; the reader is left after it. Iterative."""
    base = reader.nesting + 1 if kind == GROUP else reader.nesting
    if base > limit:
        raise DecodeError("messages nested too deep")
    outer_end = reader.end
    stack = [(reader.end, group, kind)]
    while stack:
        top_end, top_group, top_kind = stack[-1]
        if top_kind != GROUP and reader.p == top_end:
            stack.pop()
            reader.end = stack[-1][0] if stack else outer_end
            continue
        if reader.p >= reader.end:
            raise DecodeError("unterminated group")
        field, wire_type = reader.raw_tag()
        if field == 0 and top_kind != GROUP:  # inside a group the runtime takes field 0 too
            raise DecodeError("invalid field number")
        if wire_type == END_GROUP:
            if top_kind != GROUP or top_group != field:
                raise DecodeError("unexpected end-group tag")
            stack.pop()
            reader.end = stack[-1][0] if stack else outer_end
            continue
        if wire_type == LEN:
            payload = reader.length_delimited()
            child = CHECKED_FIELDS[top_kind].get(field)
            if child == STRING:
                check_text(payload)
            if child is None or child == STRING:
                continue
            child_end, reader.p = payload.end, payload.p
        elif wire_type == START_GROUP:
            child, child_end = GROUP, reader.end
        else:
            reader.skip(field, wire_type, limit)
            continue
        if base + len(stack) > limit:
            raise DecodeError("messages nested too deep")
        stack.append((child_end, field, child))
        reader.end = child_end
    reader.end = outer_end


def plan_value(occurrences: list[WireReader]) -> tuple[int, int]:
    """The member an AnyValue ends with, and from which of its fields on (counted over all its
    occurrences) that member's occurrences merge: earlier ones were replaced."""
    kind, run_start, ordinal = 0, 0, 0
    for occurrence in occurrences:
        reader = WireReader(occurrence.data, occurrence.p, occurrence.end, occurrence.nesting)
        while reader.p < reader.end:
            field, wire_type = reader.tag()
            if MEMBER_WIRE_TYPES.get(field) == wire_type and not (field in (5, 6) and kind == field):
                kind, run_start = field, ordinal
            reader.skip(field, wire_type)
            ordinal += 1
    return kind, run_start


def becomes_marker(kind: int, depth: int) -> bool:
    return depth >= MAX_DEPTH and kind in (5, 6)


def check_values(occurrences: list[WireReader]) -> None:
    for occurrence in occurrences:
        check_nested(
            WireReader(occurrence.data, occurrence.p, occurrence.end, occurrence.nesting),
            ANY_VALUE,
            0,
            MAX_NESTING,
        )


def delimited(tag: bytes, content: bytes) -> bytes:
    return tag + encoded_varint(len(content)) + content


def rewrite_items(reader: WireReader, is_array: bool, depth: int) -> bytes:
    out = bytearray()
    while reader.p < reader.end:
        start = reader.p
        field, wire_type = reader.tag()
        tag = reader.data[start : reader.p]
        if field != 1 or wire_type != LEN:
            reader.skip(field, wire_type)
            out += reader.data[start : reader.p]
            continue
        item = reader.message()
        if not is_array:
            out += delimited(tag, rewrite_message(item, M_KEY_VALUE, depth + 1))
            continue
        kind, run_start = plan_value([item])
        if becomes_marker(kind, depth + 1):
            check_values([item])
            out += delimited(tag, MARKER_VALUE)
            continue
        out += delimited(tag, rewrite_value_occurrence(item, kind, run_start, [0], depth + 1))
    return bytes(out)


def rewrite_value_occurrence(
    reader: WireReader, kind: int, run_start: int, ordinal: list[int], depth: int
) -> bytes:
    out = bytearray()
    while reader.p < reader.end:
        start = reader.p
        field, wire_type = reader.tag()
        if wire_type == LEN and field in (5, 6):
            tag = reader.data[start : reader.p]
            member = reader.message()
            if field == kind and ordinal[0] >= run_start:
                out += delimited(tag, rewrite_items(member, field == 5, depth))
            else:  # replaced by a later member: checked, left out
                check_nested(member, ARRAY if field == 5 else KVLIST, 0, MAX_NESTING)
        else:
            reader.skip(field, wire_type)
            out += reader.data[start : reader.p]
        ordinal[0] += 1
    return bytes(out)


def rewrite_message(reader: WireReader, message_type: int, depth: int) -> bytes:
    paths = PATHS[message_type]
    value_field = next((field for field, child in paths.items() if child == M_ANY_VALUE), 0)
    kind, run_start, marker = 0, 0, False
    if value_field:
        scan = WireReader(reader.data, reader.p, reader.end, reader.nesting)
        values = []
        while scan.p < scan.end:
            field, wire_type = scan.tag()
            if field == value_field and wire_type == LEN:
                values.append(scan.message())
            else:
                scan.skip(field, wire_type)
        kind, run_start = plan_value(values)
        marker = becomes_marker(kind, depth)
        if marker:
            check_values(values)
    out, ordinal, marker_written = bytearray(), [0], False
    while reader.p < reader.end:
        start = reader.p
        field, wire_type = reader.tag()
        child = paths.get(field) if wire_type == LEN else None
        if child is None:
            reader.skip(field, wire_type)
            out += reader.data[start : reader.p]
            continue
        tag = reader.data[start : reader.p]
        inner = reader.message()
        if child == M_ANY_VALUE and marker:  # the marker once, in the first occurrence's place
            if not marker_written:
                out += delimited(tag, MARKER_VALUE)
            marker_written = True
        elif child == M_ANY_VALUE:
            out += delimited(tag, rewrite_value_occurrence(inner, kind, run_start, ordinal, depth))
        else:
            out += delimited(tag, rewrite_message(inner, child, depth))
    return bytes(out)


def flatten_values_python(payload: bytes, signal: int) -> bytes:
    """The request (signal: TRACES, METRICS or LOGS) with every value nested past MAX_DEPTH that
    holds an array or key-value list replaced by TOO_DEEP and replaced oneof members left out."""
    return rewrite_message(WireReader(bytes(payload), 0, len(payload), 1), REQUEST_TYPES[signal], 0)


flatten_values = native.flatten_values or flatten_values_python
