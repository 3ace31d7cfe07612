"""OTLP/JSON: proto3 JSON with the OTLP twists (hex trace/span ids, integer enums accepted)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import Message

from observatory_ingest.errors import InvalidRequest
from observatory_ingest.signals import Signal

# Where OTLP puts trace and span ids: spans, links, log records, exemplars.
ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})


def hex_ids_to_base64(node: Any) -> None:
    """OTLP/JSON spells ids in hex; proto3 JSON expects base64. Rewrites them in place."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ID_FIELDS and isinstance(value, str):
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    raise InvalidRequest(f"{key} must be hex, got {value[:40]!r}") from None
            else:
                hex_ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            hex_ids_to_base64(item)


def json_decoder(signal: Signal, payload: bytes) -> Callable[[int], Any]:
    """Then the same decoder as protobuf bodies take: one path into conversion."""
    request_type = signal.request_type

    def decode(max_attribute_bytes: int) -> Any:
        try:
            document = orjson.loads(payload)
        except orjson.JSONDecodeError as error:
            raise InvalidRequest(f"invalid JSON: {error}") from None
        if not isinstance(document, dict):
            raise InvalidRequest("the JSON body must be an object")
        hex_ids_to_base64(document)
        try:
            message = json_format.ParseDict(document, request_type(), ignore_unknown_fields=True)
            return signal.decode(message.SerializeToString(), max_attribute_bytes)
        except (json_format.ParseError, binascii.Error, ValueError) as error:
            raise InvalidRequest(f"cannot decode {request_type.__name__} from JSON: {error}") from None

    return decode


def base64_ids_to_hex(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ID_FIELDS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                base64_ids_to_hex(value)
    elif isinstance(node, list):
        for item in node:
            base64_ids_to_hex(item)


def to_json(message: Message) -> bytes:
    """A message as OTLP/JSON (lowerCamelCase names, hex ids)."""
    document = json_format.MessageToDict(message)
    base64_ids_to_hex(document)
    return orjson.dumps(document)
