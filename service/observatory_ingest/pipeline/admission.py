"""Whether a request may enter a signal's pipeline now. Asked before decoding, so that refusing
under overload, an outage, shutdown or a project over its limits costs no decoding, conversion
or memory."""

from __future__ import annotations

from observatory_ingest.errors import DatabaseUnavailable, ShuttingDown
from observatory_ingest.health import Health
from observatory_ingest.pipeline.queue import BoundedQueue, QueueFull
from observatory_ingest.pipeline.rate_limit import RateLimiter


def admit(
    health: Health, queue: BoundedQueue, limiter: RateLimiter, project_id: str, wire_bytes: int
) -> None:
    """Raise the IngestError (or QueueFull) a request would meet now; charge its bytes to the
    project's limit when it may go on (last: a request refused for another reason costs nothing)."""
    if health.shutting_down:
        raise ShuttingDown("the service is shutting down")
    if not health.database_reachable:
        raise DatabaseUnavailable("the database cannot be written at the moment")
    if queue.refuses(project_id):
        raise QueueFull
    limiter.admit(project_id, wire_bytes)
