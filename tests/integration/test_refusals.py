"""A refused request frees its memory at once: nothing of it is left for the cyclic collector.

The served process collects cycles rarely (gctuning), so a request caught in a reference cycle
(its payload and converted rows held by frames of an exception's traceback) stays in memory long
after its refusal; under overload, refusals are most requests.
"""

from __future__ import annotations

import asyncio
import gc
import types
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aiohttp
import grpc
import pytest

from observatory_ingest.runtime.app import RunningService, running_service
from tests.integration.conftest import TableLock, service_settings
from tests.integration.otlp_client import export
from tests.otlp_builders import span, trace_request

REFUSALS = 10


def request(number: int) -> bytes:
    spans = [span(bytes([0x5A, number]) * 8, bytes([1 + index]) * 8) for index in range(10)]
    return bytes(trace_request(spans).SerializeToString())


async def refused_over_grpc(service: RunningService, payload: bytes) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await export(service.grpc_port, "traces", payload)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def refused_over_http(service: RunningService, payload: bytes) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{service.http_port}/v1/traces",
            data=payload,
            headers={"Content-Type": "application/x-protobuf"},
        ) as reply,
    ):
        assert reply.status == 429


@asynccontextmanager
async def full_traces_queue(database: str, **bounds: object) -> AsyncIterator[RunningService]:
    """A served instance whose one writer is blocked on a held table and whose queue is full (of
    rows by default; bounds set another limit)."""
    settings = service_settings(database, **(bounds or {"queue_size": 10}), batch_size=10, writers=1)
    async with running_service(settings) as service, TableLock(database, "trace_spans") as lock:
        taken = asyncio.create_task(export(service.grpc_port, "traces", request(0)))
        await asyncio.sleep(0.3)  # the writer holds request 0
        queued = asyncio.create_task(export(service.grpc_port, "traces", request(1)))
        await asyncio.sleep(0.3)  # request 1 fills the queue
        yield service
        await lock.release()
        await asyncio.gather(taken, queued)


def service_frames_in_cycles(garbage: list[object]) -> list[str]:
    return sorted(
        {
            item.f_code.co_qualname
            for item in garbage
            if isinstance(item, types.FrameType) and "observatory_ingest" in item.f_code.co_filename
        }
    )


@pytest.mark.parametrize("refuse", [refused_over_grpc, refused_over_http], ids=["grpc", "http"])
async def test_refused_requests_leave_nothing_for_the_cyclic_collector(
    database: str, refuse: Callable[[RunningService, bytes], Awaitable[None]]
) -> None:
    async with full_traces_queue(database) as service:
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds unreachable is kept in gc.garbage
        try:
            for number in range(2, 2 + REFUSALS):
                await refuse(service, request(number))
            gc.collect()
            left = service_frames_in_cycles(gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
    assert left == []


async def test_a_queue_full_by_memory_refuses_before_decoding(database: str) -> None:
    # Bytes no decoder accepts: decoded, they would get INVALID_ARGUMENT; refused first, the retryable
    # "slow down" that costs the service no decoding, conversion or memory.
    async with full_traces_queue(database, queue_memory="1KiB") as service:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await export(service.grpc_port, "traces", b"\xff\xff\xff")
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
