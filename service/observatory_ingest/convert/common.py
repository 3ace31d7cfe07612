"""Shared conversion pieces: AnyValue to JSON-ready values, ids, timestamps, row containers."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Any, NamedTuple

import orjson
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

# POSTGRES_EPOCH_US: binary timestamps count from 2000-01-01 UTC. MAX_DEPTH: nesting of arrays and
# key-value lists kept; deeper values become the TOO_DEEP marker.
from observatory_ingest.convert.native import MAX_DEPTH, POSTGRES_EPOCH_US, TOO_DEEP
from observatory_ingest.convert.sanitize import json_without_nul, text

DEFAULT_PROJECT_ID = "00000000-0000-0000-0000-000000000000"
UNKNOWN_SERVICE = "unknown_service"


Row = tuple[Any, ...]
MAX_REASONS = 5  # reasons a partial success message carries


@dataclass
class Converted:
    """Rows for one request, per target table, in that table's staging column order."""

    tables: dict[str, list[Row]]
    accepted: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    unpriced: int = 0  # LLM calls whose model has no price
    sanitized: int = 0  # items stored with a fixed-up field (see observatory.sanitized)

    @property
    def rows(self) -> int:
        return sum(len(rows) for rows in self.tables.values())

    def reject(self, message: str) -> None:
        self.rejected += 1
        # Only the first few reasons travel back; the count says how many there were.
        if len(self.errors) < MAX_REASONS:
            self.errors.append(message)

    @property
    def error_message(self) -> str:
        return "; ".join(self.errors)


def any_value(value: AnyValue, depth: int = 0) -> Any:
    # Most common kinds first: this runs for every attribute of every item.
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bool_value":
        return value.bool_value
    if depth >= MAX_DEPTH and kind in ("array_value", "kvlist_value"):
        # The message keeps the marker alone too, as convert/nesting.py's rewrite leaves it: what
        # is measured (capping) and hashed (a log record's id) is then the same either way.
        value.Clear()
        value.string_value = TOO_DEEP
        return TOO_DEEP
    if kind == "array_value":
        return [any_value(item, depth + 1) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value, depth + 1) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


DEFAULT_MAX_ATTRIBUTE_BYTES = 64 * 1024


def attributes(
    key_values: Iterable[KeyValue], max_bytes: int = DEFAULT_MAX_ATTRIBUTE_BYTES
) -> dict[str, Any]:
    # Scalars inline (a call per attribute is measurable on the hot path); the rest via any_value.
    result: dict[str, Any] = {}
    for kv in key_values:
        value = kv.value
        kind = value.WhichOneof("value")
        if kind == "string_value":
            text = value.string_value
            result[kv.key] = text if len(text) <= max_bytes else capped(text, max_bytes)
        elif kind == "int_value":
            result[kv.key] = value.int_value
        else:
            converted = any_value(value)
            if kind in ("array_value", "kvlist_value", "bytes_value") and value.ByteSize() > max_bytes:
                converted = capped_value(converted, max_bytes, is_text=False)
            result[kv.key] = converted
    return result


def capped_value(value: Any, max_bytes: int, is_text: bool) -> str:
    """An attribute over the cap: a string as it is, anything else as its JSON, cut to max_bytes
    (the C trace decoder calls this too)."""
    return capped(value if is_text else orjson.dumps(value).decode(), max_bytes)


def capped(text: str, max_bytes: int) -> str:
    """An attribute value above --max-attribute-bytes: its beginning and how much was cut."""
    encoded = text.encode()
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode(errors="ignore") + f"…[{len(encoded) - max_bytes} bytes cut]"


def to_json(value: Any) -> str:
    # NaN and infinities become null (orjson); NUL characters are dropped (jsonb refuses them).
    return json_without_nul(orjson.dumps(value).decode())


def pg_timestamp(unix_nanos: int) -> tuple[int]:
    """The binary COPY form of a timestamptz (see the writer's tuple codec)."""
    return (unix_nanos // 1000 - POSTGRES_EPOCH_US,)


def derived_id(*parts: bytes) -> str:
    """A stable UUID (as hex) from OTLP identifiers, so a replayed item gets the same id."""
    return blake2b(b"".join(parts), digest_size=16).hexdigest()


def project_bytes(project_id: str) -> bytes:
    return bytes.fromhex(project_id.replace("-", ""))


class Resource(NamedTuple):
    """What every row of a resource's items shares: its attributes, service name and JSON."""

    attributes: dict[str, Any]
    service: str
    json: str


def described_resource(resource_attributes: dict[str, Any]) -> Resource:
    return Resource(resource_attributes, service_name(resource_attributes), to_json(resource_attributes))


def service_name(resource_attributes: dict[str, Any]) -> str:
    name = resource_attributes.get("service.name")
    return text(name, 255) if isinstance(name, str) and name else UNKNOWN_SERVICE
