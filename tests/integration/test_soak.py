"""Soak (run with: pytest -m soak): a fixed SDK rate for a few minutes; RSS must stay flat after
warm-up and under the bound. Excluded from the default suite for its length."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import asyncpg
import pytest

from bench.e2e import process_tree_rss
from tests.integration.sdk_load import SpanLoad
from tests.integration.serve_process import ServeProcess

SOAK_SECONDS = float(os.environ.get("OBSERVATORY_SOAK_SECONDS", "180"))
RSS_BOUND = 300 * 2**20


@pytest.mark.soak
async def test_rss_stays_flat_under_a_steady_rate(
    database: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    served = ServeProcess(tmp_path / "soak.log", database_url=database)
    samples: list[tuple[float, int]] = []
    try:
        grpc_port, _, _ = served.wait_ready()
        load = SpanLoad(grpc_port, "soak", rate=1000, seconds=SOAK_SECONDS, exporter_timeout=20).start()
        started = time.monotonic()
        while time.monotonic() - started < SOAK_SECONDS:
            await asyncio.sleep(5)
            samples.append((time.monotonic() - started, process_tree_rss(served.pid)))
        acknowledged = await asyncio.to_thread(load.finish)
        assert await asyncio.to_thread(served.terminate) == 0
    finally:
        served.close()
    warm = [rss for at, rss in samples if at >= SOAK_SECONDS / 3]
    first_half, second_half = warm[: len(warm) // 2], warm[len(warm) // 2 :]
    mib = [round(rss / 2**20) for _, rss in samples]
    print(f"\nsoak: {len(acknowledged)} spans acknowledged in {SOAK_SECONDS:.0f}s; RSS MiB every 5 s: {mib}")
    assert max(warm) < RSS_BOUND
    # Flat: the second half of the warm period grows less than 10% over the first.
    assert max(second_half) <= max(first_half) * 1.10
    assert acknowledged <= {
        (r["t"], r["span_id"])
        for r in await db.fetch(
            "SELECT replace(trace_id::text, '-', '') AS t, span_id FROM trace_spans "
            "WHERE service_name = 'soak'"
        )
    }
