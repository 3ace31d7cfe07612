"""One transaction per batch: binary COPY into staging tables, then merge into the real tables."""

from __future__ import annotations

import time
from collections.abc import Sequence

import asyncpg
from asyncpg import Record
from asyncpg.pool import PoolConnectionProxy

from observatory_ingest import metrics
from observatory_ingest.pipeline.queue import Pending
from observatory_ingest.store.signals import SIGNALS, SignalSchema


async def prepare_connection(connection: asyncpg.Connection) -> None:
    """Per pooled connection: tuple codec for timestamps, staging tables for every signal."""
    # Converters produce PostgreSQL's own (microseconds since 2000,) form: no datetime objects.
    await connection.set_type_codec(
        "timestamptz",
        schema="pg_catalog",
        encoder=lambda value: value,
        decoder=lambda value: value,
        format="tuple",
    )
    for schema in SIGNALS.values():
        for staged in schema.staged:
            await connection.execute(staged.create_staging)


async def write_batch(
    connection: asyncpg.Connection | PoolConnectionProxy[Record],
    schema: SignalSchema,
    batch: Sequence[Pending],
) -> None:
    started = time.perf_counter()
    copied: dict[str, int] = {}
    async with connection.transaction():
        for staged in schema.staged:
            rows = [row for item in batch for row in item.tables.get(staged.table, ())]
            if rows:
                await connection.copy_records_to_table(staged.staging, records=rows, columns=staged.columns)
                copied[staged.table] = len(rows)
        metrics.COPY_DURATION.labels(schema.signal).observe(time.perf_counter() - started)
        for statement in schema.merge:
            await connection.execute(statement)
    metrics.FLUSH_DURATION.labels(schema.signal).observe(time.perf_counter() - started)
    metrics.BATCHES.labels(schema.signal).inc()
    for table, count in copied.items():
        metrics.ROWS_WRITTEN.labels(table).inc(count)
