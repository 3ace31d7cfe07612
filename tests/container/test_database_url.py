"""The image on a database of the user's: DATABASE_URL to the host's PostgreSQL (and TimescaleDB),
run as written, and run as the Kubernetes manifests run it (a migration Job, replicas with
--no-migrate that become ready once it has run)."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from observatory_ingest.store.migrate import default_migrations_dir, discover
from tests.container.image_build import BuiltImage
from tests.container.podman import Container
from tests.container.probes import http_status, manifest, pod_options, probe_paths
from tests.integration.sdk_load import SpanLoad

# The host's PostgreSQL listens on the host's loopback: the container shares the host's network
# and listens on loopback too, on ports the kernel picks (read back from its log).
HOST_LOOPBACK = (
    "--network", "host",
    "--env", "OBSERVATORY_GRPC_LISTEN=127.0.0.1:0",
    "--env", "OBSERVATORY_HTTP_LISTEN=127.0.0.1:0",
    "--env", "OBSERVATORY_METRICS_LISTEN=127.0.0.1:0",
)  # fmt: skip
MIGRATIONS = [migration.version for migration in discover(default_migrations_dir())]


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def stored_span_keys(dsn: str, service: str) -> set[tuple[str, str]]:
    async def fetch() -> set[tuple[str, str]]:
        connection = await asyncpg.connect(dsn)
        try:
            rows = await connection.fetch(
                "SELECT replace(trace_id::text, '-', ''), span_id FROM trace_spans WHERE service_name = $1",
                service,
            )
        finally:
            await connection.close()
        return {(row[0], row[1]) for row in rows}

    return asyncio.run(fetch())


def applied_migrations(dsn: str) -> list[int] | None:
    """Versions in the migrations table, None where there is no such table."""

    async def fetch() -> list[int] | None:
        connection = await asyncpg.connect(dsn)
        try:
            if await connection.fetchval("SELECT to_regclass('_sqlx_migrations')") is None:
                return None
            return [
                row[0] for row in await connection.fetch("SELECT version FROM _sqlx_migrations ORDER BY 1")
            ]
        finally:
            await connection.close()

    return asyncio.run(fetch())


def export_over_grpc(port: int, service: str) -> set[tuple[str, str]]:
    """A second of spans from the SDK's gRPC exporter; the ones acknowledged."""
    load = SpanLoad(port, service, rate=200, seconds=1).start()
    time.sleep(1.2)
    return load.finish()


def test_with_database_url_it_migrates_at_start_and_data_lands(
    image: BuiltImage, empty_database: str
) -> None:
    with Container(image.id, *HOST_LOOPBACK, "--env", f"DATABASE_URL={empty_database}") as served:
        grpc = port_of(served.wait_for("listening")["grpc"])
        served.wait_for("ready")
        acknowledged = export_over_grpc(grpc, "container-database-url")
        exit_code, _ = served.stop(10)
        events = served.events()
    assert exit_code == 0
    assert [event["version"] for event in events if event["msg"] == "migration applied"] == MIGRATIONS
    assert applied_migrations(empty_database) == MIGRATIONS
    assert acknowledged and acknowledged <= stored_span_keys(empty_database, "container-database-url")


def wait_for_status(port: int, path: str, status: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while (answered := http_status(port, path)) != status:
        assert time.monotonic() < deadline, f"{path} still answers {answered}"
        time.sleep(0.5)


def test_the_kubernetes_deployment_becomes_ready_once_the_migration_job_has_run(
    image: BuiltImage, empty_database: str
) -> None:
    deployment, job = manifest("deployment.yaml"), manifest("migration-job.yaml")
    probes = probe_paths(deployment)
    options, arguments = pod_options(deployment, empty_database)
    grace = int(deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"])
    with Container(image.id, *HOST_LOOPBACK, *options, arguments=arguments) as replica:
        metrics = port_of(replica.wait_for("listening")["metrics"])
        # --no-migrate: nothing created; alive, but kept out of the Service until the schema is there.
        assert applied_migrations(empty_database) is None
        assert http_status(metrics, probes["livenessProbe"]) == 200
        wait_for_status(metrics, probes["readinessProbe"], 503)

        job_options, job_arguments = pod_options(job, empty_database)
        with Container(image.id, "--network", "host", *job_options, arguments=job_arguments) as migration:
            assert migration.wait(timeout=120) == 0, migration.logs()
        assert applied_migrations(empty_database) == MIGRATIONS

        wait_for_status(metrics, probes["readinessProbe"], 200)
        acknowledged = export_over_grpc(
            port_of(replica.wait_for("listening")["grpc"]), "container-kubernetes"
        )
        exit_code, seconds = replica.stop(grace)
        events = replica.events()
    assert (exit_code, seconds < grace) == (0, True), f"exit {exit_code} after {seconds:.1f} s"
    assert "migration applied" not in {event["msg"] for event in events}
    assert acknowledged and acknowledged <= stored_span_keys(empty_database, "container-kubernetes")
