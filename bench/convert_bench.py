"""Micro benchmark: decode + convert alone, one process, items per second per core and signal."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from bench.payloads import Generator
from observatory_ingest.convert.context import ConvertContext
from observatory_ingest.convert.pricing import PriceCatalogue, library_providers
from observatory_ingest.runtime.gctuning import settle_after_startup
from observatory_ingest.signals import SIGNALS


def measure(signal: str, payloads: list[bytes], items_per_request: int, rounds: int) -> float:
    kind = SIGNALS[signal]
    context = ConvertContext(prices=PriceCatalogue())  # the library's prices, as the service has them
    best = 0.0
    for _ in range(rounds):
        started = time.process_time()
        for payload in payloads:
            kind.convert(kind.decode(payload, context.max_attribute_bytes), context)
        elapsed = time.process_time() - started
        best = max(best, len(payloads) * items_per_request / elapsed)
    return best


SIGNAL_NAMES = ("traces", "logs", "metrics")


def run(
    requests: int = 50,
    items: int = 512,
    rounds: int = 3,
    signals: tuple[str, ...] = SIGNAL_NAMES,
    llm_heavy: bool = False,
) -> dict[str, float]:
    generator = Generator(seed=7)
    makers: dict[str, Callable[[int], Any]] = {
        "traces": generator.llm_calls if llm_heavy else generator.traces,
        "logs": generator.logs,
        "metrics": generator.metrics,
    }
    results = {}
    for signal in signals:
        make = makers[signal]
        payloads = [make(items).SerializeToString() for _ in range(requests)]
        results[signal] = measure(signal, payloads, items, rounds)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--items", type=int, default=512, help="spans / records / points per request")
    parser.add_argument("--rounds", type=int, default=3, help="best of N (CPU time)")
    parser.add_argument("--signal", choices=SIGNAL_NAMES, action="append", help="only these (repeatable)")
    parser.add_argument(
        "--llm-heavy", action="store_true", help="traces: every span an LLM call (pricing on every span)"
    )
    arguments = parser.parse_args(argv)
    signals = tuple(arguments.signal or SIGNAL_NAMES)
    library_providers()  # the price catalogue's data loads before the collector settles, as in serve
    settle_after_startup()  # the collector as in the served process
    print(f"{'signal':<10}{'items/s per core (decode + convert)':>38}")
    for signal, rate in run(
        arguments.requests, arguments.items, arguments.rounds, signals, arguments.llm_heavy
    ).items():
        print(f"{signal:<10}{rate:>38,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
