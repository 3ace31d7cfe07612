"""A bounded in-memory queue counted in rows and estimated bytes: offer never blocks, full is an
error. Rows count while they wait; memory counts until the writer that took them releases them
after COMMIT, so the rows being written stay inside the memory bound too.

Projects share it fairly. Each has its own line of waiting requests; writers take one request of
each project in turn, each project up to an equal part of the batch, so a project with a few rows
waiting is never stuck behind one with many, nor in a batch made long by another's backlog.
With fair sharing on (several projects: authentication required) a project holds at most
capacity / (projects holding rows or memory + 1) of the rows and of the memory, so a project
that starts sending finds room while others flood.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass, field

from observatory_ingest.convert.common import DEFAULT_PROJECT_ID, Row
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
    project: str = DEFAULT_PROJECT_ID
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


class ProjectShare:
    """One project's part of the queue: its waiting requests, their rows, and the memory of its
    requests waiting or being written."""

    __slots__ = ("memory", "project", "rows", "waiting")

    def __init__(self, project: str) -> None:
        self.project = project
        self.waiting: deque[Pending] = deque()
        self.rows = 0
        self.memory = 0


class BoundedQueue:
    """Bounded twice: in rows (database work) and in estimated bytes (memory); with fair sharing,
    bounded per project too."""

    def __init__(self, capacity_rows: int, capacity_bytes: int | None = None, fair: bool = False) -> None:
        self.capacity = capacity_rows
        self.capacity_bytes = capacity_bytes
        self.fair = fair
        self.size = 0  # rows waiting
        self.memory = 0  # estimated bytes of rows waiting or being written
        self._shares: dict[str, ProjectShare] = {}  # the projects holding rows or memory
        self._turns: deque[ProjectShare] = deque()  # projects with requests waiting, next one first
        self._changed = asyncio.Event()
        self._closed = False

    @property
    def full_by_memory(self) -> bool:
        """No request could be taken now: checked before decoding, so a refusal costs no work."""
        return self.capacity_bytes is not None and self.memory >= self.capacity_bytes and bool(self._turns)

    def refuses(self, project: str) -> bool:
        """No request of this project could be taken now (asked before decoding)."""
        if self.full_by_memory:
            return True
        share = self._shares.get(project)
        if not self.fair or share is None or not share.waiting:
            return False
        rows, memory = self.fair_share(share)
        return share.rows >= rows or share.memory >= memory

    def fair_share(self, share: ProjectShare | None) -> tuple[float, float]:
        """The rows and memory one project may hold: an equal part for every project holding some
        and one more part, kept for a project that starts sending."""
        parts = len(self._shares) + (1 if share is None else 0) + 1
        memory = math.inf if self.capacity_bytes is None else self.capacity_bytes / parts
        return self.capacity / parts, memory

    def offer(self, item: Pending) -> None:
        if self._closed:
            raise QueueClosed
        # An item larger than the room left is still taken when none is waiting, otherwise a
        # request larger than the queue could never be accepted: memory stays within the capacity
        # plus one request waiting and one batch per writer. The same holds per project.
        over_memory = self.capacity_bytes is not None and self.memory + item.memory > self.capacity_bytes
        if (self.size + item.rows > self.capacity or over_memory) and self._turns:
            raise QueueFull
        share = self._shares.get(item.project)
        if self.fair and share is not None and share.waiting:
            rows, memory = self.fair_share(share)
            if share.rows + item.rows > rows or share.memory + item.memory > memory:
                raise QueueFull
        if share is None:
            share = self._shares[item.project] = ProjectShare(item.project)
        if not share.waiting:
            self._turns.append(share)
        share.waiting.append(item)
        share.rows += item.rows
        share.memory += item.memory
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
            while not self._turns:
                if self._closed:
                    return []
                await self._next_change()
            deadline = self.oldest_waiting() + max_wait
            while self._turns and self.size < max_rows and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(self._next_change(), remaining)
                except TimeoutError:
                    break
            if self._turns:  # another writer may have taken them meanwhile
                return self._pop(max_rows)

    def oldest_waiting(self) -> float:
        return min(share.waiting[0].enqueued_at for share in self._turns)

    async def _next_change(self) -> None:
        self._changed.clear()
        await self._changed.wait()

    def _pop(self, max_rows: int) -> list[Pending]:
        """One request of each project in turn while they fit, each project up to an equal part
        of the batch: a batch holding a small project's rows is no longer than its part of the
        others', so that project waits less for its commit. With one project, its requests in the
        order they came."""
        batch: list[Pending] = []
        rows = 0
        part = max_rows / len(self._turns)
        taken: dict[str, int] = {}  # rows of each project in this batch
        had_their_part: set[str] = set()
        while len(had_their_part) < len(self._turns):
            share = self._turns[0]
            item = share.waiting[0]
            if batch and rows + item.rows > max_rows:
                break
            mine = taken.get(share.project, 0)
            if mine and mine + item.rows > part:
                had_their_part.add(share.project)
                self._turns.rotate(-1)
                continue
            share.waiting.popleft()
            share.rows -= item.rows
            batch.append(item)
            rows += item.rows
            taken[share.project] = mine + item.rows
            self._turns.popleft()
            if share.waiting:
                self._turns.append(share)
            else:
                self._forget_if_idle(share)
        self.size -= rows
        return batch

    def release(self, batch: list[Pending]) -> None:
        """The batch is committed (or given up): its memory no longer counts."""
        for item in batch:
            self.memory -= item.memory
            share = self._shares.get(item.project)
            if share is not None:
                share.memory -= item.memory
                self._forget_if_idle(share)

    def _forget_if_idle(self, share: ProjectShare) -> None:
        if not share.waiting and share.memory <= 0:
            del self._shares[share.project]

    def rows_by_project(self) -> dict[str, int]:
        """Rows waiting, for every project holding rows or memory."""
        return {project: share.rows for project, share in self._shares.items()}
