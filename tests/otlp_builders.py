"""Small builders for raw OTLP protobuf requests used across tests."""

from __future__ import annotations

import hashlib
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from bench.otlp import any_value, key_values
from observatory_ingest.convert.common import Converted
from observatory_ingest.convert.context import ConvertContext
from observatory_ingest.convert.traces import convert_traces
from observatory_ingest.convert.wire import decode_trace_request

__all__ = [
    "any_value",
    "convert_trace_message",
    "deep_request",
    "key_values",
    "nest_arrays",
    "nested_trace_request",
    "request_of_span_bytes",
    "span",
    "trace_request",
]


def convert_trace_message(request: ExportTraceServiceRequest, context: ConvertContext) -> Converted:
    """convert_traces for a request message, through the decoder the server uses."""
    return convert_traces(
        decode_trace_request(request.SerializeToString(), context.max_attribute_bytes), context
    )


def span(
    trace_id: bytes,
    span_id: bytes,
    name: str = "op",
    parent: bytes = b"",
    start: int = 1_700_000_000_000_000_000,
    duration_ns: int = 1_000_000,
    **fields: Any,
) -> Span:
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        start_time_unix_nano=start,
        end_time_unix_nano=start + duration_ns,
        **fields,
    )


def trace_request(
    spans: list[Span],
    service: str | None = "svc",
    resource: dict[str, Any] | None = None,
    scope: tuple[str, str] = ("lib", "1.0"),
) -> ExportTraceServiceRequest:
    attributes = dict(resource or {})
    if service is not None:
        attributes["service.name"] = service
    request = ExportTraceServiceRequest()
    resource_spans: ResourceSpans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(key_values(attributes))
    scope_spans: ScopeSpans = resource_spans.scope_spans.add()
    scope_spans.scope.name, scope_spans.scope.version = scope
    scope_spans.spans.extend(spans)
    return request


def varint(number: int) -> bytes:
    encoded = b""
    while number >= 0x80:
        encoded += bytes([number & 0x7F | 0x80])
        number >>= 7
    return encoded + bytes([number])


def length_delimited(message: bytes) -> bytes:
    """A message's wire bytes behind their varint length, as a length-delimited field carries them."""
    return varint(len(message)) + message


def request_of_span_bytes(span_bytes: bytes) -> bytes:
    """An ExportTraceServiceRequest holding one span given as raw wire bytes (resource_spans.1 >
    scope_spans.2 > spans.2), for bytes the protobuf runtime would not produce."""
    return b"\x0a" + length_delimited(b"\x12" + length_delimited(b"\x12" + length_delimited(span_bytes)))


def nested_trace_request(levels: int) -> bytes:
    """A span attribute holding an array within an array ... `levels` deep, around the string "x"."""
    # Each level's prefix depends only on the length inside it: built outside in, in linear time
    # (concatenating level by level copies gigabytes and stalls the loop the served test shares).
    innermost = b"\x0a\x01x"
    prefixes, length = [], len(innermost)
    for _ in range(levels):
        array_value = b"\x0a" + varint(length)  # ArrayValue.values, length `length`
        prefix = b"\x2a" + varint(len(array_value) + length) + array_value  # AnyValue.array_value
        prefixes.append(prefix)
        length += len(prefix)
    value = b"".join(reversed(prefixes)) + innermost
    return request_of_span_bytes(b"\x4a" + length_delimited(b"\x0a\x01k\x12" + length_delimited(value)))


def nest_arrays(value: AnyValue, levels: int, innermost: str = "bottom") -> None:
    """Arrays within arrays `levels` deep around a string, built in place: the runtime serialises
    any depth but parses only 100 levels, so such a value cannot be copied in."""
    for _ in range(levels):
        value = value.array_value.values.add()
    value.string_value = innermost


def deep_request(signal: str, items: int, levels: int, service: str, deep_item: int = 7) -> bytes:
    """A request of `items` spans, data points or log records (attribute "item" numbers them) of
    which one also carries attribute "deep": arrays nested `levels` levels."""
    request: Any
    if signal == "traces":
        trace_id = hashlib.blake2b(service.encode(), digest_size=16).digest()  # ids unique to the service
        request = trace_request(
            [span(trace_id, trace_id[:7] + bytes([i + 1]), f"op {i}") for i in range(items)], service=service
        )
        holders = request.resource_spans[0].scope_spans[0].spans
    elif signal == "metrics":
        request = ExportMetricsServiceRequest()
        resource_metrics = request.resource_metrics.add()
        resource_metrics.resource.attributes.extend(key_values({"service.name": service}))
        metric = resource_metrics.scope_metrics.add().metrics.add(name="deep.values")
        for i in range(items):
            metric.gauge.data_points.add(time_unix_nano=1_700_000_000_000_000_000 + i, as_int=i)
        holders = metric.gauge.data_points
    else:
        request = ExportLogsServiceRequest()
        resource_logs = request.resource_logs.add()
        resource_logs.resource.attributes.extend(key_values({"service.name": service}))
        records = resource_logs.scope_logs.add().log_records
        for i in range(items):
            records.add(time_unix_nano=1_700_000_000_000_000_000 + i).body.string_value = f"record {i}"
        holders = records
    for i, holder in enumerate(holders):
        holder.attributes.append(KeyValue(key="item", value=AnyValue(int_value=i)))
    deep = holders[min(deep_item, items - 1)].attributes.add(key="deep")
    nest_arrays(deep.value, levels)
    return request.SerializeToString()  # type: ignore[no-any-return]
