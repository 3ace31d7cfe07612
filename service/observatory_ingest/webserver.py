"""Start and stop an aiohttp application on a listen address (TLS optional)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from aiohttp import web

from observatory_ingest.config import ListenAddress


@dataclass
class RunningSite:
    runner: web.AppRunner
    listen: ListenAddress

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_site(
    app: web.Application,
    listen: ListenAddress,
    ssl_context: ssl.SSLContext | None = None,
    shutdown_timeout: float = 30.0,
) -> RunningSite:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    # SO_REUSEPORT lets several worker processes share the port.
    site = web.TCPSite(runner, listen.host, listen.port, ssl_context=ssl_context, reuse_port=True)
    await site.start()
    address = runner.addresses[0]
    port = address[1] if isinstance(address, tuple) else listen.port
    return RunningSite(runner, ListenAddress(listen.host, port))
