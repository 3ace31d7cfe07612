"""The end-to-end benchmark reports the round with the median landed/ceiling ratio."""

from __future__ import annotations

from bench.cpu import CpuUse
from bench.e2e import Phase, Round, median_round

IDLE = CpuUse({}, 1.0)


def measured(landed: int, seconds: float, ceiling: float) -> Round:
    return Round(Phase(landed, 1, seconds, [0.1]), landed, IDLE, ceiling, IDLE)


def test_the_median_round_is_reported_whatever_the_order() -> None:
    rounds = [measured(30_000, 1.0, 40_000), measured(20_000, 1.0, 40_000), measured(36_000, 1.0, 40_000)]
    assert median_round(rounds).ratio == 0.75
    assert median_round(list(reversed(rounds))).ratio == 0.75


def test_an_even_number_of_rounds_reports_the_lower_middle_one() -> None:
    rounds = [measured(30_000, 2.0, 20_000), measured(20_000, 1.0, 40_000)]
    assert median_round(rounds).ratio == 0.5
    assert measured(30_000, 2.0, 20_000).landed_rate == 15_000


def test_acknowledged_items_count_what_the_requests_hold_not_the_batch_flag() -> None:
    # A metrics request of --batch 512 holds 515 data points: landed counts those.
    phase = Phase(items=5150, requests=10, seconds=1.0, latencies=[0.1] * 4)
    assert (phase.items_per_request, phase.acknowledged_items) == (515, 2060)
