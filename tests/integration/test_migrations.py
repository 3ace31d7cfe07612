"""Migrations 001-006 on a real server: exact schema, reversibility, SQLx bookkeeping, locking."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from observatory_ingest.store.migrate import (
    MigrationError,
    Migrator,
    default_migrations_dir,
    discover,
)
from observatory_ingest.store.verify import verify
from tests.integration.conftest import create_database, drop_database, dsn_for, refresh_aggregates
from tests.integration.schema_spec import (
    EXPECTED_COLUMNS,
    PRIMARY_KEYS,
    ROLLUP_COLUMNS,
    SEED_INDEXES,
)

MIGRATIONS = discover(default_migrations_dir())
VERSIONS = [m.version for m in MIGRATIONS]


@pytest.fixture
async def conn(backend: str, request: pytest.FixtureRequest) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a brand-new database of its own, for tests that change the schema."""
    name = await create_database(backend, request.node.name)
    connection = await asyncpg.connect(dsn_for(name))
    try:
        yield connection
    finally:
        await connection.close()
        await drop_database(name)


async def snapshot(connection: asyncpg.Connection) -> dict[str, Any]:
    """Everything the migrations can create in the current schema, from pg_catalog."""
    queries = {
        "columns": r"""
            SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
                   a.attnotnull, pg_get_expr(d.adbin, d.adrelid)
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE c.relnamespace = current_schema()::regnamespace AND a.attnum > 0
              AND NOT a.attisdropped AND c.relname NOT LIKE '\_sqlx%'
            ORDER BY 1, 2""",
        "relations": """
            SELECT relname, relkind::text FROM pg_class
            WHERE relnamespace = current_schema()::regnamespace AND relname NOT LIKE '_sqlx%'
            ORDER BY 1""",
        "constraints": """
            SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
            WHERE connamespace = current_schema()::regnamespace AND conrelid <> 0
              AND conrelid::regclass::text <> '_sqlx_migrations'
            ORDER BY 1, 2""",
        "indexes": """
            SELECT tablename, indexname, indexdef FROM pg_indexes
            WHERE schemaname = current_schema() AND tablename <> '_sqlx_migrations' ORDER BY 1, 2""",
        "triggers": """
            SELECT tgrelid::regclass::text, tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE c.relnamespace = current_schema()::regnamespace AND NOT tgisinternal ORDER BY 1, 2""",
        "routines": """
            SELECT proname FROM pg_proc WHERE pronamespace = current_schema()::regnamespace ORDER BY 1""",
        "extensions": "SELECT extname FROM pg_extension ORDER BY 1",
    }
    result = {name: [tuple(row) for row in await connection.fetch(sql)] for name, sql in queries.items()}
    if await connection.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"):
        result["jobs"] = [
            tuple(row)
            for row in await connection.fetch(
                "SELECT proc_name, coalesce(hypertable_name, '') FROM timescaledb_information.jobs "
                "WHERE job_id >= 1000 ORDER BY 1, 2"
            )
        ]
        result["hypertables"] = [
            tuple(row)
            for row in await connection.fetch(
                "SELECT hypertable_name FROM timescaledb_information.hypertables ORDER BY 1"
            )
        ]
    return result


async def migrate_up(connection: asyncpg.Connection, to: int | None = None) -> list[int]:
    async with Migrator(connection, MIGRATIONS) as migrator:
        return [m.version for m in await migrator.up(to=to)]


async def test_up_gives_exactly_the_specified_columns(conn: asyncpg.Connection) -> None:
    assert await migrate_up(conn) == VERSIONS
    rows = await conn.fetch(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' "
        "AND a.attnum > 0 AND NOT a.attisdropped AND c.relname <> '_sqlx_migrations' "
        "ORDER BY c.relname, a.attnum"
    )
    actual: dict[str, list[tuple[str, str, bool]]] = {}
    for row in rows:
        actual.setdefault(row["relname"], []).append((row["attname"], row["type"], row["attnotnull"]))
    assert actual == EXPECTED_COLUMNS


