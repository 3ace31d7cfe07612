"""SQLx-compatible migration runner: same files, same `_sqlx_migrations` bookkeeping, same lock."""

from __future__ import annotations

import hashlib
import logging
import re
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from observatory_ingest.store.database import connect

log = logging.getLogger(__name__)

FILE_PATTERN = re.compile(r"^(\d+)_(.+)\.(up|down)\.sql$")
NO_TRANSACTION_DIRECTIVE = b"-- no-transaction"

CREATE_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
    success BOOLEAN NOT NULL,
    checksum BYTEA NOT NULL,
    execution_time BIGINT NOT NULL
)
"""


class MigrationError(RuntimeError):
    """A state the runner refuses to proceed from; the message names the file and version."""


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    up_path: Path
    down_path: Path | None

    @property
    def up_bytes(self) -> bytes:
        return self.up_path.read_bytes()

    @property
    def checksum(self) -> bytes:
        # SQLx: SHA-384 of the up file's raw bytes.
        return hashlib.sha384(self.up_bytes).digest()

    @property
    def no_transaction(self) -> bool:
        return self.up_bytes.startswith(NO_TRANSACTION_DIRECTIVE)


@dataclass(frozen=True)
class AppliedMigration:
    version: int
    description: str
    success: bool
    checksum: bytes
    execution_time_ns: int


@dataclass(frozen=True)
class MigrationStatus:
    version: int
    description: str
    state: str  # applied | pending | checksum-mismatch | failed | missing-file


def default_migrations_dir() -> Path:
    """Migrations shipped in the wheel, or the repository's migrations/ in a source checkout."""
    packaged = Path(__file__).resolve().parent.parent / "migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "migrations"


def discover(directory: Path) -> list[Migration]:
    ups: dict[int, tuple[str, Path]] = {}
    downs: dict[int, Path] = {}
    for path in sorted(directory.iterdir()):
        match = FILE_PATTERN.match(path.name)
        if not match:
            continue
        version, description, direction = int(match[1]), match[2].replace("_", " "), match[3]
        if direction == "up":
            if version in ups:
                raise MigrationError(f"{path.name}: version {version} is defined twice")
            ups[version] = (description, path)
        else:
            downs[version] = path
    return [
        Migration(version, description, path, downs.get(version))
        for version, (description, path) in sorted(ups.items())
    ]


def lock_id(database_name: str) -> int:
    # SQLx's key, so this runner and `sqlx migrate` serialise against each other.
    return 0x3D32AD9E * zlib.crc32(database_name.encode())


