"""`observatory-ingest keys ...` and `observatory-ingest pricing ...`: maintenance commands."""

from __future__ import annotations

import argparse
from typing import Any

from observatory_ingest.config import Settings
from observatory_ingest.store.database import connect, database_dsn
from observatory_ingest.store.keys import create_key, list_keys, revoke_key
from observatory_ingest.store.prices import parse_price_row, read_price_file, upsert_prices


async def keys_command(settings: Settings, arguments: argparse.Namespace) -> int:
    async with database_dsn(settings) as dsn:
        connection = await connect(dsn)
        try:
            if arguments.action == "create":
                key, project_id = await create_key(connection, arguments.project, arguments.name)
                print(f"project {arguments.project} ({project_id})")
                print(f"key {key}")
                print("Store it now: it is not kept and cannot be shown again.")
            elif arguments.action == "list":
                for entry in await list_keys(connection):
                    state = f"revoked {entry.revoked_at:%Y-%m-%d}" if entry.revoked_at else "active"
                    used = f"{entry.last_used_at:%Y-%m-%d %H:%M}" if entry.last_used_at else "never"
                    label = entry.name or ""
                    print(f"{entry.prefix}  {entry.project:<20} {state:<18} last used {used}  {label}")
            elif await revoke_key(connection, arguments.prefix) == 0:
                print(f"error: no active key with prefix {arguments.prefix!r}")
                return 1
            else:
                print(f"revoked {arguments.prefix}")
        finally:
            await connection.close()
    return 0


async def pricing_command(settings: Settings, arguments: argparse.Namespace) -> int:
    try:
        if arguments.action == "set":
            record = {
                "provider": arguments.provider,
                "model": arguments.model,
                "input_usd_per_mtok": arguments.input,
                "output_usd_per_mtok": arguments.output,
                "cache_read_usd_per_mtok": arguments.cache_read,
                "cache_write_usd_per_mtok": arguments.cache_write,
                "effective_from": arguments.effective_from,
            }
            rows = [parse_price_row(record, "pricing set")]
        elif arguments.action == "import":
            rows = read_price_file(arguments.file)
    except (ValueError, OSError) as error:
        print(f"error: {error}")
        return 2
    async with database_dsn(settings) as dsn:
        connection = await connect(dsn)
        try:
            if arguments.action == "list":
                for row in await connection.fetch(
                    "SELECT * FROM model_pricing ORDER BY provider, model, effective_from"
                ):
                    print(price_line(row))
            else:
                print(f"stored {await upsert_prices(connection, rows)} price(s)")
        finally:
            await connection.close()
    return 0


def price_line(row: Any) -> str:
    def amount(column: str) -> str:
        return str(row[column]) if row[column] is not None else "-"

    period = f"from {row['effective_from']:%Y-%m-%d}"
    if row["effective_to"]:
        period += f" until {row['effective_to']:%Y-%m-%d}"
    return (
        f"{row['provider']:<10} {row['model']:<24} in {amount('input_usd_per_mtok'):>10} "
        f"out {amount('output_usd_per_mtok'):>10} cache-read {amount('cache_read_usd_per_mtok'):>9} "
        f"cache-write {amount('cache_write_usd_per_mtok'):>9} {period}"
    )
