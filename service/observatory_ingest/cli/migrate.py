"""`observatory-ingest migrate up|down|status|verify`."""

from __future__ import annotations

import argparse
import logging

from observatory_ingest.config import Settings
from observatory_ingest.store.database import connect, database_dsn
from observatory_ingest.store.migrate import (
    MigrationError,
    Migrator,
    default_migrations_dir,
    discover,
)
from observatory_ingest.store.verify import verify

log = logging.getLogger(__name__)


async def migrate_command(settings: Settings, arguments: argparse.Namespace) -> int:
    migrations = discover(default_migrations_dir())
    async with database_dsn(settings) as dsn:
        connection = await connect(dsn)
        try:
            if arguments.action == "verify":
                checks = await verify(connection, migrations)
                for check in checks:
                    mark = "ok  " if check.ok else "FAIL"
                    print(f"{mark} {check.what}" + (f": {check.detail}" if check.detail else ""))
                failed = sum(not check.ok for check in checks)
                print(f"{len(checks) - failed} passed, {failed} failed")
                return 1 if failed else 0
            async with Migrator(connection, migrations) as migrator:
                if arguments.action == "status":
                    for status in await migrator.status():
                        print(f"{status.version:>4}  {status.state:<18} {status.description}")
                elif arguments.action == "up":
                    for migration in await migrator.up(to=arguments.to):
                        print(f"applied  {migration.version:>4}  {migration.description}")
                else:
                    for migration in await migrator.down(steps=arguments.steps, to=arguments.to):
                        print(f"reverted {migration.version:>4}  {migration.description}")
        except MigrationError as error:
            log.error("migration refused", extra={"error": str(error)})
            print(f"error: {error}")
            return 1
        finally:
            await connection.close()
    return 0
