"""A connection-level round-robin balancer on loopback, as a Kubernetes Service (kube-proxy) is:
each new TCP connection goes to the next backend, and stays there for as long as it lives."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass


@dataclass
class BackendTraffic:
    port: int
    connections: int = 0
    bytes_sent: int = 0  # client to backend


class RoundRobinBalancer:
    def __init__(self, backend_ports: list[int]) -> None:
        self.backends = [BackendTraffic(port) for port in backend_ports]
        self.accepted = 0
        self.server: asyncio.Server | None = None
        self.pipes: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def __aenter__(self) -> RoundRobinBalancer:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.server is not None
        self.server.close()
        for pipe in self.pipes:
            pipe.cancel()
        await asyncio.gather(*self.pipes, return_exceptions=True)
        await self.server.wait_closed()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        backend = self.backends[self.accepted % len(self.backends)]
        self.accepted += 1
        backend.connections += 1
        backend_reader, backend_writer = await asyncio.open_connection("127.0.0.1", backend.port)
        upstream = asyncio.create_task(self._pipe(client_reader, backend_writer, backend))
        downstream = asyncio.create_task(self._pipe(backend_reader, client_writer, None))
        self.pipes.update((upstream, downstream))
        await asyncio.wait((upstream, downstream), return_when=asyncio.FIRST_COMPLETED)
        # Either side closing closes the whole connection, as a proxy's would.
        for task in (upstream, downstream):
            task.cancel()
        for writer in (client_writer, backend_writer):
            writer.close()
        self.pipes.difference_update((upstream, downstream))

    @staticmethod
    async def _pipe(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counted: BackendTraffic | None
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65536):
                if counted is not None:
                    counted.bytes_sent += len(chunk)
                writer.write(chunk)
                await writer.drain()
