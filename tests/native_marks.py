"""Marks for tests that compare the C extensions with their pure-Python twins."""

from __future__ import annotations

import pytest

from observatory_ingest.convert.native import NATIVE

native_only = pytest.mark.skipif(
    not NATIVE,
    reason="compares the C extensions with their twins: OBSERVATORY_NO_NATIVE=1 runs only the twins",
)
