"""OTLP/JSON: proto3 JSON with the OTLP twists (hex trace and span ids, integer enums), turned
into protobuf wire bytes so that JSON bodies take the same decoder as protobuf bodies.

The body is untrusted: every value is checked against its field's type and a mistake answers 400
naming the field (`resourceSpans[0].scopeSpans[0].spans[3].kind: expected an integer or an enum
name, got true`). The encoding walks the document with a stack of its own, so the depth of the
input never becomes the depth of the Python stack, and writes back to front (children before the
length that prefixes them), so every byte is written once whatever the nesting.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import struct
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from observatory_ingest.errors import InvalidRequest
from observatory_ingest.export import protobuf_decoder
from observatory_ingest.signals import Signal

# Where OTLP puts trace and span ids (spans, links, log records, exemplars): hex, not base64.
ID_FIELDS = frozenset({"trace_id", "span_id", "parent_span_id"})
ID_JSON_NAMES = frozenset({"traceId", "spanId", "parentSpanId", *ID_FIELDS})

# Longer integer literals are no 64-bit value, and would cost quadratic time to convert.
MAX_INTEGER_DIGITS = 40

WIRE_VARINT, WIRE_FIXED64, WIRE_LENGTH, WIRE_FIXED32 = 0, 1, 2, 5


# ---------------------------------------------------------------------------------------------
# Parsing: strict JSON, UTF-8 only, no duplicate keys, no NaN literals, bounded integer literals.


def object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise InvalidRequest(f"invalid JSON: the key {shorten(name)} appears twice in one object")
            seen.add(name)
    return document


def bounded_integer(text: str) -> int:
    if len(text) > MAX_INTEGER_DIGITS:
        raise InvalidRequest(f"invalid JSON: an integer of {len(text)} digits is out of range")
    return int(text)


def refuse_constant(name: str) -> Any:
    raise InvalidRequest(f'invalid JSON: {name} is not a JSON number (OTLP/JSON spells it "{name}")')


PARSER = json.JSONDecoder(
    object_pairs_hook=object_without_duplicate_keys,
    parse_int=bounded_integer,
    parse_constant=refuse_constant,
)


def parse_json(payload: bytes) -> Any:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidRequest(f"invalid JSON: not UTF-8 at byte {error.start}") from None
    try:
        return PARSER.decode(text)
    except json.JSONDecodeError as error:
        raise InvalidRequest(f"invalid JSON: {error}") from None
    except RecursionError:
        # The C parser counts its depth against the interpreter's recursion limit and stops cleanly.
        raise InvalidRequest("invalid JSON: nested too deeply to parse") from None


# ---------------------------------------------------------------------------------------------
# Where a value sits in the document, spelt out only for an error message.

Path = tuple[Any, ...]  # (parent path, key) or (parent path, key, index); () is the document


def path_text(path: Path) -> str:
    parts: list[str] = []
    while path:
        if len(path) == 3:
            parts.append(f"{path[1]}[{path[2]}]")
        else:
            parts.append(str(path[1]))
        path = path[0]
    return ".".join(reversed(parts)) or "the document"


def shorten(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, str) else describe(value)
    return text if len(text) <= 40 else text[:37] + "..."


def describe(value: Any) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return f"the string {shorten(value)}"
    return repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."


def wrong(path: Path, expected: str, value: Any) -> InvalidRequest:
    return InvalidRequest(f"{path_text(path)}: expected {expected}, got {describe(value)}")


# ---------------------------------------------------------------------------------------------
# Field specs, built once per message type from the protobuf descriptors.


def varint(value: int) -> bytes:
    if value < 0x80:
        return SMALL_VARINTS[value]
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


SMALL_VARINTS = [bytes((value,)) for value in range(0x80)]


FD = FieldDescriptor
WIRE_TYPES = {
    **dict.fromkeys((FD.TYPE_DOUBLE, FD.TYPE_FIXED64, FD.TYPE_SFIXED64), WIRE_FIXED64),
    **dict.fromkeys((FD.TYPE_FLOAT, FD.TYPE_FIXED32, FD.TYPE_SFIXED32), WIRE_FIXED32),
    **dict.fromkeys((FD.TYPE_STRING, FD.TYPE_BYTES, FD.TYPE_MESSAGE), WIRE_LENGTH),
}


@dataclass(eq=False)
class FieldSpec:
    name: str
    number: int
    type: int
    repeated: bool
    oneof: str | None
    hex_id: bool
    message: MessageSpec | None = None
    enum_numbers: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The field's key on the wire: its number and wire type.
        self.key = varint(self.number << 3 | WIRE_TYPES.get(self.type, WIRE_VARINT))


@dataclass(eq=False)
class MessageSpec:
    name: str
    # By JSON name and by proto field name: proto3 JSON parsers accept both.
    fields: dict[str, FieldSpec] = field(default_factory=dict)


SPECS: dict[str, MessageSpec] = {}


def message_spec(descriptor: Descriptor) -> MessageSpec:
    spec = SPECS.get(descriptor.full_name)
    if spec is not None:
        return spec
    spec = SPECS[descriptor.full_name] = MessageSpec(descriptor.name)
    for fd in descriptor.fields:
        oneof = fd.containing_oneof
        field_spec = FieldSpec(
            name=fd.name,
            number=fd.number,
            type=fd.type,
            repeated=fd.is_repeated,
            # proto3 `optional` fields sit in synthetic oneofs of one member: no conflict possible.
            oneof=oneof.name if oneof is not None and len(oneof.fields) > 1 else None,
            hex_id=fd.type == FieldDescriptor.TYPE_BYTES and fd.name in ID_FIELDS,
        )
        if fd.message_type is not None:
            field_spec.message = message_spec(fd.message_type)
        elif fd.enum_type is not None:
            field_spec.enum_numbers = {value.name: value.number for value in fd.enum_type.values}
        spec.fields[fd.json_name] = spec.fields[fd.name] = field_spec
    return spec


# ---------------------------------------------------------------------------------------------
# Scalars: a JSON value -> the bytes of one field occurrence (key and value).

INTEGER_TEXT = re.compile(r"-?[0-9]{1,20}")
NUMBER_TEXT = re.compile(r"-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?")
RANGES = {
    FieldDescriptor.TYPE_INT32: ("int32", -(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: ("sint32", -(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: ("sfixed32", -(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_ENUM: ("enum", -(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: ("uint32", 0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: ("fixed32", 0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: ("int64", -(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: ("sint64", -(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: ("sfixed64", -(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: ("uint64", 0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: ("fixed64", 0, 2**64 - 1),
}
FLOAT_NAMES = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
FLOAT32_MAX = 3.4028234663852886e38


def integer(value: Any, spec: FieldSpec, path: Path) -> int:
    """An integer field's value: a JSON number or a decimal string (64-bit values usually are)."""
    type_name, low, high = RANGES[spec.type]
    number: int | Decimal
    if isinstance(value, bool):
        raise wrong(path, f"an integer ({type_name})", value)
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if math.isinf(value):  # a literal beyond the double range
            raise InvalidRequest(f"{path_text(path)}: the number is out of range for {type_name}")
        if not value.is_integer():
            raise wrong(path, f"an integer ({type_name})", value)
        number = int(value)
    elif isinstance(value, str) and INTEGER_TEXT.fullmatch(value):
        number = int(value)
    elif isinstance(value, str) and len(value) <= 64 and NUMBER_TEXT.fullmatch(value):
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise wrong(path, f"an integer ({type_name})", value) from None
        if number != number.to_integral_value():
            raise wrong(path, f"an integer ({type_name})", value)
    else:
        raise wrong(path, f"an integer ({type_name}) as a number or a decimal string", value)
    if not low <= number <= high:
        raise InvalidRequest(f"{path_text(path)}: {shorten(value)} is out of range for {type_name}")
    return int(number)


