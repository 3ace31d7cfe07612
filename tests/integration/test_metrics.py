"""OTLP/gRPC metrics end to end: every instrument of the SDK, delta and cumulative, and summaries."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import orjson
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, UpDownCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

from observatory_ingest.runtime.app import RunningService
from tests.integration.otlp_client import export
from tests.otlp_builders import key_values

T0 = 1_800_000_000_000_000_000


async def record_with_sdk(port: int, service: str, temporality: AggregationTemporality) -> None:
    exporter = OTLPMetricExporter(
        endpoint=f"127.0.0.1:{port}",
        insecure=True,
        preferred_temporality={Counter: temporality, UpDownCounter: temporality, Histogram: temporality},
    )
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(
        resource=Resource.create({"service.name": service}),
        metric_readers=[reader],
        views=[View(instrument_name="llm.latency.exp", aggregation=ExponentialBucketHistogramAggregation())],
    )
    meter = provider.get_meter("app.metrics", "0.3.0")
    requests = meter.create_counter("llm.requests", unit="{request}", description="LLM requests")
    requests.add(5, {"model": "gpt-4o"})
    requests.add(2, {"model": "claude-sonnet-4"})
    depth = meter.create_up_down_counter("queue.depth", unit="{item}")
    depth.add(10)
    depth.add(-3)
    latency = meter.create_histogram("llm.latency", unit="ms")
    for value in (12.5, 250.0, 40.0):
        latency.record(value, {"model": "gpt-4o"})
    exponential = meter.create_histogram("llm.latency.exp", unit="ms")
    for value in (1.0, 2.0, 4.0, 1000.0):
        exponential.record(value)

    def temperature(options: CallbackOptions) -> list[Observation]:
        return [Observation(21.5, {"room": "a"}), Observation(19, {"room": "b"})]

    meter.create_observable_gauge("room.temperature", callbacks=[temperature], unit="Cel")
    # Exactly one collection and export: shutdown's final one (force_flush would add a second).
    await asyncio.to_thread(provider.shutdown)


async def points(db: asyncpg.Connection, service: str, name: str) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT p.* FROM metric_data_points p JOIN metrics m ON m.id = p.metric_id "
        "WHERE m.service_name = $1 AND m.name = $2 ORDER BY p.attributes::text",
        service,
        name,
    )
    return [dict(row) for row in rows]


async def test_sdk_instruments_land_field_by_field(service: RunningService, db: asyncpg.Connection) -> None:
    await record_with_sdk(service.grpc_port, "metrics-delta", AggregationTemporality.DELTA)
    await record_with_sdk(service.grpc_port, "metrics-cumulative", AggregationTemporality.CUMULATIVE)

    catalogue = {(r["service_name"], r["name"]): r for r in await db.fetch("SELECT * FROM metrics")}
    requests = catalogue[("metrics-delta", "llm.requests")]
    assert (requests["metric_type"], requests["temporality"], requests["is_monotonic"]) == (
        "sum",
        "delta",
        True,
    )
    assert (requests["description"], requests["unit"]) == ("LLM requests", "{request}")
    assert orjson.loads(requests["resource_attributes"])["service.name"] == "metrics-delta"
    assert catalogue[("metrics-cumulative", "llm.requests")]["temporality"] == "cumulative"
    depth = catalogue[("metrics-delta", "queue.depth")]
    assert (depth["metric_type"], depth["is_monotonic"]) == ("sum", False)
    assert catalogue[("metrics-delta", "llm.latency")]["metric_type"] == "histogram"
    assert catalogue[("metrics-delta", "llm.latency.exp")]["metric_type"] == "exponential_histogram"
    gauge = catalogue[("metrics-delta", "room.temperature")]
    assert (gauge["metric_type"], gauge["temporality"], gauge["is_monotonic"]) == ("gauge", None, None)

    for service_name in ("metrics-delta", "metrics-cumulative"):
        counted = await points(db, service_name, "llm.requests")
        assert [(orjson.loads(p["attributes"]), p["value"]) for p in counted] == [
            ({"model": "claude-sonnet-4"}, 2),
            ({"model": "gpt-4o"}, 5),
        ]
        assert all(p["start_timestamp"] <= p["timestamp"] for p in counted)
        (queue_depth,) = await points(db, service_name, "queue.depth")
        assert queue_depth["value"] == 7

    (histogram,) = await points(db, "metrics-delta", "llm.latency")
    assert (histogram["count"], histogram["sum"], histogram["min"], histogram["max"]) == (
        3,
        302.5,
        12.5,
        250.0,
    )
    buckets = orjson.loads(histogram["buckets"])
    assert buckets["explicit_bounds"][:4] == [0.0, 5.0, 10.0, 25.0]
    assert len(buckets["bucket_counts"]) == len(buckets["explicit_bounds"]) + 1
    assert sum(buckets["bucket_counts"]) == 3

    (exponential,) = await points(db, "metrics-delta", "llm.latency.exp")
    assert (exponential["count"], exponential["sum"], exponential["min"], exponential["max"]) == (
        4,
        1007.0,
        1.0,
        1000.0,
    )
    exp_buckets = orjson.loads(exponential["buckets"])
    assert set(exp_buckets) == {"scale", "zero_count", "zero_threshold", "positive", "negative"}
    assert sum(exp_buckets["positive"]["bucket_counts"]) + exp_buckets["zero_count"] == 4
    assert isinstance(exp_buckets["positive"]["offset"], int)

    temperatures = await points(db, "metrics-delta", "room.temperature")
    assert [(orjson.loads(p["attributes"]), p["value"]) for p in temperatures] == [
        ({"room": "a"}, 21.5),
        ({"room": "b"}, 19),
    ]


def raw_metrics_request(description: str = "Latency summary") -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    resource_metrics.resource.attributes.extend(key_values({"service.name": "raw-metrics"}))
    scope = resource_metrics.scope_metrics.add()
    summary = Metric(name="rpc.latency", description=description, unit="s")
    point = summary.summary.data_points.add(
        start_time_unix_nano=T0, time_unix_nano=T0 + 60_000_000_000, count=10, sum=4.5
    )
    point.attributes.extend(key_values({"rpc": "Export"}))
    for quantile, value in ((0.0, 0.1), (0.5, 0.4), (0.99, 1.2), (1.0, 1.5)):
        point.quantile_values.add(quantile=quantile, value=value)
    gauge = Metric(name="tokens.in.flight")
    with_exemplar = gauge.gauge.data_points.add(time_unix_nano=T0, as_int=12)
    with_exemplar.exemplars.add(
        time_unix_nano=T0 - 5,
        as_double=3.5,
        trace_id=b"\x01" * 16,
        span_id=b"\x02" * 8,
        filtered_attributes=key_values({"user": "u1"}),
    )
    gauge.gauge.data_points.add(time_unix_nano=T0 + 1, flags=1)  # no recorded value
    nameless = Metric()
    nameless.gauge.data_points.add(time_unix_nano=T0, as_int=1)  # no metric name: rejected
    scope.metrics.extend([summary, gauge, nameless])
    return request


async def test_summaries_exemplars_no_value_flag_rejections_and_replays(
    service: RunningService, db: asyncpg.Connection
) -> None:
    request = raw_metrics_request()
    response = await export(service.grpc_port, "metrics", request)
    assert response.partial_success.rejected_data_points == 1
    assert "metric without a name" in response.partial_success.error_message
    await export(service.grpc_port, "metrics", request)  # replay

    (summary,) = await points(db, "raw-metrics", "rpc.latency")
    assert (summary["count"], summary["sum"], summary["value"]) == (10, 4.5, None)
    assert orjson.loads(summary["quantiles"]) == [
        {"quantile": 0.0, "value": 0.1},
        {"quantile": 0.5, "value": 0.4},
        {"quantile": 0.99, "value": 1.2},
        {"quantile": 1.0, "value": 1.5},
    ]
    assert summary["timestamp"] > summary["start_timestamp"]

    gauge_points = await db.fetch(
        "SELECT p.* FROM metric_data_points p JOIN metrics m ON m.id = p.metric_id "
        "WHERE m.name = 'tokens.in.flight' ORDER BY p.timestamp"
    )
    assert [(p["value"], p["flags"]) for p in gauge_points] == [(12, 0), (None, 1)]
    (exemplar,) = orjson.loads(gauge_points[0]["exemplars"])
    assert exemplar == {
        "value": 3.5,
        "time_unix_nano": T0 - 5,
        "filtered_attributes": {"user": "u1"},
        "trace_id": "01" * 16,
        "span_id": "02" * 8,
    }

    # A changed description updates the one catalogue row; points are not duplicated.
    await export(service.grpc_port, "metrics", raw_metrics_request("Latency of Export calls"))
    rows = await db.fetch("SELECT description, unit FROM metrics WHERE name = 'rpc.latency'")
    assert [tuple(r) for r in rows] == [("Latency of Export calls", "s")]
    assert len(await points(db, "raw-metrics", "rpc.latency")) == 1


def gauges_request(*names: str, start: int = T0) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    resource_metrics.resource.attributes.extend(key_values({"service.name": "colliding-names"}))
    scope = resource_metrics.scope_metrics.add()
    for offset, name in enumerate(names):
        metric = Metric(name=name)
        metric.gauge.data_points.add(time_unix_nano=start + offset, as_int=offset)
        scope.metrics.append(metric)
    return request


async def test_names_that_store_alike_are_one_metric_and_sink_no_neighbour(
    service: RunningService, db: asyncpg.Connection
) -> None:
    """'nul.a\\0b' stores as 'nul.ab', and two long names as their first 255 characters: each pair
    is one catalogue row. Their ids used to differ, so the second met the catalogue's unique
    (project, name, service) key and took every point of its request down with it."""
    long_name = "long." + "x" * 300
    await export(service.grpc_port, "metrics", gauges_request("nul.ab", long_name + "1"))
    later = gauges_request("nul.a\0b", long_name + "2", "ok.four", start=T0 + 10)
    response = await export(service.grpc_port, "metrics", later)
    assert response.partial_success.rejected_data_points == 0
    names = await db.fetch("SELECT name FROM metrics WHERE service_name = 'colliding-names' ORDER BY name")
    assert [row["name"] for row in names] == [(long_name + "1")[:254] + "…", "nul.ab", "ok.four"]
    points = await db.fetchval(
        "SELECT count(*) FROM metric_data_points p JOIN metrics m ON m.id = p.metric_id "
        "WHERE m.service_name = 'colliding-names'"
    )
    assert points == 5
