"""Hypothesis strategies for OTLP/JSON bodies: valid ones of the three signals, and hostile ones
(any JSON value in any field, duplicate keys, deep nesting, huge numbers, broken text)."""

from __future__ import annotations

import json
from typing import Any

import orjson
from google.protobuf import json_format
from hypothesis import strategies as st

from observatory_ingest.receiver.otlp_json import base64_ids_to_hex
from tests.strategies import log_requests, metric_requests, trace_requests

SIGNAL_REQUESTS = {"traces": trace_requests(), "metrics": metric_requests(), "logs": log_requests()}


def otlp_json_document(request: Any, integer_enums: bool = False) -> dict[str, Any]:
    """A request as an OTLP exporter spells it in JSON: camelCase, hex ids, 64-bit ints as strings."""
    document = json_format.MessageToDict(request, use_integers_for_enums=integer_enums)
    base64_ids_to_hex(document)
    return document


@st.composite
def valid_documents(draw: Any, signal: str) -> tuple[Any, bytes]:
    request = draw(SIGNAL_REQUESTS[signal])
    return request, orjson.dumps(otlp_json_document(request, draw(st.booleans())))


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=12),
        st.sampled_from(["NaN", "Infinity", "-1", "1e3", "00ff", "AAE=", "SPAN_KIND_SERVER", "1.5", ""]),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def dict_nodes(document: Any) -> list[dict[str, Any]]:
    nodes, pending = [], [document]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            nodes.append(node)
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return nodes


def mutate_text(data: bytes, draw: Any) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, max(len(out) - 1, 0)))
        action = draw(st.sampled_from(["flip", "insert", "delete"]))
        if action == "flip" and out:
            out[position] = draw(st.integers(0, 255))
        elif action == "insert":
            out[position:position] = draw(
                st.sampled_from([b"{", b"[", b'"', b",", b"\\ud800", b"1e999", b"\xff"])
            )
        elif out:
            del out[position : position + draw(st.integers(1, 8))]
    return bytes(out)


def nested(depth: int, shape: str) -> bytes:
    """A body nested `depth` levels: JSON arrays, or AnyValue arrays in an attribute."""
    if shape == "arrays":
        return b'{"resourceSpans":' + b"[" * depth + b"]" * depth + b"}"
    value = '{"arrayValue":{"values":[' * depth + '{"stringValue":"x"}' + "]}}" * depth
    return ('{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":' + value + "}]}]}]}").encode()


@st.composite
def hostile_documents(draw: Any) -> tuple[str, bytes]:
    """A signal and a body: a valid document with something wrong planted in it, or its text
    mutated, or a body of pathological shape."""
    signal = draw(st.sampled_from(list(SIGNAL_REQUESTS)))
    way = draw(st.sampled_from(["plant", "plant", "duplicate", "mutate", "nest", "huge number"]))
    if way == "nest":
        depth = draw(st.sampled_from([1, 10, 50, 120, 300, 1000, 5000]))
        return draw(st.sampled_from(["traces", "logs"])), nested(
            depth, draw(st.sampled_from(["arrays", "values"]))
        )
    request = draw(SIGNAL_REQUESTS[signal])
    document = otlp_json_document(request)
    if way == "huge number":
        digits = draw(st.sampled_from([20, 21, 39, 41, 400, 5000]))
        return signal, orjson.dumps(document).replace(b"{", b'{"timeUnixNano":' + b"9" * digits + b",", 5)
    if way == "mutate":
        return signal, mutate_text(orjson.dumps(document), draw)
    nodes = dict_nodes(document)
    node = nodes[draw(st.integers(0, len(nodes) - 1))]
    names = [*node, "traceId", "spanId", "timeUnixNano", "kind", "attributes", "value", "body", "dataPoints"]
    name = draw(st.one_of(st.sampled_from(names), st.text(max_size=8)))
    if way == "duplicate":
        text = json.dumps(document)
        planted = json.dumps(name) + ": " + json.dumps(draw(json_values)) + ", "
        position = text.find("{", draw(st.integers(0, len(text) - 1)))
        if position < 0:
            position = 0
        return signal, (text[: position + 1] + planted + text[position + 1 :]).encode()
    node[name] = draw(json_values)
    return signal, json.dumps(document).encode()
