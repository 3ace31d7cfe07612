"""Property tests: any OTLP content gives either a documented rejection or rows that are
storable (no NUL, times in range, bounded strings, valid JSON)."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings

from observatory_ingest.convert.columns import LOG_COLUMNS, SPAN_COLUMNS
from observatory_ingest.convert.common import POSTGRES_EPOCH_US
from observatory_ingest.convert.context import ConvertContext
from observatory_ingest.convert.logs import convert_logs
from tests.otlp_builders import convert_trace_message
from tests.strategies import log_requests, trace_requests

NOW = 1_790_000_000 * 10**9
DOCUMENTED = ("trace_id must be", "span_id must be", "parent_span_id must be")
VARCHAR = {
    "name": 255,
    "service_name": 255,
    "scope_name": 255,
    "scope_version": 50,
    "severity_text": 20,
    "event_name": 255,
}
YEAR_US = 366 * 86_400 * 10**6


def check_row(row: dict[str, Any]) -> None:
    for column, value in row.items():
        if isinstance(value, str):
            assert "\x00" not in value, column
            assert "\\u0000" not in value or "\\\\u0000" in value, column
            if column in VARCHAR:
                assert len(value) <= VARCHAR[column], column
            if value[:1] in "{[" and column in ("attributes", "events", "links", "resource_attributes"):
                orjson.loads(value)
        if isinstance(value, tuple):  # a timestamp: within the plausible window around NOW
            assert abs(value[0] - (NOW // 1000 - POSTGRES_EPOCH_US)) <= 6 * YEAR_US, column


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trace_requests())
def test_any_trace_request_converts_to_storable_rows_or_documented_rejections(request: Any) -> None:
    items = sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
    converted = convert_trace_message(request, ConvertContext(received_ns=NOW))
    assert converted.accepted + converted.rejected == items
    assert all(any(reason in error for reason in DOCUMENTED) for error in converted.errors)
    for row in converted.tables["trace_spans"]:
        check_row(dict(zip(SPAN_COLUMNS, row, strict=True)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log_requests())
def test_any_log_request_converts_to_storable_rows_or_documented_rejections(request: Any) -> None:
    converted = convert_logs(request, ConvertContext(received_ns=NOW))
    assert all("must be empty or" in error for error in converted.errors)
    for row in converted.tables["logs"]:
        check_row(dict(zip(LOG_COLUMNS, row, strict=True)))
