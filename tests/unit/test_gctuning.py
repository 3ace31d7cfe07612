"""The served process's garbage-collector settings."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from observatory_ingest.runtime.gctuning import YOUNG_COLLECTION_THRESHOLD, settle_after_startup


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_collector")
def test_after_startup_existing_objects_are_left_out_and_young_collections_are_rarer() -> None:
    survivor = [object()]
    middle, old = gc.get_threshold()[1:]
    settle_after_startup()
    assert gc.get_freeze_count() > 0
    assert not any(survivor is tracked for tracked in gc.get_objects())  # frozen: not collected
    assert gc.get_threshold() == (YOUNG_COLLECTION_THRESHOLD, middle, old)
