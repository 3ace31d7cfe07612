"""The queue's memory estimate holds to what converted requests really take, whatever their shape."""

from __future__ import annotations

import gc
import random
import tracemalloc
from collections.abc import Callable

import pytest

from bench.payloads import Generator
from observatory_ingest.convert.common import Converted
from observatory_ingest.convert.context import ConvertContext
from observatory_ingest.pipeline.queue import estimated_memory
from observatory_ingest.signals import SIGNALS
from tests.otlp_builders import key_values, span, trace_request

REQUESTS = 4


def bare_spans(count: int) -> bytes:
    """Ids, a name and times only: the smallest spans, where per-row overhead dominates."""
    rng = random.Random(count)
    spans = [span(rng.randbytes(16), rng.randbytes(8), "op") for _ in range(count)]
    return bytes(trace_request(spans).SerializeToString())


def spans_with_large_attributes(count: int) -> bytes:
    """An 8 KB attribute per span: text dominates."""
    rng = random.Random(count)
    request = trace_request([span(rng.randbytes(16), rng.randbytes(8), "chat") for _ in range(count)])
    for one in request.resource_spans[0].scope_spans[0].spans:
        one.attributes.extend(key_values({"input.value": "x" * 8000, "user.id": "u1"}))
    return bytes(request.SerializeToString())


def generated(signal: str, count: int) -> Callable[[], bytes]:
    generator = Generator(seed=count)
    return lambda: bytes(getattr(generator, signal)(count).SerializeToString())


# name: (signal, a request of so many items)
SHAPES: dict[str, tuple[str, Callable[[], bytes]]] = {
    "benchmark traces": ("traces", generated("traces", 512)),
    "benchmark logs": ("logs", generated("logs", 512)),
    "benchmark metrics": ("metrics", generated("metrics", 512)),
    "bare spans": ("traces", lambda: bare_spans(128)),
    "8 KB attributes": ("traces", lambda: spans_with_large_attributes(128)),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_estimate_is_within_a_fifth_below_and_a_third_above_the_measured_memory(shape: str) -> None:
    signal_name, build = SHAPES[shape]
    signal, context = SIGNALS[signal_name], ConvertContext()
    payloads = [build() for _ in range(REQUESTS)]
    signal.convert(signal.decode(payloads[0], context.max_attribute_bytes), context)  # caches warm
    gc.collect()
    tracemalloc.start()
    try:
        decoded = (signal.decode(payload, context.max_attribute_bytes) for payload in payloads)
        converted: list[Converted] = [signal.convert(request, context) for request in decoded]
        gc.collect()
        rows_memory, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # While its Export waits for the commit, a request holds its rows and its payload.
    measured = rows_memory + sum(map(len, payloads))
    estimated = sum(estimated_memory(len(p), c.rows) for p, c in zip(payloads, converted, strict=True))
    assert 0.8 <= estimated / measured <= 1.33, f"estimated {estimated:,} for {measured:,} measured"
