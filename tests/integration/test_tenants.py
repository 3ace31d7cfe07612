"""Projects sharing one service: per-project rate limits set from the command line and picked up
by a running service, refusals that tell only that project when to come back, per-project
series on /metrics, and a flooding project that cannot starve a modest one."""

from __future__ import annotations

import asyncio
import math
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench.payloads import Generator
from observatory_ingest import telemetry
from observatory_ingest.cli.main import main
from observatory_ingest.runtime.app import running_service
from observatory_ingest.signals import SIGNALS
from observatory_ingest.store import project_limits
from observatory_ingest.store.keys import create_key
from tests.integration.conftest import service_settings
from tests.integration.otlp_client import retry_delay
from tests.integration.serve_process import ServeProcess
from tests.integration.test_operations import get, sample

TRACES = SIGNALS["traces"]
RETRYABLE = {grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE}


class Client:
    """One exporter of one project: a gRPC connection of its own, its key on every call."""

    def __init__(self, port: int, key: str) -> None:
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        self.call = self.channel.unary_unary(
            TRACES.grpc_method, request_serializer=None, response_deserializer=None
        )
        self.metadata = (("authorization", f"Bearer {key}"),)

    async def send(self, payload: bytes, timeout: float = 15) -> grpc.StatusCode:
        try:
            await self.call(payload, timeout=timeout, metadata=self.metadata)
        except grpc.aio.AioRpcError as error:
            self.last_error = error
            return error.code()
        return grpc.StatusCode.OK

    async def close(self) -> None:
        await self.channel.close()


def payloads(seed: int, count: int, spans: int) -> list[ExportTraceServiceRequest]:
    generator = Generator(seed=seed)
    return [generator.traces(spans) for _ in range(count)]


def trace_ids(request: ExportTraceServiceRequest) -> set[bytes]:
    return {span.trace_id for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans}


def span_count(requests: list[ExportTraceServiceRequest]) -> int:
    return sum(len(ss.spans) for r in requests for rs in r.resource_spans for ss in rs.scope_spans)


async def stored_spans(
    db: asyncpg.Connection, project_id: str, requests: list[ExportTraceServiceRequest]
) -> int:
    ids = sorted({trace_id for request in requests for trace_id in trace_ids(request)})
    return int(
        await db.fetchval(
            "SELECT count(*) FROM trace_spans WHERE project_id = $1 AND trace_id = ANY($2::uuid[])",
            project_id,
            [trace_id.hex() for trace_id in ids],
        )
    )


