"""`observatory-ingest keys ...` and `observatory-ingest pricing ...`: maintenance commands."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from observatory_ingest.config import Settings
from observatory_ingest.store.database import connect, database_dsn
from observatory_ingest.store.keys import create_key, list_keys, revoke_key
from observatory_ingest.store.price_sync import sync_library_prices
from observatory_ingest.store.prices import (
    PriceRow,
    UnknownProject,
    load_catalogue,
    parse_price_row,
    read_price_file,
    upsert_prices,
)
from observatory_ingest.store.reprice import reprice, unpriced_calls


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
        rows = price_rows(arguments)
    except (ValueError, OSError) as error:
        print(f"error: {error}")
        return 2
    async with database_dsn(settings) as dsn:
        connection = await connect(dsn)
        try:
            return await run_pricing_action(connection, arguments, rows, settings.batch_size)
        except UnknownProject as error:
            print(f"error: {error}")
            return 2
        finally:
            await connection.close()


def price_rows(arguments: argparse.Namespace) -> list[PriceRow]:
    """The rows `pricing set` or `pricing import` stores (parsed before connecting)."""
    if arguments.action == "import":
        return read_price_file(arguments.file)
    if arguments.action != "set":
        return []
    record = {
        "provider": arguments.provider,
        "model": arguments.model,
        "input_usd_per_mtok": arguments.input,
        "output_usd_per_mtok": arguments.output,
        "cache_read_usd_per_mtok": arguments.cache_read,
        "cache_write_usd_per_mtok": arguments.cache_write,
        "effective_from": arguments.effective_from,
        "project": arguments.project,
        "tiers": [tier_of(text) for text in arguments.tier],
        "other_prices": dict(price_of(text) for text in arguments.price),
    }
    return [parse_price_row(record, "pricing set")]


TIER_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")


def tier_of(text: str) -> dict[str, Any]:
    parts = text.split(":")
    if not 3 <= len(parts) <= 5 or not parts[0].isdigit():
        raise ValueError(f"--tier must be START:INPUT:OUTPUT[:CACHE_READ[:CACHE_WRITE]], got {text!r}")
    return {"start": int(parts[0]), **dict(zip(TIER_KEYS, parts[1:], strict=False))}


def price_of(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key.strip():
        raise ValueError(f"--price must be KEY=USD, got {text!r}")
    return key.strip(), value.strip()


async def run_pricing_action(
    connection: asyncpg.Connection, arguments: argparse.Namespace, rows: list[PriceRow], batch_size: int
) -> int:
    action = arguments.action
    if action == "list":
        for row in await connection.fetch(
            "SELECT m.*, p.name AS project FROM model_pricing m LEFT JOIN projects p ON p.id = m.project_id "
            "WHERE $1::text IS NULL OR m.source = $1 ORDER BY m.provider, m.model, p.name, m.effective_from",
            arguments.source,
        ):
            print(price_line(row))
    elif action in ("set", "import"):
        print(f"stored {await upsert_prices(connection, rows)} price(s)")
    elif action == "sync":
        synced = await sync_library_prices(connection)
        print(
            f"genai-prices {synced.library_version}: {synced.models} models; {synced.written} row(s) "
            f"written, {synced.removed} removed; {synced.kept_user} kept as you set them"
        )
    elif action == "unpriced":
        since = arguments.since or datetime.now(UTC) - timedelta(days=30)
        found = await unpriced_calls(connection, since)
        if not found:
            print(f"every LLM call since {since:%Y-%m-%d %H:%M} has a cost")
        for entry in found:
            print(
                f"{entry['provider'] or '-':<16} {entry['model']:<40} calls {entry['calls']:>9} "
                f"input {entry['input_tokens']:>12} output {entry['output_tokens']:>12} "
                f"cache {entry['cache_tokens']:>11}  last seen {entry['last_seen']:%Y-%m-%d %H:%M}"
            )
    elif action == "reprice":
        catalogue = await load_catalogue(connection)
        result = await reprice(
            connection,
            catalogue,
            arguments.since,
            arguments.until or datetime.now(UTC),
            arguments.provider,
            arguments.model,
            batch_size,  # --batch-size: rows per transaction, as for the writers
        )
        print(f"examined {result.examined} call(s), changed the cost of {result.changed}")
        if result.refreshed:
            span = f"from {result.first_changed} to {result.last_changed}"
            print(f"refreshed {', '.join(result.refreshed)} {span}")
    return 0


def price_line(row: Any) -> str:
    def amount(column: str) -> str:
        return str(row[column]) if row[column] is not None else "-"

    period = f"from {row['effective_from']:%Y-%m-%d}"
    if row["effective_to"]:
        period += f" until {row['effective_to']:%Y-%m-%d}"
    extras = "".join(
        f" {label} {row[column]}"
        for label, column in (("tiers", "tiers"), ("other", "other_prices"))
        if row[column]
    )
    owner = f" project {row['project']}" if row["project"] else ""
    return (
        f"{row['source']:<7} {row['provider']:<10} {row['model']:<24} in {amount('input_usd_per_mtok'):>10} "
        f"out {amount('output_usd_per_mtok'):>10} cache-read {amount('cache_read_usd_per_mtok'):>9} "
        f"cache-write {amount('cache_write_usd_per_mtok'):>9} {period}{owner}{extras}"
    )
