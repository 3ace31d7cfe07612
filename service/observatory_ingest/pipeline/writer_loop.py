"""Writer tasks: take batches from a signal's queue and commit them until the queue is closed and
drained. Concurrent requests share a batch (group commit)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from observatory_ingest import telemetry
from observatory_ingest.errors import DatabaseUnavailable, ShuttingDown
from observatory_ingest.pipeline.isolation import IsolatingCommitter
from observatory_ingest.pipeline.queue import BoundedQueue, Pending

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchPolicy:
    batch_rows: int
    flush_interval: float
    ack_timeout: float


class WriterLoop:
    """Shared by a signal's writer tasks: how many are inside a transaction decides whether a free
    one waits to fill its batch."""

    def __init__(
        self,
        queue: BoundedQueue,
        committer: IsolatingCommitter,
        policy: BatchPolicy,
        on_change: Callable[[], None],
    ) -> None:
        self.queue = queue
        self.committer = committer
        self.policy = policy
        self.on_change = on_change  # the queue's gauges follow every take and release
        self.writing = 0  # writer tasks inside a transaction right now

    async def run(self) -> None:
        # Group commit without a timer by default: the rows that arrive while every writer is
        # busy make the next batch. A free writer waits only with --flush-interval > 0 and only
        # while another writer commits; with every writer idle, waiting gains nothing.
        while batch := await self.queue.take(
            self.policy.batch_rows, self.policy.flush_interval if self.writing else 0.0
        ):
            self.on_change()
            self.writing += 1
            try:
                await self.committer.commit(batch)
            except asyncio.CancelledError:
                fail(batch, ShuttingDown("stopped before the rows were committed"))
                raise
            except Exception as error:
                # A bug must cost these requests a retry, never the writer task: a dead writer
                # would leave the queue unserved while readiness still says ready.
                log.exception("batch failed unexpectedly; its requests are told to retry")
                telemetry.WRITER_FAILURES.labels(self.committer.plan.signal).inc()
                fail(
                    batch,
                    DatabaseUnavailable(f"the rows could not be written ({type(error).__name__}); retry"),
                )
            finally:
                self.writing -= 1
                self.queue.release(batch)
                self.on_change()


def fail(batch: Sequence[Pending], error: BaseException) -> None:
    for item in batch:
        if not item.done.done():
            item.done.set_exception(error)
            # Nobody may be awaiting any more (the caller timed out); that is not an error.
            item.done.exception()
