"""OTLP/HTTP Content-Encoding through the real server: deflate from the SDK's exporters, zstd as
streaming encoders write it, one size limit after inflation for every coding, and 415 (never 400)
for a coding the service cannot decode."""

from __future__ import annotations

import asyncio
import gzip
import logging
import shutil
import subprocess
import zlib

import aiohttp
import asyncpg
import orjson
import pytest
from backports import zstd
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from observatory_ingest.runtime.app import RunningService, running_service
from tests.integration.conftest import service_settings
from tests.otlp_builders import span, trace_request
from tests.unit.test_encodings import zstd_streamed

PROTOBUF, JSON = "application/x-protobuf", "application/json"


async def post(
    port: int, signal: str, body: bytes, encoding: str | None, content_type: str = PROTOBUF
) -> tuple[int, bytes]:
    headers = {"Content-Type": content_type}
    if encoding is not None:
        headers["Content-Encoding"] = encoding
    async with (
        aiohttp.ClientSession(auto_decompress=False) as session,
        session.post(f"http://127.0.0.1:{port}/v1/{signal}", data=body, headers=headers) as reply,
    ):
        return reply.status, await reply.read()


async def metric(port: int, name: str, **labels: str) -> float:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as reply,
    ):
        text = await reply.text()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.filterwarnings("ignore:`LoggingHandler` in `opentelemetry-sdk` is deprecated")
async def test_sdk_http_exporters_with_deflate_for_all_three_signals(
    service: RunningService, db: asyncpg.Connection
) -> None:
    url = f"http://127.0.0.1:{service.http_port}/v1"
    resource = Resource.create({"service.name": "deflate-sdk"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/traces", compression=Compression.Deflate))
    )
    with tracer_provider.get_tracer("t").start_as_current_span("deflated", attributes={"k": "v" * 500}):
        pass
    assert await asyncio.to_thread(tracer_provider.force_flush, 10_000)
    await asyncio.to_thread(tracer_provider.shutdown)

    exporter = OTLPMetricExporter(endpoint=f"{url}/metrics", compression=Compression.Deflate)
    meter_provider = MeterProvider(
        resource=resource, metric_readers=[PeriodicExportingMetricReader(exporter, 3_600_000)]
    )
    meter_provider.get_meter("m").create_counter("deflated.requests").add(5)
    await asyncio.to_thread(meter_provider.shutdown)

    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{url}/logs", compression=Compression.Deflate))
    )
    logger = logging.getLogger("deflate.sdk")
    logger.propagate = False
    handler = LoggingHandler(logger_provider=logger_provider)
    logger.addHandler(handler)
    logger.warning("deflated log")
    assert await asyncio.to_thread(logger_provider.force_flush, 10_000)
    logger.removeHandler(handler)
    await asyncio.to_thread(logger_provider.shutdown)

    row = await db.fetchrow("SELECT name, attributes FROM trace_spans WHERE service_name = 'deflate-sdk'")
    assert (row["name"], orjson.loads(row["attributes"])) == ("deflated", {"k": "v" * 500})
    assert (
        await db.fetchval(
            "SELECT p.value FROM metric_data_points p JOIN metrics m ON m.id = p.metric_id "
            "WHERE m.name = 'deflated.requests' AND m.service_name = 'deflate-sdk'"
        )
        == 5
    )
    assert await db.fetchval("SELECT body FROM logs WHERE service_name = 'deflate-sdk'") == "deflated log"


def zstd_cli(data: bytes) -> bytes | None:
    """The zstd command line tool's streaming output (no content size: it reads a pipe), if here."""
    tool = shutil.which("zstd")
    if tool is None:
        return None
    return subprocess.run([tool, "-c", "-q"], input=data, capture_output=True, check=True).stdout


async def test_zstd_bodies_as_streaming_encoders_write_them_are_stored(
    service: RunningService, db: asyncpg.Connection
) -> None:
    """A Collector's otlphttp exporter with `compression: zstd` streams its frames: no content size
    in the header, blocks as they come. No Collector binary is at hand: these bodies come from
    libzstd through its Python binding, and from the zstd tool where it is installed."""
    encoders = {
        "one-shot": zstd.compress,
        "streamed": zstd_streamed,
        "two frames": lambda data: zstd_streamed(data[:50]) + zstd.compress(data[50:]),
    }
    if zstd_cli(b"x") is not None:
        encoders["zstd tool"] = lambda data: zstd_cli(data) or b""
    for number, (name, encode) in enumerate(encoders.items(), 1):
        request = trace_request([span(bytes([0x7A, number]) * 8, b"\x01" * 8, f"zstd {name}")])
        body = encode(request.SerializeToString())
        status, _ = await post(service.http_port, "traces", body, "zstd")
        assert status == 200, name
        assert await db.fetchval("SELECT count(*) FROM trace_spans WHERE name = $1", f"zstd {name}") == 1
    json_body = zstd_streamed(orjson.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {
        "stringValue": "zstd json"}}]}]}]}))  # fmt: skip
    assert (await post(service.http_port, "logs", json_body, "zstd", JSON))[0] == 200
    assert await db.fetchval("SELECT count(*) FROM logs WHERE body = 'zstd json'") == 1


async def test_every_coding_is_bounded_after_inflation_and_unknown_ones_answer_415(database: str) -> None:
    async with running_service(service_settings(database, max_recv_msg_size="64KiB")) as service:
        port = service.metrics_port
        requests = "observatory_receiver_requests_total"
        before = {
            code: await metric(port, requests, code=code) for code in ("UNIMPLEMENTED", "RESOURCE_EXHAUSTED")
        }
        zeros = b"\0" * (20 << 20)
        bombs = {"gzip": gzip.compress(zeros), "deflate": zlib.compress(zeros), "zstd": zstd.compress(zeros)}
        for encoding, bomb in bombs.items():
            assert len(bomb) < 64 * 1024
            status, body = await post(service.http_port, "traces", bomb, encoding)
            assert status == 413, encoding
            assert "exceeds 65536 bytes once inflated" in status_pb2.Status.FromString(body).message
        fits = trace_request([span(b"\x7b" * 16, b"\x01" * 8, "fits")]).SerializeToString()
        for encoding in ("br", "compress", "gzip, zstd"):
            status, body = await post(service.http_port, "traces", gzip.compress(fits), encoding)
            assert status == 415, encoding
            assert "unsupported Content-Encoding" in status_pb2.Status.FromString(body).message
        status, body = await post(service.http_port, "traces", b"\x28\xb5\x2f\xfd garbage", "zstd")
        assert status == 400 and "cannot inflate the zstd body" in status_pb2.Status.FromString(body).message
        assert (await post(service.http_port, "traces", zstd.compress(fits), "zstd"))[0] == 200
        assert await metric(port, requests, code="UNIMPLEMENTED") == before["UNIMPLEMENTED"] + 3
        assert await metric(port, requests, code="RESOURCE_EXHAUSTED") == before["RESOURCE_EXHAUSTED"] + 3