async def test_up_creates_seed_indexes_primary_keys_and_rollups(conn: asyncpg.Connection) -> None:
    await migrate_up(conn)
    indexes = {
        row["indexname"]: row["tablename"]
        for row in await conn.fetch(
            "SELECT indexname, tablename FROM pg_indexes WHERE schemaname = current_schema()"
        )
    }
    for index, table in SEED_INDEXES.items():
        assert indexes.get(index) == table, index
    fts = await conn.fetchval("SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_logs_body_fts'")
    assert "gin" in fts and "to_tsvector('english'::regconfig, body)" in fts
    for table, columns in PRIMARY_KEYS.items():
        key = await conn.fetchval(
            "SELECT array_agg(a.attname ORDER BY array_position(i.indkey::int2[], a.attnum)) "
            "FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = $1::regclass AND i.indisprimary",
            table,
        )
        assert key == columns, table
    for view in ("llm_metrics_1min", "llm_metrics_1hour", "llm_error_summary"):
        columns = [
            r["attname"]
            for r in await conn.fetch(
                "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 "
                "ORDER BY attnum",
                view,
            )
        ]
        expected = (
            ROLLUP_COLUMNS
            if view != "llm_error_summary"
            else [
                "bucket",
                "project_id",
                "provider",
                "model",
                "service_name",
                "error_message",
                "error_count",
                "first_seen",
                "last_seen",
            ]
        )
        assert columns == expected, view
    daily = [
        r["attname"]
        for r in await conn.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'llm_metrics_1day'::regclass AND attnum > 0 "
            "ORDER BY attnum"
        )
    ]
    assert daily == [*ROLLUP_COLUMNS, "distinct_users", "distinct_sessions"]
    assert await conn.fetchval("SELECT name FROM projects") == "default"
    assert await conn.fetchval("SELECT count(*) FROM model_pricing") >= 30


async def test_every_step_down_restores_the_previous_schema_exactly(conn: asyncpg.Connection) -> None:
    snapshots = [await snapshot(conn)]
    for migration in MIGRATIONS:
        await migrate_up(conn, to=migration.version)
        snapshots.append(await snapshot(conn))
    for step in range(len(MIGRATIONS), 0, -1):
        async with Migrator(conn, MIGRATIONS) as migrator:
            reverted = await migrator.down(steps=1)
        assert [m.version for m in reverted] == [MIGRATIONS[step - 1].version]
        assert await snapshot(conn) == snapshots[step - 1], f"down of {step} differs"
    assert await conn.fetchval("SELECT count(*) FROM _sqlx_migrations") == 0
    # And up again from nothing works, in a new session: TimescaleDB caches its function ids per
    # backend, so a session that dropped the extension cannot create continuous aggregates again.
    again = await asyncpg.connect(dsn_for(await conn.fetchval("SELECT current_database()")))
    try:
        assert await migrate_up(again) == VERSIONS
        assert await snapshot(again) == snapshots[-1]
    finally:
        await again.close()


async def test_down_to_a_version_and_all_the_way(conn: asyncpg.Connection) -> None:
    empty = await snapshot(conn)
    await migrate_up(conn)
    async with Migrator(conn, MIGRATIONS) as migrator:
        assert [m.version for m in await migrator.down(to=3)] == VERSIONS[:2:-1]
        pending = len(VERSIONS) - 3
        assert [s.state for s in await migrator.status()] == ["applied"] * 3 + ["pending"] * pending
        assert [m.version for m in await migrator.down(to=0)] == [3, 2, 1]
    assert await snapshot(conn) == empty


