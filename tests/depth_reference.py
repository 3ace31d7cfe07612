"""The depth policy applied to a parsed message: the reference the rewrite, the C decoder and the
fuzz targets are held to (convert/nesting.py says the policy)."""

from __future__ import annotations

from typing import Any

from google._upb import _message as upb_message
from google.protobuf.message import Message

from observatory_ingest.convert.native import MAX_DEPTH, TOO_DEEP

ANY_VALUE = "opentelemetry.proto.common.v1.AnyValue"
KEY_VALUE = "opentelemetry.proto.common.v1.KeyValue"


def normalize(message: Message) -> Message:
    """Every AnyValue nested past MAX_DEPTH that holds an array or key-value list now holds the
    marker alone; returns the message."""
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        for item in value if field.is_repeated else [value]:
            name = item.DESCRIPTOR.full_name
            if name == ANY_VALUE:
                normalize_value(item, 0)
            elif name == KEY_VALUE:
                if item.HasField("value"):
                    normalize_value(item.value, 0)
            else:
                normalize(item)
    return message


def normalize_value(value: Any, depth: int) -> None:
    kind = value.WhichOneof("value")
    if kind not in ("array_value", "kvlist_value"):
        return
    if depth >= MAX_DEPTH:
        value.Clear()
        value.string_value = TOO_DEEP
    elif kind == "array_value":
        for item in value.array_value.values:
            normalize_value(item, depth + 1)
    else:
        for key_value in value.kvlist_value.values:
            if key_value.HasField("value"):
                normalize_value(key_value.value, depth + 1)


def parsed_as_the_policy_reads(request_type: Any, payload: bytes) -> Message:
    """The reference: the runtime parses the request at any depth it can hold (65,535 levels),
    the policy's values are put in, and what is kept is parsed again as the runtime reads it
    (its 100 levels hold for what is kept). Raises for what the policy refuses; the 10,000-level
    limit is not applied here (fuzz inputs are too short to reach it)."""
    upb_message.SetAllowOversizeProtos(True)
    try:
        message = request_type.FromString(payload)
    finally:
        upb_message.SetAllowOversizeProtos(False)
    return request_type.FromString(normalize(message).SerializeToString())  # type: ignore[no-any-return]
