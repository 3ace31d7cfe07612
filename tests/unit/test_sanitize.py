"""What PostgreSQL cannot store is made storable in conversion, and the item says so."""

from __future__ import annotations

from typing import Any

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from observatory_ingest.convert.columns import EVENT_COLUMNS, LOG_COLUMNS, SPAN_COLUMNS
from observatory_ingest.convert.common import MAX_DEPTH, POSTGRES_EPOCH_US, TOO_DEEP, attributes
from observatory_ingest.convert.context import ConvertContext
from observatory_ingest.convert.logs import convert_logs
from observatory_ingest.convert.sanitize import int32_bits, int32_count, json_without_nul, text
from tests.otlp_builders import any_value, convert_trace_message, key_values, span, trace_request

NOW = 1_790_000_000_000_000_000
TRACE, SPAN = b"\x0a" * 16, b"\x0b" * 8


def first_row(rows: list[tuple[Any, ...]], columns: tuple[str, ...]) -> dict[str, Any]:
    return dict(zip(columns, rows[0], strict=True))


def test_nul_characters_vanish_from_text_and_json() -> None:
    bad = span(
        TRACE, SPAN, "na\x00me", start=NOW, attributes=key_values({"k\x00": "v\x00", "list": ["a\x00"]})
    )
    bad.status.message = "boom\x00"
    bad.events.add(time_unix_nano=NOW, name="ev\x00", attributes=key_values({"x": "\x00"}))
    converted = convert_trace_message(
        trace_request([bad], service="svc\x00"), ConvertContext(received_ns=NOW)
    )
    row = first_row(converted.tables["trace_spans"], SPAN_COLUMNS)
    assert (row["name"], row["status_message"], row["service_name"]) == ("name", "boom", "svc")
    assert orjson.loads(row["attributes"]) == {"k": "v", "list": ["a"]}
    assert "\\u0000" not in row["events"] + row["resource_attributes"]
    assert first_row(converted.tables["trace_events"], EVENT_COLUMNS)["name"] == "ev"


def test_json_nul_removal_keeps_escaped_backslashes() -> None:
    assert json_without_nul('"a\\u0000b"') == '"ab"'
    assert json_without_nul('"a\\\\u0000b"') == '"a\\\\u0000b"'  # a literal backslash, then "u0000"
    assert json_without_nul('"\\\\\\u0000"') == '"\\\\"'
    assert orjson.loads(json_without_nul(orjson.dumps(["\\u0000", "\x00"]).decode())) == ["\\u0000", ""]


def test_names_longer_than_their_column_are_truncated_with_a_marker() -> None:
    assert text("x" * 300, 255) == "x" * 254 + "…"
    converted = convert_trace_message(
        trace_request([span(TRACE, SPAN, "n" * 1000, start=NOW)]), ConvertContext(received_ns=NOW)
    )
    assert len(first_row(converted.tables["trace_spans"], SPAN_COLUMNS)["name"]) == 255


def test_attribute_values_above_the_limit_are_cut_and_deep_nesting_is_bounded() -> None:
    deep: Any = "leaf"
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    result = attributes(
        key_values({"big": "y" * 5000, "list": ["z" * 100] * 100, "deep": deep}), max_bytes=1000
    )
    assert result["big"].startswith("y" * 1000) and result["big"].endswith("…[4000 bytes cut]")
    assert isinstance(result["list"], str) and "bytes cut]" in result["list"]
    level, depth = result["deep"], 0
    while isinstance(level, list):
        level, depth = level[0], depth + 1
    assert (level, depth) == (TOO_DEEP, MAX_DEPTH)


def test_span_times_fall_back_and_are_recorded() -> None:
    far_future = NOW + 10 * 366 * 86_400 * 10**9
    spans = [
        span(TRACE, b"\x01" * 8, "no start", start=0, duration_ns=0),
        span(TRACE, b"\x02" * 8, "absurd start", start=far_future, duration_ns=0),
        span(TRACE, b"\x03" * 8, "end before start", start=NOW, duration_ns=-5),
    ]
    spans[0].end_time_unix_nano = NOW + 7000
    spans[1].end_time_unix_nano = 0
    converted = convert_trace_message(trace_request(spans), ConvertContext(received_ns=NOW))
    rows = {
        r[SPAN_COLUMNS.index("name")]: dict(zip(SPAN_COLUMNS, r, strict=True))
        for r in converted.tables["trace_spans"]
    }
    assert rows["no start"]["start_time"] == ((NOW + 7000) // 1000 - POSTGRES_EPOCH_US,)
    assert orjson.loads(rows["no start"]["attributes"])["observatory.sanitized"] == ["start_time"]
    assert rows["absurd start"]["start_time"] == (NOW // 1000 - POSTGRES_EPOCH_US,)
    assert rows["end before start"]["end_time"] is None
    assert orjson.loads(rows["end before start"]["attributes"])["observatory.sanitized"] == ["end_time"]
    assert converted.sanitized == 3 and converted.rejected == 0


def test_log_times_fall_back_to_observed_then_receive_time() -> None:
    request = ExportLogsServiceRequest()
    records = request.resource_logs.add().scope_logs.add().log_records
    records.add(observed_time_unix_nano=NOW - 10_000, body=any_value("observed only"))
    records.add(body=any_value("no time"), severity_text="A" * 40)
    converted = convert_logs(request, ConvertContext(received_ns=NOW))
    observed, timeless = (dict(zip(LOG_COLUMNS, r, strict=True)) for r in converted.tables["logs"])
    assert (
        observed["timestamp"]
        == observed["observed_timestamp"]
        == ((NOW - 10_000) // 1000 - POSTGRES_EPOCH_US,)
    )
    assert "observatory.sanitized" not in orjson.loads(observed["attributes"])
    assert timeless["timestamp"] == (NOW // 1000 - POSTGRES_EPOCH_US,)
    assert orjson.loads(timeless["attributes"])["observatory.sanitized"] == ["received_time_used"]
    assert len(timeless["severity_text"]) == 20


def test_uint32_fields_fit_integer_columns() -> None:
    # Bit fields keep their 32 bits; counts (uint32 on the wire) are capped.
    assert [int32_bits(v) for v in (0, 0x301, 2**31 - 1, 2**31, 2**32 - 1)] == [
        0,
        0x301,
        2**31 - 1,
        -(2**31),
        -1,
    ]
    assert [int32_count(v) for v in (0, 7, 2**31 - 1, 2**32 - 1)] == [0, 7, 2**31 - 1, 2**31 - 1]
