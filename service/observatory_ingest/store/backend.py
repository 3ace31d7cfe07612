"""What the database behind a connection is: PostgreSQL version, TimescaleDB or not."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class Backend:
    postgres_version: str
    timescaledb_version: str | None

    @property
    def is_timescaledb(self) -> bool:
        return self.timescaledb_version is not None

    def __str__(self) -> str:
        if self.timescaledb_version:
            return f"TimescaleDB {self.timescaledb_version} on PostgreSQL {self.postgres_version}"
        return f"PostgreSQL {self.postgres_version}"


async def detect_backend(connection: asyncpg.Connection) -> Backend:
    row = await connection.fetchrow(
        "SELECT current_setting('server_version') AS postgres_version, "
        "(SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS timescaledb_version"
    )
    assert row is not None
    return Backend(row["postgres_version"].split()[0], row["timescaledb_version"])