def cli(database: str, *argv: str) -> tuple[int, str]:
    """The real command line, as a user runs it."""
    completed = subprocess.run(
        [sys.executable, "-m", "observatory_ingest", *argv],
        env={**os.environ, "OBSERVATORY_DATABASE_URL": database},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return completed.returncode, completed.stdout + completed.stderr


def test_projects_are_listed_and_their_limits_set_per_signal_from_the_command_line(database: str) -> None:
    assert main(["--database-url", database, "keys", "create", "--project", "cli-team"]) == 0
    code, out = cli(database, "projects", "list")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == "service defaults (this configuration): items unlimited, bytes unlimited, burst 2 s"
    assert any(line.startswith("cli-team ") for line in lines)
    assert "  all signals  default" in lines

    code, out = cli(
        database, "projects", "set-limits", "cli-team", "--signal", "traces", "--items-per-second", "2500",
        "--burst", "500ms",
    )  # fmt: skip
    assert code == 0, out
    assert "cli-team traces: items 2,500 items/s, bytes default, burst 0.5 s" in out
    code, out = cli(database, "projects", "set-limits", "cli-team", "--bytes-per-second", "4MiB")
    assert code == 0, out
    code, out = cli(database, "projects", "list")
    section = out[out.index("cli-team ") :].splitlines()[1:4]
    assert section == [
        "  traces       items 2,500 items/s, bytes 4,194,304 bytes/s, burst 0.5 s",
        "  metrics      items default, bytes 4,194,304 bytes/s, burst default",
        "  logs         items default, bytes 4,194,304 bytes/s, burst default",
    ]
    # Back to the default everywhere: the rows go.
    code, out = cli(
        database, "projects", "set-limits", "cli-team", "--items-per-second", "default",
        "--bytes-per-second", "default", "--burst", "default",
    )  # fmt: skip
    assert code == 0, out
    code, out = cli(database, "projects", "list")
    assert out[out.index("cli-team ") :].splitlines()[1] == "  all signals  default"

    assert cli(database, "projects", "set-limits", "nobody", "--burst", "1s") == (
        1,
        "error: no project named 'nobody' (keys create --project makes one)\n",
    )
    assert cli(database, "projects", "set-limits", "cli-team", "--items-per-second", "-5")[0] == 2


async def test_the_table_refuses_limits_that_mean_nothing(db: asyncpg.Connection) -> None:
    project_id = await db.fetchval("SELECT id FROM projects WHERE name = 'default'")
    insert = (
        "INSERT INTO project_limits (project_id, signal, items_per_second, burst_seconds) "
        "VALUES ($1, $2, $3, $4)"
    )
    for signal, rate, burst in [
        ("spans", 1.0, None),
        ("traces", 0.0, None),
        ("traces", math.nan, None),
        ("traces", 1.0, math.inf),
        ("traces", 1.0, 0.0),
    ]:
        with pytest.raises(asyncpg.CheckViolationError):
            await db.execute(insert, project_id, signal, rate, burst)
    transaction = db.transaction()
    await transaction.start()
    try:
        await db.execute(insert, project_id, "logs", math.inf, None)  # unlimited
        await db.execute("DELETE FROM projects WHERE name = 'default'")
        assert await db.fetchval("SELECT count(*) FROM project_limits") == 0  # gone with its project
    finally:
        await transaction.rollback()


@dataclass
class Refused:
    code: grpc.StatusCode
    retry_after_s: float | None


async def test_a_project_over_its_limit_is_told_when_to_come_back_and_another_is_not(
    database: str, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(telemetry, "PROJECT_LABELS", telemetry.ProjectLabels())
    monkeypatch.setattr(project_limits, "REFRESH_INTERVAL_S", 0.2)
    key_a, project_a = await create_key(db, "limited")
    key_b, _ = await create_key(db, "unlimited")
    request = payloads(1, 1, 16)[0].SerializeToString()  # 16 spans
    settings = service_settings(database, auth="required", rate_limit_items="1000")
    async with running_service(settings) as service:
        _, before = await get(service.metrics_port, "/metrics")  # counters live as long as the process
        a, b = Client(service.grpc_port, key_a), Client(service.grpc_port, key_b)
        assert await a.send(request) == grpc.StatusCode.OK
        # Set from the command line while the service runs: it applies within the reload interval.
        code, out = await asyncio.to_thread(
            cli, database, "projects", "set-limits", "limited", "--signal", "traces",
            "--items-per-second", "8", "--burst", "1s",
        )  # fmt: skip
        assert code == 0, out
        async with asyncio.timeout(20):
            # The reload has no event to wait on; polling the catalog is the point.
            while service.limits.book.of(project_a, "traces").items_per_second != 8:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        # A bucket of 8 items: one 16-span request goes in (into debt), the next waits about 1 s.
        refusals: list[Refused] = []
        while not refusals:
            if await a.send(request) != grpc.StatusCode.OK:
                refusals.append(Refused(a.last_error.code(), retry_delay(a.last_error)))
        assert refusals[0].code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert refusals[0].retry_after_s is not None and 0.1 <= refusals[0].retry_after_s <= 2.0
        assert "project over its traces limit of 8 items/s" in (a.last_error.details() or "")
        # Refused before decoding: bytes no decoder accepts get the limit's answer, not INVALID_ARGUMENT.
        assert await a.send(b"\xff\xff\xff") == grpc.StatusCode.RESOURCE_EXHAUSTED
        # Over HTTP: 429 with Retry-After in whole seconds.
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://127.0.0.1:{service.http_port}/v1/traces",
                data=request,
                headers={"Content-Type": "application/x-protobuf", "x-api-key": key_a},
            ) as reply,
        ):
            assert reply.status == 429
            assert int(reply.headers["Retry-After"]) in (1, 2)
        for _ in range(5):  # the other project is not affected
            assert await b.send(request) == grpc.StatusCode.OK
        # After the delay it was given, the limited project is let in again.
        await asyncio.sleep(refusals[0].retry_after_s + 0.1)
        assert await a.send(request) == grpc.StatusCode.OK

        status, text = await get(service.metrics_port, "/metrics")
        assert status == 200
        labels = {"signal": "traces", "project": "limited"}

        def grown(name: str, **more: str) -> float:
            return sample(text, name, 0, **more) - sample(before, name, 0, **more)

        assert grown("observatory_project_refused_requests_total", reason="items_per_second", **labels) >= 2
        assert grown("observatory_project_accepted_items_total", **labels) == 16 * 3
        assert grown("observatory_project_accepted_items_total", signal="traces", project="unlimited") == 80
        assert sample(text, "observatory_project_queue_size", **labels) == 0
        await assert_promtool_accepts(text)
        await a.close()
        await b.close()