async def test_bookkeeping_matches_sqlx(conn: asyncpg.Connection) -> None:
    await migrate_up(conn)
    rows = await conn.fetch("SELECT * FROM _sqlx_migrations ORDER BY version")
    assert [row["version"] for row in rows] == VERSIONS
    for row, migration in zip(rows, MIGRATIONS, strict=True):
        assert bytes(row["checksum"]) == hashlib.sha384(migration.up_path.read_bytes()).digest()
        stem = migration.up_path.name.split("_", 1)[1].removesuffix(".up.sql")
        assert row["description"] == stem.replace("_", " ")
        assert row["success"] is True
        assert row["execution_time"] > 0
    assert rows[0]["description"] == "initial schema"
    columns = await conn.fetch(
        "SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute "
        "WHERE attrelid = '_sqlx_migrations'::regclass AND attnum > 0 ORDER BY attnum"
    )
    assert [(c["attname"], c["type"]) for c in columns] == [
        ("version", "bigint"),
        ("description", "text"),
        ("installed_on", "timestamp with time zone"),
        ("success", "boolean"),
        ("checksum", "bytea"),
        ("execution_time", "bigint"),
    ]


async def test_a_tampered_applied_migration_is_refused(conn: asyncpg.Connection, tmp_path: Path) -> None:
    copied = tmp_path / "migrations"
    shutil.copytree(default_migrations_dir(), copied)
    async with Migrator(conn, discover(copied)) as migrator:
        await migrator.up(to=3)
    tampered = copied / "003_create_indexes.up.sql"
    tampered.write_text(tampered.read_text() + "\n-- edited after it was applied\n")
    async with Migrator(conn, discover(copied)) as migrator:
        with pytest.raises(MigrationError, match=r"migration 3 \(003_create_indexes.up.sql\) was modified"):
            await migrator.up()
        assert [s.state for s in await migrator.status()][:3] == ["applied", "applied", "checksum-mismatch"]
    assert await conn.fetchval("SELECT max(version) FROM _sqlx_migrations") == 3


async def test_a_failed_migration_blocks_further_runs(conn: asyncpg.Connection) -> None:
    await migrate_up(conn, to=1)
    await conn.execute("UPDATE _sqlx_migrations SET success = false WHERE version = 1")
    async with Migrator(conn, MIGRATIONS) as migrator:
        expected = r"migration 1 \(001_initial_schema\.up\.sql\) is partially applied"
        with pytest.raises(MigrationError, match=expected):
            await migrator.up()


async def test_a_failing_migration_rolls_back_whole(conn: asyncpg.Connection, tmp_path: Path) -> None:
    (tmp_path / "001_good.up.sql").write_text("CREATE TABLE kept (id int);")
    (tmp_path / "002_bad.up.sql").write_text("CREATE TABLE half (id int);\nSELECT 1/0;")
    async with Migrator(conn, discover(tmp_path)) as migrator:
        with pytest.raises(MigrationError, match=r"002_bad\.up\.sql failed: division by zero"):
            await migrator.up()
    assert await conn.fetchval("SELECT to_regclass('half')") is None
    assert await conn.fetchval("SELECT to_regclass('kept')") == "kept"
    assert await conn.fetchval("SELECT array_agg(version) FROM _sqlx_migrations") == [1]


async def test_no_transaction_directive_is_honoured(conn: asyncpg.Connection, tmp_path: Path) -> None:
    (tmp_path / "001_table.up.sql").write_text("CREATE TABLE t (id int);")
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction block.
    (tmp_path / "002_index.up.sql").write_text("-- no-transaction\nCREATE INDEX CONCURRENTLY t_id ON t (id);")
    async with Migrator(conn, discover(tmp_path)) as migrator:
        assert [m.version for m in await migrator.up()] == [1, 2]
    assert await conn.fetchval("SELECT success FROM _sqlx_migrations WHERE version = 2") is True
    assert await conn.fetchval("SELECT to_regclass('t_id')") == "t_id"


