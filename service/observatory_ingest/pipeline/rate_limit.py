"""One signal's per-project rate limits: a token bucket for items and one for request bytes.

Both are asked before decoding, so that refusing a flood costs no decoding or conversion. A
request's bytes are known then and are charged at once; its items are known only after
conversion, so a request is let in while the project's item bucket is not in debt, and its items
are charged afterwards, into debt if need be: the next requests wait until the debt is paid.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from observatory_ingest.errors import ProjectOverLimit
from observatory_ingest.store.project_limits import ProjectLimitsCatalog, SignalLimits

# A client told to come back at once would only be refused again; one told to wait very long
# may give up on its data: the hint stays between the two (the limit itself is unchanged).
MIN_RETRY_DELAY_S = 0.1
MAX_RETRY_DELAY_S = 30.0


class TokenBucket:
    __slots__ = ("rate", "size", "tokens", "updated")

    def __init__(self, rate: float, size: float, now: float) -> None:
        self.rate = rate
        self.size = size
        self.tokens = size
        self.updated = now

    def refill(self, now: float) -> None:
        self.tokens = min(self.size, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def seconds_until(self, level: float) -> float:
        return max(0.0, (level - self.tokens) / self.rate)

    def give_back(self, amount: float) -> None:
        self.tokens = min(self.size, self.tokens + amount)


def bucket_for(rate: float, burst_seconds: float, old: TokenBucket | None, now: float) -> TokenBucket | None:
    """A bucket for a rate (None: no limit), keeping what an earlier bucket of the project held."""
    if math.isinf(rate):
        return None
    if old is None:
        return TokenBucket(rate, rate * burst_seconds, now)
    old.refill(now)
    old.rate, old.size = rate, rate * burst_seconds
    old.tokens = min(old.tokens, old.size)
    return old


@dataclass
class ProjectBuckets:
    limits: SignalLimits
    items: TokenBucket | None
    bytes: TokenBucket | None


class RateLimiter:
    """The buckets of every project that sent this signal under a limit. Limits come from the
    catalog at each request, so a reloaded limit applies to the next one."""

    def __init__(
        self, signal: str, catalog: ProjectLimitsCatalog, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.signal = signal
        self.catalog = catalog
        self.clock = clock
        self._projects: dict[str, ProjectBuckets] = {}

    def admit(self, project_id: str, wire_bytes: int) -> None:
        """Raise ProjectOverLimit if the project must wait; otherwise charge the request's bytes."""
        limits = self.catalog.book.of(project_id, self.signal)
        if limits.unlimited:
            if project_id in self._projects:
                del self._projects[project_id]
            return
        now = self.clock()
        buckets = self._buckets(project_id, limits, now)
        if buckets.items is not None:
            buckets.items.refill(now)
            if buckets.items.tokens < 0:
                self.refuse("items_per_second", f"{limits.items_per_second:g} items/s", buckets.items, 0.0)
        if buckets.bytes is not None:
            buckets.bytes.refill(now)
            # A request larger than the bucket goes in when the bucket is full, into debt.
            needed = min(wire_bytes, buckets.bytes.size)
            if buckets.bytes.tokens < needed:
                self.refuse("bytes_per_second", f"{limits.bytes_per_second:g} bytes/s", buckets.bytes, needed)
            buckets.bytes.tokens -= wire_bytes

    def charge_items(self, project_id: str, items: int) -> None:
        """The admitted request's items, known after conversion."""
        buckets = self._projects.get(project_id)
        if buckets is not None and buckets.items is not None:
            buckets.items.tokens -= items

    def give_back_bytes(self, project_id: str, wire_bytes: int) -> None:
        """An admitted request the queue did not take: its bytes cost the project nothing."""
        buckets = self._projects.get(project_id)
        if buckets is not None and buckets.bytes is not None:
            buckets.bytes.give_back(wire_bytes)

    def refuse(self, limit: str, rate: str, bucket: TokenBucket, level: float) -> NoReturn:
        delay = min(MAX_RETRY_DELAY_S, max(MIN_RETRY_DELAY_S, bucket.seconds_until(level)))
        raise ProjectOverLimit(
            f"project over its {self.signal} limit of {rate}; retry in {delay:.1f}s", delay, limit
        )

    def _buckets(self, project_id: str, limits: SignalLimits, now: float) -> ProjectBuckets:
        buckets = self._projects.get(project_id)
        if buckets is not None and buckets.limits == limits:
            return buckets
        old_items, old_bytes = (buckets.items, buckets.bytes) if buckets else (None, None)
        buckets = ProjectBuckets(
            limits,
            bucket_for(limits.items_per_second, limits.burst_seconds, old_items, now),
            bucket_for(limits.bytes_per_second, limits.burst_seconds, old_bytes, now),
        )
        self._projects[project_id] = buckets
        return buckets
