"""One signal's pipeline, put together: admission (with the projects' rate limits), the bounded
queue, submission that waits for the commit, and the writer tasks.

An Export returns only after the transaction holding all its rows has committed: writers resolve
each request's future after COMMIT, with the database's verdict on its rows.
"""

from __future__ import annotations

import asyncio

import asyncpg
from prometheus_client import Gauge

from observatory_ingest import telemetry
from observatory_ingest.convert.common import Converted
from observatory_ingest.errors import CommitTimeout, ProjectOverLimit, ShuttingDown
from observatory_ingest.health import Health
from observatory_ingest.pipeline.admission import admit
from observatory_ingest.pipeline.isolation import IsolatingCommitter
from observatory_ingest.pipeline.queue import BoundedQueue, Pending, QueueClosed, QueueFull, estimated_memory
from observatory_ingest.pipeline.rate_limit import RateLimiter
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
        limiter: RateLimiter,
    ) -> None:
        self.plan = plan
        self.queue = queue
        self.policy = policy
        self.health = health
        self.limiter = limiter
        committer = IsolatingCommitter(plan, RetryingWriter(plan.signal, pool, health))
        self.writers = WriterLoop(queue, committer, policy, self.update_gauges)
        self.queue_size = telemetry.QUEUE_SIZE.labels(plan.signal)
        self.queue_memory = telemetry.QUEUE_MEMORY.labels(plan.signal)
        self.project_gauges: dict[str, Gauge] = {}  # by project label, those set above zero last time
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
        rows_by_label: dict[str, int] = {}
        for project_id, rows in self.queue.rows_by_project().items():
            label = telemetry.PROJECT_LABELS.of(project_id)
            rows_by_label[label] = rows_by_label.get(label, 0) + rows
        for label in self.project_gauges.keys() - rows_by_label.keys():
            self.project_gauges.pop(label).set(0)
        for label, rows in rows_by_label.items():
            gauge = self.project_gauges.get(label)
            if gauge is None:
                gauge = self.project_gauges[label] = telemetry.PROJECT_QUEUE_SIZE.labels(
                    self.plan.signal, label
                )
            gauge.set(rows)

    def admit(self, project_id: str, wire_bytes: int) -> None:
        """Raise the IngestError (or QueueFull) a request of this project would meet now (before
        decoding); if none, its bytes are charged to the project's limit."""
        try:
            admit(self.health, self.queue, self.limiter, project_id, wire_bytes)
        except ProjectOverLimit as error:
            self.count_refusal(project_id, error.limit)
            raise
        except QueueFull:
            self.count_refusal(project_id, "queue_full")
            raise

    def count_refusal(self, project_id: str, reason: str) -> None:
        label = telemetry.PROJECT_LABELS.of(project_id)
        telemetry.PROJECT_REQUESTS_REFUSED.labels(self.plan.signal, label, reason).inc()

    async def submit(
        self, project_id: str, converted: Converted, wire_bytes: int, deadline: float | None = None
    ) -> tuple[RowRefusal, ...]:
        """Queue the rows and wait for their commit; returns the rows the database refused and
        that were kept aside (usually none). wire_bytes, the request's size, counts in the queue's
        memory. The caller ran admit() before decoding, with no await since. Raises an IngestError
        (or QueueFull)."""
        memory = estimated_memory(wire_bytes, converted.rows)
        item = Pending(converted.tables, converted.rows, memory, project_id)
        try:
            self.queue.offer(item)
        except QueueClosed:
            self.limiter.give_back_bytes(project_id, wire_bytes)
            raise ShuttingDown("the service is shutting down") from None
        except QueueFull:
            self.limiter.give_back_bytes(project_id, wire_bytes)
            self.count_refusal(project_id, "queue_full")
            raise
        # Known only now: the project's item bucket may go into debt, refusing its next requests.
        self.limiter.charge_items(project_id, converted.accepted + converted.rejected)
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
