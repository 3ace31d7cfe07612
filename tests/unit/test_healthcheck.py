"""The image's HEALTHCHECK command against the real /healthz endpoint, found from the environment."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from observatory_ingest.config import ListenAddress
from observatory_ingest.health import Health
from observatory_ingest.healthcheck import healthz_url
from observatory_ingest.runtime.opsserver import OpsServer


@pytest.mark.parametrize(
    ("listen", "url"),
    [
        (ListenAddress("0.0.0.0", 9464), "http://127.0.0.1:9464/healthz"),
        (ListenAddress("::", 9000), "http://[::1]:9000/healthz"),
        (ListenAddress("10.1.2.3", 9464), "http://10.1.2.3:9464/healthz"),
    ],
)
def test_a_wildcard_listen_address_is_probed_on_loopback(listen: ListenAddress, url: str) -> None:
    assert healthz_url(listen) == url


async def healthcheck(metrics_listen: str) -> int:
    environment = {**os.environ, "OBSERVATORY_METRICS_LISTEN": metrics_listen}
    command = [sys.executable, "-m", "observatory_ingest.healthcheck"]
    result = await asyncio.to_thread(
        subprocess.run, command, env=environment, capture_output=True, timeout=30
    )
    return result.returncode


async def test_the_healthcheck_exits_0_while_healthz_answers_and_1_once_it_is_gone() -> None:
    ops = OpsServer(ListenAddress("127.0.0.1", 0), Health())
    await ops.start()
    address = f"127.0.0.1:{ops.listen.port}"
    try:
        assert await healthcheck(address) == 0
    finally:
        await ops.stop()
    assert await healthcheck(address) == 1
