"""Connections to the configured database (or the embedded one)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from observatory_ingest.config import Settings
from observatory_ingest.embedded import embedded_postgres_dsn

APPLICATION_NAME = "observatory-ingest"


@asynccontextmanager
async def database_dsn(settings: Settings) -> AsyncIterator[str]:
    """The configured DSN, or the embedded server's for as long as the context lasts."""
    if settings.database_url:
        yield settings.database_url
        return
    async with embedded_postgres_dsn(settings.data_dir) as dsn:
        yield dsn


async def connect(dsn: str) -> asyncpg.Connection:
    return await asyncpg.connect(dsn, server_settings={"application_name": APPLICATION_NAME})
