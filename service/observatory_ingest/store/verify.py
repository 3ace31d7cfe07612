"""`migrate verify`: checks that what the migrations promise exists on this backend."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from observatory_ingest.store.backend import detect_backend
from observatory_ingest.store.migrate import Migration

HYPERTABLES = {
    "trace_spans": "start_time",
    "trace_events": "timestamp",
    "metric_data_points": "timestamp",
    "logs": "timestamp",
    "llm_traces": "ts",
    "llm_metrics": "ts",
    "llm_logs": "ts",
}
ROLLUPS = ("llm_metrics_1min", "llm_metrics_1hour", "llm_metrics_1day", "llm_error_summary")


@dataclass(frozen=True)
class Check:
    what: str
    ok: bool
    detail: str = ""


def promised_names(migrations: Sequence[Migration], kind: str) -> list[str]:
    pattern = re.compile(
        rf"^CREATE (?:UNIQUE )?{kind} (?:IF NOT EXISTS )?(\w+)", re.MULTILINE | re.IGNORECASE
    )
    return [name for m in migrations for name in pattern.findall(m.up_bytes.decode())]


ALTER_TABLE = re.compile(r"^ALTER TABLE (\w+)(.*?);", re.MULTILINE | re.IGNORECASE | re.DOTALL)
ADD_COLUMN = re.compile(r"\bADD COLUMN (?:IF NOT EXISTS )?(\w+)", re.IGNORECASE)


def promised_columns(migrations: Sequence[Migration]) -> list[tuple[str, str]]:
    """(table, column) of every `ALTER TABLE t ADD COLUMN c` (later migrations add columns)."""
    return [
        (table, column)
        for m in migrations
        for table, body in ALTER_TABLE.findall(m.up_bytes.decode())
        for column in ADD_COLUMN.findall(body)
    ]


async def verify(connection: asyncpg.Connection, migrations: Sequence[Migration]) -> list[Check]:
    backend = await detect_backend(connection)
    checks = [Check("backend", True, str(backend))]
    relations = {
        row["relname"]: row["relkind"]
        for row in await connection.fetch(
            "SELECT relname, relkind::text AS relkind FROM pg_class "
            "WHERE relnamespace = current_schema()::regnamespace"
        )
    }
    for table in promised_names(migrations, "TABLE"):
        checks.append(Check(f"table {table}", relations.get(table) == "r"))
    for index in promised_names(migrations, "INDEX"):
        checks.append(Check(f"index {index}", relations.get(index) == "i"))
    columns = {
        (row["table_name"], row["column_name"])
        for row in await connection.fetch(
            "SELECT table_name::text, column_name::text FROM information_schema.columns "
            "WHERE table_schema = current_schema()"
        )
    }
    for table, column in promised_columns(migrations):
        checks.append(Check(f"column {table}.{column}", (table, column) in columns))
    triggers = {
        row["tgname"]
        for row in await connection.fetch(
            "SELECT t.tgname::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal"
        )
    }
    for trigger in promised_names(migrations, "TRIGGER"):
        checks.append(Check(f"trigger {trigger}", trigger in triggers))
    for view in ROLLUPS:
        checks.append(Check(f"rollup {view}", relations.get(view) == "v"))
    if backend.is_timescaledb:
        checks.extend(await verify_timescaledb(connection))
    return checks


async def verify_timescaledb(connection: asyncpg.Connection) -> list[Check]:
    checks = []
    dimensions = {
        row["hypertable_name"]: row["column_name"]
        for row in await connection.fetch(
            "SELECT hypertable_name, column_name FROM timescaledb_information.dimensions"
        )
    }
    for table, column in HYPERTABLES.items():
        checks.append(Check(f"hypertable {table} by {column}", dimensions.get(table) == column))
    aggregates = {
        row["view_name"]
        for row in await connection.fetch(
            "SELECT view_name FROM timescaledb_information.continuous_aggregates"
        )
    }
    jobs = await connection.fetch(
        "SELECT j.proc_name, coalesce(j.hypertable_name, '') AS hypertable_name, "
        "coalesce(ca.view_name, '') AS view_name "
        "FROM timescaledb_information.jobs j "
        "LEFT JOIN timescaledb_information.continuous_aggregates ca "
        "ON ca.materialization_hypertable_name = j.hypertable_name"
    )
    scheduled = {(row["proc_name"], row["view_name"] or row["hypertable_name"]) for row in jobs}
    for view in ROLLUPS:
        checks.append(Check(f"continuous aggregate {view}", view in aggregates))
        checks.append(
            Check(f"refresh policy {view}", ("policy_refresh_continuous_aggregate", view) in scheduled)
        )
        checks.append(Check(f"retention policy {view}", ("policy_retention", view) in scheduled))
    for table in HYPERTABLES:
        checks.append(Check(f"retention policy {table}", ("policy_retention", table) in scheduled))
        checks.append(Check(f"columnstore policy {table}", ("policy_compression", table) in scheduled))
    checks.append(
        Check("job observatory_trim_traces", any(proc == "observatory_trim_traces" for proc, _ in scheduled))
    )
    return checks
