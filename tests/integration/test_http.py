"""OTLP/HTTP end to end: the SDK's HTTP exporters (protobuf), hand-written OTLP JSON, status codes."""

from __future__ import annotations

import asyncio
import gzip
import logging
import time

import aiohttp
import asyncpg
import orjson
import pytest
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from observatory_ingest.runtime.app import RunningService, running_service
from tests.integration.conftest import TableLock, service_settings
from tests.otlp_builders import span, trace_request
from tests.unit.test_wire_adversarial import value_field_repeated

PROTOBUF, JSON = "application/x-protobuf", "application/json"


def url(service: RunningService, signal: str) -> str:
    return f"http://127.0.0.1:{service.http_port}/v1/{signal}"


async def post(
    service: RunningService, signal: str, body: bytes, content_type: str, **headers: str
) -> tuple[int, bytes, dict[str, str]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url(service, signal), data=body, headers={"Content-Type": content_type, **headers}
        ) as reply,
    ):
        return reply.status, await reply.read(), dict(reply.headers)


@pytest.mark.filterwarnings("ignore:`LoggingHandler` in `opentelemetry-sdk` is deprecated")
async def test_sdk_http_exporters_for_all_three_signals(
    service: RunningService, db: asyncpg.Connection
) -> None:
    resource = Resource.create({"service.name": "http-sdk"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=url(service, "traces"), compression=Compression.Gzip))
    )
    with tracer_provider.get_tracer("t").start_as_current_span("over-http", attributes={"k": "v"}):
        pass
    assert await asyncio.to_thread(tracer_provider.force_flush, 10_000)
    await asyncio.to_thread(tracer_provider.shutdown)

    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=url(service, "metrics")), 3_600_000)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter_provider.get_meter("m").create_counter("http.requests").add(3)
    await asyncio.to_thread(meter_provider.shutdown)

    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(endpoint=url(service, "logs")))
    )
    logger = logging.getLogger("http.sdk")
    logger.propagate = False
    handler = LoggingHandler(logger_provider=logger_provider)
    logger.addHandler(handler)
    logger.warning("sent over http")
    assert await asyncio.to_thread(logger_provider.force_flush, 10_000)
    logger.removeHandler(handler)
    await asyncio.to_thread(logger_provider.shutdown)

    span_row = await db.fetchrow("SELECT * FROM trace_spans WHERE service_name = 'http-sdk'")
    assert (span_row["name"], orjson.loads(span_row["attributes"])) == ("over-http", {"k": "v"})
    assert (
        await db.fetchval(
            "SELECT p.value FROM metric_data_points p JOIN metrics m ON m.id = p.metric_id "
            "WHERE m.name = 'http.requests' AND m.service_name = 'http-sdk'"
        )
        == 3
    )
    assert await db.fetchval("SELECT body FROM logs WHERE service_name = 'http-sdk'") == "sent over http"


OTLP_JSON_TRACES = {
    "resourceSpans": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-client"}}]},
            "scopeSpans": [
                {
                    "scope": {"name": "hand", "version": "1"},
                    "spans": [
                        {
                            "traceId": "5B8EFFF798038103D269B633813FC60C",
                            "spanId": "EEE19B7EC3C1B174",
                            "parentSpanId": "",
                            "name": "json span",
                            "kind": 2,
                            "startTimeUnixNano": "1800000000000000000",
                            "endTimeUnixNano": 1800000000001000000,
                            "attributes": [
                                {"key": "n", "value": {"intValue": "9007199254740993"}},
                                {"key": "d", "value": {"doubleValue": 0.5}},
                                {"key": "raw", "value": {"bytesValue": "AAE="}},
                            ],
                            "events": [{"timeUnixNano": "1800000000000500000", "name": "e"}],
                            "links": [
                                {"traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "0102030405060708"}
                            ],
                            "status": {"code": 2, "message": "failed"},
                            "someFutureField": {"ignored": True},
                        },
                        {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "01", "name": "bad id"},
                    ],
                }
            ],
        }
    ]
}


async def test_hand_written_otlp_json(service: RunningService, db: asyncpg.Connection) -> None:
    status, body, headers = await post(service, "traces", orjson.dumps(OTLP_JSON_TRACES), JSON)
    assert status == 200
    assert headers["Content-Type"].startswith(JSON)
    reply = orjson.loads(body)
    assert reply["partialSuccess"]["rejectedSpans"] in ("1", 1)
    assert "span 'bad id'" in reply["partialSuccess"]["errorMessage"]
    row = await db.fetchrow("SELECT * FROM trace_spans WHERE name = 'json span'")
    assert row["span_id"] == "eee19b7ec3c1b174"
    assert str(row["trace_id"]).replace("-", "") == "5b8efff798038103d269b633813fc60c"
    assert (row["kind"], row["status"], row["status_message"], row["duration_us"]) == (
        "server",
        "error",
        "failed",
        1000,
    )
    assert orjson.loads(row["attributes"]) == {"n": 9007199254740993, "d": 0.5, "raw": "AAE="}
    assert orjson.loads(row["links"])[0]["trace_id"] == "0102030405060708090a0b0c0d0e0f10"
    assert orjson.loads(row["events"])[0]["name"] == "e"
    # Replay over JSON: no duplicate.
    await post(service, "traces", orjson.dumps(OTLP_JSON_TRACES), JSON)
    assert await db.fetchval("SELECT count(*) FROM trace_spans WHERE name = 'json span'") == 1