class Migrator:
    """Applies and reverts migrations on one connection, holding SQLx's advisory lock."""

    def __init__(self, connection: asyncpg.Connection, migrations: Sequence[Migration]) -> None:
        self.connection = connection
        self.migrations = list(migrations)
        self.by_version = {migration.version: migration for migration in self.migrations}

    async def __aenter__(self) -> Migrator:
        database = await self.connection.fetchval("SELECT current_database()")
        self._lock = lock_id(database)
        await self.connection.execute("SELECT pg_advisory_lock($1)", self._lock)
        await self.connection.execute(CREATE_BOOKKEEPING)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if not self.connection.is_closed():
            await self.connection.execute("SELECT pg_advisory_unlock($1)", self._lock)

    async def applied(self) -> dict[int, AppliedMigration]:
        rows = await self.connection.fetch(
            "SELECT version, description, success, checksum, execution_time "
            "FROM _sqlx_migrations ORDER BY version"
        )
        return {
            row["version"]: AppliedMigration(
                row["version"],
                row["description"],
                row["success"],
                bytes(row["checksum"]),
                row["execution_time"],
            )
            for row in rows
        }

    async def validate(self) -> dict[int, AppliedMigration]:
        applied = await self.applied()
        for record in applied.values():
            migration = self.by_version.get(record.version)
            name = migration.up_path.name if migration else f"version {record.version}"
            if not record.success:
                raise MigrationError(
                    f"migration {record.version} ({name}) is partially applied (success = false); "
                    "fix the database and delete its row from _sqlx_migrations"
                )
            if migration is None:
                raise MigrationError(
                    f"migration {record.version} ({record.description}) was applied but its file is missing"
                )
            if migration.checksum != record.checksum:
                raise MigrationError(
                    f"migration {record.version} ({name}) was modified after it was applied: "
                    "its checksum differs from _sqlx_migrations"
                )
        return applied

    async def status(self) -> list[MigrationStatus]:
        applied = await self.applied()
        result = []
        for version in sorted(set(applied) | set(self.by_version)):
            migration, record = self.by_version.get(version), applied.get(version)
            if record is None:
                assert migration is not None
                result.append(MigrationStatus(version, migration.description, "pending"))
            elif migration is None:
                result.append(MigrationStatus(version, record.description, "missing-file"))
            elif not record.success:
                result.append(MigrationStatus(version, record.description, "failed"))
            elif record.checksum != migration.checksum:
                result.append(MigrationStatus(version, record.description, "checksum-mismatch"))
            else:
                result.append(MigrationStatus(version, record.description, "applied"))
        return result

    async def up(self, to: int | None = None) -> list[Migration]:
        applied = await self.validate()
        done = []
        for migration in self.migrations:
            if migration.version in applied or (to is not None and migration.version > to):
                continue
            await self._apply(migration)
            done.append(migration)
        return done

    async def down(self, steps: int | None = None, to: int | None = None) -> list[Migration]:
        """Revert the newest `steps` migrations (default 1), or every one above version `to`."""
        applied = await self.validate()
        newest_first = sorted(applied, reverse=True)
        if to is not None:
            targets = [version for version in newest_first if version > to]
        else:
            targets = newest_first[: 1 if steps is None else steps]
        done = []
        for version in targets:
            migration = self.by_version[version]
            await self._revert(migration)
            done.append(migration)
        return done

    async def _apply(self, migration: Migration) -> None:
        sql = migration.up_bytes.decode()
        started = time.perf_counter_ns()
        if migration.no_transaction:
            # SQLx records such a migration as failed first, so a crash mid-way stays visible.
            await self._record(migration, success=False)
            try:
                await self.connection.execute(sql)
            except Exception as error:
                raise MigrationError(f"{migration.up_path.name} failed: {error}") from error
            await self.connection.execute(
                "UPDATE _sqlx_migrations SET success = TRUE WHERE version = $1", migration.version
            )
        else:
            try:
                async with self.connection.transaction():
                    await self.connection.execute(sql)
                    await self._record(migration, success=True)
            except asyncpg.PostgresError as error:
                raise MigrationError(f"{migration.up_path.name} failed: {error}") from error
        await self.connection.execute(
            "UPDATE _sqlx_migrations SET execution_time = $1 WHERE version = $2",
            time.perf_counter_ns() - started,
            migration.version,
        )

    async def _record(self, migration: Migration, success: bool) -> None:
        await self.connection.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) "
            "VALUES ($1, $2, $3, $4, -1)",
            migration.version,
            migration.description,
            success,
            migration.checksum,
        )

    async def _revert(self, migration: Migration) -> None:
        if migration.down_path is None:
            raise MigrationError(f"migration {migration.version} ({migration.up_path.name}) has no down file")
        sql = migration.down_path.read_bytes().decode()
        try:
            async with self.connection.transaction():
                await self.connection.execute(sql)
                await self.connection.execute(
                    "DELETE FROM _sqlx_migrations WHERE version = $1", migration.version
                )
        except asyncpg.PostgresError as error:
            raise MigrationError(f"{migration.down_path.name} failed: {error}") from error


async def migrate_to_latest(dsn: str) -> None:
    """Apply every pending migration of this release (serve, and the supervisor of --workers)."""
    connection = await connect(dsn)
    try:
        async with Migrator(connection, discover(default_migrations_dir())) as migrator:
            applied = await migrator.up()
        for migration in applied:
            log.info(
                "migration applied",
                extra={"version": migration.version, "description": migration.description},
            )
    finally:
        await connection.close()