def floating(value: Any, spec: FieldSpec, path: Path) -> float:
    """A double (or float) field's value: a JSON number, or a string ("NaN", "Infinity", "1.5")."""
    kind = "float" if spec.type == FieldDescriptor.TYPE_FLOAT else "double"
    number: float
    if isinstance(value, bool):
        raise wrong(path, "a number", value)
    if isinstance(value, str):
        named = FLOAT_NAMES.get(value)
        if named is not None:
            return named
        if len(value) > 64 or not NUMBER_TEXT.fullmatch(value):
            raise wrong(path, 'a number, "NaN", "Infinity" or "-Infinity"', value)
        number = float(value)
    elif isinstance(value, int):
        number = float(value) if abs(value) < 2**1023 else math.inf
    elif isinstance(value, float):
        number = value
    else:
        raise wrong(path, "a number", value)
    # A finite literal beyond the double range parses as infinity: out of range, as in protojson.
    if math.isinf(number) or (kind == "float" and abs(number) > FLOAT32_MAX):
        raise InvalidRequest(f"{path_text(path)}: the number is out of range for {kind}")
    return number


def text_bytes(value: Any, path: Path) -> bytes:
    if not isinstance(value, str):
        raise wrong(path, "a string", value)
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(f"{path_text(path)}: the string holds a lone surrogate") from None


