"""The limits catalog running services keep fresh: reloads apply, failed reloads keep the last
good limits and are counted by kind; and the command line's way of writing a limit."""

from __future__ import annotations

import argparse
import asyncio
import math
from typing import Any

import asyncpg
import pytest

from observatory_ingest import telemetry
from observatory_ingest.cli.admin import limits_change
from observatory_ingest.store.project_limits import ProjectLimitsCatalog, SignalLimits

DEFAULT = SignalLimits(items_per_second=1000)


class FakePool:
    """Answers the catalog's one query from rows a test sets, or fails as a test says."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.failure: BaseException | None = None
        self.queries = 0

    async def fetch(self, query: str) -> list[dict[str, Any]]:
        self.queries += 1
        if self.failure is not None:
            raise self.failure
        return self.rows


def row(project: str, signal: str, items: float | None, bytes_: float | None = None) -> dict[str, Any]:
    return {
        "project_id": project,
        "signal": signal,
        "items_per_second": items,
        "bytes_per_second": bytes_,
        "burst_seconds": None,
    }


def failures(kind: str) -> float:
    value = telemetry.DATABASE_ERRORS.labels("limits_reload", kind)._value.get()
    return float(value)


async def test_a_reload_applies_and_a_failed_one_keeps_the_last_good_limits() -> None:
    pool, catalog = FakePool(), ProjectLimitsCatalog(DEFAULT)
    pool.rows = [row("a", "traces", 5)]
    assert await catalog.reload(pool)  # type: ignore[arg-type]
    assert catalog.book.of("a", "traces").items_per_second == 5
    assert catalog.book.of("a", "logs") == DEFAULT

    for failure, kind in [
        (OSError("connection refused"), "connection"),
        (asyncpg.exceptions.UndefinedTableError("no project_limits"), "sqlstate_42"),
        (TimeoutError(), "timeout"),
    ]:
        before = failures(kind)
        pool.failure = failure
        assert not await catalog.reload(pool)  # type: ignore[arg-type]
        assert catalog.book.of("a", "traces").items_per_second == 5
        assert failures(kind) == before + 1

    before = failures("KeyError")
    pool.failure = KeyError("a defect")  # not even a database error: still contained
    assert not await catalog.reload(pool)  # type: ignore[arg-type]
    assert failures("KeyError") == before + 1

    pool.failure = None
    pool.rows = [row("a", "traces", None, math.inf)]
    assert await catalog.reload(pool)  # type: ignore[arg-type]
    assert catalog.book.of("a", "traces") == SignalLimits(1000, math.inf)


async def test_refreshing_loads_at_once_then_keeps_reloading_through_failures() -> None:
    pool, catalog = FakePool(), ProjectLimitsCatalog(DEFAULT)
    pool.failure = OSError("down at start")
    async with catalog.refreshing(pool, interval=0.01):  # type: ignore[arg-type]
        assert catalog.book.of("a", "traces") == DEFAULT  # the default until a load succeeds
        pool.failure = None
        pool.rows = [row("a", "traces", 7)]
        async with asyncio.timeout(10):
            # The reload has no event to wait on; polling the catalog is the point.
            while catalog.book.of("a", "traces").items_per_second != 7:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    queries = pool.queries
    await asyncio.sleep(0.05)
    assert pool.queries == queries  # the reloading ended with the block


def arguments(**given: str | None) -> argparse.Namespace:
    values = {"items_per_second": None, "bytes_per_second": None, "burst": None}
    values.update(given)
    return argparse.Namespace(**values)


def test_limits_on_the_command_line_are_values_unlimited_or_default() -> None:
    change = limits_change(arguments(items_per_second="2000", bytes_per_second="unlimited", burst="default"))
    assert change == {"items_per_second": 2000.0, "bytes_per_second": math.inf, "burst_seconds": None}
    assert limits_change(arguments(bytes_per_second="4MiB")) == {"bytes_per_second": 4 * 2**20}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({}, "give at least one of --items-per-second, --bytes-per-second, --burst"),
        ({"items_per_second": "0"}, "--items-per-second: must be more than 0, got '0'"),
        ({"burst": "forever"}, "--burst: expected a duration such as 200ms, 5s or 1m, got 'forever'"),
    ],
)
def test_a_bad_limit_on_the_command_line_is_named(given: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        limits_change(arguments(**given))
    assert str(raised.value) == message
