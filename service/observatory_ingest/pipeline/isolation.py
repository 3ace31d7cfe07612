"""Committing a batch so that a bad row sinks no neighbour: a data error splits the batch into its
requests, then a failing request into its rows, until the refused rows are alone; they go to
ingest_rejects and the rest commits. Every request's future gets the verdict on its rows."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from observatory_ingest import telemetry
from observatory_ingest.convert.common import Row
from observatory_ingest.pipeline.queue import Pending
from observatory_ingest.pipeline.retry import RetryingWriter
from observatory_ingest.pipeline.verdict import ALL_STORED, RowRefusal
from observatory_ingest.store.rejects import INSERT_REJECT, reject_record
from observatory_ingest.store.write_plans import StagedTable, WritePlan
from observatory_ingest.store.writer import Connection, write_batch, write_merged

log = logging.getLogger(__name__)


@dataclass
class RowPart:
    """Some of a request's rows, written on their own while isolating a refused row."""

    tables: dict[str, list[Row]]


class IsolatingCommitter:
    def __init__(self, plan: WritePlan, writer: RetryingWriter) -> None:
        self.plan = plan
        self.writer = writer

    async def commit(self, batch: Sequence[Pending]) -> None:
        try:
            await self.writer.write(lambda connection: write_batch(connection, self.plan, batch))
        except Exception:  # the writer raises only data errors: isolate the rows at fault
            await self.isolate(batch)
            return
        for item in batch:
            if not item.done.done():
                item.done.set_result(ALL_STORED)

    async def isolate(self, batch: Sequence[Pending]) -> None:
        if len(batch) > 1:
            middle = len(batch) // 2
            await self.commit(batch[:middle])
            await self.commit(batch[middle:])
            return
        item = batch[0]
        context = {table: item.tables.get(table, []) for table in self.plan.context_tables}
        rows = [
            (staged, row)
            for staged in self.plan.merged_tables
            if staged.table not in context
            for row in item.tables.get(staged.table, ())
        ]
        refusals: list[RowRefusal] = []
        await self.write_rows(rows, context, refusals)
        if not item.done.done():
            item.done.set_result(tuple(refusals))

    async def write_rows(
        self,
        rows: list[tuple[StagedTable, Row]],
        context: dict[str, list[Row]],
        refusals: list[RowRefusal],
    ) -> None:
        if not rows:
            return
        part = RowPart({table: list(context_rows) for table, context_rows in context.items()})
        for staged, row in rows:
            part.tables.setdefault(staged.table, []).append(row)
        try:
            await self.writer.write(lambda connection: write_merged(connection, self.plan, [part]))
        except Exception as error:
            if len(rows) > 1:
                middle = len(rows) // 2
                await self.write_rows(rows[:middle], context, refusals)
                await self.write_rows(rows[middle:], context, refusals)
                return
            staged, row, refused = *rows[0], error
            await self.writer.write(lambda connection: self.store_reject(connection, staged, row, refused))
            refusals.append(RowRefusal(staged.table, str(refused)))

    async def store_reject(
        self, connection: Connection, staged: StagedTable, row: Row, error: BaseException
    ) -> None:
        project_id, document = reject_record(staged, row)
        await connection.execute(
            INSERT_REJECT, self.plan.signal, project_id, staged.table, str(error), document
        )
        telemetry.ROWS_REJECTED_BY_DATABASE.labels(self.plan.signal, staged.table).inc()
        log.warning(
            "row refused by the database; kept in ingest_rejects",
            extra={"signal": self.plan.signal, "table": staged.table, "error": str(error)},
        )