BASE64_TEXT = re.compile(r"[A-Za-z0-9+/\-_]*={0,2}")
HEX_TEXT = re.compile(r"(?:[0-9a-fA-F]{2})*")


def binary(value: Any, spec: FieldSpec, path: Path) -> bytes:
    if not isinstance(value, str):
        raise wrong(path, "a hex string" if spec.hex_id else "a base64 string", value)
    if spec.hex_id:
        if not HEX_TEXT.fullmatch(value):
            raise InvalidRequest(f"{path_text(path)}: must be hex, got {shorten(value)}")
        return bytes.fromhex(value)
    if not BASE64_TEXT.fullmatch(value):
        raise InvalidRequest(f"{path_text(path)}: must be base64, got {shorten(value)}")
    # Standard or URL-safe alphabet, with or without padding, as proto3 JSON allows.
    standard = value.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except binascii.Error:
        raise InvalidRequest(f"{path_text(path)}: must be base64, got {shorten(value)}") from None


def encode_scalar(value: Any, spec: FieldSpec, path: Path) -> bytes | None:
    """One occurrence of a scalar field, or None to leave it out (an enum name we do not know)."""
    kind = spec.type
    if kind == FieldDescriptor.TYPE_STRING:
        data = text_bytes(value, path)
        return spec.key + varint(len(data)) + data
    if kind == FieldDescriptor.TYPE_BYTES:
        data = binary(value, spec, path)
        return spec.key + varint(len(data)) + data
    if kind == FieldDescriptor.TYPE_BOOL:
        if value is not True and value is not False:
            raise wrong(path, "true or false", value)
        return spec.key + (b"\x01" if value else b"\x00")
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        number = floating(value, spec, path)
        if kind == FieldDescriptor.TYPE_FLOAT:
            return spec.key + struct.pack("<f", number)
        return spec.key + struct.pack("<d", number)
    if kind == FieldDescriptor.TYPE_ENUM and isinstance(value, str) and not NUMBER_TEXT.fullmatch(value):
        enum_number = spec.enum_numbers.get(value)
        # An enum name this version does not know is left out, as unknown fields are.
        return None if enum_number is None else spec.key + varint(enum_number % 2**64)
    number = integer(value, spec, path)
    if kind in (FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED64):
        return spec.key + struct.pack("<Q", number % 2**64)
    if kind in (FieldDescriptor.TYPE_FIXED32, FieldDescriptor.TYPE_SFIXED32):
        return spec.key + struct.pack("<I", number % 2**32)
    if kind in (FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SINT64):
        return spec.key + varint(number * 2 if number >= 0 else -number * 2 - 1)
    # Negative int32/int64/enum values take ten bytes, as two's complement of 64 bits.
    return spec.key + varint(number % 2**64)


# ---------------------------------------------------------------------------------------------
# Messages: iteratively, back to front.


class BackToFront:
    """Wire bytes written last piece first: a message's length is known when its prefix is written."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.size = 0

    def put(self, piece: bytes) -> None:
        self.pieces.append(piece)
        self.size += len(piece)

    def result(self) -> bytes:
        self.pieces.reverse()
        return b"".join(self.pieces)


# A message's fields, written by a generator that yields each sub-message for the driver to write
# and is sent back that sub-message's length.
Child = tuple[MessageSpec, Any, Path]
FieldsWriter = Generator[Child, int, None]


def present_fields(spec: MessageSpec, document: Any, path: Path) -> list[tuple[FieldSpec, str, Any]]:
    """The document's known, non-null fields, last first; each field once, one member per oneof."""
    if type(document) is not dict:
        raise wrong(path, f"an object ({spec.name})", document)
    present = []
    for name, value in reversed(list(document.items())):
        field_spec = spec.fields.get(name)
        if field_spec is not None and value is not None:  # unknown fields are ignored; null: default
            present.append((field_spec, name, value))
    if len(present) > 1:
        seen: dict[int, str] = {}
        oneofs: dict[str, str] = {}
        for field_spec, name, _ in present:
            other = seen.setdefault(field_spec.number, name)
            if other != name:
                raise InvalidRequest(f"{path_text(path)}: {name} and {other} are the same field")
            if field_spec.oneof is not None:
                other = oneofs.setdefault(field_spec.oneof, name)
                if other != name:
                    raise InvalidRequest(f"{path_text(path)}: only one of {name} and {other} may be set")
    return present


