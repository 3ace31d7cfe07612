"""`serve` with no database configured: embedded PostgreSQL, migrations, clean SIGTERM, data kept."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from bench.serve_command import serve_command
from observatory_ingest.store.embedded import exclusive_data_dir
from tests.integration.otlp_client import export
from tests.integration.serve_process import ServeProcess
from tests.otlp_builders import span, trace_request

DSN = re.compile(r'msg="embedded postgresql started" dsn="?([^"\s]+)')


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"


def postmaster_running(data_dir: Path) -> bool:
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().split()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_serve_on_embedded_default_migrates_stops_cleanly_and_keeps_data(
    data_dir: Path, tmp_path: Path
) -> None:
    first = ServeProcess(tmp_path / "first.log", "--data-dir", str(data_dir))
    try:
        port, _, _ = first.wait_ready()
        dsn = first.wait_for(DSN)[1]
        await export(port, "traces", trace_request([span(b"\xab" * 16, b"\x01" * 8, "persisted")]))
        log = first.text()
        assert "migration applied" in log and "version=6" in log
        assert postmaster_running(data_dir)
        assert first.terminate() == 0
    finally:
        first.close()
    assert "msg=stopped" in first.text()
    assert not postmaster_running(data_dir), "embedded PostgreSQL left running"

    second = ServeProcess(tmp_path / "second.log", "--data-dir", str(data_dir))
    try:
        second.wait_ready()
        dsn = second.wait_for(DSN)[1]
        assert "migration applied" not in second.text()
        connection = await asyncpg.connect(dsn)
        try:
            assert await connection.fetchval("SELECT count(*) FROM trace_spans WHERE name = 'persisted'") == 1
        finally:
            await connection.close()
        assert second.terminate() == 0
    finally:
        second.close()
    assert not postmaster_running(data_dir)


def test_a_second_service_on_a_data_dir_in_use_refuses_to_start(tmp_path: Path) -> None:
    """Two embedded servers on one data directory corrupt it, and PostgreSQL's own check cannot
    see a server in another container's PID namespace: the data directory's lock can."""
    with exclusive_data_dir(tmp_path):
        environ = {
            k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "OBSERVATORY_DATABASE_URL")
        }
        second = subprocess.run(
            serve_command("--data-dir", str(tmp_path)),
            capture_output=True,
            text=True,
            timeout=60,
            env=environ,
        )
    assert second.returncode == 2
    assert "is in use by another observatory-ingest" in second.stderr
    assert not (tmp_path / "pgdata").exists()  # refused before any server was started
