"""One transaction per batch. Fast path: binary COPY straight into the tables. When a row exists
already (a replayed request), the transaction is rolled back and the batch goes through staging
tables and INSERT ... ON CONFLICT DO NOTHING instead (see store/write_plans.py). Rows that only feed a
statement are its array parameters on both paths."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol, TypeAlias

import asyncpg
from asyncpg import Record
from asyncpg.pool import PoolConnectionProxy

from observatory_ingest import telemetry
from observatory_ingest.convert.common import Row
from observatory_ingest.store.write_plans import WRITE_PLANS, StagedTable, Statement, WritePlan

Connection: TypeAlias = "asyncpg.Connection | PoolConnectionProxy[Record]"


class RowSet(Protocol):
    """Rows per table: a queued request, or a part of one while bad rows are isolated."""

    tables: dict[str, list[Row]]


async def prepare_connection(connection: asyncpg.Connection) -> None:
    """Per pooled connection: tuple codec for timestamps, staging tables for every signal."""
    # Converters produce PostgreSQL's own (microseconds since 2000,) form: no datetime objects.
    # tuple() of a tuple is that tuple: an identity function without a Python frame per value.
    await connection.set_type_codec(
        "timestamptz",
        schema="pg_catalog",
        encoder=tuple,
        decoder=tuple,
        format="tuple",
    )
    for schema in WRITE_PLANS.values():
        for staged in schema.staged:
            await connection.execute(staged.create_staging)


def rows_of(batch: Sequence[RowSet], table: str) -> list[Row]:
    return [row for item in batch for row in item.tables.get(table, ())]


async def copy(connection: Connection, staged: StagedTable, rows: list[Row], into_staging: bool) -> None:
    if rows:
        target = staged.staging if into_staging else staged.table
        await connection.copy_records_to_table(target, records=rows, columns=staged.columns)


async def execute(connection: Connection, statement: Statement, batch: Sequence[RowSet]) -> None:
    if isinstance(statement, str):
        await connection.execute(statement)
        return
    rows = rows_of(batch, statement.rows.table)
    if rows:
        # One array per column: the rows travel in the statement's own round trip.
        await connection.execute(statement.sql, *zip(*rows, strict=True))


async def write_direct(connection: Connection, schema: WritePlan, batch: Sequence[RowSet]) -> None:
    async with connection.transaction():
        for statement in schema.direct_before:
            await execute(connection, statement, batch)
        for staged in schema.direct:
            await copy(connection, staged, rows_of(batch, staged.table), into_staging=False)
        for statement in schema.direct_after:
            await execute(connection, statement, batch)


async def write_merged(connection: Connection, schema: WritePlan, batch: Sequence[RowSet]) -> None:
    async with connection.transaction():
        for staged in schema.staged:
            await copy(connection, staged, rows_of(batch, staged.table), into_staging=True)
        for statement in schema.merge:
            await execute(connection, statement, batch)


async def write_batch(connection: Connection, schema: WritePlan, batch: Sequence[RowSet]) -> None:
    started = time.perf_counter()
    try:
        await write_direct(connection, schema, batch)
    except asyncpg.UniqueViolationError:
        # A row of this batch exists already: a replay. The merge path ignores such rows.
        telemetry.MERGE_FALLBACKS.labels(schema.signal).inc()
        await write_merged(connection, schema, batch)
    telemetry.FLUSH_DURATION.labels(schema.signal).observe(time.perf_counter() - started)
    telemetry.BATCHES.labels(schema.signal).inc()
    for staged in schema.direct:
        telemetry.ROWS_WRITTEN.labels(staged.table).inc(
            sum(len(item.tables.get(staged.table, ())) for item in batch)
        )
