"""Writes that wait out outages: capped, jittered backoff; only data errors come back."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

import asyncpg

from observatory_ingest import telemetry
from observatory_ingest.health import Health
from observatory_ingest.store.failures import failure_kind, is_data_error
from observatory_ingest.store.writer import Connection

log = logging.getLogger(__name__)

BACKOFF_FIRST = 0.1
BACKOFF_CAP = 5.0

Write = Callable[[Connection], Awaitable[None]]


def backoff_delay(attempt: int) -> float:
    """Capped exponential backoff with full jitter."""
    return random.uniform(0, min(BACKOFF_CAP, BACKOFF_FIRST * 2**attempt))


class RetryingWriter:
    """Runs a write on a pooled connection until it commits. Connection and server failures are
    retried (the database is marked unreachable meanwhile); data errors are raised to the caller."""

    def __init__(self, signal: str, pool: asyncpg.Pool, health: Health) -> None:
        self.signal = signal
        self.pool = pool
        self.health = health

    async def write(self, write: Write) -> None:
        attempt = 0
        while True:
            try:
                async with self.pool.acquire() as connection:
                    await write(connection)
            except Exception as error:
                if is_data_error(error):
                    raise
                await self.wait_before_retry(error, attempt)
                attempt += 1
                continue
            self.health.update(database_reachable=True)
            return

    async def wait_before_retry(self, error: BaseException, attempt: int) -> None:
        self.health.update(database_reachable=False)
        kind = failure_kind(error)
        telemetry.DATABASE_ERRORS.labels("write", kind).inc()
        telemetry.WRITE_RETRIES.labels(self.signal, kind).inc()
        delay = backoff_delay(attempt)
        log.warning(
            "batch write failed; retrying",
            extra={
                "signal": self.signal,
                "kind": kind,
                "error": str(error) or type(error).__name__,
                "attempt": attempt + 1,
                "retry_in_s": round(delay, 3),
            },
        )
        await asyncio.sleep(delay)
