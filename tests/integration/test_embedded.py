"""`serve` with no database configured: embedded PostgreSQL, migrations, clean SIGTERM, data kept."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.integration.otlp_client import export
from tests.otlp_builders import span, trace_request

READY = re.compile(r"msg=ready grpc=127\.0\.0\.1:(\d+)")
DSN = re.compile(r'msg="embedded postgresql started" dsn="?([^"\s]+)')


class ServeProcess:
    def __init__(self, data_dir: Path, log_path: Path) -> None:
        environ = {
            k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "OBSERVATORY_DATABASE_URL")
        }
        self.log_path = log_path
        self.log = log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "observatory_ingest",
                "serve",
                "--data-dir",
                str(data_dir),
                "--grpc-listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=environ,
        )

    def wait_for(self, pattern: re.Pattern[str], timeout: float = 90) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if match := pattern.search(self.log_path.read_text()):
                return match
            if self.process.poll() is not None:
                pytest.fail(f"serve exited early:\n{self.log_path.read_text()}")
            time.sleep(0.1)
        pytest.fail(f"timed out waiting for {pattern.pattern}:\n{self.log_path.read_text()}")

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def kill_if_running(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()


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
    first = ServeProcess(data_dir, tmp_path / "first.log")
    try:
        port = int(first.wait_for(READY)[1])
        dsn = first.wait_for(DSN)[1]
        await export(port, "traces", trace_request([span(b"\xab" * 16, b"\x01" * 8, "persisted")]))
        log = first.log_path.read_text()
        assert "migration applied" in log and "version=6" in log
        assert postmaster_running(data_dir)
        assert first.terminate() == 0
    finally:
        first.kill_if_running()
    assert "msg=stopped" in first.log_path.read_text()
    assert not postmaster_running(data_dir), "embedded PostgreSQL left running"

    second = ServeProcess(data_dir, tmp_path / "second.log")
    try:
        second.wait_for(READY)
        dsn = second.wait_for(DSN)[1]
        assert "migration applied" not in second.log_path.read_text()
        connection = await asyncpg.connect(dsn)
        try:
            assert await connection.fetchval("SELECT count(*) FROM trace_spans WHERE name = 'persisted'") == 1
        finally:
            await connection.close()
        assert second.terminate() == 0
    finally:
        second.kill_if_running()
    assert not postmaster_running(data_dir)
