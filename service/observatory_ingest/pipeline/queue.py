"""A bounded in-memory queue counted in rows and estimated bytes: offer never blocks, full is an
error. Rows count while they wait; memory counts until the writer that took them releases them
after COMMIT, so the rows being written stay inside the memory bound too."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field

from observatory_ingest.convert.common import Row
from observatory_ingest.pipeline.verdict import RowRefusal


class QueueFull(Exception):
    """The queue cannot take these rows now; the client should retry later."""


class QueueClosed(Exception):
    """The service is shutting down and takes no new work."""


@dataclass(eq=False)
class Pending:
    """The rows of one Export call, and the future its caller awaits until they are committed."""

    tables: dict[str, list[Row]]
    rows: int
    memory: int = 0  # estimated bytes these rows hold while queued
    # Resolved after COMMIT with the rows the database refused (usually none).
    done: asyncio.Future[tuple[RowRefusal, ...]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    enqueued_at: float = field(default_factory=time.monotonic)


# Measured (tracemalloc) on the benchmark's traces, logs and metrics, bare spans and spans with
# 8 KB attributes: rows hold about their wire size in text plus 400-550 bytes of objects per row,
# and the request's payload stays alive until its Export returns. The estimate is 0.96-1.23x those
# (tests/unit/test_memory_estimate.py).
MEMORY_PER_WIRE_BYTE = 2
MEMORY_PER_ROW = 512


def estimated_memory(wire_bytes: int, rows: int) -> int:
    """Bytes a converted request holds until its Export returns."""
    return MEMORY_PER_WIRE_BYTE * wire_bytes + MEMORY_PER_ROW * rows


class BoundedQueue:
    """Bounded twice: in rows (database work) and in estimated bytes (memory)."""

    def __init__(self, capacity_rows: int, capacity_bytes: int | None = None) -> None:
        self.capacity = capacity_rows
        self.capacity_bytes = capacity_bytes
        self.size = 0  # rows waiting
        self.memory = 0  # estimated bytes of rows waiting or being written
        self._items: deque[Pending] = deque()
        self._changed = asyncio.Event()
        self._closed = False

    @property
    def full_by_memory(self) -> bool:
        """No request could be taken now: checked before decoding, so a refusal costs no work."""
        return self.capacity_bytes is not None and self.memory >= self.capacity_bytes and bool(self._items)

    def offer(self, item: Pending) -> None:
        if self._closed:
            raise QueueClosed
        # An item larger than the room left is still taken when none is waiting, otherwise a
        # request larger than the queue could never be accepted: memory stays within the capacity
        # plus one request waiting and one batch per writer.
        over_memory = self.capacity_bytes is not None and self.memory + item.memory > self.capacity_bytes
        if (self.size + item.rows > self.capacity or over_memory) and self._items:
            raise QueueFull
        self._items.append(item)
        self.size += item.rows
        self.memory += item.memory
        self._changed.set()

    def close(self) -> None:
        self._closed = True
        self._changed.set()

    async def take(self, max_rows: int, max_wait: float) -> list[Pending]:
        """Whole items up to max_rows (at least one), once max_rows are waiting or the oldest has
        waited max_wait. Returns [] only when the queue is closed and empty."""
        while True:
            while not self._items:
                if self._closed:
                    return []
                await self._next_change()
            deadline = self._items[0].enqueued_at + max_wait
            while self._items and self.size < max_rows and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(self._next_change(), remaining)
                except TimeoutError:
                    break
            if self._items:  # another writer may have taken them meanwhile
                return self._pop(max_rows)

    async def _next_change(self) -> None:
        self._changed.clear()
        await self._changed.wait()

    def _pop(self, max_rows: int) -> list[Pending]:
        batch = [self._items.popleft()]
        rows = batch[0].rows
        while self._items and rows + self._items[0].rows <= max_rows:
            item = self._items.popleft()
            batch.append(item)
            rows += item.rows
        self.size -= rows
        return batch

    def release(self, batch: list[Pending]) -> None:
        """The batch is committed (or given up): its memory no longer counts."""
        self.memory -= sum(item.memory for item in batch)
