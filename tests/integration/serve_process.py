"""`observatory-ingest serve` as a real subprocess, for signals (SIGTERM, SIGKILL) and restarts."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from bench.cpu import descendants, processes
from bench.serve_command import LISTENING, serve_command

READY = re.compile(r"msg=ready grpc=")


class ServeProcess:
    def __init__(self, log_path: Path, *arguments: str, database_url: str | None = None) -> None:
        environ = {
            k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "OBSERVATORY_DATABASE_URL")
        }
        if database_url:
            environ["OBSERVATORY_DATABASE_URL"] = database_url
        self.log_path = log_path
        self.log = log_path.open("w")
        self.process = subprocess.Popen(
            serve_command(*arguments),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=environ,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def text(self) -> str:
        return self.log_path.read_text()

    def wait_for(self, pattern: re.Pattern[str], timeout: float = 90) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if match := pattern.search(self.text()):
                return match
            if self.process.poll() is not None:
                pytest.fail(f"serve exited early:\n{self.text()}")
            time.sleep(0.05)
        pytest.fail(f"timed out waiting for {pattern.pattern}:\n{self.text()}")

    def wait_ready(self) -> tuple[int, int, int]:
        """(grpc, http, metrics) ports once the service is ready."""
        ports = self.wait_for(LISTENING)
        self.wait_for(READY)
        return int(ports[1]), int(ports[2]), int(ports[3])

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def terminate(self, timeout: float = 60) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def close(self) -> None:
        """Kill it and its workers if still running (a failed test must not leave them behind)."""
        for pid in descendants(self.process.pid, processes()) - {self.process.pid}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()
