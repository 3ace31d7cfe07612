"""The Dockerfile, compose file, Kubernetes manifests, Prometheus config and Grafana dashboard are
checked by the tools operators would use (all installed by the dev extras, promtool by CI)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

import observatory_ingest.telemetry  # noqa: F401  (declares the service's series)
from observatory_ingest.cli.main import main
from tests.deploy_files import DEPLOY, ROOT, dashboard_targets


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)


def tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(found).exists():
        pytest.fail(f"{name} is missing: install the dev extras (pip install -e '.[dev]')")
    return found


def test_dockerfile_passes_hadolint() -> None:
    result = run(tool("hadolint"), "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_serve_as_non_root_with_healthcheck_and_ports() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["observatory-ingest", "serve"]' in text
    assert re.search(r"^USER 10001$", text, re.MULTILINE)
    assert "EXPOSE 4317 4318 9464" in text
    assert 'CMD ["python", "-m", "observatory_ingest.healthcheck"]' in text
    assert text.count("FROM ") == 2  # multi-stage


def test_kubernetes_manifests_validate_against_the_schemas() -> None:
    manifests = sorted(
        str(p) for p in (DEPLOY / "kubernetes").glob("*.yaml") if p.name != "kustomization.yaml"
    )
    result = run(tool("kubernetes-validate"), "--strict", *manifests)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") == len(manifests)


def test_kubernetes_deployment_probes_and_secret_reference() -> None:
    deployment = yaml.safe_load((DEPLOY / "kubernetes" / "deployment.yaml").read_text())
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {"containerPort": 4317, "name": "otlp-grpc"} in container["ports"]
    (database_url,) = [e for e in container["env"] if e["name"] == "OBSERVATORY_DATABASE_URL"]
    assert database_url["valueFrom"]["secretKeyRef"]["name"] == "observatory-database"
    assert "--no-migrate" in container["args"]
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    job = yaml.safe_load((DEPLOY / "kubernetes" / "migration-job.yaml").read_text())
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "observatory-ingest",
        "migrate",
        "up",
    ]


def test_both_services_select_the_deployment_pods_and_kustomize_applies_every_manifest() -> None:
    kubernetes = DEPLOY / "kubernetes"
    pods = yaml.safe_load((kubernetes / "deployment.yaml").read_text())["spec"]["template"]["metadata"]
    service = yaml.safe_load((kubernetes / "service.yaml").read_text())["spec"]
    headless = yaml.safe_load((kubernetes / "service-headless.yaml").read_text())["spec"]
    for spec in (service, headless):
        assert spec["selector"].items() <= pods["labels"].items()
    # Headless: DNS answers with every ready pod, for clients that balance calls themselves.
    assert headless["clusterIP"] == "None"
    assert {"name": "otlp-grpc", "port": 4317, "targetPort": "otlp-grpc", "appProtocol": "grpc"} in headless[
        "ports"
    ]
    kustomization = yaml.safe_load((kubernetes / "kustomization.yaml").read_text())
    manifests = {p.name for p in kubernetes.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert set(kustomization["resources"]) == manifests


def test_kubernetes_deployment_args_are_valid_flags(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = yaml.safe_load((DEPLOY / "kubernetes" / "deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    monkeypatch.setenv("OBSERVATORY_DATABASE_URL", "postgresql://observatory@db/observatory")
    assert main(["serve", *container["args"], "--print-config"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert {"migrate = False", "max-connection-age = 300.0", "shutdown-timeout = 30.0"} <= set(printed)


def test_compose_file_matches_the_compose_spec() -> None:
    result = run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "deploy/compose.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert set(compose["services"]) == {"timescaledb", "ingest", "prometheus", "grafana"}


def test_prometheus_config_passes_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus; .ci/run installs it)")
    result = run(promtool, "check", "config", "deploy/prometheus/prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_prometheus_queries_use_series_the_service_exports() -> None:
    exported = {sample for family in REGISTRY.collect() for sample in _names(family)}
    expressions = [target["expr"] for target in dashboard_targets("prometheus")]
    assert expressions
    for expression in expressions:
        for name in re.findall(r"observatory_[a-z_]+", expression):
            assert name in exported, f"{name} in {expression!r} is not exported"


def test_grafana_provisioning_is_valid_yaml_naming_the_dashboard_datasources() -> None:
    datasources = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/datasources.yaml").read_text())
    uids = {d["uid"] for d in datasources["datasources"]}
    used = {
        t["datasource"]["uid"]
        for t in dashboard_targets("prometheus") + dashboard_targets("grafana-postgresql-datasource")
    }
    assert used <= uids
    yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/dashboards.yaml").read_text())


SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "info": ("_info",)}


def _names(family: object) -> list[str]:
    """The series names a family exposes, from its declaration (samples appear only once used)."""
    name, kind = family.name, family.type  # type: ignore[attr-defined]
    return [name, *(name + suffix for suffix in SUFFIXES.get(kind, ()))]