async def assert_promtool_accepts(text: str) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus)")
    checked = await asyncio.to_thread(
        subprocess.run, [promtool, "check", "metrics"], input=text.encode(), capture_output=True, check=False
    )
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()


# Under load: A floods at several times what the service takes, retrying as SDKs do; B sends a
# modest steady stream. Bounded in count and time; no latency is asserted (bench e2e --tenants
# measures it).
FLOOD_SECONDS = 6.0
FLOOD_EXPORTERS = 40
FLOOD_ATTEMPTS = 6  # per request, the first included
B_INTERVAL_S = 0.1


@dataclass
class Flood:
    acknowledged: list[ExportTraceServiceRequest] = field(default_factory=list)
    refusals: dict[str, int] = field(default_factory=dict)
    given_up: int = 0


async def flood(
    client: Client, requests: list[ExportTraceServiceRequest], until: float, result: Flood
) -> None:
    for request in requests:
        if time.monotonic() >= until:
            return
        payload = request.SerializeToString()
        for _ in range(FLOOD_ATTEMPTS):
            code = await client.send(payload)
            if code == grpc.StatusCode.OK:
                result.acknowledged.append(request)
                break
            result.refusals[code.name] = result.refusals.get(code.name, 0) + 1
            assert code in RETRYABLE, client.last_error
            delay = retry_delay(client.last_error)
            assert delay is not None, f"{code.name} without RetryInfo"
            await asyncio.sleep(min(delay, 0.25) * random.uniform(0.5, 1.0))
        else:
            result.given_up += 1


async def steady(
    client: Client, requests: list[ExportTraceServiceRequest], codes: list[grpc.StatusCode]
) -> None:
    started = time.monotonic()
    tasks = []

    async def one(payload: bytes) -> None:
        codes.append(await client.send(payload))

    for index, request in enumerate(requests):
        await asyncio.sleep(max(0.0, started + index * B_INTERVAL_S - time.monotonic()))
        tasks.append(asyncio.create_task(one(request.SerializeToString())))
    await asyncio.gather(*tasks)


async def test_a_flooding_project_cannot_starve_a_modest_one(
    database: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    key_a, project_a = await create_key(db, "flood")
    key_b, project_b = await create_key(db, "modest")
    flood_requests = payloads(7, 400, 200)  # far more than the flood can send
    modest_requests = payloads(8, int(FLOOD_SECONDS / B_INTERVAL_S), 16)
    server = ServeProcess(
        tmp_path / "serve.log",
        "--auth", "required", "--queue-size", "3000", "--batch-size", "1000", "--writers", "2",
        database_url=database,
    )  # fmt: skip
    try:
        grpc_port, _, metrics_port = await asyncio.to_thread(server.wait_ready)
        flooders = [Client(grpc_port, key_a) for _ in range(FLOOD_EXPORTERS)]
        modest = Client(grpc_port, key_b)
        result, codes = Flood(), []
        until = time.monotonic() + FLOOD_SECONDS
        shares = [flood_requests[index::FLOOD_EXPORTERS] for index in range(FLOOD_EXPORTERS)]
        flooding = [
            asyncio.create_task(flood(c, share, until, result))
            for c, share in zip(flooders, shares, strict=True)
        ]
        await asyncio.sleep(1.0)  # the flood has filled A's share of the queue
        await asyncio.wait_for(steady(modest, modest_requests, codes), 60)
        await asyncio.wait_for(asyncio.gather(*flooding), 120)
        _, text = await get(metrics_port, "/metrics")
        for client in [*flooders, modest]:
            await client.close()
    finally:
        assert await asyncio.to_thread(server.terminate) == 0
        server.close()

    assert codes == [grpc.StatusCode.OK] * len(modest_requests), {c.name: codes.count(c) for c in set(codes)}
    assert await stored_spans(db, project_b, modest_requests) == span_count(modest_requests)
    # The flood went beyond what the service takes, and was told to slow down, retryably.
    assert result.refusals.get("RESOURCE_EXHAUSTED", 0) > 0, result.refusals
    assert set(result.refusals) <= {code.name for code in RETRYABLE}
    assert result.acknowledged, "nothing of the flood was taken"
    assert await stored_spans(db, project_a, result.acknowledged) == span_count(result.acknowledged)
    refused_a = sample(
        text,
        "observatory_project_refused_requests_total",
        signal="traces",
        project="flood",
        reason="queue_full",
    )
    assert refused_a >= 1
    assert (
        sample(
            text,
            "observatory_project_refused_requests_total",
            0,
            signal="traces",
            project="modest",
            reason="queue_full",
        )
        == 0
    )
