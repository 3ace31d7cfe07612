"""Runs one fuzz target (tests/fuzz/targets.py) under atheris, coverage-guided by the C
extensions' libFuzzer counters. .ci/fuzz builds them (tests/fuzz/build.py --fuzzing) and runs every
target for a time; by hand, with the extensions built into build/fuzz:

    LD_PRELOAD=build/fuzz/asan_with_fuzzer.so ASAN_OPTIONS=detect_leaks=0 PYTHONPATH=build/fuzz \\
        python -m tests.fuzz.run decode -max_total_time=60 -max_len=16384 NEW_DIR tests/fuzz/corpus/decode

Arguments after the target's name go to libFuzzer: options, then corpus directories (new inputs
go to the first, so give it a scratch directory before the checked-in seeds). A crash, a
sanitizer report or a disagreement stops the run and leaves the input as crash-<digest>.
"""

from __future__ import annotations

import sys

import atheris

# Imported after atheris, so the extensions' coverage counters reach its libFuzzer.
with atheris.instrument_imports(include=["observatory_ingest.convert.nesting"]):
    from tests.fuzz.targets import TARGETS


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: python -m tests.fuzz.run {{{','.join(TARGETS)}}} [libFuzzer options] [corpus ...]")
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
