"""The writers' plan per signal: which rows are copied, staged, or handed to a statement as arrays."""

from __future__ import annotations

import pytest

from observatory_ingest.store.write_plans import WRITE_PLANS, FedStatement, StagedTable


def fed_statements() -> list[FedStatement]:
    return [
        statement
        for schema in WRITE_PLANS.values()
        for statement in schema.merge + schema.direct_before + schema.direct_after
        if isinstance(statement, FedStatement)
    ]


def test_rows_fed_to_a_statement_are_its_unnested_parameters() -> None:
    refs = StagedTable("refs", ("id", "ts"), ("uuid", "timestamptz"))
    assert refs.unnest("r") == "unnest($1::uuid[], $2::timestamptz[]) AS r(id, ts)"


def test_a_type_is_needed_for_every_column() -> None:
    with pytest.raises(ValueError, match="2 columns but 1 types"):
        StagedTable("refs", ("id", "ts"), ("uuid",))


@pytest.mark.parametrize("statement", fed_statements(), ids=lambda statement: statement.rows.table)
def test_every_fed_statement_reads_all_its_columns(statement: FedStatement) -> None:
    assert statement.rows.types, f"{statement.rows.table} is fed to a statement but has no column types"
    arrays = statement.rows.unnest("alias").split(" AS ")[0]
    assert arrays in statement.sql
    assert f"${len(statement.rows.columns) + 1}" not in statement.sql  # no parameter beyond the arrays


def test_a_split_batch_keeps_the_rows_its_merge_statements_are_fed() -> None:
    # Isolating a bad row writes row by row through the merge path: refs must travel with it.
    traces = {staged.table for staged in WRITE_PLANS["traces"].merged_tables}
    logs = {staged.table for staged in WRITE_PLANS["logs"].merged_tables}
    assert {"trace_spans", "trace_events", "llm_traces", "llm_logs", "llm_span_refs"} <= traces
    assert {"logs", "llm_logs", "log_refs"} <= logs
