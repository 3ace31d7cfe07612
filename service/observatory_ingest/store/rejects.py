"""ingest_rejects: a row the database refused, kept as JSON with the reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from observatory_ingest.convert.common import Row
from observatory_ingest.convert.sanitize import json_without_nul
from observatory_ingest.store.write_plans import StagedTable

POSTGRES_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
INSERT_REJECT = (
    "INSERT INTO ingest_rejects (signal, project_id, table_name, reason, row) "
    "VALUES ($1, $2, $3, $4, $5::jsonb)"
)


def json_value(value: Any) -> Any:
    if isinstance(value, tuple) and len(value) == 1 and isinstance(value[0], int):
        return (POSTGRES_EPOCH + timedelta(microseconds=value[0])).isoformat()  # a timestamptz in COPY form
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, int) and not -(2**63) <= value < 2**64:
        return str(value)  # orjson refuses integers past 64 bits, and its default= never sees them
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return orjson.loads(value)  # a JSONB column: keep it structured
        except orjson.JSONDecodeError:
            return value
    return value


def reject_record(staged: StagedTable, row: Row) -> tuple[str, str]:
    """(project id, row as JSON text) for ingest_rejects."""
    named = {column: json_value(value) for column, value in zip(staged.columns, row, strict=True)}
    document = json_without_nul(orjson.dumps(named, default=str).decode())
    return str(named.get("project_id")), document
