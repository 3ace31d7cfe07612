"""`docker run observatory-ingest` with nothing configured: the embedded PostgreSQL initialised as
the image's non-root user, the official SDK exporters' data over gRPC and HTTP, the probes and the
health check, SIGTERM under load, then a second run, read-only, on the same volume."""

from __future__ import annotations

import time

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.container.image_build import BuiltImage
from tests.container.podman import Container
from tests.container.probes import http_status, manifest, probe_paths
from tests.integration.sdk_load import SpanLoad

GRPC, HTTP, METRICS = 4317, 4318, 9464
# `docker run -p`, on loopback only, on ports the host picks.
PUBLISHED = tuple(option for port in (GRPC, HTTP, METRICS) for option in ("--publish", f"127.0.0.1::{port}"))
DATA = "/home/observatory/data"
DOCKER_STOP_GRACE = 10  # `docker stop` sends SIGKILL after this (its default)
SELECT_SPANS = "SELECT replace(trace_id::text, '-', ''), span_id FROM trace_spans WHERE service_name = $1"
# Run inside the container: the embedded server listens on a socket in the volume only.
QUERY_SCRIPT = f"""
import asyncio, sys, asyncpg
async def main():
    connection = await asyncpg.connect(sys.argv[1])
    for trace_id, span_id in await connection.fetch("{SELECT_SPANS}", sys.argv[2]):
        print(trace_id, span_id)
asyncio.run(main())
"""


def stored_spans(container: Container, dsn: str, service: str) -> set[tuple[str, str]]:
    lines = container.exec("python", "-c", QUERY_SCRIPT, dsn, service).stdout.splitlines()
    return {(trace_id, span_id) for trace_id, span_id in (line.split() for line in lines)}


def export_over_http(port: int, service: str) -> set[tuple[str, str]]:
    """Three spans through the SDK's OTLP/HTTP exporter (protobuf); their (trace id, span id)."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces"))
    )
    sent = set()
    for index in range(3):
        with provider.get_tracer("container").start_as_current_span(f"over-http-{index}") as span:
            context = span.get_span_context()
            sent.add((f"{context.trace_id:032x}", f"{context.span_id:016x}"))
    provider.shutdown()
    return sent


def test_docker_run_serves_on_the_embedded_database_drains_on_sigterm_and_a_second_run_keeps_the_data(
    image: BuiltImage, volume: str
) -> None:
    probes = probe_paths(manifest("deployment.yaml"))
    with Container(image.id, *PUBLISHED, "--volume", f"{volume}:{DATA}") as first:
        first.wait_for("ready")
        assert first.wait_for("embedded postgresql started")["data_dir"] == DATA
        users = first.process_users()
        assert ("observatory", "postgres") in users
        assert {user for user, _ in users} == {"observatory"}, users
        grpc, http, metrics = (first.published_port(port) for port in (GRPC, HTTP, METRICS))
        assert {probe: http_status(metrics, path) for probe, path in probes.items()} == dict.fromkeys(
            probes, 200
        )
        assert first.healthcheck() == 0
        over_http = export_over_http(http, "container-http")
        dsn = first.wait_for("embedded postgresql started")["dsn"]
        assert stored_spans(first, dsn, "container-http") == over_http

        load = SpanLoad(grpc, "container-sigterm", rate=1000).start()
        time.sleep(2.0)
        exit_code, seconds = first.stop(DOCKER_STOP_GRACE)
        acknowledged = load.finish(service_alive=False)
        messages = [event["msg"] for event in first.events()]
    assert (exit_code, seconds < DOCKER_STOP_GRACE) == (0, True), f"exit {exit_code} after {seconds:.1f} s"
    assert {"queues drained", "embedded postgresql stopped", "stopped"} <= set(messages)
    assert len(acknowledged) > 500, "the load did not run"

    read_only = ("--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp")
    with Container(image.id, *PUBLISHED, *read_only, "--volume", f"{volume}:{DATA}") as second:
        second.wait_for("ready")
        dsn = second.wait_for("embedded postgresql started")["dsn"]
        assert "migration applied" not in {event["msg"] for event in second.events()}
        assert stored_spans(second, dsn, "container-http") == over_http
        stored = stored_spans(second, dsn, "container-sigterm")
        assert acknowledged <= stored, f"{len(acknowledged - stored)} acknowledged spans missing"
        assert second.stop(DOCKER_STOP_GRACE)[0] == 0
