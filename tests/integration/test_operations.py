"""What operators rely on: /metrics (promtool-valid), /healthz, /readyz, TLS and mTLS."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from pathlib import Path

import aiohttp
import asyncpg
import grpc
import pytest
import trustme
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from observatory_ingest.receiver.http import HttpReceiver
from observatory_ingest.runtime.app import RunningService, running_service
from observatory_ingest.signals import SIGNALS
from tests.integration.conftest import TableLock, free_port, service_settings
from tests.integration.otlp_client import export
from tests.otlp_builders import span, trace_request


async def get(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}{path}") as reply:
        return reply.status, await reply.text()


def sample(text: str, name: str, default: float | None = None, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    if default is not None:  # a labelled series appears only once it was first used
        return default
    raise AssertionError(f"no sample {name} {labels}")


async def test_metrics_count_the_pipeline_and_pass_promtool(service: RunningService) -> None:
    _, before = await get(service.metrics_port, "/metrics")
    accepted_before = sample(
        before, "observatory_receiver_accepted_items_total", default=0, signal="traces", transport="grpc"
    )
    request = trace_request([span(b"\x71" * 16, b"\x01" * 8), span(b"\x71" * 16, b"\x02" * 2)])
    await export(service.grpc_port, "traces", request)
    status, text = await get(service.metrics_port, "/metrics")
    assert status == 200
    assert (
        sample(text, "observatory_receiver_accepted_items_total", signal="traces", transport="grpc")
        == accepted_before + 1
    )
    assert sample(text, "observatory_receiver_rejected_items_total", signal="traces", transport="grpc") >= 1
    assert sample(text, "observatory_queue_capacity", signal="traces") == 100000
    assert sample(text, "observatory_queue_memory_capacity_bytes", signal="traces") == 32 * 2**20
    assert sample(text, "observatory_writers", signal="traces") == 2
    assert sample(text, "observatory_queue_size", signal="logs") == 0
    assert sample(text, "observatory_writer_rows_total", table="trace_spans") >= 1
    assert sample(text, "observatory_writer_batches_total", signal="traces") >= 1
    assert (
        sample(text, "observatory_receiver_export_duration_seconds_count", signal="traces", transport="grpc")
        >= 1
    )
    assert sample(text, "observatory_writer_flush_duration_seconds_count", signal="traces") >= 1
    assert sample(text, "observatory_build_info") == 1
    assert sample(text, "observatory_ready") == 1
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus)")
    checked = await asyncio.to_thread(
        subprocess.run, [promtool, "check", "metrics"], input=text.encode(), capture_output=True, check=False
    )
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()


async def test_healthz_and_readyz(database: str) -> None:
    async with running_service(service_settings(database)) as service:
        assert await get(service.metrics_port, "/healthz") == (200, '{"status": "ok"}')
        status, body = await get(service.metrics_port, "/readyz")
        assert status == 200 and '"ready":true' in body
        service.health.update(database_reachable=False)
        status, body = await get(service.metrics_port, "/readyz")
        assert status == 503 and '"database_reachable":false' in body
        service.health.update(database_reachable=True, shutting_down=True)
        assert (await get(service.metrics_port, "/readyz"))[0] == 503
        assert (await get(service.metrics_port, "/healthz"))[0] == 200


async def grpc_health(port: int) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        response = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        return int(response.status)


async def test_readyz_says_ready_only_once_every_receiver_listens(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The HTTP receiver is held just before it binds: migrated, database reachable, gRPC serving,
    and still not ready, because a client trusting /readyz would meet "connection refused"."""
    ports = {name: free_port() for name in ("grpc", "http", "metrics")}
    settings = service_settings(
        database, **{f"{name}_listen": f"127.0.0.1:{port}" for name, port in ports.items()}
    )
    http_starting, release = asyncio.Event(), asyncio.Event()
    start = HttpReceiver.start

    async def held_start(receiver: HttpReceiver) -> None:
        http_starting.set()
        await release.wait()
        await start(receiver)

    monkeypatch.setattr(HttpReceiver, "start", held_start)
    stop = asyncio.Event()

    async def serve() -> None:
        async with running_service(settings):
            await stop.wait()

    serving = asyncio.create_task(serve())
    try:
        await asyncio.wait_for(http_starting.wait(), 60)
        status, body = await get(ports["metrics"], "/readyz")
        assert status == 503, body
        assert '"database_reachable":true' in body and '"receivers_listening":false' in body
        assert await grpc_health(ports["grpc"]) == health_pb2.HealthCheckResponse.NOT_SERVING
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", ports["http"])
        release.set()
        for _ in range(200):
            if (await get(ports["metrics"], "/readyz"))[0] == 200:
                break
            await asyncio.sleep(0.05)
        _, writer = await asyncio.open_connection("127.0.0.1", ports["http"])  # ready: it listens
        writer.close()
        assert (await get(ports["metrics"], "/readyz"))[0] == 200
        assert await grpc_health(ports["grpc"]) == health_pb2.HealthCheckResponse.SERVING
    finally:
        release.set()
        stop.set()
        await serving


