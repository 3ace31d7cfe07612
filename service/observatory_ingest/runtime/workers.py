"""`serve --workers N`: one supervisor, N worker processes sharing the listen ports (SO_REUSEPORT).

The supervisor starts the embedded database if needed, applies migrations once, reserves the
ports, starts the workers, forwards SIGTERM / SIGINT to them and exits when they have all stopped.
Workers write Prometheus samples to a shared directory so any worker's /metrics shows the sum.
The supervisor stays small beside its workers: no event loop, no database driver, no gRPC, no
pipeline (it migrates in a forked child that exits when done).
--queue-memory and --writers are for the whole service: each worker gets its share of them.
A worker whose supervisor is gone (killed with SIGKILL, say) stops by itself: no orphan keeps
serving on the shared ports.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence

from observatory_ingest.config import ListenAddress, Settings
from observatory_ingest.store.embedded import database_dsn_blocking

log = logging.getLogger(__name__)

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
SUPERVISOR_ENV = "OBSERVATORY_SUPERVISOR_PID"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@contextlib.contextmanager
def reserved_ports(addresses: Sequence[ListenAddress]) -> Iterator[list[ListenAddress]]:
    """Concrete ports for port-0 addresses, held (bound, not listening) while the workers run."""
    held: list[socket.socket] = []
    concrete = []
    try:
        for address in addresses:
            family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((address.host, address.port))
            held.append(sock)
            concrete.append(ListenAddress(address.host, sock.getsockname()[1]))
        yield concrete
    finally:
        for sock in held:
            sock.close()


def supervise(settings: Settings, argv: Sequence[str]) -> int:
    with database_dsn_blocking(settings) as dsn:
        if settings.migrate and not migrated_in_a_child(dsn):
            return 1
        listens = [settings.grpc_listen, settings.http_listen, settings.metrics_listen]
        metrics_dir = tempfile.mkdtemp(prefix="observatory-metrics-")
        try:
            with reserved_ports(listens) as (grpc_listen, http_listen, metrics_listen):
                overrides = [
                    "--workers",
                    "1",
                    "--no-migrate",
                    "--grpc-listen",
                    str(grpc_listen),
                    "--http-listen",
                    str(http_listen),
                    "--metrics-listen",
                    str(metrics_listen),
                ]
                environment = {
                    **os.environ,
                    MULTIPROCESS_ENV: metrics_dir,
                    "OBSERVATORY_DATABASE_URL": dsn,
                    SUPERVISOR_ENV: str(os.getpid()),
                }
                log.info(
                    "starting workers",
                    extra={
                        "workers": settings.workers,
                        "grpc": str(grpc_listen),
                        "http": str(http_listen),
                        "metrics": str(metrics_listen),
                    },
                )
                # What bounds the whole service is split: each worker gets its share.
                worker_argvs = [
                    [*argv, *overrides, "--queue-memory", str(memory), "--writers", str(writers)]
                    for memory, writers in zip(
                        shares(settings.queue_memory, settings.workers),
                        shares(settings.writers, settings.workers),
                        strict=True,
                    )
                ]
                return run_workers(worker_argvs, environment)
        finally:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def migrated_in_a_child(dsn: str) -> bool:
    """Apply pending migrations in a forked child: the driver and event loop they need stay out
    of the supervisor, which keeps running beside its workers."""
    child = os.fork()  # the supervisor has no threads: forking it is safe
    if child == 0:
        code = 1
        try:
            import asyncio

            from observatory_ingest.store.migrate import migrate_to_latest

            asyncio.run(migrate_to_latest(dsn))
            code = 0
        except Exception as error:
            log.error("migrations failed; no worker started", extra={"error": str(error)})
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status) == 0


def shares(total: int, count: int) -> list[int]:
    """total split over count workers as evenly as it goes, at least one each."""
    return [max(1, total // count + (index < total % count)) for index in range(count)]


def run_workers(worker_argvs: Sequence[Sequence[str]], environment: dict[str, str]) -> int:
    # Reaped here with os.wait; the Popen objects stay referenced until then, as a dropped one
    # would be handed to subprocess's own reaping, which could take a worker's exit status first.
    workers = {
        process.pid: process
        for process in (
            subprocess.Popen([sys.executable, "-m", "observatory_ingest", *argv], env=environment)
            for argv in worker_argvs
        )
    }

    def forward(signum: int, _frame: object = None) -> None:
        # Only workers not yet reaped: a reaped pid may belong to another process by now.
        for pid in list(workers):
            with contextlib.suppress(ProcessLookupError):  # reaped just before this handler ran
                os.kill(pid, signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    failed = False
    while workers:
        pid, status = os.wait()  # interrupted by a signal, its handler runs and the wait resumes
        if workers.pop(pid, None) is None:
            continue
        mark_process_dead(pid)
        code = os.waitstatus_to_exitcode(status)
        if code != 0 and not failed:
            # One worker failing takes the others down: a supervisor above restarts us whole.
            failed = True
            log.error("worker exited; stopping the others", extra={"pid": pid, "code": code})
            forward(signal.SIGTERM)
    return 1 if failed else 0


def mark_process_dead(pid: int) -> None:
    from prometheus_client import multiprocess

    if MULTIPROCESS_ENV in os.environ:
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def stop_with_supervisor(stop: Callable[[], None]) -> None:
    """In a worker: have the kernel send SIGTERM (the graceful shutdown) when the supervisor
    dies, and call stop now if it is gone already. Outside a worker it does nothing."""
    supervisor = os.environ.get(SUPERVISOR_ENV)
    if supervisor is None:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != int(supervisor):  # it died before prctl took effect
        log.error("supervisor gone; stopping", extra={"supervisor_pid": int(supervisor)})
        stop()
