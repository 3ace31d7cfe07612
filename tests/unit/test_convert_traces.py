from __future__ import annotations

import base64
from typing import Any

import orjson
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from observatory_ingest.convert.columns import EVENT_COLUMNS, SPAN_COLUMNS
from observatory_ingest.convert.common import DEFAULT_PROJECT_ID, POSTGRES_EPOCH_US, derived_id
from observatory_ingest.convert.context import ConvertContext
from tests.otlp_builders import convert_trace_message, key_values, span, trace_request

TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
ROOT = bytes.fromhex("b7ad6b7169203331")
CHILD = bytes.fromhex("00f067aa0ba902b7")
START = 1_700_000_000_123_456_789


def rows_as_dicts(rows: list[tuple[Any, ...]], columns: tuple[str, ...]) -> list[dict[str, Any]]:
    return [dict(zip(columns, row, strict=True)) for row in rows]


def test_every_span_field_lands() -> None:
    root = span(
        TRACE,
        ROOT,
        "GET /chat",
        start=START,
        duration_ns=2_500_000,
        kind=Span.SPAN_KIND_SERVER,
        trace_state="vendor=1",
        flags=0x301,
        status=Status(code=Status.STATUS_CODE_ERROR, message="boom"),
        attributes=key_values({"http.method": "GET", "retries": 3, "ratio": 0.5, "ok": True}),
        dropped_attributes_count=1,
        dropped_events_count=2,
        dropped_links_count=3,
    )
    converted = convert_trace_message(
        trace_request([root], resource={"deployment.environment": "prod"}), ConvertContext()
    )
    assert (converted.accepted, converted.rejected) == (1, 0)
    (row,) = rows_as_dicts(converted.tables["trace_spans"], SPAN_COLUMNS)
    assert row["id"] == derived_id(bytes(16), TRACE, ROOT)
    assert row["trace_id"] == TRACE.hex()
    assert row["span_id"] == "b7ad6b7169203331"
    assert row["parent_span_id"] is None
    assert (row["name"], row["kind"], row["service_name"]) == ("GET /chat", "server", "svc")
    assert row["start_time"] == (START // 1000 - POSTGRES_EPOCH_US,)
    assert row["end_time"] == ((START + 2_500_000) // 1000 - POSTGRES_EPOCH_US,)
    assert row["duration_us"] == 2500
    assert (row["status"], row["status_message"]) == ("error", "boom")
    assert orjson.loads(row["attributes"]) == {"http.method": "GET", "retries": 3, "ratio": 0.5, "ok": True}
    resource = orjson.loads(row["resource_attributes"])
    assert resource == {"deployment.environment": "prod", "service.name": "svc"}
    assert (row["scope_name"], row["scope_version"]) == ("lib", "1.0")
    assert (row["trace_state"], row["flags"]) == ("vendor=1", 0x301)
    dropped = ("dropped_attributes_count", "dropped_events_count", "dropped_links_count")
    assert [row[name] for name in dropped] == [1, 2, 3]
    assert row["events"] is None and row["links"] is None
    assert row["project_id"] == DEFAULT_PROJECT_ID


def test_every_any_value_variant_becomes_json() -> None:
    values = {
        "s": "text",
        "b": False,
        "i": -(2**63),
        "d": 1.25,
        "bytes": b"\x00\xffbin",
        "array": ["a", 1, 2.5, True, [1, 2]],
        "kv": {"nested": {"deeper": [{"x": 1}]}},
        "empty_array": [],
        "empty_kv": {},
        "empty": None,
    }
    converted = convert_trace_message(
        trace_request([span(TRACE, ROOT, attributes=key_values(values))]), ConvertContext()
    )
    attributes = orjson.loads(converted.tables["trace_spans"][0][SPAN_COLUMNS.index("attributes")])
    assert attributes == {
        "s": "text",
        "b": False,
        "i": -(2**63),
        "d": 1.25,
        "bytes": base64.b64encode(b"\x00\xffbin").decode(),
        "array": ["a", 1, 2.5, True, [1, 2]],
        "kv": {"nested": {"deeper": [{"x": 1}]}},
        "empty_array": [],
        "empty_kv": {},
        "empty": None,
    }


def test_kinds_status_codes_and_unknown_enum_numbers() -> None:
    spans = [span(TRACE, bytes([0, 0, 0, 0, 0, 0, 0, k + 1]), kind=k) for k in range(6)]
    spans.append(
        span(TRACE, bytes([0, 0, 0, 0, 0, 0, 1, 0]), kind=42, status=Status(code=Status.STATUS_CODE_OK))
    )
    rows = rows_as_dicts(
        convert_trace_message(trace_request(spans), ConvertContext()).tables["trace_spans"], SPAN_COLUMNS
    )
    assert [r["kind"] for r in rows] == [
        "unspecified",
        "internal",
        "server",
        "client",
        "producer",
        "consumer",
        "unspecified",
    ]
    assert [r["status"] for r in rows] == ["unset"] * 6 + ["ok"]


def test_events_go_to_the_span_and_to_their_own_rows() -> None:
    root = span(TRACE, ROOT, start=START)
    root.events.add(
        time_unix_nano=START + 10,
        name="gen_ai.choice",
        attributes=key_values({"index": 0}),
        dropped_attributes_count=1,
    )
    root.events.add(time_unix_nano=0, name="no time")
    converted = convert_trace_message(trace_request([root]), ConvertContext())
    (span_row,) = rows_as_dicts(converted.tables["trace_spans"], SPAN_COLUMNS)
    assert orjson.loads(span_row["events"]) == [
        {
            "name": "gen_ai.choice",
            "time_unix_nano": START + 10,
            "attributes": {"index": 0},
            "dropped_attributes_count": 1,
        },
        {"name": "no time", "time_unix_nano": START, "attributes": {}, "dropped_attributes_count": 0},
    ]
    events = rows_as_dicts(converted.tables["trace_events"], EVENT_COLUMNS)
    assert [e["name"] for e in events] == ["gen_ai.choice", "no time"]
    assert all(e["span_id"] == span_row["id"] and e["trace_id"] == TRACE.hex() for e in events)
    assert events[0]["id"] != events[1]["id"]
    assert events[1]["timestamp"] == span_row["start_time"]  # time 0 falls back to the span start


def test_links_keep_hex_ids_state_and_attributes() -> None:
    linked = span(TRACE, ROOT)
    linked.links.add(
        trace_id=bytes(range(16)),
        span_id=bytes(range(8)),
        trace_state="a=b",
        attributes=key_values({"why": "retry"}),
        flags=1,
    )
    converted = convert_trace_message(trace_request([linked]), ConvertContext())
    links = orjson.loads(converted.tables["trace_spans"][0][SPAN_COLUMNS.index("links")])
    assert links == [
        {
            "trace_id": bytes(range(16)).hex(),
            "span_id": bytes(range(8)).hex(),
            "trace_state": "a=b",
            "attributes": {"why": "retry"},
            "dropped_attributes_count": 0,
            "flags": 1,
        }
    ]


def test_ids_are_deterministic_and_depend_on_the_project() -> None:
    request = trace_request([span(TRACE, ROOT)])
    first = convert_trace_message(request, ConvertContext()).tables["trace_spans"][0][0]
    again = convert_trace_message(request, ConvertContext()).tables["trace_spans"][0][0]
    other = convert_trace_message(request, ConvertContext("11111111-1111-1111-1111-111111111111")).tables[
        "trace_spans"
    ][0][0]
    assert first == again != other


def test_bad_ids_are_rejected_one_by_one_and_neighbours_kept() -> None:
    spans = [
        span(TRACE, ROOT, "good"),
        span(TRACE, b"\x01\x02", "short span id"),
        span(b"\x01" * 8, ROOT, "short trace id"),
        span(bytes(16), ROOT, "zero trace id"),
        span(TRACE, CHILD, "bad parent", parent=b"\x01"),
    ]
    converted = convert_trace_message(trace_request(spans), ConvertContext())
    assert (converted.accepted, converted.rejected) == (1, 4)
    assert [r[SPAN_COLUMNS.index("name")] for r in converted.tables["trace_spans"]] == ["good"]
    assert "span 'short span id': span_id must be 8 non-zero bytes, got 2" in converted.error_message


def test_missing_service_name_and_open_end() -> None:
    open_ended = span(TRACE, ROOT)
    open_ended.end_time_unix_nano = 0
    converted = convert_trace_message(trace_request([open_ended], service=None), ConvertContext())
    (row,) = rows_as_dicts(converted.tables["trace_spans"], SPAN_COLUMNS)
    assert row["service_name"] == "unknown_service"
    assert row["end_time"] is None and row["duration_us"] is None


def test_uint32_flags_and_counts_fit_their_integer_columns() -> None:
    # flags keeps its 32 bits (read as signed); counts past INTEGER's range are capped.
    full = 2**32 - 1
    wide = span(
        TRACE,
        ROOT,
        flags=full,
        dropped_attributes_count=full,
        dropped_events_count=full,
        dropped_links_count=full,
    )
    wide.events.add(name="e", time_unix_nano=START, dropped_attributes_count=full)
    converted = convert_trace_message(trace_request([wide]), ConvertContext(received_ns=START))
    (row,) = rows_as_dicts(converted.tables["trace_spans"], SPAN_COLUMNS)
    counts = ("dropped_attributes_count", "dropped_events_count", "dropped_links_count")
    assert (row["flags"], *(row[c] for c in counts)) == (-1, 2**31 - 1, 2**31 - 1, 2**31 - 1)
    (event,) = rows_as_dicts(converted.tables["trace_events"], EVENT_COLUMNS)
    assert event["dropped_attributes_count"] == 2**31 - 1


def test_a_request_share_of_a_trace_summary() -> None:
    """Earliest start, latest end, error over ok over unset, the least error message, and the root
    span's name, service and attributes; without a root in the request, the least service name."""
    other_trace = bytes.fromhex("1" * 32)
    spans = [
        span(TRACE, CHILD, "child b", parent=ROOT, start=START + 10, duration_ns=5_000_000),
        span(TRACE, bytes.fromhex("2" * 16), "child a", parent=ROOT, start=START + 5, duration_ns=1000),
        span(TRACE, ROOT, "root", start=START + 20, duration_ns=100, attributes=key_values({"k": 1})),
        span(other_trace, bytes.fromhex("3" * 16), "orphan", parent=ROOT, start=START),
    ]
    spans[0].status.code, spans[0].status.message = Status.STATUS_CODE_ERROR, "zeta"
    spans[1].status.code, spans[1].status.message = Status.STATUS_CODE_ERROR, "alpha"
    spans[2].status.code = Status.STATUS_CODE_OK
    converted = convert_trace_message(trace_request(spans, service="svc"), ConvertContext())
    parts = {part[0]: part for part in converted.tables["trace_parts"]}
    summary = parts[TRACE.hex()]
    assert summary[3:] == (
        "svc",
        ((START + 5) // 1000 - POSTGRES_EPOCH_US,),
        ((START + 10 + 5_000_000) // 1000 - POSTGRES_EPOCH_US,),
        "error",
        "alpha",
        "root",
        '{"k":1}',
        '{"service.name":"svc"}',
        3,
    )
    orphan = parts[other_trace.hex()]
    assert orphan[3] == "svc" and orphan[6:12] == ("unset", None, None, "{}", "{}", 1)
