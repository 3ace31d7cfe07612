"""--max-connection-age: behind a connection balancer (a Kubernetes Service), one SDK's long-lived
gRPC connection moves between replicas at every age, and no export fails on the way."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import asyncpg
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

from observatory_ingest.runtime.app import running_service
from tests.integration.conftest import service_settings
from tests.integration.tcp_balancer import RoundRobinBalancer


class RecordingExporter(OTLPSpanExporter):
    """The official gRPC exporter, on one channel; remembers each export's result."""

    def __init__(self, port: int) -> None:
        super().__init__(endpoint=f"127.0.0.1:{port}", insecure=True, timeout=5)
        self.results: list[SpanExportResult] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = super().export(spans)
        self.results.append(result)
        return result


def export_spans(port: int, service: str, seconds: float) -> list[SpanExportResult]:
    """One span per export, ten a second, for `seconds`, through one exporter (one connection at a time)."""
    exporter = RecordingExporter(port)
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("connection-age")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with tracer.start_as_current_span("tick"):
            pass
        time.sleep(0.1)
    provider.shutdown()
    return exporter.results


@pytest.mark.parametrize("age", ["1s", "0"])
async def test_connections_are_closed_at_their_age_and_the_client_moves_to_the_next_replica(
    database: str, db: asyncpg.Connection, age: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "opentelemetry.exporter")
    settings = service_settings(
        database, max_connection_age=age, max_connection_age_grace="2s", ack_timeout="2s"
    )
    service = f"connection-age-{age}"
    async with (
        running_service(settings) as first,
        running_service(settings) as second,
        RoundRobinBalancer([first.grpc_port, second.grpc_port]) as balancer,
    ):
        results = await asyncio.to_thread(export_spans, balancer.port, service, 4.5)

    assert len(results) > 20
    assert set(results) == {SpanExportResult.SUCCESS}
    # The SDK logs every retry ("Transient error … retrying"): none was needed.
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("opentelemetry.exporter")]
    stored = await db.fetchval("SELECT count(*) FROM trace_spans WHERE service_name = $1", service)
    assert stored == len(results)
    connections = [backend.connections for backend in balancer.backends]
    if age == "0":
        assert connections == [1, 0], "without an age the client never leaves its first replica"
        return
    # 4.5 s at an age of 1 s (±10%): four or five connections, alternating between the replicas.
    assert sum(connections) >= 4
    sent = [backend.bytes_sent for backend in balancer.backends]
    assert min(sent) > 0.25 * sum(sent), f"the traffic did not spread: {sent} bytes over {connections}"
