"""Connections to the configured database (or the embedded one)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from observatory_ingest.config import Settings
from observatory_ingest.store.embedded import database_dsn_blocking

APPLICATION_NAME = "observatory-ingest"


@asynccontextmanager
async def database_dsn(settings: Settings) -> AsyncIterator[str]:
    """The configured DSN, or the embedded server's for as long as the context lasts."""
    # Starting and stopping the embedded server blocks for seconds: off the event loop.
    dsns = database_dsn_blocking(settings)
    dsn = await asyncio.to_thread(dsns.__enter__)
    try:
        yield dsn
    finally:
        await asyncio.to_thread(dsns.__exit__, None, None, None)


async def connect(dsn: str) -> asyncpg.Connection:
    return await asyncpg.connect(dsn, server_settings={"application_name": APPLICATION_NAME})
