"""`docker build -t observatory-ingest .` as the tests run it: podman, the Docker image format
(OCI drops HEALTHCHECK), the local base as BASE_IMAGE, and this machine's way to its package index
(its CA bundle, and its pip settings as the build secret the Dockerfile reads)."""

from __future__ import annotations

import ast
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.container.podman import LIMITS, podman
from tests.deploy_files import ROOT

CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# Settings that say how pip reaches an index; paths on this machine (find-links, constraints,
# file:// indexes) mean nothing inside the build.
INDEX_SETTINGS = {
    "index-url",
    "extra-index-url",
    "trusted-host",
    "proxy",
    "timeout",
    "default-timeout",
    "retries",
}


@dataclass(frozen=True)
class BuiltImage:
    id: str
    size_bytes: int
    build_seconds: float


def host_pip_settings() -> dict[str, str]:
    """pip's effective settings on this machine: its files, then PIP_* variables over them."""
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True
    ).stdout
    files: dict[str, str] = {}
    environment: dict[str, str] = {}
    for line in listed.splitlines():
        name, _, value = line.partition("=")
        section, _, key = name.rpartition(".")
        if key in INDEX_SETTINGS and section in (":env:", "global", "install"):
            (environment if section == ":env:" else files)[key] = str(ast.literal_eval(value))
    return {**files, **environment}


def pip_configuration() -> str:
    settings = host_pip_settings()
    if "default-timeout" in settings:
        settings["timeout"] = settings.pop("default-timeout")
    for key in ("index-url", "extra-index-url"):
        if key in settings:
            urls = [url for url in settings[key].split() if not url.startswith("file:")]
            settings[key] = " ".join(urls)
    # The machine's CA bundle is mounted where the build's own bundle is.
    settings["cert"] = str(CA_BUNDLE)
    return "[global]\n" + "".join(f"{key} = {value}\n" for key, value in settings.items() if value)


def build_image(base_image: str) -> BuiltImage:
    """Built without keeping intermediate images (--layers=false): a session leaves nothing behind
    but its base once the image is removed."""
    with tempfile.TemporaryDirectory(prefix="observatory-image-") as scratch:
        pip_conf, iid = Path(scratch, "pip.conf"), Path(scratch, "iid")
        pip_conf.write_text(pip_configuration())
        ca_mount = ["--volume", f"{CA_BUNDLE}:{CA_BUNDLE}:ro"] if CA_BUNDLE.exists() else []
        started = time.monotonic()
        podman(
            "build",
            "--format", "docker",
            "--layers=false",
            "--network", "host",
            *LIMITS,
            "--build-arg", f"BASE_IMAGE={base_image}",
            *ca_mount,
            "--secret", f"id=pip.conf,src={pip_conf}",
            "--iidfile", str(iid),
            str(ROOT),
            timeout=600,
        )  # fmt: skip
        seconds = time.monotonic() - started
        image_id = iid.read_text().strip().removeprefix("sha256:")
    size = int(podman("image", "inspect", "--format", "{{.Size}}", image_id).stdout)
    return BuiltImage(image_id, size, seconds)


def remove_image(image: BuiltImage) -> None:
    podman("rmi", image.id, check=False)
