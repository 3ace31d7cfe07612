"""Small builders for raw OTLP protobuf requests used across tests."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from bench.otlp import any_value, key_values

__all__ = ["any_value", "key_values", "span", "trace_request"]


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
