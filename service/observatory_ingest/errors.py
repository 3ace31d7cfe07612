"""Why an Export failed, in the service's own words; outcomes.py maps them to codes."""


class IngestError(Exception):
    """Base of the failures a client is told about."""


class InvalidRequest(IngestError):
    """The request cannot be decoded or is not valid OTLP."""


class DatabaseUnavailable(IngestError):
    """The database cannot be written now; retry later."""


class CommitTimeout(IngestError):
    """The rows were queued but not committed in time; a retry is safe (ingestion is idempotent)."""


class ShuttingDown(IngestError):
    """The service is stopping and accepts no new work."""


class PayloadTooLarge(IngestError):
    """The request body is larger than --max-recv-msg-size (after decompression)."""


class UnsupportedContentType(IngestError):
    """OTLP/HTTP accepts application/x-protobuf and application/json only."""


class UnsupportedContentEncoding(IngestError):
    """A Content-Encoding the service cannot decode (it decodes gzip, deflate and zstd)."""


class Unauthenticated(IngestError):
    """Missing, unknown or revoked API key (with --auth required)."""


class ProjectOverLimit(IngestError):
    """The project sent more than its rate limit allows; it may come back after retry_after_s."""

    def __init__(self, message: str, retry_after_s: float, limit: str) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.limit = limit  # which one: "items_per_second" or "bytes_per_second"


class UnknownProject(LookupError, ValueError):
    """An admin command names a project that does not exist (projects are made by `keys create`)."""
