"""One test per branch of the failure -> status mapping."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2

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
from observatory_ingest.outcomes import outcome_for, rpc_status
from observatory_ingest.pipeline.queue import QueueFull


def retry_delay_seconds(error: BaseException) -> float | None:
    status = rpc_status(outcome_for(error))
    for detail in status.details:
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            return info.retry_delay.ToNanoseconds() / 1e9
    return None


def test_invalid_request_is_invalid_argument_400_without_retry() -> None:
    outcome = outcome_for(InvalidRequest("cannot decode"))
    assert (outcome.grpc_code, outcome.http_status, outcome.message) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        400,
        "cannot decode",
    )
    assert retry_delay_seconds(InvalidRequest("x")) is None


def test_queue_full_is_resource_exhausted_429_with_retry_info() -> None:
    outcome = outcome_for(QueueFull())
    assert (outcome.grpc_code, outcome.http_status) == (grpc.StatusCode.RESOURCE_EXHAUSTED, 429)
    assert retry_delay_seconds(QueueFull()) == 1.0
    assert rpc_status(outcome).code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]


def test_a_project_over_its_limit_is_resource_exhausted_429_with_its_own_retry_delay() -> None:
    error = ProjectOverLimit("project over its traces limit", 2.5, "items_per_second")
    outcome = outcome_for(error)
    assert (outcome.grpc_code, outcome.http_status, outcome.message) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        429,
        "project over its traces limit",
    )
    assert retry_delay_seconds(error) == 2.5


def test_database_unavailable_is_unavailable_503_with_retry_info() -> None:
    outcome = outcome_for(DatabaseUnavailable("down"))
    assert (outcome.grpc_code, outcome.http_status) == (grpc.StatusCode.UNAVAILABLE, 503)
    assert retry_delay_seconds(DatabaseUnavailable("down")) == 2.0


def test_commit_timeout_is_unavailable_with_retry_info() -> None:
    outcome = outcome_for(CommitTimeout("slow"))
    assert (outcome.grpc_code, outcome.http_status) == (grpc.StatusCode.UNAVAILABLE, 503)
    assert retry_delay_seconds(CommitTimeout("slow")) == 2.0


def test_shutting_down_is_unavailable() -> None:
    outcome = outcome_for(ShuttingDown("bye"))
    assert (outcome.grpc_code, outcome.http_status) == (grpc.StatusCode.UNAVAILABLE, 503)


def test_unauthenticated_is_401_without_retry() -> None:
    outcome = outcome_for(Unauthenticated("invalid or revoked API key"))
    assert (outcome.grpc_code, outcome.http_status) == (grpc.StatusCode.UNAUTHENTICATED, 401)
    assert retry_delay_seconds(Unauthenticated("x")) is None


def test_too_large_is_resource_exhausted_413_without_retry_info() -> None:
    outcome = outcome_for(PayloadTooLarge("exceeds"))
    assert (outcome.grpc_code, outcome.http_status) == (grpc.StatusCode.RESOURCE_EXHAUSTED, 413)
    assert retry_delay_seconds(PayloadTooLarge("x")) is None  # without RetryInfo: not retryable


def test_unsupported_content_type_is_415() -> None:
    assert outcome_for(UnsupportedContentType("text/plain")).http_status == 415


def test_unsupported_content_encoding_is_415_never_400() -> None:
    outcome = outcome_for(UnsupportedContentEncoding("br"))
    assert (outcome.grpc_code, outcome.http_status) == (grpc.StatusCode.UNIMPLEMENTED, 415)


def test_anything_else_is_unavailable_503_with_retry_info_without_details_leaking() -> None:
    """As in the OpenTelemetry Collector: an error we do not recognise costs a retry, not data."""
    outcome = outcome_for(KeyError("secret internals"))
    assert (outcome.grpc_code, outcome.http_status) == (grpc.StatusCode.UNAVAILABLE, 503)
    assert outcome.message == "internal error (KeyError); retry later"
    assert outcome.unexpected
    assert retry_delay_seconds(KeyError("x")) == 2.0


def test_only_unclassified_errors_are_unexpected() -> None:
    known = [
        InvalidRequest("x"),
        Unauthenticated("x"),
        PayloadTooLarge("x"),
        UnsupportedContentType("x"),
        UnsupportedContentEncoding("x"),
        QueueFull(),
        DatabaseUnavailable("x"),
        CommitTimeout("x"),
        ShuttingDown("x"),
    ]
    assert not any(outcome_for(error).unexpected for error in known)
    assert outcome_for(RuntimeError("bug")).unexpected
