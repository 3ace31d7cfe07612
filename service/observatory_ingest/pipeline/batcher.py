"""Per signal: accept converted requests into the queue, and writer tasks that commit batches.

An Export returns only after the transaction holding all its rows has committed: writers resolve
each request's future after COMMIT. Concurrent requests share a batch (group commit).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg

from observatory_ingest import telemetry
from observatory_ingest.convert.common import Converted, Row
from observatory_ingest.errors import CommitTimeout, DatabaseUnavailable, ShuttingDown
from observatory_ingest.pipeline.queue import BoundedQueue, Pending, QueueClosed, QueueFull, estimated_memory
from observatory_ingest.runtime.health import Health
from observatory_ingest.store.failures import failure_kind, is_data_error
from observatory_ingest.store.rejects import INSERT_REJECT, reject_record
from observatory_ingest.store.write_plans import StagedTable, WritePlan
from observatory_ingest.store.writer import Connection, write_batch, write_merged

log = logging.getLogger(__name__)

BACKOFF_FIRST = 0.1
BACKOFF_CAP = 5.0


@dataclass(frozen=True)
class BatchPolicy:
    batch_rows: int
    flush_interval: float
    ack_timeout: float


def backoff_delay(attempt: int) -> float:
    """Capped exponential backoff with full jitter."""
    return random.uniform(0, min(BACKOFF_CAP, BACKOFF_FIRST * 2**attempt))


class SignalPipeline:
    def __init__(
        self,
        schema: WritePlan,
        queue: BoundedQueue,
        pool: asyncpg.Pool,
        policy: BatchPolicy,
        health: Health,
    ) -> None:
        self.schema = schema
        self.queue = queue
        self.pool = pool
        self.policy = policy
        self.health = health
        self.writing = 0  # writer tasks inside a transaction right now
        self.queue_size = telemetry.QUEUE_SIZE.labels(schema.signal)
        self.queue_memory = telemetry.QUEUE_MEMORY.labels(schema.signal)
        telemetry.QUEUE_CAPACITY.labels(schema.signal).set(queue.capacity)
        if queue.capacity_bytes is not None:
            telemetry.QUEUE_MEMORY_CAPACITY.labels(schema.signal).set(queue.capacity_bytes)
        self.update_gauges()

    def update_gauges(self) -> None:
        self.queue_size.set(self.queue.size)
        self.queue_memory.set(self.queue.memory)

    def admit(self) -> None:
        """Raise the IngestError (or QueueFull) a request would meet now. Called before decoding,
        so that refusing under overload or an outage costs no decoding, conversion or memory."""
        if self.health.shutting_down:
            raise ShuttingDown("the service is shutting down")
        if not self.health.database_reachable:
            raise DatabaseUnavailable("the database cannot be written at the moment")
        if self.queue.full_by_memory:
            raise QueueFull

    async def submit(self, converted: Converted, wire_bytes: int, deadline: float | None = None) -> list[str]:
        """Queue the rows and wait for their commit; returns why rows the database refused were
        kept aside (usually nothing). wire_bytes, the request's size, counts in the queue's memory.
        The caller ran admit() before decoding, with no await since. Raises an IngestError (or
        QueueFull)."""
        item = Pending(converted.tables, converted.rows, estimated_memory(wire_bytes, converted.rows))
        try:
            self.queue.offer(item)
        except QueueClosed:
            raise ShuttingDown("the service is shutting down") from None
        self.update_gauges()
        timeout = self.policy.ack_timeout if deadline is None else min(self.policy.ack_timeout, deadline)
        try:
            # shield: a caller that gives up must not cancel the write; the rows still land.
            return await asyncio.wait_for(asyncio.shield(item.done), timeout)
        except TimeoutError:
            raise CommitTimeout(f"not committed within {timeout:.1f}s; retry") from None

    async def run_writer(self) -> None:
        """Commit batches until the queue is closed and drained."""
        # Group commit without a timer by default: the rows that arrive while every writer is
        # busy make the next batch. A free writer waits only with --flush-interval > 0 and only
        # while another writer commits; with every writer idle, waiting gains nothing.
        while batch := await self.queue.take(
            self.policy.batch_rows, self.policy.flush_interval if self.writing else 0.0
        ):
            self.update_gauges()
            self.writing += 1
            try:
                await self.commit(batch)
            except asyncio.CancelledError:
                fail(batch, ShuttingDown("stopped before the rows were committed"))
                raise
            finally:
                self.writing -= 1
                self.queue.release(batch)
                self.update_gauges()

    async def commit(self, batch: Sequence[Pending]) -> None:
        try:
            await self.with_retries(lambda connection: write_batch(connection, self.schema, batch))
        except Exception:  # with_retries raises only data errors: isolate the rows at fault
            await self.isolate(batch)
            return
        for item in batch:
            if not item.done.done():
                item.done.set_result([])

    async def with_retries(self, write: Callable[[Connection], Awaitable[None]]) -> None:
        """Run a write until it commits; outages are waited out, data errors are raised."""
        attempt = 0
        while True:
            try:
                async with self.pool.acquire() as connection:
                    await write(connection)
            except Exception as error:
                if is_data_error(error):
                    raise
                await self.wait_before_retry(error, attempt)
                attempt += 1
                continue
            self.health.update(database_reachable=True)
            return

    async def wait_before_retry(self, error: BaseException, attempt: int) -> None:
        self.health.update(database_reachable=False)
        kind = failure_kind(error)
        telemetry.DATABASE_ERRORS.labels(kind).inc()
        telemetry.WRITE_RETRIES.labels(self.schema.signal, kind).inc()
        delay = backoff_delay(attempt)
        log.warning(
            "batch write failed; retrying",
            extra={
                "signal": self.schema.signal,
                "kind": kind,
                "error": str(error) or type(error).__name__,
                "attempt": attempt + 1,
                "retry_in_s": round(delay, 3),
            },
        )
        await asyncio.sleep(delay)

    async def isolate(self, batch: Sequence[Pending]) -> None:
        """A data error sinks no neighbour: split the batch into requests, then a failing request
        into rows, until the refused rows are alone; they go to ingest_rejects, the rest commits."""
        if len(batch) > 1:
            middle = len(batch) // 2
            await self.commit(batch[:middle])
            await self.commit(batch[middle:])
            return
        item = batch[0]
        context = {table: item.tables.get(table, []) for table in self.schema.context_tables}
        rows = [
            (staged, row)
            for staged in self.schema.merged_tables
            if staged.table not in context
            for row in item.tables.get(staged.table, ())
        ]
        reasons: list[str] = []
        await self.write_rows(rows, context, reasons)
        if not item.done.done():
            item.done.set_result(reasons)

    async def write_rows(
        self, rows: list[tuple[StagedTable, Row]], context: dict[str, list[Row]], reasons: list[str]
    ) -> None:
        if not rows:
            return
        part = RowPart({table: list(context_rows) for table, context_rows in context.items()})
        for staged, row in rows:
            part.tables.setdefault(staged.table, []).append(row)
        try:
            await self.with_retries(lambda connection: write_merged(connection, self.schema, [part]))
        except Exception as error:
            if len(rows) > 1:
                middle = len(rows) // 2
                await self.write_rows(rows[:middle], context, reasons)
                await self.write_rows(rows[middle:], context, reasons)
                return
            staged, row, refused = *rows[0], error
            await self.with_retries(lambda connection: self.store_reject(connection, staged, row, refused))
            reasons.append(f"{staged.table} row could not be stored: {refused}")

    async def store_reject(
        self, connection: Connection, staged: StagedTable, row: Row, error: BaseException
    ) -> None:
        project_id, document = reject_record(staged, row)
        await connection.execute(
            INSERT_REJECT, self.schema.signal, project_id, staged.table, str(error), document
        )
        telemetry.ROWS_REJECTED_BY_DATABASE.labels(self.schema.signal, staged.table).inc()
        log.warning(
            "row refused by the database; kept in ingest_rejects",
            extra={"signal": self.schema.signal, "table": staged.table, "error": str(error)},
        )


@dataclass
class RowPart:
    tables: dict[str, list[Row]]


def fail(batch: Sequence[Pending], error: BaseException) -> None:
    for item in batch:
        if not item.done.done():
            item.done.set_exception(error)
            # Nobody may be awaiting any more (the caller timed out); that is not an error.
            item.done.exception()