async def test_protobuf_gzip_and_response_in_request_type(
    service: RunningService, db: asyncpg.Connection
) -> None:
    request = trace_request([span(b"\x61" * 16, b"\x01" * 8, "gzipped")])
    status, body, headers = await post(
        service,
        "traces",
        gzip.compress(request.SerializeToString()),
        PROTOBUF,
        **{"Content-Encoding": "gzip"},
    )
    assert (status, headers["Content-Type"]) == (200, PROTOBUF)
    assert not ExportTraceServiceResponse.FromString(body).HasField("partial_success")
    assert await db.fetchval("SELECT count(*) FROM trace_spans WHERE name = 'gzipped'") == 1


async def test_bad_input_codes_and_status_bodies(service: RunningService) -> None:
    status, body, _ = await post(service, "traces", b"\xff\xff\xff garbage", PROTOBUF)
    assert status == 400
    assert "cannot decode ExportTraceServiceRequest" in status_pb2.Status.FromString(body).message
    status, body, _ = await post(service, "logs", b"{not json", JSON)
    assert status == 400 and "invalid JSON" in orjson.loads(body)["message"]
    status, body, _ = await post(
        service, "traces", b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', JSON
    )
    assert status == 400 and "spans[0].traceId: must be hex" in orjson.loads(body)["message"]
    status, body, _ = await post(service, "metrics", b"x", "text/plain")
    assert status == 415 and "unsupported content type 'text/plain'" in orjson.loads(body)["message"]
    async with aiohttp.ClientSession() as session, session.get(url(service, "traces")) as reply:
        assert reply.status == 405


async def test_a_4_kb_gzip_request_of_repeated_occurrences_is_answered_at_once(
    service: RunningService, db: asyncpg.Connection
) -> None:
    """4 MB of one attribute's value sent a million times over, 4 KB gzipped: decoding merged
    every occurrence by copying all the ones before and froze the worker for minutes."""
    body = gzip.compress(value_field_repeated(4_000_000))
    assert len(body) < 8 * 1024
    started = time.monotonic()
    status, _, _ = await post(service, "traces", body, PROTOBUF, **{"Content-Encoding": "gzip"})
    assert status == 200
    assert time.monotonic() - started < 10  # the copying decoder took over two minutes
    stored = await db.fetchval("SELECT attributes->>'a' FROM trace_spans WHERE name = 's'")
    assert stored.startswith("[null,null,") and stored.endswith("bytes cut]")


async def test_oversized_body_is_413_also_when_gzip_inflates_past_the_limit(database: str) -> None:
    async with running_service(service_settings(database, max_recv_msg_size="64KiB")) as service:
        status, body, _ = await post(service, "traces", b"\0" * (65 * 1024), PROTOBUF)
        assert status == 413 and "exceeds 65536 bytes" in status_pb2.Status.FromString(body).message
        bomb = gzip.compress(b"\0" * (10 * 1024 * 1024))
        assert len(bomb) < 64 * 1024
        status, _, _ = await post(service, "traces", bomb, PROTOBUF, **{"Content-Encoding": "gzip"})
        assert status == 413


async def test_backpressure_and_outage_answer_retryable_with_retry_after(database: str) -> None:
    settings = service_settings(database, queue_size=10, batch_size=10, writers=1, ack_timeout="1s")
    async with (
        running_service(settings) as service,
        TableLock(database, "trace_spans", "ACCESS EXCLUSIVE"),
    ):
        ten = [
            trace_request([span(bytes([0x62, i]) * 8, bytes([1 + j]) * 8) for j in range(10)])
            for i in range(3)
        ]
        first = asyncio.create_task(post(service, "traces", ten[0].SerializeToString(), PROTOBUF))
        await asyncio.sleep(0.3)
        second = asyncio.create_task(post(service, "traces", ten[1].SerializeToString(), PROTOBUF))
        await asyncio.sleep(0.3)
        status, _, headers = await post(service, "traces", ten[2].SerializeToString(), PROTOBUF)
        assert (status, headers["Retry-After"]) == (429, "1")
        # The first two are still waiting for their commit: 503 with Retry-After after --ack-timeout.
        for status, _, headers in await asyncio.gather(first, second):
            assert (status, headers["Retry-After"]) == (503, "2")