async def test_one_grpc_connection_has_at_most_max_concurrent_streams_in_flight(database: str) -> None:
    """With the writers stuck behind a lock, six calls on one connection: two reach the service,
    the client holds the others back until a stream frees, and all six are stored."""
    settings = service_settings(
        database, grpc_max_concurrent_streams=2, ack_timeout="60s", max_connection_age_grace="60s"
    )
    async with running_service(settings) as service:
        received = "observatory_receiver_received_items_total"
        before = sample((await get(service.metrics_port, "/metrics"))[1], received, 0.0, transport="grpc")
        kind = SIGNALS["traces"]
        async with (
            TableLock(database, "trace_spans") as lock,
            grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel,
        ):
            call = channel.unary_unary(kind.grpc_method, response_deserializer=kind.response_type.FromString)
            # An empty request first: the server's SETTINGS (with the limit) reach the client before
            # the six (a stream opened before them is refused, a retryable UNAVAILABLE).
            await call(b"", timeout=10)
            requests = [
                trace_request([span(bytes([0x7C, n]) * 8, b"\x01" * 8, "stream")]).SerializeToString()
                for n in range(6)
            ]

            async def sent(request: bytes) -> object:
                # A stream the client opened before it applied the limit is refused (REFUSED_STREAM,
                # UNAVAILABLE): retried, as exporters retry UNAVAILABLE; it never reached the service.
                for _ in range(20):
                    try:
                        return await call(request, timeout=90)
                    except grpc.aio.AioRpcError as error:
                        if error.code() != grpc.StatusCode.UNAVAILABLE:
                            raise
                        await asyncio.sleep(0.1)
                raise AssertionError("refused 20 times")

            calls = [asyncio.ensure_future(sent(request)) for request in requests]
            await asyncio.sleep(2.0)
            text = (await get(service.metrics_port, "/metrics"))[1]
            assert sample(text, received, 0.0, transport="grpc") - before == 2  # one span each
            await lock.release()
            await asyncio.gather(*calls)
        text = (await get(service.metrics_port, "/metrics"))[1]
        assert sample(text, received, 0.0, transport="grpc") - before == 6


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("client@example.test")
    paths = {
        "ca": tmp_path / "ca.pem",
        "cert": tmp_path / "server.pem",
        "key": tmp_path / "server.key",
        "client_cert": tmp_path / "client.pem",
        "client_key": tmp_path / "client.key",
    }
    ca.cert_pem.write_to_path(str(paths["ca"]))
    server.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    server.private_key_pem.write_to_path(str(paths["key"]))
    client.cert_chain_pems[0].write_to_path(str(paths["client_cert"]))
    client.private_key_pem.write_to_path(str(paths["client_key"]))
    return paths


async def grpc_export_tls(port: int, pki: dict[str, Path], with_client_cert: bool) -> None:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki["ca"].read_bytes(),
        private_key=pki["client_key"].read_bytes() if with_client_cert else None,
        certificate_chain=pki["client_cert"].read_bytes() if with_client_cert else None,
    )
    kind = SIGNALS["traces"]
    async with grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials) as channel:
        call = channel.unary_unary(
            kind.grpc_method, request_serializer=None, response_deserializer=kind.response_type.FromString
        )
        await call(
            trace_request([span(b"\x72" * 16, b"\x01" * 8, "over tls")]).SerializeToString(), timeout=5
        )


async def http_export_tls(port: int, pki: dict[str, Path], with_client_cert: bool) -> int:
    context = ssl.create_default_context(cafile=str(pki["ca"]))
    if with_client_cert:
        context.load_cert_chain(pki["client_cert"], pki["client_key"])
    body = trace_request([span(b"\x73" * 16, b"\x01" * 8, "over https")]).SerializeToString()
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"https://127.0.0.1:{port}/v1/traces",
            data=body,
            ssl=context,
            headers={"Content-Type": "application/x-protobuf"},
        ) as reply,
    ):
        return reply.status


async def test_tls_and_mutual_tls(database: str, pki: dict[str, Path], db: asyncpg.Connection) -> None:
    settings = service_settings(database, tls_cert_file=pki["cert"], tls_key_file=pki["key"])
    async with running_service(settings) as service:
        await grpc_export_tls(service.grpc_port, pki, with_client_cert=False)
        assert await http_export_tls(service.http_port, pki, with_client_cert=False) == 200
        with pytest.raises(grpc.aio.AioRpcError):  # plaintext is refused on a TLS port
            await export(
                service.grpc_port, "traces", trace_request([span(b"\x74" * 16, b"\x01" * 8)]), timeout=2
            )
    mutual = service_settings(
        database, tls_cert_file=pki["cert"], tls_key_file=pki["key"], tls_client_ca_file=pki["ca"]
    )
    async with running_service(mutual) as service:
        await grpc_export_tls(service.grpc_port, pki, with_client_cert=True)
        assert await http_export_tls(service.http_port, pki, with_client_cert=True) == 200
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await grpc_export_tls(service.grpc_port, pki, with_client_cert=False)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(aiohttp.ClientError):
            await http_export_tls(service.http_port, pki, with_client_cert=False)
    # Ids are derived from the OTLP ids, so the second service stored nothing twice.
    names = await db.fetch(
        "SELECT name FROM trace_spans WHERE name IN ('over https', 'over tls') ORDER BY name"
    )
    assert [r["name"] for r in names] == ["over https", "over tls"]
