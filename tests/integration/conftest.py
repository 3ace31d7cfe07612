"""Integration tests: real PostgreSQL (and TimescaleDB where the server has it).

Each test module gets a fresh database per backend, dropped afterwards. The server comes from
OBSERVATORY_TEST_DATABASE_URL (default: the local server). The "postgres" backend switches
TimescaleDB off for its database, so both backends run on one server that has the extension.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from observatory_ingest.config import Settings, load_settings
from observatory_ingest.runtime.app import RunningService, running_service
from observatory_ingest.store.migrate import Migrator, default_migrations_dir, discover

SERVER_DSN = os.environ.get("OBSERVATORY_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def dsn_for(database: str) -> str:
    parts = urlsplit(SERVER_DSN)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def _timescaledb_problem() -> str | None:
    connection = await asyncpg.connect(SERVER_DSN)
    try:
        available = await connection.fetchval(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'"
        )
        preload = await connection.fetchval("SELECT current_setting('shared_preload_libraries')")
    finally:
        await connection.close()
    if not available:
        return "TimescaleDB extension not available on the test server"
    if "timescaledb" not in preload:
        return "TimescaleDB not in shared_preload_libraries on the test server"
    return None


TIMESCALEDB_PROBLEM = asyncio.run(_timescaledb_problem())


async def create_database(backend: str, label: str) -> str:
    name = f"oi_{re.sub(r'[^a-z0-9]+', '_', label.lower())[:30]}_{backend[:2]}_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(SERVER_DSN)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
        if backend == "postgres":
            await connection.execute(f"ALTER DATABASE \"{name}\" SET observatory.timescaledb = 'off'")
    finally:
        await connection.close()
    return name


async def drop_database(name: str) -> None:
    connection = await asyncpg.connect(SERVER_DSN)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def apply_migrations(dsn: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        async with Migrator(connection, discover(default_migrations_dir())) as migrator:
            await migrator.up()
    finally:
        await connection.close()


@pytest.fixture(scope="module", params=["postgres", "timescaledb"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "timescaledb" and TIMESCALEDB_PROBLEM:
        pytest.skip(f"TimescaleDB cases skipped: {TIMESCALEDB_PROBLEM}")
    return str(request.param)


@pytest.fixture(scope="module")
def empty_database(backend: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database for this module and backend; yields its DSN."""
    name = asyncio.run(create_database(backend, request.module.__name__.rsplit(".", 1)[-1]))
    try:
        yield dsn_for(name)
    finally:
        asyncio.run(drop_database(name))


@pytest.fixture(scope="module")
def database(empty_database: str) -> str:
    """A fresh database with every migration applied."""
    asyncio.run(apply_migrations(empty_database))
    return empty_database


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_settings(dsn: str, **overrides: object) -> Settings:
    flags = {
        "database_url": dsn,
        "grpc_listen": "127.0.0.1:0",
        "http_listen": "127.0.0.1:0",
        "metrics_listen": "127.0.0.1:0",
        "flush_interval": "20ms",
        "shutdown_timeout": "10s",
    }
    flags.update({key: str(value) for key, value in overrides.items()})
    return load_settings(flags, environ={})


@pytest.fixture
async def service(database: str) -> AsyncIterator[RunningService]:
    """The whole service on ephemeral loopback ports, against this module's database."""
    async with running_service(service_settings(database)) as running:
        yield running


@pytest.fixture
async def db(database: str) -> AsyncIterator[asyncpg.Connection]:
    """A separate connection for assertions (not one of the service's)."""
    connection = await asyncpg.connect(database)
    yield connection
    await connection.close()


class TableLock:
    """Holds a lock on a table from a connection of its own, so the service's writers block on it
    (a stuck database, from the service's point of view). Released on exit, or earlier."""

    def __init__(self, dsn: str, table: str, mode: str = "EXCLUSIVE") -> None:
        self.dsn, self.table, self.mode = dsn, table, mode
        self.connection: asyncpg.Connection | None = None

    async def __aenter__(self) -> TableLock:
        self.connection = await asyncpg.connect(self.dsn)
        await self.connection.execute("BEGIN")
        await self.connection.execute(f"LOCK TABLE {self.table} IN {self.mode} MODE")
        return self

    async def release(self) -> None:
        if self.connection is not None:
            await self.connection.execute("ROLLBACK")
            await self.connection.close()
            self.connection = None

    async def __aexit__(self, *exc_info: object) -> None:
        await self.release()


async def refresh_aggregates(connection: asyncpg.Connection, views: tuple[str, ...]) -> None:
    """Refresh continuous aggregates now. The refresh policy's own job may hold a view's refresh
    lock for a moment (TimescaleDB then refuses a second refresh): wait and try again."""
    for view in views:
        for attempt in range(50):
            try:
                await connection.execute(f"CALL refresh_continuous_aggregate('{view}', NULL, NULL)")
                break
            except asyncpg.LockNotAvailableError:
                if attempt == 49:
                    raise
                await asyncio.sleep(0.2)
