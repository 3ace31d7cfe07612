"""Whether a request may enter a signal's pipeline now. Asked before decoding, so that refusing
under overload, an outage or shutdown costs no decoding, conversion or memory."""

from __future__ import annotations

from observatory_ingest.errors import DatabaseUnavailable, ShuttingDown
from observatory_ingest.health import Health
from observatory_ingest.pipeline.queue import BoundedQueue, QueueFull


def admit(health: Health, queue: BoundedQueue) -> None:
    """Raise the IngestError (or QueueFull) a request would meet now."""
    if health.shutting_down:
        raise ShuttingDown("the service is shutting down")
    if not health.database_reachable:
        raise DatabaseUnavailable("the database cannot be written at the moment")
    if queue.full_by_memory:
        raise QueueFull
