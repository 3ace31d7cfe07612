"""The C trace decoder against the protobuf runtime: the same bytes must give the same values,
and bytes the runtime refuses must be refused (apart from the depth policy: test_nesting.py)."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from observatory_ingest.convert.common import TOO_DEEP
from observatory_ingest.convert.wire import decode_trace_request, runtime_decoded_traces
from tests.otlp_builders import nested_trace_request, request_of_span_bytes
from tests.strategies import trace_requests


def same(payload: bytes, limit: int = 64 * 1024) -> None:
    """The C decoder reads what its twin reads through the protobuf runtime (convert/wire.py)."""
    # repr: NaN equals itself, -0.0 differs from 0.0, dict order counts.
    assert repr(decode_trace_request(payload, limit)) == repr(runtime_decoded_traces(payload, limit))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trace_requests(), st.sampled_from([64 * 1024, 12]))
def test_decodes_what_the_protobuf_runtime_decodes(request: ExportTraceServiceRequest, limit: int) -> None:
    same(request.SerializeToString(), limit)


def test_names_and_keys_decode_alike_past_the_shared_text_table() -> None:
    """More distinct short keys and names than the decoder's table of shared strings holds, each
    twice: replaced slots and hits must decode as the runtime does."""
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    for round_ in range(2):
        for index in range(5000):
            span = spans.add(name=f"op {index}")
            span.attributes.append(KeyValue(key=f"key.{index}", value=AnyValue(int_value=round_)))
            span.attributes.append(KeyValue(key="ключ", value=AnyValue(string_value="non-ASCII key")))
    same(request.SerializeToString())
    decoded = decode_trace_request(request.SerializeToString())[0][1][0][2]
    assert decoded[0][5] == "op 0" and decoded[5000][5] == "op 0"
    assert list(decoded[4999][9]) == ["key.4999", "ключ"]


def test_values_nested_past_the_depth_limit_become_a_marker() -> None:
    value = AnyValue(string_value="bottom")
    for _ in range(20):
        value = AnyValue(array_value=ArrayValue(values=[value]))
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add(name="deep")
    span.attributes.append(KeyValue(key="deep", value=value))
    payload = request.SerializeToString()
    same(payload)
    assert TOO_DEEP in repr(decode_trace_request(payload))


def test_repeated_scalars_take_the_last_value_and_unknown_fields_are_skipped() -> None:
    span = Span(name="first", trace_id=b"\x01" * 16).SerializeToString()
    # name again, then unknown fields of every wire type: varint, fixed64, bytes, group, fixed32.
    extra = (
        b"\x2a\x06second" + b"\xf8\x07\x01" + b"\xf9\x07" + bytes(8) + b"\xfa\x07\x00" + b"\xfb\x07\xfc\x07"
    )
    extra += b"\xfd\x07" + bytes(4)
    # Span field 5 (name) sent as a varint: the runtime treats a wrong wire type as an unknown field.
    extra += b"\x28\x01"
    request = request_of_span_bytes(span + extra)
    same(request)
    assert decode_trace_request(request)[0][1][0][2][0][5] == "second"


def test_invalid_utf8_is_refused() -> None:
    span = b"\x2a\x02\xc3\x28"  # name: an invalid two-byte sequence
    request = request_of_span_bytes(span)
    with pytest.raises(Exception):  # noqa: B017 - the runtime's own error type
        ExportTraceServiceRequest.FromString(request)
    with pytest.raises(ValueError):
        decode_trace_request(request)


def runtime_outcome(payload: bytes) -> str:
    try:
        ExportTraceServiceRequest.FromString(payload)
    except Exception:
        return "refused"
    return "decoded"


def test_truncated_and_corrupted_requests_are_refused_as_the_runtime_refuses_them() -> None:
    example = ExportTraceServiceRequest()
    span = example.resource_spans.add().scope_spans.add().spans.add(name="a span", trace_id=b"\x01" * 16)
    span.attributes.append(
        KeyValue(key="k", value=AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=-5)])))
    )
    span.events.add(name="event", time_unix_nano=5)
    payload = example.SerializeToString()
    generator = random.Random(11)
    variants = [payload[:cut] for cut in range(len(payload))]
    for _ in range(4000):
        corrupted = bytearray(payload)
        for _ in range(generator.randint(1, 3)):
            corrupted[generator.randrange(len(corrupted))] = generator.randrange(256)
        variants.append(bytes(corrupted))
    refused = 0
    for variant in variants:
        if runtime_outcome(variant) == "decoded":
            same(variant)
        else:
            refused += 1
            with pytest.raises(ValueError):
                decode_trace_request(variant)
    assert refused > 100  # the corpus does exercise the error paths


def test_nesting_is_limited_where_the_go_runtime_limits_it() -> None:
    """10,000 message levels, the request being the first: the innermost value of 4,997 arrays
    sits at level 10,000; one more level is refused, however deep (no C recursion to overflow)."""
    same(nested_trace_request(4997))
    for levels in (4998, 100_000):
        with pytest.raises(ValueError, match="nested too deep"):
            decode_trace_request(nested_trace_request(levels))
