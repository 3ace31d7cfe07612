"""The writers' connection pool and a reachability probe that keeps readiness honest."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import asyncpg

from observatory_ingest import telemetry
from observatory_ingest.background import running_in_background
from observatory_ingest.health import Health
from observatory_ingest.store.database import APPLICATION_NAME
from observatory_ingest.store.failures import failure_kind
from observatory_ingest.store.writer import prepare_connection

log = logging.getLogger(__name__)

PROBE_INTERVAL_S = 2.0
PROBE_TIMEOUT_S = 2.0


@asynccontextmanager
async def writer_pool(dsn: str, size: int) -> AsyncIterator[asyncpg.Pool]:
    # min_size=0: the pool opens connections on demand, so an outage at start is survivable.
    pool = await asyncpg.create_pool(
        dsn,
        min_size=0,
        max_size=size,
        init=prepare_connection,
        server_settings={"application_name": APPLICATION_NAME},
    )
    try:
        yield pool
    finally:
        await pool.close()


@asynccontextmanager
async def small_pool(dsn: str, size: int = 2) -> AsyncIterator[asyncpg.Pool]:
    """Connections for everything but batch writes (key lookups), so writers never starve them."""
    pool = await asyncpg.create_pool(
        dsn, min_size=0, max_size=size, server_settings={"application_name": APPLICATION_NAME}
    )
    try:
        yield pool
    finally:
        await pool.close()


async def probe(pool: asyncpg.Pool, health: Health) -> None:
    """Check the database every few seconds so readiness recovers without traffic."""
    while True:
        try:
            await asyncio.wait_for(pool.fetchval("SELECT 1"), PROBE_TIMEOUT_S)
        except Exception as error:  # whatever it is, the database cannot be used now
            kind = failure_kind(error)
            telemetry.DATABASE_ERRORS.labels("readiness_probe", kind).inc()
            if health.database_reachable:
                log.warning(
                    "database unreachable", extra={"kind": kind, "error": str(error) or type(error).__name__}
                )
            health.update(database_reachable=False)
        else:
            health.update(database_reachable=True)
        telemetry.POOL_SIZE.set(pool.get_size())
        telemetry.POOL_IN_USE.set(pool.get_size() - pool.get_idle_size())
        await asyncio.sleep(PROBE_INTERVAL_S)


def probing(pool: asyncpg.Pool, health: Health) -> AbstractAsyncContextManager[None]:
    return running_in_background(probe(pool, health))
