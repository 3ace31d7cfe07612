"""The three OTLP signals: their protobuf types, converters and storage schemas, side by side."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from observatory_ingest.convert.common import Converted
from observatory_ingest.convert.traces import convert_traces
from observatory_ingest.store.signals import TRACES, SignalSchema


@dataclass(frozen=True)
class Signal:
    name: str
    grpc_service: str
    request_type: Any
    response_type: Any
    partial_success_type: Any
    rejected_field: str
    convert: Callable[[Any, str], Converted]
    schema: SignalSchema

    @property
    def grpc_method(self) -> str:
        return f"/{self.grpc_service}/Export"


TRACES_SIGNAL = Signal(
    name="traces",
    grpc_service="opentelemetry.proto.collector.trace.v1.TraceService",
    request_type=trace_service_pb2.ExportTraceServiceRequest,
    response_type=trace_service_pb2.ExportTraceServiceResponse,
    partial_success_type=trace_service_pb2.ExportTracePartialSuccess,
    rejected_field="rejected_spans",
    convert=convert_traces,
    schema=TRACES,
)

SIGNALS: dict[str, Signal] = {signal.name: signal for signal in (TRACES_SIGNAL,)}
