"""`observatory-ingest keys ...` and `observatory-ingest pricing ...`: maintenance commands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from observatory_ingest.config import Settings
from observatory_ingest.store.database import connect, database_dsn
from observatory_ingest.store.keys import create_key, list_keys, revoke_key
from observatory_ingest.store.pricing import parse_price_row, read_price_file, upsert_prices


def add_key_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> list[argparse.ArgumentParser]:
    keys = commands.add_parser("keys", help="create, list and revoke API keys")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key for a project (created on demand); printed once")
    create.add_argument("--project", required=True, help="project name")
    create.add_argument("--name", help="a label for the key")
    revoke = actions.add_parser("revoke", help="revoke the key with this prefix (as shown by keys list)")
    revoke.add_argument("prefix")
    return [create, actions.add_parser("list", help="list keys (prefix, project, usage, revocation)"), revoke]


def add_pricing_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> list[argparse.ArgumentParser]:
    pricing = commands.add_parser(
        "pricing", help="list, set and import model prices (USD per million tokens)"
    )
    actions = pricing.add_subparsers(dest="action", required=True)
    set_price = actions.add_parser("set", help="set the price of one model (exact name or prefix)")
    set_price.add_argument("--provider", required=True)
    set_price.add_argument(
        "--model", required=True, help="model name, or a prefix dated versions fall back to"
    )
    for name in ("input", "output"):
        set_price.add_argument(f"--{name}", required=True, help=f"USD per million {name} tokens")
    set_price.add_argument("--cache-read", help="USD per million cache-read input tokens")
    set_price.add_argument("--cache-write", help="USD per million cache-write input tokens")
    set_price.add_argument("--effective-from", help="ISO date or timestamp (default: always)")
    import_file = actions.add_parser(
        "import", help="import a CSV (header: provider,model,input_usd_per_mtok,...)"
    )
    import_file.add_argument("file", type=Path)
    return [actions.add_parser("list", help="list prices"), set_price, import_file]


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
