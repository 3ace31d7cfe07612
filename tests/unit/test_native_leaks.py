"""Reference-count leaks in the C extensions: calls over valid and invalid inputs, repeated, leave
memory flat. A leak of one small object per call shows as thousands of blocks here; the bound is
generous against the interpreter's own caches."""

from __future__ import annotations

import contextlib
import gc
import sys
import tracemalloc
from collections.abc import Callable

import orjson
import pytest

from bench.payloads import Generator
from observatory_ingest.convert import native
from observatory_ingest.convert.common import capped_value
from observatory_ingest.convert.context import ConvertContext
from observatory_ingest.convert.genai import FIELD_NAMES, KEY_FIELD_RANK
from observatory_ingest.convert.traces import TraceConverter
from tests.native_marks import native_only
from tests.wire_cases import DEEP, DIFFERENCES, TOO_DEEP_TO_READ

ROUNDS = 300


def inputs() -> list[bytes]:
    valid = Generator(seed=5).traces(16).SerializeToString()
    cases = [payload for payload, _ in DIFFERENCES.values()]
    cases += [DEEP["array nested 60 levels"], TOO_DEEP_TO_READ["empty array at level 10,001"]]
    return [valid, valid[: len(valid) // 2], b"\xff\xff", *cases]


def exercise(payloads: list[bytes]) -> None:
    """Every entry point of the extensions, on every payload; errors are expected for some."""
    context = ConvertContext(received_ns=1_790_000_000_000_000_000)
    for payload in payloads:
        for max_bytes in (64 * 1024, 12):
            try:
                decoded = native.decode_traces(payload, max_bytes, capped_value)  # type: ignore[misc]
            except ValueError:
                decoded = None
            if decoded is not None:
                converter = TraceConverter(context)
                converter.convert(decoded)
                for _, scopes in decoded:
                    for _, _, spans in scopes:
                        for span in spans:
                            native.first_values(span[9], KEY_FIELD_RANK, FIELD_NAMES)
                            native.span_rows(
                                span, b"p" * 16, "p", "svc", "{}", None, None, 0, 2**62, orjson.dumps
                            )
        for signal in (0, 1, 2):
            with contextlib.suppress(ValueError):
                native.flatten_values(payload, signal)  # type: ignore[misc]
        for bad in ((), (1,), ("x", 1)):
            with pytest.raises(TypeError):
                native.add_to_trace_part({}, bad)  # type: ignore[arg-type]


def growth(work: Callable[[], None]) -> tuple[int, int]:
    """Blocks and traced bytes still held after ROUNDS more rounds than a warm-up."""
    work()  # warm-up: caches (the decoder's shared strings, interned names) fill
    gc.collect()
    tracemalloc.start()
    blocks, (traced, _) = sys.getallocatedblocks(), tracemalloc.get_traced_memory()
    for _ in range(ROUNDS):
        work()
    gc.collect()
    grown = sys.getallocatedblocks() - blocks, tracemalloc.get_traced_memory()[0] - traced
    tracemalloc.stop()
    return grown


@native_only
def test_calls_over_valid_and_invalid_inputs_leave_memory_flat() -> None:
    payloads = inputs()
    blocks, traced = growth(lambda: exercise(payloads))
    calls = ROUNDS * len(payloads)
    # One leaked object per call would be about `calls` blocks (thousands); allow a few hundred.
    assert blocks < calls // 10, f"{blocks} blocks held after {calls} rounds of calls"
    assert traced < 256 * 1024, f"{traced} bytes held after {calls} rounds of calls"