async def test_concurrent_runners_apply_each_migration_once(backend: str) -> None:
    name = await create_database(backend, "concurrent")
    try:
        connections = [await asyncpg.connect(dsn_for(name)) for _ in range(3)]
        results = await asyncio.gather(*(migrate_up(c) for c in connections))
        assert sorted(v for applied in results for v in applied) == VERSIONS
        assert await connections[0].fetchval("SELECT count(*) FROM _sqlx_migrations") == len(VERSIONS)
        for connection in connections:
            await connection.close()
    finally:
        await drop_database(name)


async def test_verify_passes_and_notices_a_missing_object(conn: asyncpg.Connection, backend: str) -> None:
    await migrate_up(conn)
    checks = await verify(conn, MIGRATIONS)
    assert [c.what for c in checks if not c.ok] == []
    names = {c.what for c in checks}
    assert "index idx_logs_body_fts" in names
    if backend == "timescaledb":
        assert {
            "hypertable trace_spans by start_time",
            "continuous aggregate llm_metrics_1day",
            "refresh policy llm_metrics_1min",
            "retention policy llm_metrics_1day",
            "columnstore policy logs",
            "job observatory_trim_traces",
        } <= names
    assert {
        "index idx_model_pricing_global_period",
        "column model_pricing.source",
        "column model_pricing.project_id",
        "trigger model_pricing_edited_row_is_users",
    } <= names
    await conn.execute("DROP INDEX idx_logs_severity")
    await conn.execute("DROP TRIGGER model_pricing_edited_row_is_users ON model_pricing")
    await conn.execute("ALTER TABLE model_pricing DROP COLUMN tiers")
    failed = [c.what for c in await verify(conn, MIGRATIONS) if not c.ok]
    assert failed == [
        "index idx_logs_severity",
        "column model_pricing.tiers",
        "trigger model_pricing_edited_row_is_users",
    ]


async def test_rollups_match_raw_rows_after_refresh(conn: asyncpg.Connection, backend: str) -> None:
    await migrate_up(conn)
    await conn.execute("""
        INSERT INTO llm_traces (id, ts, trace_id, span_id, span_name, span_kind, service_name,
                                provider, model, status_code, prompt_tokens, completion_tokens,
                                total_tokens, total_cost_usd, duration_ms, user_id)
        SELECT gen_random_uuid(), now() - make_interval(mins => g * 7), md5(g::text), left(md5(g::text), 16),
               'chat', 'client', 'svc', 'openai', CASE WHEN g % 3 = 0 THEN 'gpt-4o' ELSE 'gpt-4o-mini' END,
               CASE WHEN g % 10 = 0 THEN 'error' ELSE 'ok' END, g, 2 * g, 3 * g, g * 0.001, g * 1.5,
               'user-' || (g % 4)
        FROM generate_series(1, 500) g""")
    if backend == "timescaledb":
        await refresh_aggregates(
            conn, ("llm_metrics_1min", "llm_metrics_1hour", "llm_metrics_1day", "llm_error_summary")
        )
    raw = await conn.fetchrow(
        "SELECT count(*) AS requests, sum(prompt_tokens) AS prompt, sum(completion_tokens) AS completion, "
        "sum(total_cost_usd) AS cost, count(*) FILTER (WHERE status_code = 'error') AS errors "
        "FROM llm_traces"
    )
    for view in ("llm_metrics_1min", "llm_metrics_1hour", "llm_metrics_1day"):
        rolled = await conn.fetchrow(
            f"SELECT sum(request_count) AS requests, sum(prompt_tokens) AS prompt, "
            f"sum(completion_tokens) AS completion, sum(total_cost_usd) AS cost, "
            f"sum(error_count) AS errors FROM {view}"
        )
        assert dict(rolled) == dict(raw), view
    assert await conn.fetchval("SELECT sum(error_count) FROM llm_error_summary") == raw["errors"]
    if backend == "timescaledb":
        materialized = await conn.fetchval(
            "SELECT count(*) FROM timescaledb_information.continuous_aggregates ca "
            "WHERE ca.view_name = 'llm_metrics_1hour'"
        )
        assert materialized == 1
