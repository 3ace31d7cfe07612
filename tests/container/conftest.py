"""Container tests: the image built once per session from the Dockerfile, on a Debian base made
here, and run with podman as users run it with Docker. Skipped, with the reason, where podman,
runc or debootstrap is missing (.ci/run installs them) or where not running as root."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.container.base_image import ensure_base_image
from tests.container.image_build import BuiltImage, build_image, remove_image
from tests.container.podman import podman
from tests.integration.conftest import TIMESCALEDB_PROBLEM, create_database, drop_database, dsn_for

HERE = Path(__file__).parent
TOOLS = ("podman", "runc", "debootstrap")
# debootstrap and the image build are bounded at 10 minutes each; the tests take about two.
BUILD_TIMEOUT_SECONDS = 1500
# When the section began (its image build) and when its last test ended, for the closing note.
SECTION: dict[str, float] = {}


def missing_requirement() -> str | None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not installed (Debian packages; .ci/run installs them)"
    if os.geteuid() != 0:
        return "debootstrap and rootful podman need root"
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.container)
            # The first test's setup makes the base (debootstrap) and builds the image: minutes.
            item.add_marker(pytest.mark.timeout(BUILD_TIMEOUT_SECONDS))


@pytest.fixture(scope="session")
def image() -> Iterator[BuiltImage]:
    """The image, built once per session; removed at its end (nothing else of it is kept)."""
    if problem := missing_requirement():
        pytest.skip(f"container tests skipped: {problem}")
    SECTION["started"] = time.monotonic()
    built = build_image(ensure_base_image())
    SECTION.update(image_megabytes=built.size_bytes / 1e6, build_seconds=built.build_seconds)
    try:
        yield built
    finally:
        remove_image(built)


@pytest.fixture(autouse=True)
def section_clock() -> Iterator[None]:
    yield
    SECTION["ended"] = time.monotonic()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if "started" in SECTION and "ended" in SECTION:
        minutes = (SECTION["ended"] - SECTION["started"]) / 60
        terminalreporter.write_line(
            f"container section: {minutes:.1f} min with its builds (the image: "
            f"{SECTION['image_megabytes']:.0f} MB, built in {SECTION['build_seconds']:.0f} s)"
        )


@pytest.fixture
def volume(image: BuiltImage) -> Iterator[str]:
    """A named volume, made after the image (whose fixture skips where podman cannot run)."""
    name = f"observatory-test-{uuid.uuid4().hex[:12]}"
    podman("volume", "create", name)
    try:
        yield name
    finally:
        podman("volume", "rm", "--force", name, check=False)


@pytest.fixture(params=["postgres", "timescaledb"])
def empty_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database on the host's server with nothing migrated; yields its DSN."""
    if request.param == "timescaledb" and TIMESCALEDB_PROBLEM:
        pytest.skip(f"TimescaleDB cases skipped: {TIMESCALEDB_PROBLEM}")
    name = asyncio.run(create_database(request.param, request.node.name))
    try:
        yield dsn_for(name)
    finally:
        asyncio.run(drop_database(name))
