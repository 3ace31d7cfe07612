"""podman as these machines can run it, and containers that leave with the test that started them."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Sequence
from typing import Any

import pytest

# crun refuses this machine's hybrid cgroups; resource limits may be lowered here, never raised.
RUNTIME = ("--runtime", "runc")
LIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")
# Health checks run when a test asks (`podman healthcheck run`): no systemd timer on these machines.
NO_HEALTH_TIMER = ("--health-interval", "disable")


def podman(*arguments: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["podman", *RUNTIME, *arguments], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        # A build prints its steps' output on stdout: the end of it says which step failed and why.
        output = f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        pytest.fail(f"podman {' '.join(arguments)} exited {result.returncode}:\n{output}")
    return result


def log_events(text: str) -> list[dict[str, Any]]:
    """The service's JSON log lines (the image logs JSON), other lines skipped."""
    events = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return events


class Container:
    """One `podman run --detach`; removed with its anonymous volumes on exit, whatever happened."""

    def __init__(self, image: str, *options: str, arguments: Sequence[str] = ()) -> None:
        self.name = f"observatory-test-{uuid.uuid4().hex[:12]}"
        self.image, self.options, self.arguments = image, options, arguments

    def __enter__(self) -> Container:
        options = (*LIMITS, *NO_HEALTH_TIMER, *self.options)
        try:
            podman("run", "--detach", "--name", self.name, *options, self.image, *self.arguments)
        except BaseException:  # a container created but not started is still ours to remove
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        podman("rm", "--force", "--volumes", "--time", "0", self.name, check=False)

    def logs(self) -> str:
        result = podman("logs", self.name)
        return result.stdout + result.stderr

    def events(self) -> list[dict[str, Any]]:
        return log_events(self.logs())

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads(podman("inspect", "--format", "{{json .State}}", self.name).stdout)
        return state

    def wait_for(self, message: str, timeout: float = 120) -> dict[str, Any]:
        """The first log event with this message; fails if the container exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events():
                if event.get("msg") == message:
                    return event
            if not self.state()["Running"]:
                pytest.fail(f"container exited before {message!r}:\n{self.logs()}")
            time.sleep(0.25)
        pytest.fail(f"timed out waiting for {message!r}:\n{self.logs()}")

    def published_port(self, container_port: int) -> int:
        address = podman("port", self.name, f"{container_port}/tcp").stdout.strip()
        return int(address.rsplit(":", 1)[1])

    def stop(self, grace_seconds: int) -> tuple[int, float]:
        """`docker stop`: SIGTERM, SIGKILL after the grace. The exit code, and how long it took."""
        started = time.monotonic()
        podman("stop", "--time", str(grace_seconds), self.name, timeout=grace_seconds + 60)
        return int(self.state()["ExitCode"]), time.monotonic() - started

    def wait(self, timeout: float) -> int:
        """The exit code of a container that ends by itself (a Job)."""
        return int(podman("wait", self.name, timeout=timeout).stdout.strip())

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.name, *command)

    def healthcheck(self) -> int:
        return podman("healthcheck", "run", self.name, check=False).returncode

    def process_users(self) -> set[tuple[str, str]]:
        """(user, command) of every process in the container, as the host sees them."""
        lines = podman("top", self.name, "user", "comm").stdout.splitlines()[1:]
        return {(user, command) for user, command in (line.split(None, 1) for line in lines)}
