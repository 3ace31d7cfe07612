"""project_limits: each project's rate limits per signal, loaded into a LimitBook that running
services keep fresh, and the rows `projects set-limits` maintains."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

import asyncpg

from observatory_ingest import telemetry
from observatory_ingest.background import running_in_background
from observatory_ingest.errors import UnknownProject
from observatory_ingest.store.failures import failure_kind

log = logging.getLogger(__name__)

REFRESH_INTERVAL_S = 30.0  # two tries a minute: a change applies within one even if a reload fails
REFRESH_TIMEOUT_S = 10.0
SIGNAL_NAMES = ("traces", "metrics", "logs")


@dataclass(frozen=True)
class SignalLimits:
    """A project's limits for one signal: token buckets refilled at these rates (infinite: no
    limit), each holding burst_seconds of its rate."""

    items_per_second: float = math.inf
    bytes_per_second: float = math.inf
    burst_seconds: float = 2.0

    @property
    def unlimited(self) -> bool:
        return math.isinf(self.items_per_second) and math.isinf(self.bytes_per_second)


@dataclass(frozen=True)
class StoredLimits:
    """A project_limits row: None takes the service-wide default."""

    items_per_second: float | None = None
    bytes_per_second: float | None = None
    burst_seconds: float | None = None

    def over(self, default: SignalLimits) -> SignalLimits:
        return SignalLimits(
            default.items_per_second if self.items_per_second is None else self.items_per_second,
            default.bytes_per_second if self.bytes_per_second is None else self.bytes_per_second,
            default.burst_seconds if self.burst_seconds is None else self.burst_seconds,
        )


class LimitBook:
    """Every project's limits per signal; projects without a row have the default."""

    def __init__(
        self, default: SignalLimits, stored: Mapping[tuple[str, str], StoredLimits] | None = None
    ) -> None:
        self.default = default
        self._limits = {key: row.over(default) for key, row in (stored or {}).items()}

    def of(self, project_id: str, signal: str) -> SignalLimits:
        return self._limits.get((project_id, signal), self.default)


LIMIT_COLUMNS = "items_per_second, bytes_per_second, burst_seconds"


async def load_stored_limits(
    connection: asyncpg.Connection | asyncpg.Pool,
) -> dict[tuple[str, str], StoredLimits]:
    rows = await connection.fetch(f"SELECT project_id, signal, {LIMIT_COLUMNS} FROM project_limits")
    return {
        (str(row["project_id"]), row["signal"]): StoredLimits(
            row["items_per_second"], row["bytes_per_second"], row["burst_seconds"]
        )
        for row in rows
    }


class ProjectLimitsCatalog:
    """The current LimitBook, reloaded periodically so that `projects set-limits` applies to
    running services without a restart. Until the first load succeeds every project has the
    default; after a failed reload the last good limits stay."""

    def __init__(self, default: SignalLimits) -> None:
        self.book = LimitBook(default)

    async def refresh(self, pool: asyncpg.Pool | asyncpg.Connection) -> None:
        async with asyncio.timeout(REFRESH_TIMEOUT_S):
            self.book = LimitBook(self.book.default, await load_stored_limits(pool))

    async def reload(self, pool: asyncpg.Pool | asyncpg.Connection) -> bool:
        """Refresh; on any failure keep the previous limits. True if the book was reloaded."""
        try:
            await self.refresh(pool)
        except Exception as error:  # classified and counted; a reload never ends the loop
            kind = failure_kind(error)
            telemetry.DATABASE_ERRORS.labels("limits_reload", kind).inc()
            log.warning(
                "project limits reload failed; keeping the previous limits",
                extra={"kind": kind, "error": str(error) or type(error).__name__},
            )
            return False
        return True

    @asynccontextmanager
    async def refreshing(self, pool: asyncpg.Pool, interval: float | None = None) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(REFRESH_INTERVAL_S if interval is None else interval)
                await self.reload(pool)

        await self.reload(pool)
        async with running_in_background(loop()):
            yield


@dataclass(frozen=True)
class ProjectListing:
    name: str
    id: str
    limits: dict[str, StoredLimits]  # per signal, the signals with a row only


async def list_projects(connection: asyncpg.Connection) -> list[ProjectListing]:
    projects = {
        str(row["id"]): ProjectListing(row["name"], str(row["id"]), {})
        for row in await connection.fetch("SELECT id, name FROM projects ORDER BY name")
    }
    for (project_id, signal), stored in (await load_stored_limits(connection)).items():
        projects[project_id].limits[signal] = stored
    return list(projects.values())


# A change to one column of a project's row: a value, or None to take the service default again.
Change = dict[str, float | None]

UPSERT_LIMITS = f"""
INSERT INTO project_limits (project_id, signal, {LIMIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (project_id, signal) DO UPDATE SET
    items_per_second = excluded.items_per_second,
    bytes_per_second = excluded.bytes_per_second,
    burst_seconds = excluded.burst_seconds,
    updated_at = now()
"""


async def set_limits(
    connection: asyncpg.Connection, project: str, signals: Iterable[str], change: Change
) -> dict[str, StoredLimits]:
    """Apply the change to the project's rows of these signals (other columns keep their values);
    returns the rows as stored. A row with every column back to the default is removed."""
    stored: dict[str, StoredLimits] = {}
    async with connection.transaction():
        project_id = await connection.fetchval("SELECT id FROM projects WHERE name = $1", project)
        if project_id is None:
            raise UnknownProject(f"no project named {project!r} (keys create --project makes one)")
        for signal in signals:
            row = await connection.fetchrow(
                f"SELECT {LIMIT_COLUMNS} FROM project_limits "
                "WHERE project_id = $1 AND signal = $2 FOR UPDATE",
                project_id,
                signal,
            )
            current = StoredLimits(*row) if row else StoredLimits()
            updated = replace(current, **change)
            if updated == StoredLimits():
                await connection.execute(
                    "DELETE FROM project_limits WHERE project_id = $1 AND signal = $2", project_id, signal
                )
            else:
                await connection.execute(
                    UPSERT_LIMITS,
                    project_id,
                    signal,
                    updated.items_per_second,
                    updated.bytes_per_second,
                    updated.burst_seconds,
                )
            stored[signal] = updated
    return stored
