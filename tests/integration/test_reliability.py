"""The database goes away, the process is killed, requests are garbage: nothing acknowledged is
lost, nothing is stored twice, and the service keeps answering with documented codes."""

from __future__ import annotations

import asyncio
import random
import signal
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import grpc
import pytest

from observatory_ingest.runtime.app import running_service
from tests.integration.conftest import SERVER_DSN, free_port, service_settings
from tests.integration.otlp_client import export, retry_delay
from tests.integration.sdk_load import SpanLoad
from tests.integration.serve_process import ServeProcess
from tests.otlp_builders import key_values, span, trace_request


async def stored(db: asyncpg.Connection, service: str) -> list[tuple[str, str]]:
    rows = await db.fetch(
        "SELECT replace(trace_id::text, '-', '') AS t, span_id FROM trace_spans WHERE service_name = $1",
        service,
    )
    return [(r["t"], r["span_id"]) for r in rows]


async def cut_connections(database: str) -> int:
    admin = await asyncpg.connect(SERVER_DSN)
    try:
        return int(
            await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = $1 AND application_name = 'observatory-ingest'",
                urlsplit(database).path[1:],
            )
        )
    finally:
        await admin.close()


async def set_connections_allowed(database: str, allowed: bool) -> None:
    admin = await asyncpg.connect(SERVER_DSN)
    try:
        await admin.execute(
            f'ALTER DATABASE "{urlsplit(database).path[1:]}" WITH ALLOW_CONNECTIONS {allowed}'
        )
    finally:
        await admin.close()


async def test_connections_cut_under_sdk_load_lose_nothing_acknowledged(
    database: str, db: asyncpg.Connection
) -> None:
    async with running_service(service_settings(database)) as service:
        load = SpanLoad(
            service.grpc_port, "cut-connections", rate=1500, seconds=4, exporter_timeout=15
        ).start()
        cut = 0
        for _ in range(4):
            await asyncio.sleep(0.7)
            cut += await cut_connections(database)
        acknowledged = await asyncio.to_thread(load.finish)
    assert cut > 0, "no connection was cut"
    rows = await stored(db, "cut-connections")
    assert len(acknowledged) > 1000
    assert acknowledged <= set(rows), f"{len(acknowledged - set(rows))} acknowledged spans lost"
    assert len(rows) == len(set(rows)), "duplicates stored"


async def test_database_outage_answers_unavailable_then_recovers_by_itself(
    database: str, db: asyncpg.Connection
) -> None:
    async with running_service(service_settings(database, ack_timeout="2s")) as service:
        load = SpanLoad(service.grpc_port, "outage", rate=600, seconds=9, exporter_timeout=30).start()
        await asyncio.sleep(1.0)
        await set_connections_allowed(database, False)
        try:
            await cut_connections(database)
            await asyncio.sleep(3.0)  # the probe notices within ~2 s
            assert not service.health.ready
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{service.metrics_port}/readyz") as reply,
            ):
                assert reply.status == 503
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await export(service.grpc_port, "traces", trace_request([span(b"\x51" * 16, b"\x01" * 8)]))
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            assert retry_delay(refused.value) is not None
        finally:
            await set_connections_allowed(database, True)
        for _ in range(100):  # recovery needs no help: the probe and the writers reconnect
            if service.health.ready:
                break
            await asyncio.sleep(0.1)
        assert service.health.ready
        acknowledged = await asyncio.to_thread(load.finish)
    rows = await stored(db, "outage")
    assert acknowledged <= set(rows), f"{len(acknowledged - set(rows))} acknowledged spans lost"
    assert len(rows) == len(set(rows))
    assert len(acknowledged) > 1000


async def test_kill_9_mid_stream_loses_nothing_acknowledged(
    database: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    port = free_port()
    arguments = ("--grpc-listen", f"127.0.0.1:{port}")
    first = ServeProcess(tmp_path / "first.log", *arguments, database_url=database)
    second: ServeProcess | None = None
    try:
        first.wait_ready()
        load = SpanLoad(port, "kill-9", rate=1500, seconds=6, exporter_timeout=30).start()
        await asyncio.sleep(2.0)
        first.signal(signal.SIGKILL)
        await asyncio.to_thread(first.process.wait, 10)
        second = ServeProcess(tmp_path / "second.log", *arguments, database_url=database)
        await asyncio.to_thread(second.wait_ready)
        acknowledged = await asyncio.to_thread(load.finish)
        assert await asyncio.to_thread(second.terminate) == 0
    finally:
        first.close()
        if second:
            second.close()
    rows = await stored(db, "kill-9")
    assert len(acknowledged) > 1000
    assert acknowledged <= set(rows), f"{len(acknowledged - set(rows))} acknowledged spans lost"
    assert len(rows) == len(set(rows)), "duplicates stored"


def mutate(payload: bytes, rng: random.Random) -> bytes:
    data = bytearray(payload)
    for _ in range(rng.randint(1, 8)):
        choice = rng.random()
        position = rng.randrange(len(data)) if data else 0
        if choice < 0.5 and data:
            data[position] = rng.randrange(256)
        elif choice < 0.7:
            data[position:position] = rng.randbytes(rng.randint(1, 16))
        elif choice < 0.9 and data:
            del data[position : position + rng.randint(1, 32)]
        else:
            data = data[: rng.randrange(len(data) + 1)]
    return bytes(data)


async def test_mutated_requests_get_documented_codes_and_neighbours_are_unaffected(
    database: str, db: asyncpg.Connection
) -> None:
    rng = random.Random(20261128)
    base = trace_request(
        [
            span(
                b"\x61" * 16,
                bytes([n]) * 8,
                f"fuzz {n}",
                attributes=key_values({"k": "v" * n, "n": n, "l": [1.5, True]}),
            )
            for n in range(1, 9)
        ]
    ).SerializeToString()
    codes: dict[str, int] = {}
    async with running_service(service_settings(database)) as service:
        for round_number in range(300):
            try:
                await export(service.grpc_port, "traces", mutate(base, rng), timeout=10)
                code = "OK"
            except grpc.aio.AioRpcError as error:
                code = error.code().name
            codes[code] = codes.get(code, 0) + 1
            if round_number % 50 == 0:  # a well-formed neighbour, checked right away
                neighbour = bytes([0x62, round_number % 256]) * 8
                await export(
                    service.grpc_port, "traces", trace_request([span(neighbour, b"\x01" * 8, "neighbour")])
                )
                assert (
                    await db.fetchval("SELECT count(*) FROM traces WHERE trace_id = $1", neighbour.hex()) == 1
                )
        assert service.health.ready
    assert set(codes) <= {"OK", "INVALID_ARGUMENT"}, codes
    assert codes.get("INVALID_ARGUMENT", 0) > 10 and codes.get("OK", 0) > 10, codes
