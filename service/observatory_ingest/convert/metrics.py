"""ExportMetricsServiceRequest -> rows for metrics (one per name and service) and metric_data_points."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    ExponentialHistogramDataPoint,
    Metric,
)

from observatory_ingest.convert.columns import POINT_ATTRIBUTES_AT, POINT_COLUMNS
from observatory_ingest.convert.common import (
    Converted,
    Row,
    attributes,
    derived_id,
    described_resource,
    pg_timestamp,
    to_json,
)
from observatory_ingest.convert.context import ConvertContext
from observatory_ingest.convert.genai import PROVIDER_KEYS, REQUEST_MODEL_KEYS, RESPONSE_MODEL_KEYS, first
from observatory_ingest.convert.native import MAX_TEXT
from observatory_ingest.convert.sanitize import (
    SANITIZED_KEY,
    int32_bits,
    optional_text,
    plausible,
    text,
)

TEMPORALITIES = ("unspecified", "delta", "cumulative")
NO_RECORDED_VALUE = 1  # DataPointFlags.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK


# gen_ai.client.token.usage, gen_ai.client.operation.duration and the newer gen_ai.client.inference.*.
LLM_METRIC_PREFIX = "gen_ai.client."


def convert_metrics(request: ExportMetricsServiceRequest, context: ConvertContext) -> Converted:
    metrics: dict[str, Row] = {}
    points: list[Row] = []
    llm_points: list[Row] = []
    result = Converted({"metrics": [], "metric_data_points": points, "llm_metrics": llm_points})
    project, project_id = context.project, context.project_id
    for resource_metrics in request.resource_metrics:
        resource = described_resource(
            attributes(resource_metrics.resource.attributes, context.max_attribute_bytes)
        )
        service, resource_json = resource.service, resource.json
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                if kind is None:
                    continue
                data = getattr(metric, kind)
                if not metric.name:
                    for _ in data.data_points:
                        result.reject("metric without a name")
                    continue
                # The id is derived from the name as stored: two names that store alike (a NUL
                # removed, a cut at 255) are one catalogue row, not a clash on its unique key.
                stored_name = text(metric.name, 255)
                metric_id = derived_id(project, b"metric", stored_name.encode(), b"\0", service.encode())
                metrics.setdefault(
                    metric_id,
                    metric_row(
                        metric,
                        kind,
                        metric_id,
                        project_id,
                        service,
                        resource_json,
                        context.max_attribute_bytes,
                    ),
                )
                for point in data.data_points:
                    row = point_row(kind, point, project, context, metric_id)
                    if SANITIZED_KEY in row[POINT_ATTRIBUTES_AT]:
                        result.sanitized += 1
                    points.append(row)
                    if metric.name.startswith(LLM_METRIC_PREFIX):
                        llm_points.append(llm_metric_row(metric.name, row, attributes(point.attributes)))
                    result.accepted += 1
    result.tables["metrics"] = list(metrics.values())
    return result


def metric_row(
    metric: Metric,
    kind: str,
    metric_id: str,
    project_id: str,
    service: str,
    resource_json: str,
    max_attribute_bytes: int,
) -> Row:
    data = getattr(metric, kind)
    temporality = (
        TEMPORALITIES[data.aggregation_temporality]
        if kind in ("sum", "histogram", "exponential_histogram")
        and 0 <= data.aggregation_temporality < len(TEMPORALITIES)
        else None
    )
    monotonic = data.is_monotonic if kind == "sum" else None
    return (
        metric_id,
        project_id,
        text(metric.name, 255),
        optional_text(metric.description, MAX_TEXT),
        optional_text(metric.unit, 50),
        kind,
        temporality,
        monotonic,
        service,
        to_json(attributes(metric.metadata, max_attribute_bytes)),
        resource_json,
    )


def point_row(kind: str, point: Any, project: bytes, context: ConvertContext, metric_id: str) -> Row:
    attribute_map = attributes(point.attributes, context.max_attribute_bytes)
    timestamp, start = point.time_unix_nano, point.start_time_unix_nano
    if not plausible(timestamp, context.received_ns):
        # A point must have a time: the receive time stands in (and says so).
        attribute_map[SANITIZED_KEY] = ["time"] + (["start_time"] if start else [])
        timestamp, start = context.received_ns, 0
    elif start and not (plausible(start, context.received_ns) and start <= timestamp):
        attribute_map[SANITIZED_KEY] = ["start_time"]
        start = 0
    point_attributes = to_json(attribute_map)
    project_id = context.project_id
    # The id covers everything that identifies a point, so a replay maps onto the same row.
    point_id = derived_id(
        project,
        bytes.fromhex(metric_id),
        point_attributes.encode(),
        point.start_time_unix_nano.to_bytes(8, "big"),
        point.time_unix_nano.to_bytes(8, "big"),
    )
    empty = bool(point.flags & NO_RECORDED_VALUE)
    value = count = total = minimum = maximum = buckets = quantiles = None
    if kind in ("gauge", "sum"):
        value = None if empty else number(point)
    elif not empty:
        count = point.count
        # Summary sums are plain doubles; histogram sums are optional.
        total = point.sum if kind == "summary" or point.HasField("sum") else None
        if kind != "summary":
            minimum = point.min if point.HasField("min") else None
            maximum = point.max if point.HasField("max") else None
        if kind == "histogram":
            buckets = to_json(
                {"explicit_bounds": list(point.explicit_bounds), "bucket_counts": list(point.bucket_counts)}
            )
        elif kind == "exponential_histogram":
            buckets = to_json(
                {
                    "scale": point.scale,
                    "zero_count": point.zero_count,
                    "zero_threshold": point.zero_threshold,
                    "positive": exponential_side(point.positive),
                    "negative": exponential_side(point.negative),
                }
            )
        elif kind == "summary":
            quantiles = to_json([{"quantile": q.quantile, "value": q.value} for q in point.quantile_values])
    exemplars = to_json(exemplar_list(point)) if kind != "summary" and point.exemplars else None
    return (
        point_id,
        project_id,
        metric_id,
        pg_timestamp(timestamp),
        pg_timestamp(start) if start else None,
        value,
        count,
        total,
        minimum,
        maximum,
        buckets,
        quantiles,
        exemplars,
        point_attributes,
        int32_bits(point.flags),
    )


def exponential_side(side: ExponentialHistogramDataPoint.Buckets) -> dict[str, Any]:
    return {"offset": side.offset, "bucket_counts": list(side.bucket_counts)}


def llm_metric_row(name: str, point: Row, point_attributes: dict[str, Any]) -> Row:
    """The same point in llm_metrics, with the GenAI dimensions pulled out of its attributes."""
    row = dict(zip(POINT_COLUMNS, point, strict=True))
    token_type = point_attributes.get("gen_ai.token.type")
    if token_type is None:
        token_type = "input" if "input" in name else "output" if "output" in name else None
    model = first(point_attributes, RESPONSE_MODEL_KEYS) or first(point_attributes, REQUEST_MODEL_KEYS)
    return (
        row["id"],
        row["project_id"],
        row["timestamp"],
        name,
        first(point_attributes, PROVIDER_KEYS),
        model,
        point_attributes.get("gen_ai.operation.name"),
        token_type,
        row["value"],
        row["count"],
        row["sum"],
        row["min"],
        row["max"],
        row["attributes"],
    )


def number(point: Any) -> float | int | None:
    which = point.WhichOneof("value")
    return None if which is None else getattr(point, which)


def exemplar_list(point: Any) -> list[dict[str, Any]]:
    return [
        {
            "value": number(exemplar),
            "time_unix_nano": exemplar.time_unix_nano,
            "filtered_attributes": attributes(exemplar.filtered_attributes),
            "trace_id": exemplar.trace_id.hex() or None,
            "span_id": exemplar.span_id.hex() or None,
        }
        for exemplar in point.exemplars
    ]
