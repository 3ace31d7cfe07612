"""Per-project token buckets: bytes charged before decoding, items after conversion (into debt),
a retry delay that says when the project may come back, and other projects untouched."""

from __future__ import annotations

import math

import pytest

from observatory_ingest.errors import ProjectOverLimit
from observatory_ingest.pipeline.rate_limit import MAX_RETRY_DELAY_S, MIN_RETRY_DELAY_S, RateLimiter
from observatory_ingest.store.project_limits import (
    LimitBook,
    ProjectLimitsCatalog,
    SignalLimits,
    StoredLimits,
)

A, B = "project-a", "project-b"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(default: SignalLimits, **stored: StoredLimits) -> tuple[RateLimiter, ProjectLimitsCatalog, Clock]:
    catalog = ProjectLimitsCatalog(default)
    catalog.book = LimitBook(default, {(project, "traces"): row for project, row in stored.items()})
    clock = Clock()
    return RateLimiter("traces", catalog, clock), catalog, clock


def refusal(limiter: RateLimiter, project: str, wire_bytes: int = 0) -> ProjectOverLimit:
    with pytest.raises(ProjectOverLimit) as raised:
        limiter.admit(project, wire_bytes)
    return raised.value


def test_unlimited_projects_are_never_refused_and_keep_no_buckets() -> None:
    limits, _, _ = limiter(SignalLimits())
    for _ in range(1000):
        limits.admit(A, 10**9)
        limits.charge_items(A, 10**6)
    assert limits._projects == {}


def test_items_are_let_in_until_the_bucket_is_in_debt_and_the_delay_pays_the_debt() -> None:
    # 100 items/s, a burst of 2 s: 200 items at once.
    limits, _, clock = limiter(SignalLimits(items_per_second=100, burst_seconds=2))
    limits.admit(A, 0)
    limits.charge_items(A, 150)
    limits.admit(A, 0)  # 50 left: not in debt, so let in; its items are known only afterwards
    limits.charge_items(A, 350)  # 300 in debt
    refused = refusal(limits, A)
    assert (refused.limit, refused.retry_after_s) == ("items_per_second", pytest.approx(3.0))
    assert "traces limit of 100 items/s" in str(refused)
    clock.now += 2.9
    refusal(limits, A)
    clock.now += 0.1
    limits.admit(A, 0)


def test_bytes_are_charged_before_decoding_and_refused_until_the_request_fits() -> None:
    # 1000 bytes/s, burst 1 s.
    limits, _, clock = limiter(SignalLimits(bytes_per_second=1000, burst_seconds=1))
    limits.admit(A, 600)
    refused = refusal(limits, A, 600)  # 400 left, 600 needed: 0.2 s
    assert (refused.limit, refused.retry_after_s) == ("bytes_per_second", pytest.approx(0.2))
    clock.now += 0.2
    limits.admit(A, 600)


def test_a_request_larger_than_the_burst_goes_in_when_the_bucket_is_full_into_debt() -> None:
    limits, _, clock = limiter(SignalLimits(bytes_per_second=1000, burst_seconds=1))
    limits.admit(A, 5000)  # full bucket: let in, 4000 in debt
    assert refusal(limits, A, 1).retry_after_s == pytest.approx(4.001)
    clock.now += 4.0
    refusal(limits, A, 5000)  # at 0: the bucket must be full again first
    clock.now += 1.0
    limits.admit(A, 5000)


def test_one_project_over_its_limit_leaves_the_others_alone() -> None:
    limits, _, _ = limiter(
        SignalLimits(items_per_second=1000), **{A: StoredLimits(items_per_second=1, burst_seconds=1)}
    )
    limits.admit(A, 0)
    limits.charge_items(A, 100)
    refusal(limits, A)
    for _ in range(10):
        limits.admit(B, 0)
        limits.charge_items(B, 100)


def test_the_retry_delay_is_bounded_both_ways() -> None:
    limits, _, clock = limiter(SignalLimits(items_per_second=1, burst_seconds=1))
    limits.admit(A, 0)
    limits.charge_items(A, 10_000)
    assert refusal(limits, A).retry_after_s == MAX_RETRY_DELAY_S
    clock.now += 9_998.999  # 0.001 in debt
    assert refusal(limits, A).retry_after_s == MIN_RETRY_DELAY_S


def test_bytes_given_back_when_the_queue_refuses_cost_nothing() -> None:
    limits, _, _ = limiter(SignalLimits(bytes_per_second=1000, burst_seconds=1))
    limits.admit(A, 800)
    limits.give_back_bytes(A, 800)
    limits.admit(A, 1000)


def test_a_reloaded_limit_applies_to_the_next_request_and_keeps_what_the_bucket_held() -> None:
    limits, catalog, clock = limiter(SignalLimits(items_per_second=100, burst_seconds=1))
    limits.admit(A, 0)
    limits.charge_items(A, 150)  # 50 in debt at 100/s
    assert refusal(limits, A).retry_after_s == pytest.approx(0.5)
    catalog.book = LimitBook(catalog.book.default, {(A, "traces"): StoredLimits(items_per_second=10)})
    assert refusal(limits, A).retry_after_s == pytest.approx(5.0)  # the same debt, at 10/s
    catalog.book = LimitBook(catalog.book.default, {(A, "traces"): StoredLimits(items_per_second=math.inf)})
    limits.admit(A, 0)  # no limit any more
    catalog.book = LimitBook(catalog.book.default)
    clock.now += 0.001
    limits.admit(A, 0)  # the default again: a fresh, full bucket


def test_limits_are_per_signal() -> None:
    default = SignalLimits()
    catalog = ProjectLimitsCatalog(default)
    catalog.book = LimitBook(default, {(A, "logs"): StoredLimits(items_per_second=1, burst_seconds=1)})
    traces, logs = RateLimiter("traces", catalog), RateLimiter("logs", catalog)
    logs.admit(A, 0)
    logs.charge_items(A, 10)
    refusal(logs, A)
    traces.admit(A, 0)


def test_stored_limits_fill_their_gaps_from_the_default() -> None:
    default = SignalLimits(items_per_second=100, bytes_per_second=1000, burst_seconds=2)
    book = LimitBook(default, {(A, "traces"): StoredLimits(bytes_per_second=math.inf)})
    assert book.of(A, "traces") == SignalLimits(100, math.inf, 2)
    assert book.of(A, "logs") == default
    assert book.of(B, "traces") == default
    assert not default.unlimited and SignalLimits().unlimited
