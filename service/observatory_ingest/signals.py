"""The three OTLP signals: their protobuf types, converters and storage schemas, side by side."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from observatory_ingest.convert.common import Converted
from observatory_ingest.convert.context import ConvertContext
from observatory_ingest.convert.logs import convert_logs
from observatory_ingest.convert.metrics import convert_metrics
from observatory_ingest.convert.nesting import LOGS, METRICS, parse_request
from observatory_ingest.convert.traces import convert_traces
from observatory_ingest.convert.wire import decode_trace_request
from observatory_ingest.store.write_plans import LOGS_PLAN, METRICS_PLAN, TRACES_PLAN, WritePlan


@dataclass(frozen=True)
class Signal:
    name: str
    grpc_service: str
    request_type: Any
    response_type: Any
    partial_success_type: Any
    rejected_field: str
    # Wire bytes and --max-attribute-bytes -> what convert takes; ValueError for bad bytes.
    decode: Callable[[bytes, int], Any]
    convert: Callable[[Any, ConvertContext], Converted]
    write_plan: WritePlan

    @property
    def grpc_method(self) -> str:
        return f"/{self.grpc_service}/Export"


def runtime_decoder(request_type: Any, signal: int) -> Callable[[bytes, int], Any]:
    """The protobuf runtime's message under the depth policy (convert/nesting.py); metrics and
    logs cap attributes while converting."""
    return lambda payload, _max_attribute_bytes: parse_request(request_type, payload, signal)


TRACES_SIGNAL = Signal(
    name="traces",
    grpc_service="opentelemetry.proto.collector.trace.v1.TraceService",
    request_type=trace_service_pb2.ExportTraceServiceRequest,
    response_type=trace_service_pb2.ExportTraceServiceResponse,
    partial_success_type=trace_service_pb2.ExportTracePartialSuccess,
    rejected_field="rejected_spans",
    decode=decode_trace_request,
    convert=convert_traces,
    write_plan=TRACES_PLAN,
)

METRICS_SIGNAL = Signal(
    name="metrics",
    grpc_service="opentelemetry.proto.collector.metrics.v1.MetricsService",
    request_type=metrics_service_pb2.ExportMetricsServiceRequest,
    response_type=metrics_service_pb2.ExportMetricsServiceResponse,
    partial_success_type=metrics_service_pb2.ExportMetricsPartialSuccess,
    rejected_field="rejected_data_points",
    decode=runtime_decoder(metrics_service_pb2.ExportMetricsServiceRequest, METRICS),
    convert=convert_metrics,
    write_plan=METRICS_PLAN,
)

LOGS_SIGNAL = Signal(
    name="logs",
    grpc_service="opentelemetry.proto.collector.logs.v1.LogsService",
    request_type=logs_service_pb2.ExportLogsServiceRequest,
    response_type=logs_service_pb2.ExportLogsServiceResponse,
    partial_success_type=logs_service_pb2.ExportLogsPartialSuccess,
    rejected_field="rejected_log_records",
    decode=runtime_decoder(logs_service_pb2.ExportLogsServiceRequest, LOGS),
    convert=convert_logs,
    write_plan=LOGS_PLAN,
)

SIGNALS: dict[str, Signal] = {s.name: s for s in (TRACES_SIGNAL, METRICS_SIGNAL, LOGS_SIGNAL)}
