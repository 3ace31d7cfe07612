"""SIGTERM under SDK load: stop accepting, drain, commit, exit 0 — nothing acknowledged is lost."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import aiohttp
import asyncpg

from bench.cpu import descendants, processes
from tests.integration.sdk_load import SpanLoad
from tests.integration.serve_process import ServeProcess


async def stored_span_keys(db: asyncpg.Connection, service: str) -> list[tuple[str, str]]:
    rows = await db.fetch(
        "SELECT replace(trace_id::text, '-', '') AS trace_id, span_id FROM trace_spans "
        "WHERE service_name = $1",
        service,
    )
    return [(r["trace_id"], r["span_id"]) for r in rows]


async def test_sigterm_under_load_drains_and_loses_nothing_acknowledged(
    database: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    served = ServeProcess(tmp_path / "serve.log", "--shutdown-timeout", "20s", database_url=database)
    try:
        grpc_port, _, _ = served.wait_ready()
        load = SpanLoad(grpc_port, "sigterm-load").start()
        await asyncio.sleep(2.0)
        served.signal(signal.SIGTERM)
        assert await asyncio.to_thread(served.process.wait, 60) == 0
        acknowledged = await asyncio.to_thread(load.finish, False)
    finally:
        served.close()
    log = served.text()
    assert 'msg="queues drained"' in log and "msg=stopped" in log
    stored = await stored_span_keys(db, "sigterm-load")
    assert len(acknowledged) > 500, "the load did not run"
    assert acknowledged <= set(stored), f"{len(acknowledged - set(stored))} acknowledged spans missing"
    assert len(stored) == len(set(stored)), "duplicates stored"


async def test_two_workers_share_the_ports_aggregate_metrics_and_stop_together(
    database: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    served = ServeProcess(tmp_path / "workers.log", "--workers", "2", database_url=database)
    try:
        grpc_port, _, metrics_port = served.wait_ready()
        await asyncio.sleep(1.0)  # both workers up (each logs its own ready line)
        assert served.text().count("msg=ready") == 2
        # The supervisor stays small beside its workers: no gRPC, database driver, event loop or
        # TLS library (its migrations ran in a child that has exited).
        supervisor_maps = await asyncio.to_thread(Path(f"/proc/{served.process.pid}/maps").read_text)
        for library in ("cygrpc", "asyncpg", "uvloop", "_asyncio", "_ssl"):
            assert library not in supervisor_maps
        load = SpanLoad(grpc_port, "two-workers", rate=1000, seconds=2).start()
        await asyncio.sleep(2.5)
        acknowledged = await asyncio.to_thread(load.finish)
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{metrics_port}/metrics") as reply,
        ):
            text = await reply.text()
        assert 'observatory_queue_capacity{signal="traces"} 200000.0' in text  # rows: per worker
        # Memory bounds the whole service: the workers' shares add up to --queue-memory.
        memory = 'observatory_queue_memory_capacity_bytes{signal="traces"} '
        assert [
            float(line.removeprefix(memory)) for line in text.splitlines() if line.startswith(memory)
        ] == [32 * 2**20]
        # So do the writers: one each, not two each (more backends cost PostgreSQL more per span).
        assert 'observatory_writers{signal="traces"} 2.0' in text
        accepted = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith('observatory_receiver_accepted_items_total{signal="traces",transport="grpc"}')
        )
        assert accepted == len(acknowledged) > 0
        assert await asyncio.to_thread(served.terminate) == 0
    finally:
        served.close()
    assert served.text().count("msg=stopped") == 2
    stored = await stored_span_keys(db, "two-workers")
    assert acknowledged <= set(stored)


def running(pid: int) -> bool:
    process = processes().get(pid)
    return process is not None and not process.exited


def all_gone(pids: set[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(running(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


async def test_workers_stop_by_themselves_when_their_supervisor_is_killed(
    database: str, tmp_path: Path
) -> None:
    served = ServeProcess(tmp_path / "orphans.log", "--workers", "2", database_url=database)
    workers: set[int] = set()
    try:
        served.wait_ready()
        await asyncio.sleep(1.0)  # both workers up
        workers = descendants(served.pid, processes()) - {served.pid}
        assert len(workers) == 2
        served.process.kill()  # SIGKILL: the supervisor forwards nothing
        served.process.wait()
        assert await asyncio.to_thread(all_gone, workers, 30)
        log = served.text()
        assert log.count("msg=stopped") == 2  # the graceful path: queues drained, then stopped
    finally:
        served.close()
        for pid in filter(running, workers):  # orphans close() cannot find: the test failed
            os.kill(pid, signal.SIGKILL)
