"""One signal's pipeline, put together: admission, the bounded queue, submission that waits for
the commit, and the writer tasks.

An Export returns only after the transaction holding all its rows has committed: writers resolve
each request's future after COMMIT, with the database's verdict on its rows.
"""

from __future__ import annotations

import asyncio

import asyncpg

from observatory_ingest import telemetry
from observatory_ingest.convert.common import Converted
from observatory_ingest.errors import CommitTimeout, ShuttingDown
from observatory_ingest.health import Health
from observatory_ingest.pipeline.admission import admit
from observatory_ingest.pipeline.isolation import IsolatingCommitter
from observatory_ingest.pipeline.queue import BoundedQueue, Pending, QueueClosed, estimated_memory
from observatory_ingest.pipeline.retry import RetryingWriter
from observatory_ingest.pipeline.verdict import RowRefusal
from observatory_ingest.pipeline.writer_loop import BatchPolicy, WriterLoop
from observatory_ingest.store.write_plans import WritePlan


class SignalPipeline:
    def __init__(
        self,
        plan: WritePlan,
        queue: BoundedQueue,
        pool: asyncpg.Pool,
        policy: BatchPolicy,
        health: Health,
    ) -> None:
        self.plan = plan
        self.queue = queue
        self.policy = policy
        self.health = health
        committer = IsolatingCommitter(plan, RetryingWriter(plan.signal, pool, health))
        self.writers = WriterLoop(queue, committer, policy, self.update_gauges)
        self.queue_size = telemetry.QUEUE_SIZE.labels(plan.signal)
        self.queue_memory = telemetry.QUEUE_MEMORY.labels(plan.signal)
        telemetry.QUEUE_CAPACITY.labels(plan.signal).set(queue.capacity)
        if queue.capacity_bytes is not None:
            telemetry.QUEUE_MEMORY_CAPACITY.labels(plan.signal).set(queue.capacity_bytes)
        self.update_gauges()

    @property
    def writing(self) -> int:
        """Writer tasks inside a transaction right now."""
        return self.writers.writing

    def update_gauges(self) -> None:
        self.queue_size.set(self.queue.size)
        self.queue_memory.set(self.queue.memory)

    def admit(self) -> None:
        """Raise the IngestError (or QueueFull) a request would meet now (before decoding)."""
        admit(self.health, self.queue)

    async def submit(
        self, converted: Converted, wire_bytes: int, deadline: float | None = None
    ) -> tuple[RowRefusal, ...]:
        """Queue the rows and wait for their commit; returns the rows the database refused and
        that were kept aside (usually none). wire_bytes, the request's size, counts in the queue's
        memory. The caller ran admit() before decoding, with no await since. Raises an IngestError
        (or QueueFull)."""
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
        """One writer task: commit batches until the queue is closed and drained."""
        await self.writers.run()
