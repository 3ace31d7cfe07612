"""The one place where failures become gRPC and HTTP status codes.

Every error has one outcome. Errors the service does not recognise are retryable (UNAVAILABLE /
503 with a retry hint), as in the OpenTelemetry Collector's receivers: a bug of ours should cost
the client a retry, not its data. Whoever renders them logs and counts them (export.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from observatory_ingest.errors import (
    CommitTimeout,
    DatabaseUnavailable,
    InvalidRequest,
    PayloadTooLarge,
    ProjectOverLimit,
    ShuttingDown,
    Unauthenticated,
    UnsupportedContentEncoding,
    UnsupportedContentType,
)
from observatory_ingest.pipeline.queue import QueueFull

THROTTLE_RETRY_AFTER_S = 1.0
OUTAGE_RETRY_AFTER_S = 2.0


@dataclass(frozen=True)
class Outcome:
    grpc_code: grpc.StatusCode
    http_status: int
    message: str
    retry_after_s: float | None = None
    # Not one of the service's own errors: a bug or an unforeseen failure, logged with its cause.
    unexpected: bool = False


def outcome_for(error: BaseException) -> Outcome:
    match error:
        case InvalidRequest():
            return Outcome(grpc.StatusCode.INVALID_ARGUMENT, 400, str(error))
        case Unauthenticated():
            return Outcome(grpc.StatusCode.UNAUTHENTICATED, 401, str(error))
        case PayloadTooLarge():
            # Not retryable: the same request will be too large next time too.
            return Outcome(grpc.StatusCode.RESOURCE_EXHAUSTED, 413, str(error))
        case UnsupportedContentType():
            return Outcome(grpc.StatusCode.INVALID_ARGUMENT, 415, str(error))
        case UnsupportedContentEncoding():
            # 415, never 400: a client may retry uncompressed, and must not drop the data as bad.
            return Outcome(grpc.StatusCode.UNIMPLEMENTED, 415, str(error))
        case QueueFull():
            # RESOURCE_EXHAUSTED is retryable for OTLP clients only with RetryInfo attached.
            return Outcome(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                429,
                "ingest queue is full; retry later",
                THROTTLE_RETRY_AFTER_S,
            )
        case ProjectOverLimit():
            # Only this project is told to slow down, with the time its limit needs to allow it again.
            return Outcome(grpc.StatusCode.RESOURCE_EXHAUSTED, 429, str(error), error.retry_after_s)
        case DatabaseUnavailable() | CommitTimeout():
            return Outcome(grpc.StatusCode.UNAVAILABLE, 503, str(error), OUTAGE_RETRY_AFTER_S)
        case ShuttingDown():
            return Outcome(grpc.StatusCode.UNAVAILABLE, 503, str(error), OUTAGE_RETRY_AFTER_S)
        case _:
            # The message names the type only: the details are in the log, not for the client.
            return Outcome(
                grpc.StatusCode.UNAVAILABLE,
                503,
                f"internal error ({type(error).__name__}); retry later",
                OUTAGE_RETRY_AFTER_S,
                unexpected=True,
            )


def rpc_status(outcome: Outcome) -> status_pb2.Status:
    """google.rpc.Status with a RetryInfo detail when the client should retry after a delay."""
    status = status_pb2.Status(code=outcome.grpc_code.value[0], message=outcome.message)
    if outcome.retry_after_s is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(outcome.retry_after_s * 1e9))
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
        status.details.append(detail)
    return status
