"""Property: whatever conversion accepts, the database stores, on both write paths."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings

from observatory_ingest.convert.context import ConvertContext
from observatory_ingest.pipeline.isolation import RowPart
from observatory_ingest.signals import SIGNALS
from observatory_ingest.store.writer import prepare_connection, write_batch
from tests.strategies import log_requests, trace_requests


@pytest.fixture(scope="module")
def writer(database: str) -> Iterator[tuple[asyncio.AbstractEventLoop, asyncpg.Connection]]:
    loop = asyncio.new_event_loop()
    connection = loop.run_until_complete(asyncpg.connect(database))
    loop.run_until_complete(prepare_connection(connection))
    yield loop, connection
    loop.run_until_complete(connection.close())
    loop.close()


def store_twice(
    writer: tuple[asyncio.AbstractEventLoop, asyncpg.Connection], signal: str, request: Any
) -> None:
    loop, connection = writer
    kind, context = SIGNALS[signal], ConvertContext()
    # Through the signal's own decoder, as the server does.
    converted = kind.convert(kind.decode(request.SerializeToString(), context.max_attribute_bytes), context)
    batch = [RowPart(converted.tables)]
    # First the direct path (new rows), then the same rows again: the merge path (a replay).
    loop.run_until_complete(write_batch(connection, SIGNALS[signal].write_plan, batch))
    loop.run_until_complete(write_batch(connection, SIGNALS[signal].write_plan, batch))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(request=trace_requests())
def test_converted_traces_are_storable(writer: Any, request: Any) -> None:
    store_twice(writer, "traces", request)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(request=log_requests())
def test_converted_logs_are_storable(writer: Any, request: Any) -> None:
    store_twice(writer, "logs", request)
