"""Every error has one documented outcome, through the real server and the official SDK
exporters: an outage during the API key lookup, and a failure the service does not recognise,
both answer UNAVAILABLE / 503 with a retry hint, so the SDK retries and nothing is lost."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import asyncpg
import grpc
import pytest
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from observatory_ingest.runtime.app import RunningService, running_service
from observatory_ingest.signals import SIGNALS
from observatory_ingest.store.keys import create_key
from tests.integration.conftest import service_settings
from tests.integration.otlp_client import retry_delay
from tests.integration.tcp_proxy import TcpProxy
from tests.otlp_builders import span, trace_request


def finished_spans(service_name: str, count: int) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("contract")
    for n in range(count):
        with tracer.start_as_current_span(f"{service_name} {n}"):
            pass
    return list(memory.get_finished_spans())


async def grpc_export(port: int, payload: bytes, metadata: tuple[tuple[str, str], ...] = ()) -> Any:
    kind = SIGNALS["traces"]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(kind.grpc_method, response_deserializer=kind.response_type.FromString)
        return await call(payload, metadata=metadata, timeout=10)


async def http_post(port: int, payload: bytes, **headers: str) -> tuple[int, str, dict[str, str]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{port}/v1/traces",
            data=payload,
            headers={"Content-Type": "application/x-protobuf", **headers},
        ) as reply,
    ):
        body = await reply.read()
        return reply.status, status_pb2.Status.FromString(body).message, dict(reply.headers)


async def metric(service: RunningService, name: str, **labels: str) -> float:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{service.metrics_port}/metrics") as reply,
    ):
        text = await reply.text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items())
    )


async def stored_once(db: asyncpg.Connection, spans: list[ReadableSpan]) -> bool:
    counts = await db.fetch(
        "SELECT span_id, count(*) AS n FROM trace_spans WHERE span_id = ANY($1::text[]) GROUP BY span_id",
        [f"{s.context.span_id:016x}" for s in spans if s.context],
    )
    return len(counts) == len(spans) and all(row["n"] == 1 for row in counts)


async def test_with_auth_required_a_database_outage_makes_the_sdks_retry_and_all_lands_once(
    database: str, db: asyncpg.Connection
) -> None:
    key, _ = await create_key(db, "outage-team")
    grpc_spans, http_spans = finished_spans("outage-grpc", 20), finished_spans("outage-http", 20)
    async with (
        TcpProxy(database) as proxy,
        running_service(service_settings(proxy.dsn, auth="required", ack_timeout="3s")) as service,
    ):
        prices = service.http.ingestor.prices
        book = prices.book
        await proxy.stop()  # the database is gone; the key was never looked up, so not cached
        unavailable_before = await metric(service, "observatory_receiver_requests_total", code="UNAVAILABLE")
        lookups_failed_before = await metric(
            service, "observatory_database_errors_total", operation="key_lookup"
        )

        probe = trace_request([span(b"\x7d" * 16, b"\x01" * 8, "probe")]).SerializeToString()
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await grpc_export(service.grpc_port, probe, (("authorization", f"Bearer {key}"),))
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE  # was INTERNAL: dropped by exporters
        assert "cannot check the API key" in (refused.value.details() or "")
        assert retry_delay(refused.value) == 2.0
        status, message, headers = await http_post(service.http_port, probe, **{"x-api-key": key})
        assert (status, headers["Retry-After"]) == (503, "2")
        assert "cannot check the API key" in message
        assert (
            await metric(service, "observatory_database_errors_total", operation="key_lookup")
            >= lookups_failed_before + 2
        )
        # A price reload in the outage keeps the last good prices.
        assert not await prices.reload(proxy.dsn)
        assert prices.book is book

        # The official exporters start during the outage and retry on their own.
        grpc_exporter = GrpcSpanExporter(
            endpoint=f"127.0.0.1:{service.grpc_port}",
            insecure=True,
            headers={"authorization": f"Bearer {key}"},
            timeout=60,
        )
        http_exporter = HttpSpanExporter(
            endpoint=f"http://127.0.0.1:{service.http_port}/v1/traces", headers={"x-api-key": key}, timeout=60
        )
        exports = asyncio.gather(
            asyncio.to_thread(grpc_exporter.export, grpc_spans),
            asyncio.to_thread(http_exporter.export, http_spans),
        )
        await asyncio.sleep(4.0)
        assert not service.health.ready  # the probe noticed too
        assert await metric(service, "observatory_database_errors_total", operation="readiness_probe") >= 1
        await proxy.start()  # the database is back, on the same address
        assert await asyncio.wait_for(exports, 90) == [SpanExportResult.SUCCESS, SpanExportResult.SUCCESS]
        unavailable = await metric(service, "observatory_receiver_requests_total", code="UNAVAILABLE")
        assert unavailable >= unavailable_before + 4, "the SDKs were never refused: nothing was retried"
        assert await prices.reload(proxy.dsn)
    assert await stored_once(db, grpc_spans)
    assert await stored_once(db, http_spans)
    assert await db.fetchval("SELECT count(*) FROM trace_spans WHERE name = 'probe'") == 0


class FailingPrices:
    """The service's price catalogue, made to fail a given number of times: a stand-in for a bug."""

    def __init__(self, prices: Any) -> None:
        self.prices = prices
        self.failures = 0

    @property
    def book(self) -> Any:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("price book corrupted")
        return self.prices.book


async def test_an_unexpected_error_answers_unavailable_once_logged_with_its_cause_and_counted(
    service: RunningService, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    failing = FailingPrices(service.http.ingestor.prices)
    service.http.ingestor.prices = failing  # type: ignore[assignment]
    counted = "observatory_receiver_unexpected_errors_total"
    before = await metric(service, counted, error="RuntimeError")
    payload = trace_request([span(b"\x7e" * 16, b"\x01" * 8, "unexpected")]).SerializeToString()
    caplog.set_level(logging.WARNING)

    failing.failures = 1
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await grpc_export(service.grpc_port, payload)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert refused.value.details() == "internal error (RuntimeError); retry later"  # no internals
    assert retry_delay(refused.value) == 2.0
    failing.failures = 1
    status, message, headers = await http_post(service.http_port, payload)
    assert (status, message, headers["Retry-After"]) == (
        503,
        "internal error (RuntimeError); retry later",
        "2",
    )

    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert [(r.getMessage(), r.transport) for r in errors] == [  # type: ignore[attr-defined]
        ("export failed unexpectedly; answered UNAVAILABLE so that the client retries", "grpc"),
        ("export failed unexpectedly; answered UNAVAILABLE so that the client retries", "http"),
    ]
    assert all(r.exc_info and str(r.exc_info[1]) == "price book corrupted" for r in errors)
    assert await metric(service, counted, error="RuntimeError") == before + 2
    assert await metric(service, counted, error="RuntimeError", transport="http") >= 1
    assert await db.fetchval("SELECT count(*) FROM trace_spans WHERE name = 'unexpected'") == 0

    # The SDK retries what we failed to take: a bug costs a retry, not the data.
    spans = finished_spans("unexpected-sdk", 5)
    failing.failures = 2
    exporter = GrpcSpanExporter(endpoint=f"127.0.0.1:{service.grpc_port}", insecure=True, timeout=30)
    assert await asyncio.to_thread(exporter.export, spans) == SpanExportResult.SUCCESS
    assert failing.failures == 0
    assert await stored_once(db, spans)
