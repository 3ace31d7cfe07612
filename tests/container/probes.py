"""The Kubernetes manifests as podman sees them: a pod spec's container becomes `podman run`
options, and its probes become GET requests on the metrics port."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import yaml

from tests.deploy_files import DEPLOY


def manifest(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "kubernetes" / name).read_text())
    return document


def pod_options(document: dict[str, Any], database_url: str) -> tuple[list[str], list[str]]:
    """(podman run options, arguments) for the pod's first container: its user, read-only root
    filesystem, dropped capabilities, environment (the Secret's URL given), command and args."""
    pod = document["spec"]["template"]["spec"]
    container = pod["containers"][0]
    security = container["securityContext"]
    options = ["--user", str(pod["securityContext"]["runAsUser"])]
    if security.get("readOnlyRootFilesystem"):
        # Nothing writable but what the pod mounts; the manifests mount no /tmp.
        options += ["--read-only", "--read-only-tmpfs=false"]
    if security.get("allowPrivilegeEscalation") is False:
        options += ["--security-opt", "no-new-privileges"]
    options += [
        option for capability in security["capabilities"]["drop"] for option in ("--cap-drop", capability)
    ]
    for variable in container.get("env", []):
        value = database_url if "secretKeyRef" in variable.get("valueFrom", {}) else variable["value"]
        options += ["--env", f"{variable['name']}={value}"]
    if "command" in container:
        options += ["--entrypoint", json.dumps(container["command"])]
    return options, list(container.get("args", []))


def probe_paths(document: dict[str, Any]) -> dict[str, str]:
    """{probe: path} of the pod's first container's HTTP probes."""
    container = document["spec"]["template"]["spec"]["containers"][0]
    return {
        name: container[name]["httpGet"]["path"]
        for name in ("startupProbe", "livenessProbe", "readinessProbe")
        if name in container
    }


def http_status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return error.code
