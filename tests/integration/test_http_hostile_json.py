"""Hostile OTLP/JSON through the real HTTP receiver: nesting, huge arrays, huge numbers,
duplicate keys, wrong types per field answer 400 with a clear message (or are stored), never
500 or a retry, and the service goes on storing its neighbours."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg
import orjson
import pytest
import requests
from hypothesis import HealthCheck, given, settings

from observatory_ingest.runtime.app import running_service
from tests.integration.conftest import service_settings
from tests.json_strategies import hostile_documents, nested

JSON = "application/json"


@dataclass
class Served:
    http_port: int
    metrics_port: int
    codes: dict[int, int]

    def post(self, signal: str, body: bytes) -> requests.Response:
        reply = requests.post(
            f"http://127.0.0.1:{self.http_port}/v1/{signal}",
            data=body,
            headers={"Content-Type": JSON},
            timeout=60,
        )
        self.codes[reply.status_code] = self.codes.get(reply.status_code, 0) + 1
        return reply


@pytest.fixture(scope="module")
def served(database: str) -> Iterator[Served]:
    """The service in a thread of its own, so that hypothesis's synchronous examples can call it."""
    started = threading.Event()
    box: dict[str, object] = {}

    async def serve() -> None:
        async with running_service(service_settings(database)) as service:
            stop = asyncio.Event()
            box.update(service=service, loop=asyncio.get_running_loop(), stop=stop)
            started.set()
            await stop.wait()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    assert started.wait(120), "the service did not start"
    service = box["service"]
    yield Served(service.http_port, service.metrics_port, {})  # type: ignore[attr-defined]
    box["loop"].call_soon_threadsafe(box["stop"].set)  # type: ignore[attr-defined]
    thread.join(60)


def assert_clear_refusal(reply: requests.Response) -> None:
    assert reply.status_code == 400, (reply.status_code, reply.text[:300])
    message = orjson.loads(reply.content)["message"]
    assert message and len(message) < 400 and "Traceback" not in message


def test_a_2_kb_body_nested_1000_levels_is_refused_with_400(served: Served) -> None:
    body = b'{"resourceSpans":' + b"[" * 1000 + b"]" * 1000 + b"}"
    assert len(body) < 2100
    reply = served.post("traces", body)
    assert_clear_refusal(reply)  # was 500: RecursionError in the id rewriting
    assert orjson.loads(reply.content)["message"] == "invalid JSON: nested too deeply to parse"


def test_deep_attribute_values_are_answered_400_or_200_never_500(served: Served) -> None:
    for depth in (10, 60, 240, 1000):
        reply = served.post("logs", nested(depth, "values"))
        assert reply.status_code in (200, 400), (depth, reply.status_code)
        if reply.status_code == 400:
            assert_clear_refusal(reply)


async def test_huge_arrays_and_numbers_are_answered_at_once(served: Served, database: str) -> None:
    values = b",".join([b'{"intValue":"7"}'] * 300_000)
    body = (
        b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"%s","spanId":"%s","name":"huge array",'
        b'"attributes":[{"key":"a","value":{"arrayValue":{"values":[%s]}}}]}]}]}]}'
        % (b"a1" * 16, b"01" * 8, values)
    )
    started = time.monotonic()
    reply = await asyncio.to_thread(served.post, "traces", body)
    assert reply.status_code == 200
    assert time.monotonic() - started < 60  # a liveness bound: seconds, not minutes
    db = await asyncpg.connect(database)
    try:
        stored = await db.fetchval("SELECT attributes->>'a' FROM trace_spans WHERE name = 'huge array'")
    finally:
        await db.close()
    assert stored.startswith("[7,7,") and "bytes cut" in stored  # capped to --max-attribute-bytes
    for number in (b"1" + b"0" * 4000, b"1e999", b"-1", b'"18446744073709551616"'):
        reply = await asyncio.to_thread(
            served.post,
            "traces",
            b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":%s}]}]}]}' % number,
        )
        assert_clear_refusal(reply)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=hostile_documents())
def test_hostile_bodies_of_every_signal_are_stored_or_refused_with_400(
    served: Served, case: tuple[str, bytes]
) -> None:
    signal, body = case
    reply = served.post(signal, body)
    assert reply.status_code in (200, 400), (reply.status_code, reply.text[:300])
    if reply.status_code == 400:
        assert_clear_refusal(reply)


def test_the_fuzzing_met_both_outcomes_and_the_service_still_stores(served: Served) -> None:
    assert served.codes.get(200, 0) > 10 and served.codes.get(400, 0) > 10, served.codes
    assert set(served.codes) <= {200, 400}, served.codes
    neighbour = (
        b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"%s","spanId":"%s","name":"after"}]}]}]}'
        % (
            b"b2" * 16,
            b"01" * 8,
        )
    )
    assert served.post("traces", neighbour).status_code == 200
    health = requests.get(f"http://127.0.0.1:{served.metrics_port}/readyz", timeout=10)
    assert health.status_code == 200
