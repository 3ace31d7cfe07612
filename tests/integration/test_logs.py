"""OTLP/gRPC logs end to end: the SDK's logging handler with trace context, raw records, search."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import orjson
import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from observatory_ingest.runtime.app import RunningService
from tests.integration.otlp_client import export
from tests.otlp_builders import any_value, key_values

T0 = 1_800_000_000_000_000_000


@pytest.mark.filterwarnings("ignore:`LoggingHandler` in `opentelemetry-sdk` is deprecated")
async def test_sdk_logging_handler_records_land_with_trace_context(
    service: RunningService, db: asyncpg.Connection
) -> None:
    provider = LoggerProvider(resource=Resource.create({"service.name": "billing"}))
    provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"127.0.0.1:{service.grpc_port}", insecure=True))
    )
    logger = logging.getLogger("billing.payments")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = LoggingHandler(level=logging.DEBUG, logger_provider=provider)
    logger.addHandler(handler)
    tracer = TracerProvider().get_tracer("billing")
    try:
        with tracer.start_as_current_span("charge") as span:
            logger.warning("payment declined for order %s", 42, extra={"order.id": 42})
            logger.info("retrying the charge")
        logger.error("ledger unreachable")
        assert await asyncio.to_thread(provider.force_flush, 10_000)
    finally:
        logger.removeHandler(handler)
        await asyncio.to_thread(provider.shutdown)

    context = span.get_span_context()
    rows = {r["body"]: r for r in await db.fetch("SELECT * FROM logs WHERE service_name = 'billing'")}
    assert set(rows) == {"payment declined for order 42", "retrying the charge", "ledger unreachable"}
    declined = rows["payment declined for order 42"]
    assert (declined["severity_number"], declined["severity_text"]) == (13, "WARN")
    assert declined["trace_id"] == f"{context.trace_id:032x}"
    assert declined["span_id"] == f"{context.span_id:016x}"
    assert declined["trace_flags"] & 0x01  # sampled (the SDK also sets W3C's random bit, 0x02)
    assert orjson.loads(declined["attributes"])["order.id"] == 42
    assert declined["scope_name"] == "billing.payments"
    assert declined["observed_timestamp"] >= declined["timestamp"]
    assert orjson.loads(declined["resource_attributes"])["service.name"] == "billing"
    assert rows["retrying the charge"]["severity_number"] == 9
    unreachable = rows["ledger unreachable"]
    assert (unreachable["severity_number"], unreachable["trace_id"], unreachable["span_id"]) == (
        17,
        None,
        None,
    )

    found = await db.fetch(
        "SELECT body FROM logs WHERE to_tsvector('english', body) @@ plainto_tsquery('english', $1)",
        "declined payments",
    )
    assert [r["body"] for r in found] == ["payment declined for order 42"]


async def test_raw_records_bodies_event_names_fallbacks_rejections_and_replays(
    service: RunningService, db: asyncpg.Connection
) -> None:
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.extend(key_values({"service.name": "raw-logs"}))
    scope = resource_logs.scope_logs.add()
    scope.scope.name, scope.scope.version = "gen_ai.instrumentation", "1.0"
    scope.scope.attributes.extend(key_values({"lib": "x"}))
    structured = scope.log_records.add(
        time_unix_nano=T0,
        observed_time_unix_nano=T0 + 5_000,
        severity_number=10,
        event_name="gen_ai.choice",
        body=any_value({"message": {"role": "assistant", "content": "hi"}}),
    )
    structured.attributes.extend(key_values({"gen_ai.system": "openai"}))
    scope.log_records.add(observed_time_unix_nano=T0 + 7_000, body=any_value("observed time only"))
    scope.log_records.add(time_unix_nano=T0, trace_id=b"\x01" * 3, body=any_value("bad trace id"))

    response = await export(service.grpc_port, "logs", request)
    assert response.partial_success.rejected_log_records == 1
    assert "trace_id must be empty or 16 bytes, got 3" in response.partial_success.error_message
    await export(service.grpc_port, "logs", request)

    # No usable time at all: stored at the receive time, and the record says so. (Such a record
    # cannot be deduplicated across replays: it carries nothing stable to place it in time.)
    timeless = ExportLogsServiceRequest()
    timeless_scope = timeless.resource_logs.add()
    timeless_scope.resource.attributes.extend(key_values({"service.name": "raw-logs-timeless"}))
    timeless_scope.scope_logs.add().log_records.add(body=any_value("no time at all"))
    assert not (await export(service.grpc_port, "logs", timeless)).HasField("partial_success")
    stored = await db.fetchrow("SELECT * FROM logs WHERE service_name = 'raw-logs-timeless'")
    assert orjson.loads(stored["attributes"]) == {"observatory.sanitized": ["received_time_used"]}
    assert abs((stored["timestamp"] - stored["created_at"]).total_seconds()) < 60

    rows = await db.fetch("SELECT * FROM logs WHERE service_name = 'raw-logs' ORDER BY observed_timestamp")
    assert len(rows) == 2  # the replay added nothing
    first, second = rows
    assert orjson.loads(first["body"]) == {"message": {"role": "assistant", "content": "hi"}}
    assert (first["event_name"], first["severity_number"], first["severity_text"]) == (
        "gen_ai.choice",
        10,
        "INFO2",
    )
    assert (first["scope_name"], first["scope_version"]) == ("gen_ai.instrumentation", "1.0")
    assert orjson.loads(first["scope_attributes"]) == {"lib": "x"}
    assert second["body"] == "observed time only"
    assert second["timestamp"] == second["observed_timestamp"]  # time 0 falls back to observed
    assert second["severity_text"] == "UNSPECIFIED"
