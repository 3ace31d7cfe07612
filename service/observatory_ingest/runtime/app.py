"""Service lifecycle: every part is an async context manager entered through one AsyncExitStack."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import asyncpg

from observatory_ingest import __version__, telemetry
from observatory_ingest.auth import Authenticator
from observatory_ingest.config import Settings
from observatory_ingest.convert.context import ContentPolicy
from observatory_ingest.export import Ingestor
from observatory_ingest.health import Health
from observatory_ingest.pipeline.queue import BoundedQueue
from observatory_ingest.pipeline.rate_limit import RateLimiter
from observatory_ingest.pipeline.signal_pipeline import SignalPipeline
from observatory_ingest.pipeline.writer_loop import BatchPolicy
from observatory_ingest.receiver.grpc import GrpcReceiver
from observatory_ingest.receiver.http import HttpReceiver
from observatory_ingest.runtime.gctuning import settle_after_startup
from observatory_ingest.runtime.opsserver import OpsServer
from observatory_ingest.runtime.workers import stop_with_supervisor
from observatory_ingest.signals import SIGNALS
from observatory_ingest.store.backend import detect_backend
from observatory_ingest.store.database import connect, database_dsn
from observatory_ingest.store.migrate import migrate_to_latest
from observatory_ingest.store.pool import probing, small_pool, writer_pool
from observatory_ingest.store.prices import PriceCatalog
from observatory_ingest.store.project_limits import ProjectLimitsCatalog, SignalLimits

log = logging.getLogger(__name__)


@dataclass
class RunningService:
    """Handles tests and the CLI use to reach the running parts."""

    settings: Settings
    dsn: str
    health: Health
    pipelines: dict[str, SignalPipeline]
    grpc: GrpcReceiver
    http: HttpReceiver
    ops: OpsServer
    limits: ProjectLimitsCatalog
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def grpc_port(self) -> int:
        return self.grpc.port

    @property
    def http_port(self) -> int:
        return self.http.listen.port

    @property
    def metrics_port(self) -> int:
        return self.ops.listen.port


async def describe_backend(dsn: str) -> str:
    connection = await connect(dsn)
    try:
        return str(await detect_backend(connection))
    finally:
        await connection.close()


@asynccontextmanager
async def running_service(settings: Settings) -> AsyncIterator[RunningService]:
    """Start every part; on exit stop accepting, drain the queues and stop, in that order."""
    async with AsyncExitStack() as stack:
        dsn = await stack.enter_async_context(database_dsn(settings))
        health = Health()
        health.watch(lambda ready: telemetry.READY.set(1 if ready else 0))
        if settings.migrate:
            await migrate_to_latest(dsn)
        health.update(migrated=True)
        try:
            backend = await describe_backend(dsn)
        except (OSError, asyncpg.PostgresError) as error:
            # Only reachable with --no-migrate: start anyway, not ready until the probe succeeds.
            log.warning("database unreachable at startup", extra={"error": str(error)})
        else:
            log.info("backend", extra={"backend": backend, "version": __version__})
            health.update(database_reachable=True)

        pool = await stack.enter_async_context(writer_pool(dsn, size=settings.writers * len(SIGNALS) + 1))
        policy = BatchPolicy(settings.batch_size, settings.flush_interval, settings.ack_timeout)
        limits = ProjectLimitsCatalog(
            SignalLimits(settings.rate_limit_items, settings.rate_limit_bytes, settings.rate_limit_burst)
        )
        # Several projects share the queues only with keys; alone, the default project has them whole.
        fair = settings.auth == "required"
        pipelines = {
            name: SignalPipeline(
                signal.write_plan,
                BoundedQueue(settings.queue_size, settings.queue_memory, fair),
                pool,
                policy,
                health,
                RateLimiter(name, limits),
            )
            for name, signal in SIGNALS.items()
        }
        for name in pipelines:
            telemetry.WRITERS.labels(name).set(settings.writers)
        writers = [
            asyncio.create_task(pipeline.run_writer(), name=f"writer-{name}-{index}")
            for name, pipeline in pipelines.items()
            for index in range(settings.writers)
        ]
        budget = ShutdownBudget(settings.shutdown_timeout)
        stack.push_async_callback(drain, pipelines, writers, budget)
        await stack.enter_async_context(probing(pool, health))

        ops = OpsServer(settings.metrics_listen, health)
        await ops.start()
        stack.push_async_callback(ops.stop)

        if settings.auth == "disabled":
            log.warning("authentication disabled: all data lands in the default project; use --auth required")
        service_pool = await stack.enter_async_context(small_pool(dsn))
        prices = PriceCatalog()
        await stack.enter_async_context(prices.refreshing(dsn))
        await stack.enter_async_context(limits.refreshing(service_pool))
        ingestor = Ingestor(
            pipelines,
            Authenticator(settings.auth == "required", service_pool),
            prices,
            ContentPolicy(settings.llm_content == "keep", settings.llm_content_max_bytes),
            settings.max_attribute_bytes,
        )
        tls = settings.tls
        grpc_receiver = GrpcReceiver(
            settings.grpc_listen,
            ingestor,
            health,
            settings.max_recv_msg_size,
            tls,
            settings.grpc_max_concurrent_streams,
            max_connection_age=settings.max_connection_age,
            max_connection_age_grace=settings.max_connection_age_grace,
        )
        http_receiver = HttpReceiver(
            settings.http_listen,
            ingestor,
            settings.max_recv_msg_size,
            tls.ssl_context() if tls else None,
            settings.shutdown_timeout,
        )
        await grpc_receiver.start()
        await http_receiver.start()
        health.update(receivers_listening=True)
        # Callbacks run last-in first-out: readiness drops and new calls are refused first, then
        # the receivers stop (letting in-flight calls finish), then the queues drain.
        stack.push_async_callback(stop_receivers, grpc_receiver, http_receiver, budget)
        stack.callback(budget.start)
        stack.callback(health.update, shutting_down=True)
        log.info(
            "listening",
            extra={
                "grpc": str(grpc_receiver.listen),
                "http": str(http_receiver.listen),
                "metrics": str(ops.listen),
                "tls": tls is not None,
                "mtls": bool(tls and tls.client_ca),
            },
        )
        yield RunningService(settings, dsn, health, pipelines, grpc_receiver, http_receiver, ops, limits)


class ShutdownBudget:
    """One --shutdown-timeout shared by every step of stopping."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline: float | None = None

    def start(self) -> None:
        self.deadline = time.monotonic() + self.seconds

    def remaining(self) -> float:
        if self.deadline is None:
            return self.seconds
        return max(0.0, self.deadline - time.monotonic())


async def stop_receivers(
    grpc_receiver: GrpcReceiver, http_receiver: HttpReceiver, budget: ShutdownBudget
) -> None:
    await asyncio.gather(grpc_receiver.stop(budget.remaining()), http_receiver.stop())


async def drain(
    pipelines: dict[str, SignalPipeline], writers: list[asyncio.Task[None]], budget: ShutdownBudget
) -> None:
    """Close the queues and let the writers commit what is left, within the remaining budget."""
    for pipeline in pipelines.values():
        pipeline.queue.close()
    _, pending = await asyncio.wait(writers, timeout=max(budget.remaining(), 0.1))
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
        left = sum(p.queue.size for p in pipelines.values())
        log.error("shutdown timeout: queued rows not committed", extra={"rows": left})
    else:
        log.info("queues drained")


async def serve(settings: Settings) -> int:
    async with running_service(settings) as service:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, service.stopping.set)
        settle_after_startup()
        log.info("ready", extra={"grpc": str(service.grpc.listen), "http": str(service.http.listen)})
        stop_with_supervisor(service.stopping.set)
        await service.stopping.wait()
        log.info("shutting down")
    log.info("stopped")
    return 0
