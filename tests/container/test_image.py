"""The image itself: lean, non-root, its health check kept, nothing of the build left in it."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.container.image_build import BuiltImage
from tests.container.podman import Container, podman

MAX_SIZE_BYTES = 300 * 10**6
VENV = Path("opt/observatory-ingest")


def image_document(image: BuiltImage) -> dict[str, Any]:
    """`podman image inspect`: the configuration, and what the Docker format adds (Healthcheck)."""
    (document,) = json.loads(podman("image", "inspect", image.id).stdout)
    return dict(document)


@contextlib.contextmanager
def mounted(image: BuiltImage) -> Iterator[Path]:
    """The image's root filesystem, read from the host."""
    root = Path(podman("image", "mount", image.id).stdout.strip())
    try:
        yield root
    finally:
        podman("image", "unmount", image.id, check=False)


def test_the_image_runs_serve_as_a_non_root_user_with_its_health_check_and_ports(image: BuiltImage) -> None:
    document = image_document(image)
    config = document["Config"]
    assert config["User"] == "10001"
    assert config["Entrypoint"] == ["observatory-ingest", "serve"]
    # The Docker format keeps HEALTHCHECK (OCI has no field for it).
    assert document["ManifestType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert document["Healthcheck"]["Test"] == ["CMD", "python", "-m", "observatory_ingest.healthcheck"]
    assert set(config["ExposedPorts"]) == {"4317/tcp", "4318/tcp", "9464/tcp"}
    assert set(config["Volumes"]) == {"/home/observatory/data"}


def test_the_image_is_lean_with_nothing_of_the_build_left(image: BuiltImage) -> None:
    assert image.size_bytes <= MAX_SIZE_BYTES, f"{image.size_bytes / 1e6:.0f} MB"
    with mounted(image) as root:
        site_packages = next((root / VENV / "lib").glob("python3*/site-packages"))
        leftovers = {
            "compiler": [*(root / "usr/bin").glob("*gcc*"), *(root / "usr/lib").glob("gcc")],
            "Python headers": list((root / "usr/include").glob("python3*")),
            "build sources": [path for path in (root / "src", root / "wheels") if path.exists()],
            "pip or setuptools": [
                *(root / VENV / "bin").glob("pip*"),
                *site_packages.glob("pip"),
                *site_packages.glob("setuptools"),
            ],
            "caches": [path for path in (root / "root/.cache", root / "etc/pip.conf") if path.exists()],
            ".deb archives": list((root / "var/cache/apt/archives").glob("*.deb")),
            "apt lists": list((root / "var/lib/apt/lists").glob("*_Packages*")),
        }
        extensions = {
            path.name.split(".")[0] for path in (site_packages / "observatory_ingest").glob("_*.so")
        }
    assert {kind: paths for kind, paths in leftovers.items() if paths} == {}
    # Compiled in the build stage, carried over as built.
    assert extensions == {"_otlp_wire", "_trace_rows", "_attribute_fields"}


def test_the_health_check_fails_while_nothing_answers(image: BuiltImage) -> None:
    with Container(image.id, "--entrypoint", "sleep", arguments=["120"]) as idle:
        assert idle.healthcheck() == 1  # unhealthy (125 would be: no health check defined)
