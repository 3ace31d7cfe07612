"""OTLP/gRPC receiver: Export for each signal, plus grpc.health.v1, on one grpc.aio server."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status as grpc_rpc_status

from observatory_ingest.auth import credentials_from
from observatory_ingest.config import ListenAddress
from observatory_ingest.export import Ingestor, protobuf_decoder
from observatory_ingest.health import Health
from observatory_ingest.outcomes import Outcome, rpc_status
from observatory_ingest.signals import SIGNALS, Signal
from observatory_ingest.tls import TlsFiles

log = logging.getLogger(__name__)


def export_handler(signal: Signal, ingestor: Ingestor) -> grpc.RpcMethodHandler:
    async def export(payload: bytes, context: grpc.aio.ServicerContext) -> bytes:
        metadata = {key.lower(): value for key, value in context.invocation_metadata() or ()}
        result = await ingestor.export(
            signal,
            "grpc",
            protobuf_decoder(signal, payload),
            len(payload),
            credentials_from(metadata),
            context.time_remaining(),
        )
        if isinstance(result, Outcome):
            # Set the status and return instead of abort_with_status: its AbortError ties the
            # call's frames (request and rows) into reference cycles that only the cyclic
            # collector frees, so refused requests would pile up in memory.
            status = grpc_rpc_status.to_status(rpc_status(result))
            context.set_code(status.code)
            context.set_details(status.details)
            context.set_trailing_metadata(status.trailing_metadata)
            return b""
        return bytes(result.SerializeToString())

    # Raw bytes in and out: decoding is ours, so a bad payload becomes INVALID_ARGUMENT.
    return grpc.unary_unary_rpc_method_handler(export)


def connection_age_options(age: float, grace: float) -> list[tuple[str, int]]:
    """Clients keep one connection for hours and a load balancer spreads connections, not calls: a
    GOAWAY at `age` (0: never) makes them reconnect, reaching new replicas (and --workers)."""
    if not age:
        return []
    return [
        ("grpc.max_connection_age_ms", round(age * 1000)),
        ("grpc.max_connection_age_grace_ms", round(grace * 1000)),
    ]


class GrpcReceiver:
    def __init__(
        self,
        listen: ListenAddress,
        ingestor: Ingestor,
        health: Health,
        max_message_bytes: int,
        tls: TlsFiles | None = None,
        max_concurrent_streams: int = 100,
        *,
        max_connection_age: float,
        max_connection_age_grace: float,
    ) -> None:
        self.server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                # HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: a client queues calls beyond it itself.
                ("grpc.max_concurrent_streams", max_concurrent_streams),
                ("grpc.so_reuseport", 1),
                *connection_age_options(max_connection_age, max_connection_age_grace),
            ],
        )
        for signal in SIGNALS.values():
            handler = grpc.method_handlers_generic_handler(
                signal.grpc_service, {"Export": export_handler(signal, ingestor)}
            )
            self.server.add_generic_rpc_handlers((handler,))
        self.health_servicer = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health_servicer, self.server)
        if tls:
            self.port: int = self.server.add_secure_port(str(listen), tls.grpc_credentials())
        else:
            self.port = self.server.add_insecure_port(str(listen))
        self.tls = tls is not None
        self.listen = ListenAddress(listen.host, self.port)
        self._health_updates: set[asyncio.Task[Any]] = set()
        health.watch(self._on_readiness)

    def _on_readiness(self, ready: bool) -> None:
        serving = health_pb2.HealthCheckResponse
        status = serving.SERVING if ready else serving.NOT_SERVING
        task = asyncio.get_running_loop().create_task(self._set_health(status))
        self._health_updates.add(task)
        task.add_done_callback(self._health_updates.discard)

    async def _set_health(self, status: Any) -> None:
        await self.health_servicer.set("", status)
        for signal in SIGNALS.values():
            await self.health_servicer.set(signal.grpc_service, status)

    async def start(self) -> None:
        await self.server.start()
        log.info("otlp/grpc listening", extra={"address": str(self.listen), "tls": self.tls})

    async def stop(self, grace: float) -> None:
        """Refuse new calls; give in-flight ones up to `grace` seconds to finish."""
        await self.server.stop(grace)
