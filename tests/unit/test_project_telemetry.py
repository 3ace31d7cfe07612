"""Per-project series with bounded label values: the first projects seen by name, the rest folded
into one value, and the queue gauge summed over what is folded."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY

from observatory_ingest import telemetry
from observatory_ingest.health import Health
from observatory_ingest.pipeline.queue import BoundedQueue, Pending
from observatory_ingest.pipeline.rate_limit import RateLimiter
from observatory_ingest.pipeline.signal_pipeline import SignalPipeline
from observatory_ingest.pipeline.writer_loop import BatchPolicy
from observatory_ingest.store.project_limits import ProjectLimitsCatalog, SignalLimits
from observatory_ingest.store.write_plans import LOGS_PLAN


def test_the_first_projects_seen_are_labelled_by_name_and_the_rest_folded() -> None:
    labels = telemetry.ProjectLabels(limit=2)
    assert [labels.see(f"id-{n}", f"name-{n}") for n in range(4)] == [
        "name-0",
        "name-1",
        telemetry.OTHER_PROJECTS,
        telemetry.OTHER_PROJECTS,
    ]
    assert labels.see("id-1", "renamed") == "name-1"  # a label, once given, stays
    assert labels.of("id-0") == "name-0"
    assert labels.of("id-3") == telemetry.OTHER_PROJECTS
    assert len(labels._labels) == 2  # later projects take no memory


def queued(project: str) -> float | None:
    value: Any = REGISTRY.get_sample_value(
        "observatory_project_queue_size", {"signal": "logs", "project": project}
    )
    return None if value is None else float(value)


async def test_the_queue_gauge_counts_rows_per_label_and_goes_back_to_zero(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    labels = telemetry.ProjectLabels(limit=1)
    monkeypatch.setattr(telemetry, "PROJECT_LABELS", labels)
    labels.see("p1", "gauge-first")
    queue = BoundedQueue(1000, fair=True)
    pipeline = SignalPipeline(
        LOGS_PLAN,
        queue,
        None,  # type: ignore[arg-type]  # no writer runs: the pool is never used
        BatchPolicy(100, 0.0, 1.0),
        Health(),
        RateLimiter("logs", ProjectLimitsCatalog(SignalLimits())),
    )
    for project, rows in (("p1", 5), ("p2", 7), ("p3", 11)):
        queue.offer(Pending({}, rows, 0, project))
    pipeline.update_gauges()
    assert queued("gauge-first") == 5
    assert queued(telemetry.OTHER_PROJECTS) == 18  # p2 and p3, folded
    batch = await queue.take(max_rows=1000, max_wait=0)
    queue.release(batch)
    pipeline.update_gauges()
    assert queued("gauge-first") == 0
    assert queued(telemetry.OTHER_PROJECTS) == 0
