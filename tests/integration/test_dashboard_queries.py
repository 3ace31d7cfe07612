"""Every SQL panel of the Grafana dashboard runs on both backends and sees ingested data."""

from __future__ import annotations

import re

import asyncpg

from tests.deploy_files import dashboard_targets
from tests.integration.conftest import refresh_aggregates


def with_time_range(sql: str) -> str:
    # Grafana's $__timeFilter(column) macro, as Grafana expands it, for the last week.
    return re.sub(r"\$__timeFilter\(([\w.]+)\)", r"\1 BETWEEN now() - interval '7 days' AND now()", sql)


async def test_every_sql_panel_runs_and_returns_rows(db: asyncpg.Connection, backend: str) -> None:
    await db.execute("""
        INSERT INTO llm_traces (id, ts, trace_id, span_id, span_name, span_kind, service_name, provider,
                                model, status_code, error_message, prompt_tokens, completion_tokens,
                                total_tokens, total_cost_usd, duration_ms)
        SELECT gen_random_uuid(), now() - make_interval(mins => g), md5(g::text), left(md5(g::text), 16),
               'chat', 'client', 'svc', 'openai', 'gpt-4o', CASE WHEN g % 5 = 0 THEN 'error' ELSE 'ok' END,
               CASE WHEN g % 5 = 0 THEN 'rate limited' END, 10, 20, 30, 0.001, g
        FROM generate_series(1, 120) g""")
    if backend == "timescaledb":
        await refresh_aggregates(db, ("llm_metrics_1min", "llm_metrics_1hour", "llm_error_summary"))
    queries = [target["rawSql"] for target in dashboard_targets("grafana-postgresql-datasource")]
    assert len(queries) >= 7
    for sql in queries:
        rows = await db.fetch(with_time_range(sql))
        assert rows, f"no rows from:\n{sql}"
