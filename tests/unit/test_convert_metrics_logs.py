from __future__ import annotations

from typing import Any

import orjson
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

from observatory_ingest.convert.columns import LLM_LOG_COLUMNS, LOG_COLUMNS, METRIC_COLUMNS, POINT_COLUMNS
from observatory_ingest.convert.common import POSTGRES_EPOCH_US
from observatory_ingest.convert.context import ConvertContext
from observatory_ingest.convert.logs import body_text, convert_logs, severity_text
from observatory_ingest.convert.metrics import convert_metrics
from tests.otlp_builders import any_value, key_values

T0 = 1_700_000_000_000_000_000


def metrics_request(*metrics: Metric, service: str = "svc") -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    resource = request.resource_metrics.add()
    resource.resource.attributes.extend(key_values({"service.name": service}))
    resource.scope_metrics.add().metrics.extend(metrics)
    return request


def as_dicts(rows: list[tuple[Any, ...]], columns: tuple[str, ...]) -> list[dict[str, Any]]:
    return [dict(zip(columns, row, strict=True)) for row in rows]


def test_one_catalogue_row_per_metric_and_service_even_when_repeated() -> None:
    first, again = Metric(name="m", unit="1"), Metric(name="m", unit="1")
    first.sum.data_points.add(time_unix_nano=T0, as_int=1)
    first.sum.aggregation_temporality, first.sum.is_monotonic = 1, True
    again.sum.data_points.add(time_unix_nano=T0 + 1, as_int=2)
    converted = convert_metrics(metrics_request(first, again), ConvertContext())
    (metric,) = as_dicts(converted.tables["metrics"], METRIC_COLUMNS)
    assert (metric["metric_type"], metric["temporality"], metric["is_monotonic"]) == ("sum", "delta", True)
    points = as_dicts(converted.tables["metric_data_points"], POINT_COLUMNS)
    assert [p["value"] for p in points] == [1, 2]
    assert {p["metric_id"] for p in points} == {metric["id"]}
    assert converted.accepted == 2


def test_histogram_optional_fields_and_no_recorded_value() -> None:
    histogram = Metric(name="h")
    histogram.histogram.data_points.add(
        time_unix_nano=T0, count=2, explicit_bounds=[1.0], bucket_counts=[1, 1]
    )  # no sum/min/max
    histogram.histogram.data_points.add(time_unix_nano=T0 + 1, flags=1, count=9)
    converted = convert_metrics(metrics_request(histogram), ConvertContext())
    with_counts, empty = as_dicts(converted.tables["metric_data_points"], POINT_COLUMNS)
    assert (with_counts["count"], with_counts["sum"], with_counts["min"], with_counts["max"]) == (
        2,
        None,
        None,
        None,
    )
    assert orjson.loads(with_counts["buckets"]) == {"explicit_bounds": [1.0], "bucket_counts": [1, 1]}
    assert (empty["count"], empty["buckets"], empty["flags"]) == (None, None, 1)


def test_point_ids_are_stable_and_distinguish_attributes_and_times() -> None:
    def point_ids(**attributes: Any) -> list[str]:
        gauge = Metric(name="g")
        gauge.gauge.data_points.add(time_unix_nano=T0, as_double=1.0).attributes.extend(
            key_values(attributes)
        )
        gauge.gauge.data_points.add(time_unix_nano=T0 + 1, as_double=1.0).attributes.extend(
            key_values(attributes)
        )
        rows = convert_metrics(metrics_request(gauge), ConvertContext()).tables["metric_data_points"]
        return [row[0] for row in rows]

    assert point_ids(a=1) == point_ids(a=1)
    assert len(set(point_ids(a=1) + point_ids(a=2))) == 4


def test_metrics_without_name_are_rejected_and_points_without_time_use_the_receive_time() -> None:
    nameless, timeless = Metric(), Metric(name="t")
    nameless.gauge.data_points.add(time_unix_nano=T0, as_int=1)
    timeless.gauge.data_points.add(as_int=1)
    converted = convert_metrics(metrics_request(nameless, timeless), ConvertContext(received_ns=T0 + 5000))
    assert (converted.accepted, converted.rejected, converted.sanitized) == (1, 1, 1)
    (point,) = as_dicts(converted.tables["metric_data_points"], POINT_COLUMNS)
    assert point["timestamp"] == ((T0 + 5000) // 1000 - POSTGRES_EPOCH_US,)
    assert orjson.loads(point["attributes"]) == {"observatory.sanitized": ["time"]}


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0, "UNSPECIFIED"),
        (1, "TRACE"),
        (4, "TRACE4"),
        (5, "DEBUG"),
        (9, "INFO"),
        (10, "INFO2"),
        (13, "WARN"),
        (17, "ERROR"),
        (21, "FATAL"),
        (24, "FATAL4"),
        (99, "UNSPECIFIED"),
    ],
)
def test_severity_text_from_number(number: int, text: str) -> None:
    assert severity_text(LogRecord(severity_number=number)) == text  # type: ignore[arg-type]
    assert severity_text(LogRecord(severity_number=number, severity_text="custom")) == "custom"  # type: ignore[arg-type]


def test_body_text_for_every_kind_of_body() -> None:
    assert body_text(any_value("plain")) == "plain"
    assert body_text(any_value(None)) == ""
    assert orjson.loads(body_text(any_value({"k": [1, True]}))) == {"k": [1, True]}
    assert body_text(any_value(3)) == "3"


def test_log_ids_are_stable_per_record_and_flags_keep_trace_flags_only() -> None:
    request = ExportLogsServiceRequest()
    scope_logs = request.resource_logs.add().scope_logs.add()
    scope_logs.log_records.add(time_unix_nano=T0, body=any_value("a"), flags=0x1FF)
    scope_logs.log_records.add(time_unix_nano=T0, body=any_value("b"))
    rows = as_dicts(convert_logs(request, ConvertContext()).tables["logs"], LOG_COLUMNS)
    again = as_dicts(convert_logs(request, ConvertContext()).tables["logs"], LOG_COLUMNS)
    assert [r["id"] for r in rows] == [r["id"] for r in again]
    assert rows[0]["id"] != rows[1]["id"]
    assert rows[0]["trace_flags"] == 0xFF
    assert rows[0]["service_name"] == "unknown_service"


def test_genai_provider_and_model_of_any_type_fit_their_llm_logs_columns() -> None:
    """Found by the property test once it drew GenAI keys: an int provider reached a text column."""
    request = ExportLogsServiceRequest()
    record = request.resource_logs.add().scope_logs.add().log_records.add(time_unix_nano=T0)
    record.attributes.extend(
        key_values({"gen_ai.provider.name": 0, "gen_ai.request.model": "m" * 300, "gen_ai.system": "x"})
    )
    (row,) = as_dicts(convert_logs(request, ConvertContext()).tables["llm_logs"], LLM_LOG_COLUMNS)
    assert row["provider"] == "0"
    assert len(row["model"]) == 255 and row["model"].startswith("mmm")
