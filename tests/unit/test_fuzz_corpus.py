"""The fuzz targets' seed corpus, replayed on every test run: each seed through its target (the C
code against its reference), and the corpus still holds every case tests/fuzz/make_corpus.py
writes (one per difference the decoder once had with the protobuf runtime)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.make_corpus import CORPUS, file_name, seeds
from tests.fuzz.targets import TARGETS
from tests.native_marks import native_only

SEEDS = sorted(path for path in CORPUS.glob("*/*") if path.is_file())


def test_the_corpus_holds_every_case() -> None:
    for target, cases in seeds().items():
        for name, payload in cases.items():
            path = CORPUS / target / file_name(name, payload)
            assert path.is_file(), f"{path} missing: run python -m tests.fuzz.make_corpus"
            assert path.read_bytes() == payload


@native_only
@pytest.mark.parametrize("seed", SEEDS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_each_seed_passes_its_target(seed: Path) -> None:
    TARGETS[seed.parent.name](seed.read_bytes())
