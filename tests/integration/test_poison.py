"""A row the database refuses never sinks its neighbours: it is isolated into ingest_rejects."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import grpc
import orjson
import pytest
from prometheus_client import REGISTRY

from observatory_ingest.runtime.app import RunningService, running_service
from tests.integration.conftest import TableLock, service_settings
from tests.integration.otlp_client import export
from tests.otlp_builders import key_values, span, trace_request

T0 = 1_790_000_000_000_000_000


def llm_span(trace: bytes, number: int, input_tokens: float) -> object:
    return span(
        trace,
        bytes([number]) * 8,
        f"chat {number}",
        start=T0 + number,
        attributes=key_values(
            {
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": input_tokens,
            }
        ),
    )


def rejected_rows() -> float:
    labels = {"signal": "traces", "table": "llm_traces"}
    return REGISTRY.get_sample_value("observatory_writer_rejected_rows_total", labels) or 0.0


async def test_a_row_the_database_refuses_is_kept_aside_and_the_rest_stored(
    service: RunningService, db: asyncpg.Connection
) -> None:
    trace = b"\x41" * 16
    before = rejected_rows()
    # 10**12 input tokens passes conversion but overflows llm_traces.prompt_tokens (INTEGER).
    request = trace_request([llm_span(trace, 1, 100), llm_span(trace, 2, 10**12), llm_span(trace, 3, 300)])
    response = await export(service.grpc_port, "traces", request)
    assert response.partial_success.rejected_spans == 1
    assert "llm_traces row could not be stored" in response.partial_success.error_message
    assert "out of int32 range" in response.partial_success.error_message
    assert await db.fetchval("SELECT count(*) FROM trace_spans WHERE trace_id = $1::uuid", trace.hex()) == 3
    stored = await db.fetch("SELECT span_name FROM llm_traces WHERE trace_id = $1 ORDER BY 1", trace.hex())
    assert [r["span_name"] for r in stored] == ["chat 1", "chat 3"]
    (reject,) = await db.fetch("SELECT * FROM ingest_rejects WHERE row->>'trace_id' = $1", trace.hex())
    assert (reject["signal"], reject["table_name"]) == ("traces", "llm_traces")
    assert "out of int32 range" in reject["reason"]
    row = orjson.loads(reject["row"])
    assert (row["span_name"], row["prompt_tokens"]) == ("chat 2", 10**12)
    assert row["ts"].startswith("2026-09-21")
    assert rejected_rows() == before + 1
    assert await db.fetchval("SELECT span_count FROM traces WHERE trace_id = $1", trace.hex()) == 3


async def test_a_poison_request_never_sinks_a_request_sharing_its_batch(
    database: str, db: asyncpg.Connection
) -> None:
    good, bad, first = b"\x42" * 16, b"\x43" * 16, b"\x44" * 16
    async with (
        running_service(service_settings(database, writers=1)) as service,
        TableLock(database, "trace_spans") as lock,
    ):
        # The only writer is stuck on a first request while the next two queue up behind it,
        # so they are taken together: one batch, one transaction.
        held = asyncio.create_task(
            export(service.grpc_port, "traces", trace_request([llm_span(first, 1, 1)]))
        )
        await asyncio.sleep(0.3)
        both = asyncio.gather(
            export(service.grpc_port, "traces", trace_request([llm_span(good, n, 10) for n in range(1, 6)])),
            export(
                service.grpc_port, "traces", trace_request([llm_span(bad, 1, 10**13), llm_span(bad, 2, 5)])
            ),
        )
        await asyncio.sleep(0.3)
        assert service.pipelines["traces"].queue.size > 0
        await lock.release()
        good_response, bad_response = await both
        await held
    assert not good_response.HasField("partial_success")
    assert bad_response.partial_success.rejected_spans == 1
    assert await db.fetchval("SELECT count(*) FROM llm_traces WHERE trace_id = $1", good.hex()) == 5
    assert await db.fetchval("SELECT count(*) FROM llm_traces WHERE trace_id = $1", bad.hex()) == 1
    assert await db.fetchval("SELECT count(*) FROM trace_spans WHERE trace_id = $1::uuid", bad.hex()) == 2


async def test_a_token_count_that_is_no_integer_sinks_nothing(
    service: RunningService, db: asyncpg.Connection
) -> None:
    """An infinite float as a token count is left out; its span and its neighbours are stored."""
    trace = b"\x45" * 16
    odd = span(
        trace,
        b"\x02" * 8,
        "chat odd",
        start=T0 + 2,
        attributes=key_values(
            {
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": float("inf"),
            }
        ),
    )
    response = await export(service.grpc_port, "traces", trace_request([llm_span(trace, 1, 100), odd]))
    assert not response.HasField("partial_success")
    stored = await db.fetch(
        "SELECT span_name, prompt_tokens FROM llm_traces WHERE trace_id = $1 ORDER BY 1", trace.hex()
    )
    assert [(r["span_name"], r["prompt_tokens"]) for r in stored] == [("chat 1", 100), ("chat odd", None)]


async def test_a_token_count_past_64_bits_kills_no_writer(
    service: RunningService, db: asyncpg.Connection
) -> None:
    """1e30 input tokens: its row is refused, and its reject document holds an integer orjson
    cannot encode. The writer that met it used to die, and with it (two such requests) the
    signal's whole ingestion while readiness still said ready."""
    trace = b"\x47" * 16
    for number in (1, 2, 3):  # more such requests than the service has writers
        # A double: a protobuf int_value cannot carry it, and conversion reads either as a count.
        await export(service.grpc_port, "traces", trace_request([llm_span(trace, number, 1e30)]))
    healthy = trace_request([llm_span(trace, 4, 100)])
    response = await export(service.grpc_port, "traces", healthy, timeout=5)
    assert not response.partial_success.rejected_spans
    assert await db.fetchval("SELECT count(*) FROM trace_spans WHERE trace_id = $1::uuid", trace.hex()) == 4


async def test_an_unexpected_failure_in_a_writer_is_a_retry_not_a_dead_writer(
    service: RunningService, db: asyncpg.Connection
) -> None:
    pipeline = service.pipelines["traces"]
    committer = pipeline.writers.committer
    commit, failures = committer.commit, 0

    async def failing_then_working(batch: Any) -> None:
        nonlocal failures
        if failures < 3:  # more failures than the service has writers
            failures += 1
            raise RuntimeError("a bug")
        await commit(batch)

    committer.commit = failing_then_working  # type: ignore[method-assign]
    trace = b"\x48" * 16
    for number in (1, 2, 3):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await export(service.grpc_port, "traces", trace_request([llm_span(trace, number, 1)]))
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE  # retryable: the SDK sends it again
    await export(service.grpc_port, "traces", trace_request([llm_span(trace, 4, 1)]), timeout=5)
    assert await db.fetchval("SELECT count(*) FROM trace_spans WHERE trace_id = $1::uuid", trace.hex()) == 1
