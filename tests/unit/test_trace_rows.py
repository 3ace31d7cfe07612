"""The C row builder (native/trace_rows.c) against the reference conversion in convert/traces.py:
whatever it builds must be what the reference builds, and what it declines the reference handles."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from bench.payloads import Generator
from observatory_ingest.convert.common import Converted
from observatory_ingest.convert.context import ConvertContext
from observatory_ingest.convert.native import blake2b_16, span_rows
from observatory_ingest.convert.traces import TraceConverter, convert_traces
from observatory_ingest.convert.wire import ATTRIBUTES, decode_trace_request
from tests.native_marks import native_only
from tests.strategies import key_value_lists, texts, trace_requests

NOW = 1_790_000_000_000_000_000


def both_ways(request: ExportTraceServiceRequest, context: ConvertContext) -> tuple[Converted, Converted]:
    payload = request.SerializeToString()
    # Decoded twice: the reference may add the sanitized marker to a span's attributes.
    native = convert_traces(decode_trace_request(payload), context, native_rows=True)
    reference = convert_traces(decode_trace_request(payload), context, native_rows=False)
    return native, reference


def assert_same(native: Converted, reference: Converted) -> None:
    assert native.tables == reference.tables
    assert (native.accepted, native.rejected, native.sanitized, native.errors) == (
        reference.accepted,
        reference.rejected,
        reference.sanitized,
        reference.errors,
    )


# Spans the builder takes (short names, plausible times, no links) and spans it must decline.
plausible_times = st.integers(NOW - 10**15, NOW + 10**15)


@st.composite
def ordinary_spans(draw: Any) -> Span:
    start = draw(plausible_times)
    span = Span(
        trace_id=draw(st.one_of(st.binary(min_size=16, max_size=16), st.just(bytes(16)))),
        span_id=draw(st.one_of(st.binary(min_size=8, max_size=8), st.just(bytes(8)))),
        parent_span_id=draw(st.one_of(st.just(b""), st.binary(min_size=8, max_size=8))),
        name=draw(st.one_of(texts, st.text(min_size=250, max_size=260))),
        kind=draw(st.integers(-2, 9)),
        start_time_unix_nano=start,
        end_time_unix_nano=start + draw(st.integers(-10, 10**10)),
        attributes=draw(key_value_lists),
        trace_state=draw(st.one_of(st.just(""), texts)),
        flags=draw(st.integers(0, 2**32 - 1)),
        dropped_attributes_count=draw(st.integers(0, 2**32 - 1)),
        dropped_events_count=draw(st.integers(0, 2**32 - 1)),
        dropped_links_count=draw(st.integers(0, 3)),
    )
    span.status.code, span.status.message = draw(st.integers(-1, 5)), draw(st.one_of(st.just(""), texts))
    for _ in range(draw(st.integers(0, 3))):
        span.events.add(
            name=draw(texts),
            time_unix_nano=draw(st.one_of(plausible_times, st.just(0))),
            attributes=draw(key_value_lists),
            dropped_attributes_count=draw(st.integers(0, 2**32 - 1)),
        )
    if draw(st.booleans()) and draw(st.booleans()):
        span.links.add(trace_id=os.urandom(16), span_id=os.urandom(8))
    return span


@native_only
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ordinary_spans(), min_size=1, max_size=5), key_value_lists)
def test_native_rows_equal_reference_rows(spans: list[Span], resource_attributes: Any) -> None:
    request = ExportTraceServiceRequest()
    resource = request.resource_spans.add()
    resource.resource.attributes.extend(resource_attributes)
    resource.scope_spans.add(spans=spans).scope.name = "scope"
    assert_same(*both_ways(request, ConvertContext(received_ns=NOW)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trace_requests())
def test_any_request_converts_the_same_either_way(request: ExportTraceServiceRequest) -> None:
    assert_same(*both_ways(request, ConvertContext()))


@native_only
def test_benchmark_spans_are_built_natively_and_equal_the_reference() -> None:
    """The fast path is taken for the spans it is meant for (else the tests above prove little)."""
    request = Generator(seed=3).traces(64)
    context = ConvertContext(received_ns=1_790_000_000_000_000_000)
    converter = TraceConverter(context)
    taken = 0
    for _, scopes in decode_trace_request(request.SerializeToString()):
        for scope_name, scope_version, spans in scopes:
            for span in spans:
                built = span_rows(
                    span,
                    context.project,
                    context.project_id,
                    "bookshop-assistant",
                    "{}",
                    scope_name or None,
                    scope_version or None,
                    *converter.plausible_window,
                    orjson.dumps,
                )
                assert built is not None, span
                scope = (scope_name or None, scope_version or None)
                service = "bookshop-assistant"
                reference = converter.reference_rows(span, span[ATTRIBUTES], "{}", service, scope)
                assert built == reference
                taken += 1
    assert taken == 64
    assert_same(*both_ways(request, context))


def test_json_with_a_nul_escape_goes_to_the_reference() -> None:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for value in ("a\x00b", "a\\u0000b", "\\\x00"):
        span = scope.spans.add(trace_id=os.urandom(16), span_id=os.urandom(8))
        span.start_time_unix_nano, span.end_time_unix_nano = NOW, NOW + 1
        span.attributes.add(key="k").value.string_value = value
        span.events.add(name="e", time_unix_nano=NOW).attributes.add(key="k").value.string_value = value
    native, reference = both_ways(request, ConvertContext(received_ns=NOW))
    assert_same(native, reference)
    stored = [row[13] for row in native.tables["trace_spans"]]
    assert stored == ['{"k":"ab"}', '{"k":"a\\\\u0000b"}', '{"k":"\\\\"}']


@native_only
def test_blake2b_16_is_hashlib_blake2b() -> None:
    for length in range(129):
        data = os.urandom(length)
        assert blake2b_16(data) == hashlib.blake2b(data, digest_size=16).digest()
