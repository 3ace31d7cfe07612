"""--writers and --queue-memory are for the whole service: the supervisor splits them over the workers."""

from __future__ import annotations

import pytest

from observatory_ingest.runtime.workers import shares


@pytest.mark.parametrize(
    ("total", "count", "expected"),
    [(2, 1, [2]), (2, 2, [1, 1]), (3, 2, [2, 1]), (7, 3, [3, 2, 2]), (2, 4, [1, 1, 1, 1])],
)
def test_writers_are_split_evenly_with_at_least_one_per_worker(
    total: int, count: int, expected: list[int]
) -> None:
    assert shares(total, count) == expected


def test_queue_memory_shares_add_up_to_the_whole() -> None:
    assert sum(shares(64 * 2**20 + 1, 3)) == 64 * 2**20 + 1
