"""OTLP/gRPC traces end to end: the official SDK exporter against a served instance."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import grpc
import orjson
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from observatory_ingest.config import OPTIONS_BY_ATTRIBUTE
from observatory_ingest.runtime.app import RunningService, running_service
from tests.integration.conftest import TableLock, service_settings
from tests.integration.otlp_client import export, retry_delay
from tests.otlp_builders import key_values, nested_trace_request, span, trace_request


def sdk_provider(port: int, service: str, compression: Any = None) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service, "team": "llm"}))
    exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{port}", insecure=True, compression=compression)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


async def flush(provider: TracerProvider) -> None:
    assert await asyncio.to_thread(provider.force_flush, 10_000), "exporter did not get OK"
    await asyncio.to_thread(provider.shutdown)


async def test_sdk_spans_land_field_by_field(service: RunningService, db: asyncpg.Connection) -> None:
    provider = sdk_provider(service.grpc_port, "chat-api", compression=grpc.Compression.Gzip)
    tracer = provider.get_tracer("chat.instrumentation", "2.1.0")
    attributes = {
        "s": "text",
        "b": True,
        "i": 42,
        "f": 1.5,
        "ls": ["a", "b"],
        "lb": [True, False],
        "li": [1, 2, 3],
        "lf": [0.5, 0.25],
    }
    with tracer.start_as_current_span("request", kind=SpanKind.SERVER, attributes=attributes) as root:
        root.add_event("cache.miss", {"key": "k1", "size": 10})
        kinds = [SpanKind.INTERNAL, SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER]
        for kind in kinds:
            with tracer.start_as_current_span(f"child-{kind.name.lower()}", kind=kind):
                pass
        link = Link(root.get_span_context(), {"why": "x"})
        with tracer.start_as_current_span("failing", links=[link]) as bad:
            bad.set_status(Status(StatusCode.ERROR, "upstream timeout"))
    root_context = root.get_span_context()
    await flush(provider)

    trace_hex = f"{root_context.trace_id:032x}"
    rows = {
        r["name"]: r for r in await db.fetch("SELECT * FROM trace_spans WHERE trace_id = $1::uuid", trace_hex)
    }
    assert set(rows) == {
        "request",
        "child-internal",
        "child-client",
        "child-producer",
        "child-consumer",
        "failing",
    }
    request = rows["request"]
    assert request["span_id"] == f"{root_context.span_id:016x}"
    assert request["parent_span_id"] is None
    assert request["kind"] == "server"
    assert request["service_name"] == "chat-api"
    assert request["status"] == "unset"
    assert orjson.loads(request["attributes"]) == attributes
    resource = orjson.loads(request["resource_attributes"])
    assert resource["service.name"] == "chat-api" and resource["team"] == "llm"
    assert resource["telemetry.sdk.language"] == "python"
    assert (request["scope_name"], request["scope_version"]) == ("chat.instrumentation", "2.1.0")
    # duration_us comes from the exact nanoseconds; the timestamps are each truncated to µs.
    from_timestamps = (request["end_time"] - request["start_time"]).total_seconds() * 1e6
    assert abs(request["duration_us"] - round(from_timestamps)) <= 1
    (event,) = orjson.loads(request["events"])
    assert (event["name"], event["attributes"]) == ("cache.miss", {"key": "k1", "size": 10})
    assert request["flags"] & 0x100  # the SDK's "parent is local" bit, kept as sent
    assert {rows[f"child-{k.name.lower()}"]["kind"] for k in kinds} == {
        "internal",
        "client",
        "producer",
        "consumer",
    }
    assert all(rows[n]["parent_span_id"] == request["span_id"] for n in rows if n != "request")
    failing = rows["failing"]
    assert (failing["status"], failing["status_message"]) == ("error", "upstream timeout")
    (link,) = orjson.loads(failing["links"])
    assert link["trace_id"] == trace_hex and link["span_id"] == request["span_id"]
    assert link["attributes"] == {"why": "x"}

    event_row = await db.fetchrow("SELECT * FROM trace_events WHERE span_id = $1", request["id"])
    assert event_row["name"] == "cache.miss"
    assert orjson.loads(event_row["attributes"]) == {"key": "k1", "size": 10}
    assert event_row["trace_id"] == request["trace_id"]

    summary = await db.fetchrow("SELECT * FROM traces WHERE trace_id = $1", trace_hex)
    assert str(summary["id"]).replace("-", "") == trace_hex
    assert summary["span_count"] == 6
    assert (summary["root_span_name"], summary["service_name"]) == ("request", "chat-api")
    assert summary["status"] == "error"  # one span errored
    assert summary["status_message"] == "upstream timeout"
    assert summary["start_time"] == request["start_time"]
    assert summary["end_time"] == max(r["end_time"] for r in rows.values())
    assert orjson.loads(summary["attributes"]) == attributes


def llm_trace(trace_id: bytes) -> list[Any]:
    """A root, two children (one failing) and a grandchild, in fixed times."""
    t0 = 1_800_000_000_000_000_000
    root = span(
        trace_id,
        b"\x00" * 7 + b"\x01",
        "POST /chat",
        start=t0,
        duration_ns=900_000_000,
        attributes=key_values({"route": "/chat"}),
    )
    retrieval = span(
        trace_id,
        b"\x00" * 7 + b"\x02",
        "retrieve",
        parent=root.span_id,
        start=t0 + 1_000_000,
        duration_ns=50_000_000,
    )
    llm = span(
        trace_id,
        b"\x00" * 7 + b"\x03",
        "chat gpt-4o",
        parent=root.span_id,
        start=t0 + 60_000_000,
        duration_ns=800_000_000,
    )
    llm.status.code, llm.status.message = 2, "rate limited"
    tool = span(
        trace_id,
        b"\x00" * 7 + b"\x04",
        "tool",
        parent=llm.span_id,
        start=t0 + 100_000_000,
        duration_ns=1_000_000_000,
    )  # ends after the root
    return [root, retrieval, llm, tool]


SUMMARY_COLUMNS = (
    "service_name",
    "start_time",
    "end_time",
    "duration_us",
    "status",
    "status_message",
    "root_span_name",
    "attributes",
    "resource_attributes",
    "span_count",
)


async def summary(db: asyncpg.Connection, trace_id: bytes) -> dict[str, Any]:
    row = await db.fetchrow(
        f"SELECT {', '.join(SUMMARY_COLUMNS)} FROM traces WHERE trace_id = $1", trace_id.hex()
    )
    return dict(row)


async def test_a_trace_split_over_three_exports_equals_one_export(
    service: RunningService, db: asyncpg.Connection
) -> None:
    whole, split = b"\x11" * 16, b"\x22" * 16
    await export(service.grpc_port, "traces", trace_request(llm_trace(whole)))
    root, retrieval, llm, tool = llm_trace(split)
    # Children first, root last, and one part from another service.
    await export(service.grpc_port, "traces", trace_request([tool]))
    await export(service.grpc_port, "traces", trace_request([retrieval, llm], service="other"))
    await export(service.grpc_port, "traces", trace_request([root]))
    expected = await summary(db, whole)
    assert expected["span_count"] == 4
    assert expected["duration_us"] == 1_100_000
    assert (expected["status"], expected["status_message"]) == ("error", "rate limited")
    assert await summary(db, split) == expected


async def test_replayed_request_creates_no_duplicates(
    service: RunningService, db: asyncpg.Connection
) -> None:
    trace_id = b"\x33" * 16
    request = trace_request(llm_trace(trace_id))
    root = request.resource_spans[0].scope_spans[0].spans[0]
    root.events.add(time_unix_nano=root.start_time_unix_nano + 5, name="gen_ai.user.message")
    first = await export(service.grpc_port, "traces", request)
    second = await export(service.grpc_port, "traces", request)
    assert first == second
    assert not second.HasField("partial_success")
    await asyncio.gather(*(export(service.grpc_port, "traces", request) for _ in range(4)))
    uuid_text = trace_id.hex()
    assert await db.fetchval("SELECT count(*) FROM trace_spans WHERE trace_id = $1::uuid", uuid_text) == 4
    assert await db.fetchval("SELECT count(*) FROM trace_events WHERE trace_id = $1::uuid", uuid_text) == 1
    assert (await summary(db, trace_id))["span_count"] == 4


async def test_rows_are_visible_to_others_when_export_returns(
    service: RunningService, db: asyncpg.Connection
) -> None:
    for n in range(5):
        trace_id = bytes([0x44, n]) * 8
        await export(service.grpc_port, "traces", trace_request([span(trace_id, b"\x01" * 8)]))
        # No sleep, no polling: the Export returned, so the commit happened.
        assert await db.fetchval("SELECT count(*) FROM traces WHERE trace_id = $1", trace_id.hex()) == 1


async def test_bad_spans_are_rejected_and_the_rest_stored(
    service: RunningService, db: asyncpg.Connection
) -> None:
    trace_id = b"\x55" * 16
    request = trace_request(
        [
            span(trace_id, b"\x01" * 8, "good"),
            span(trace_id, b"\x02" * 4, "bad id"),
            span(trace_id, b"\x03" * 8, "good too"),
        ]
    )
    response = await export(service.grpc_port, "traces", request)
    assert response.partial_success.rejected_spans == 1
    assert "span 'bad id': span_id must be 8 non-zero bytes, got 4" in response.partial_success.error_message
    names = await db.fetch(
        "SELECT name FROM trace_spans WHERE trace_id = $1::uuid ORDER BY name", trace_id.hex()
    )
    assert [r["name"] for r in names] == ["good", "good too"]


async def test_empty_request_succeeds(service: RunningService) -> None:
    response = await export(service.grpc_port, "traces", b"")
    assert not response.HasField("partial_success")


async def test_undecodable_request_is_invalid_argument(service: RunningService) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await export(service.grpc_port, "traces", b"\x0a\xff\xff\xff\xff\x0f garbage")
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_request_nested_past_the_limit_is_refused_and_the_server_keeps_serving(
    service: RunningService, db: asyncpg.Connection
) -> None:
    # 100,000 arrays within arrays: decoded without a depth limit, this would overflow the C stack.
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await export(service.grpc_port, "traces", nested_trace_request(100_000))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "nested too deep" in (raised.value.details() or "")
    trace_id = b"\x5a" * 16
    await export(service.grpc_port, "traces", trace_request([span(trace_id, b"\x01" * 8, "after")]))
    stored = await db.fetchval("SELECT count(*) FROM trace_spans WHERE trace_id = $1::uuid", trace_id.hex())
    assert stored == 1
    assert "cannot decode ExportTraceServiceRequest" in (raised.value.details() or "")


async def test_requests_above_grpc_default_4mib_are_accepted(
    service: RunningService, db: asyncpg.Connection
) -> None:
    trace_id = b"\x66" * 16
    blob = "x" * (60 * 1024)  # under --max-attribute-bytes, so nothing is cut
    spans = [span(trace_id, bytes([1, n]) * 4, attributes=key_values({"blob": blob})) for n in range(100)]
    request = trace_request(spans)
    assert request.ByteSize() > 4 * 1024 * 1024  # above grpc's default receive limit
    await export(service.grpc_port, "traces", request)
    lengths = await db.fetch(
        "SELECT length(attributes->>'blob') AS n FROM trace_spans WHERE trace_id = $1::uuid", trace_id.hex()
    )
    assert [r["n"] for r in lengths] == [60 * 1024] * 100


async def test_health_reports_serving(service: RunningService) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in ("", "opentelemetry.proto.collector.trace.v1.TraceService"):
            response = await stub.Check(health_pb2.HealthCheckRequest(service=name))
            assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_full_queue_answers_resource_exhausted_with_retry_info(
    database: str, db: asyncpg.Connection
) -> None:
    settings = service_settings(database, queue_size=10, batch_size=10, writers=1, flush_interval="1ms")
    # Hold the table so the writer's COPY blocks while requests pile up.
    async with (
        running_service(settings) as service,
        TableLock(database, "trace_spans") as lock,
    ):
        ten = [
            trace_request([span(bytes([0x77, i]) * 8, bytes([1 + j]) * 8) for j in range(10)])
            for i in range(3)
        ]
        taken = asyncio.create_task(export(service.grpc_port, "traces", ten[0]))
        await asyncio.sleep(0.3)  # the writer holds request 0; the queue is empty
        queued = asyncio.create_task(export(service.grpc_port, "traces", ten[1]))
        await asyncio.sleep(0.3)  # request 1 fills the queue
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await export(service.grpc_port, "traces", ten[2])
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert retry_delay(raised.value) == 1.0
        await lock.release()
        await asyncio.gather(taken, queued)
    stored = await db.fetchval(
        "SELECT count(*) FROM trace_spans WHERE span_id = '0101010101010101' AND trace_id::text LIKE '77%'"
    )
    assert stored == 2  # requests 0 and 1 landed, request 2 was refused


async def test_unwritable_database_answers_unavailable_then_recovers(
    database: str, db: asyncpg.Connection
) -> None:
    settings = service_settings(database, ack_timeout="1s")
    request = trace_request([span(b"\x88" * 16, b"\x01" * 8, "late")])
    async with running_service(settings) as service:
        async with TableLock(database, "trace_spans", "ACCESS EXCLUSIVE"):
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await export(service.grpc_port, "traces", request)
            assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
            assert retry_delay(raised.value) == 2.0
        # The client retries, as the SDK would: the row exists exactly once.
        await export(service.grpc_port, "traces", request)
    assert await db.fetchval("SELECT count(*) FROM trace_spans WHERE name = 'late'") == 1


async def test_unreachable_database_answers_unavailable_and_not_serving(database: str) -> None:
    settings = service_settings("postgresql://postgres@127.0.0.1:1/nowhere", migrate="false")
    async with running_service(settings) as service:
        await asyncio.sleep(0.2)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await export(service.grpc_port, "traces", trace_request([span(b"\x99" * 16, b"\x01" * 8)]))
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        assert retry_delay(raised.value) == 2.0
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
            response = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            assert response.status == health_pb2.HealthCheckResponse.NOT_SERVING


async def test_a_request_mixing_replayed_and_new_spans_takes_the_merge_path(
    service: RunningService, db: asyncpg.Connection
) -> None:
    whole, mixed = b"\x12" * 16, b"\x23" * 16
    await export(service.grpc_port, "traces", trace_request(llm_trace(whole)))
    root, retrieval, llm, tool = llm_trace(mixed)
    fallbacks_before = merge_fallbacks()
    await export(service.grpc_port, "traces", trace_request([root, retrieval]))
    # root and retrieval again (a client retry that grew), plus two new spans: some rows exist.
    await export(service.grpc_port, "traces", trace_request([root, retrieval, llm, tool]))
    assert merge_fallbacks() == fallbacks_before + 1
    assert await db.fetchval("SELECT count(*) FROM trace_spans WHERE trace_id = $1::uuid", mixed.hex()) == 4
    assert await summary(db, mixed) == await summary(db, whole)


def merge_fallbacks() -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("observatory_writer_merge_fallbacks_total", {"signal": "traces"}) or 0.0


async def test_an_idle_writer_commits_at_once_instead_of_waiting_for_the_flush_interval(
    database: str, db: asyncpg.Connection
) -> None:
    async with running_service(service_settings(database, flush_interval="5s")) as service:
        started = time.monotonic()
        await export(service.grpc_port, "traces", trace_request([span(b"\x13" * 16, b"\x01" * 8, "prompt")]))
        # Group commit: with no writer busy there is nothing to batch with, so no 5 s wait.
        assert time.monotonic() - started < 4
    assert await db.fetchval("SELECT count(*) FROM trace_spans WHERE name = 'prompt'") == 1


def batches_committed() -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("observatory_writer_batches_total", {"signal": "traces"}) or 0.0


async def settled(condition: Any, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    # The pipeline's state has no event to wait on; polling it is the point.
    while not condition() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    return bool(condition())


def one_span_request(number: int, with_event: bool = False) -> Any:
    events = [Span.Event(time_unix_nano=1_700_000_000_000_000_500, name="tick")] if with_event else []
    return trace_request([span(bytes([0xB7, number]) * 8, b"\x01" * 8, f"busy-{number}", events=events)])


def default_writer_settings(database: str) -> Any:
    return service_settings(
        database, flush_interval=OPTIONS_BY_ATTRIBUTE["flush_interval"].default, writers=2
    )


async def test_by_default_a_free_writer_commits_at_once_while_the_other_is_stuck(
    database: str, db: asyncpg.Connection
) -> None:
    # Only a request with a span event writes trace_events: it holds one writer in its
    # transaction, and the other writer comes back for more while that one is still busy.
    async with running_service(default_writer_settings(database)) as service:
        # TimescaleDB: the spans' chunk must exist, or the stuck transaction's new chunk would
        # hold up the other writer's spans of the same day until it commits.
        await export(service.grpc_port, "traces", one_span_request(9))
        async with TableLock(database, "trace_events") as lock:
            pipeline = service.pipelines["traces"]
            stuck_request = one_span_request(0, with_event=True)
            stuck = asyncio.create_task(export(service.grpc_port, "traces", stuck_request))
            assert await settled(lambda: pipeline.writing == 1)
            await export(service.grpc_port, "traces", one_span_request(1))
            started = time.monotonic()
            await export(service.grpc_port, "traces", one_span_request(2))
            # No --flush-interval wait while the other writer commits (a 5 s one makes this 5 s).
            assert time.monotonic() - started < 2
            assert not stuck.done()  # its transaction has not committed: not acknowledged
            await lock.release()
            await stuck
    names = await db.fetch("SELECT name FROM trace_spans WHERE name LIKE 'busy-%' ORDER BY name")
    assert [row["name"] for row in names] == ["busy-0", "busy-1", "busy-2", "busy-9"]


async def test_rows_queued_while_every_writer_is_busy_make_one_batch(
    database: str, db: asyncpg.Connection
) -> None:
    async with (
        running_service(default_writer_settings(database)) as service,
        TableLock(database, "trace_spans") as lock,
    ):
        pipeline = service.pipelines["traces"]
        before = batches_committed()
        first = asyncio.create_task(export(service.grpc_port, "traces", one_span_request(10)))
        assert await settled(lambda: pipeline.writing == 1)
        second = asyncio.create_task(export(service.grpc_port, "traces", one_span_request(11)))
        assert await settled(lambda: pipeline.writing == 2 and pipeline.queue.size == 0)
        queued = [
            asyncio.create_task(export(service.grpc_port, "traces", one_span_request(n)))
            for n in (12, 13, 14)
        ]
        # Three requests wait: 6 rows, a span and its trace's summary share each.
        assert await settled(lambda: pipeline.queue.size == 6), pipeline.queue.size
        assert not any(task.done() for task in (first, second, *queued))  # nothing acked uncommitted
        await lock.release()
        await asyncio.gather(first, second, *queued)
        assert batches_committed() - before == 3  # request 10, request 11, then 12-14 together
    stored = await db.fetchval("SELECT count(*) FROM trace_spans WHERE name LIKE 'busy-1_'")
    assert stored == 5


async def test_the_queue_memory_bound_refuses_through_the_server(database: str) -> None:
    # 40 spans of ~2 KiB: ~80 KiB on the wire, ~185 KiB estimated; far below the row bound, so
    # only the memory bound (fed by the receiver's request size) can refuse. Request 0, being
    # written, still counts: 0 and 1 fit in 400 KiB, a third does not.
    def request(number: int) -> object:
        blob = key_values({"blob": "m" * 2048})
        return trace_request(
            [span(bytes([0x91, number]) * 8, bytes([1 + n]) * 8, attributes=blob) for n in range(40)]
        )

    settings = service_settings(
        database, queue_size=100_000, queue_memory="400KiB", writers=1, flush_interval="1ms"
    )
    async with running_service(settings) as service, TableLock(database, "trace_spans") as lock:
        taken = asyncio.create_task(export(service.grpc_port, "traces", request(0)))
        await asyncio.sleep(0.3)  # the writer holds request 0; the queue is empty
        queued = asyncio.create_task(export(service.grpc_port, "traces", request(1)))
        await asyncio.sleep(0.3)
        assert 0 < service.pipelines["traces"].queue.size < 100
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await export(service.grpc_port, "traces", request(2))
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert retry_delay(raised.value) == 1.0
        await lock.release()
        await asyncio.gather(taken, queued)
