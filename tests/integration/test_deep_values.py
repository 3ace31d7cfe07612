"""The depth policy through the real server, for all three signals over gRPC and HTTP: one item
whose attribute nests arrays 60 or 4,996 levels deep (the innermost value at level 10,000, the most
the Go runtime of the OpenTelemetry Collector reads) is stored with the marker 16 levels down, and
its 39 neighbours with it; past 10,000 levels the request is refused as the Collector refuses it."""

from __future__ import annotations

from typing import Any

import asyncpg
import grpc
import orjson
import pytest

from observatory_ingest.convert.native import MAX_DEPTH, TOO_DEEP
from observatory_ingest.runtime.app import RunningService
from tests.integration.otlp_client import export
from tests.integration.test_http import PROTOBUF, post
from tests.otlp_builders import deep_request

ITEMS = 40
DEEPEST = 4996  # a data point's attribute is a level deeper than a span's or a log record's

STORED = {
    "traces": "SELECT attributes FROM trace_spans WHERE service_name = $1",
    "metrics": "SELECT p.attributes FROM metric_data_points p JOIN metrics m ON m.id = p.metric_id "
    "WHERE m.service_name = $1",
    "logs": "SELECT attributes FROM logs WHERE service_name = $1",
}


async def send(service: RunningService, transport: str, signal: str, payload: bytes) -> None:
    if transport == "grpc":
        await export(service.grpc_port, signal, payload, timeout=30)
    else:
        status, body, _ = await post(service, signal, payload, PROTOBUF)
        assert status == 200, body


def innermost(value: Any) -> Any:
    for _ in range(MAX_DEPTH):
        assert isinstance(value, list) and len(value) == 1, value
        value = value[0]
    return value


@pytest.mark.parametrize("levels", [60, DEEPEST])
@pytest.mark.parametrize("transport", ["grpc", "http"])
@pytest.mark.parametrize("signal", ["traces", "metrics", "logs"])
async def test_a_deep_attribute_is_stored_as_the_marker_with_its_neighbours(
    service: RunningService, db: asyncpg.Connection, signal: str, transport: str, levels: int
) -> None:
    name = f"deep-{signal}-{transport}-{levels}"
    await send(service, transport, signal, deep_request(signal, ITEMS, levels, name))
    rows = [orjson.loads(row["attributes"]) for row in await db.fetch(STORED[signal], name)]
    assert sorted(attributes["item"] for attributes in rows) == list(range(ITEMS))
    deep = [attributes["deep"] for attributes in rows if "deep" in attributes]
    assert len(deep) == 1
    assert innermost(deep[0]) == TOO_DEEP


@pytest.mark.parametrize("transport", ["grpc", "http"])
@pytest.mark.parametrize("signal", ["traces", "metrics", "logs"])
async def test_nesting_past_ten_thousand_levels_is_refused_as_invalid(
    service: RunningService, db: asyncpg.Connection, signal: str, transport: str
) -> None:
    name = f"too-deep-{signal}-{transport}"
    payload = deep_request(signal, ITEMS, 5000, name)
    if transport == "grpc":
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await export(service.grpc_port, signal, payload, timeout=30)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "nested too deep" in (refused.value.details() or "")
    else:
        status, body, _ = await post(service, signal, payload, PROTOBUF)
        assert status == 400, body
    assert await db.fetch(STORED[signal], name) == []
