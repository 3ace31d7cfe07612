"""Operators' endpoints on --metrics-listen: Prometheus /metrics, /healthz, /readyz."""

from __future__ import annotations

import logging
import os

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from observatory_ingest.config import ListenAddress
from observatory_ingest.health import Health
from observatory_ingest.webserver import RunningSite, start_site

log = logging.getLogger(__name__)


def metrics_registry() -> CollectorRegistry:
    """This process's registry, or with --workers every worker's samples summed."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


class OpsServer:
    def __init__(self, listen: ListenAddress, health: Health) -> None:
        self.listen = listen
        self.health = health
        self.app = web.Application()
        self.app.router.add_get("/metrics", self.metrics)
        self.app.router.add_get("/healthz", self.healthz)
        self.app.router.add_get("/readyz", self.readyz)
        self.site: RunningSite | None = None

    async def metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(metrics_registry())
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(self, request: web.Request) -> web.Response:
        # The process is alive and its event loop answers.
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        state = {
            "ready": self.health.ready,
            "migrated": self.health.migrated,
            "database_reachable": self.health.database_reachable,
            "receivers_listening": self.health.receivers_listening,
            "shutting_down": self.health.shutting_down,
        }
        return web.Response(
            status=200 if self.health.ready else 503,
            body=orjson.dumps(state),
            content_type="application/json",
        )

    async def start(self) -> None:
        self.site = await start_site(self.app, self.listen, shutdown_timeout=1.0)
        self.listen = self.site.listen
        log.info("metrics and health listening", extra={"address": str(self.listen)})

    async def stop(self) -> None:
        if self.site:
            await self.site.stop()