def put_flat_message(field_spec: FieldSpec, document: Any, path: Path, out: BackToFront) -> bool:
    """Write a sub-message holding single scalars only (most AnyValues) at once, without a writer
    of its own; False if it holds more (the general path then writes it)."""
    if type(document) is not dict:
        return False
    message = field_spec.message
    assert message is not None
    if len(document) == 1:  # the usual AnyValue: one piece, forward
        ((name, value),) = document.items()
        inner = message.fields.get(name)
        if inner is not None and (inner.message is not None or inner.repeated):
            return False
        piece = None if inner is None or value is None else encode_scalar(value, inner, (path, name))
        if piece is None:
            out.put(field_spec.key + b"\x00")
        else:
            out.put(field_spec.key + varint(len(piece)) + piece)
        return True
    for name in document:
        inner = message.fields.get(name)
        if inner is not None and (inner.message is not None or inner.repeated):
            return False
    size = out.size
    for inner, name, value in present_fields(message, document, path):
        piece = encode_scalar(value, inner, (path, name))
        if piece is not None:
            out.put(piece)
    out.put(field_spec.key + varint(out.size - size))
    return True


def write_fields(spec: MessageSpec, document: Any, path: Path, out: BackToFront) -> FieldsWriter:
    for field_spec, name, value in present_fields(spec, document, path):
        if field_spec.repeated:
            if type(value) is not list:
                raise wrong((path, name), "an array", value)
            positions: Iterator[int] = reversed(range(len(value)))
        else:
            positions = iter((-1,))
        message = field_spec.message
        for position in positions:
            element = value[position] if position >= 0 else value
            where = (path, name, position) if position >= 0 else (path, name)
            if message is None:
                if element is None:  # an array element: protojson refuses null there
                    raise wrong(where, "a value", element)
                piece = encode_scalar(element, field_spec, where)
                if piece is not None:
                    out.put(piece)
            elif not put_flat_message(field_spec, element, where, out):
                length = yield message, element, where
                out.put(field_spec.key + varint(length))


def encode_document(spec: MessageSpec, document: Any) -> bytes:
    """The document as the wire bytes of the message `spec` describes."""
    out = BackToFront()
    writers: list[tuple[FieldsWriter, int]] = [(write_fields(spec, document, (), out), 0)]
    length = -1  # a new writer is started with next(), a parent is sent its child's length
    while writers:
        writer, started = writers[-1]
        try:
            child_spec, child, where = writer.send(length) if length >= 0 else next(writer)
        except StopIteration:
            writers.pop()
            length = out.size - started  # sent to the parent, which writes the key and length
            continue
        writers.append((write_fields(child_spec, child, where, out), out.size))
        length = -1
    return out.result()


def json_decoder(signal: Signal, payload: bytes) -> Callable[[int], Any]:
    """Then the same decoder as protobuf bodies take: one path into conversion."""
    spec = message_spec(signal.request_type.DESCRIPTOR)

    def decode(max_attribute_bytes: int) -> Any:
        document = parse_json(payload)
        if not isinstance(document, dict):
            raise InvalidRequest(f"the JSON body must be an object ({spec.name}), got {describe(document)}")
        wire = encode_document(spec, document)
        del document  # the parsed tree is the bulk of the memory; conversion needs only the wire
        return protobuf_decoder(signal, wire)(max_attribute_bytes)

    return decode


# ---------------------------------------------------------------------------------------------
# Responses (the service's own small messages) as OTLP/JSON.


def base64_ids_to_hex(node: Any) -> None:
    pending = [node]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            for name, value in node.items():
                if name in ID_JSON_NAMES and isinstance(value, str):
                    node[name] = base64.b64decode(value).hex()
                else:
                    pending.append(value)
        elif isinstance(node, list):
            pending.extend(node)


def to_json(message: Message) -> bytes:
    """A message as OTLP/JSON (lowerCamelCase names, hex ids)."""
    document = json_format.MessageToDict(message)
    base64_ids_to_hex(document)
    return orjson.dumps(document)
