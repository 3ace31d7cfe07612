"""Raw OTLP/gRPC calls, for what the SDK cannot send (replays, bad payloads, partial success)."""

from __future__ import annotations

from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from observatory_ingest.signals import SIGNALS


async def export(port: int, signal: str, payload: bytes | Any, timeout: float = 10) -> Any:
    """Send one Export; returns the decoded response or raises grpc.aio.AioRpcError."""
    kind = SIGNALS[signal]
    body = payload if isinstance(payload, bytes) else payload.SerializeToString()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(
            kind.grpc_method, request_serializer=None, response_deserializer=kind.response_type.FromString
        )
        return await call(body, timeout=timeout)


def retry_delay(error: grpc.aio.AioRpcError) -> float | None:
    """RetryInfo.retry_delay in seconds from the error's google.rpc.Status details, if any."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    if status is None:
        return None
    for detail in status.details:
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            return float(info.retry_delay.ToNanoseconds() / 1e9)
    return None
