"""Stored costs after a price change: `pricing reprice` recomputes them in bounded batches (each
its own short transaction, so ingestion never waits long on it) and refreshes the rollups of the
changed range; `pricing unpriced` lists what the catalogue could not price."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import asyncpg

from observatory_ingest.convert.pricing import Cost, PriceCatalogue, Usage, canonical_provider, epoch_us
from observatory_ingest.store.backend import detect_backend
from observatory_ingest.store.prices import json_value

DEFAULT_BATCH_SIZE = 2000
STORED_SCALE = Decimal("1e-10")  # llm_traces' cost columns are NUMERIC(20, 10)
# The rollups that sum costs, with their bucket widths (migration 004).
COST_ROLLUPS = (
    ("llm_metrics_1min", timedelta(minutes=1)),
    ("llm_metrics_1hour", timedelta(hours=1)),
    ("llm_metrics_1day", timedelta(days=1)),
)

BATCH = """
SELECT id, ts, project_id::text AS project_id, provider, model, prompt_tokens, completion_tokens,
       total_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
       prompt_cost_usd, completion_cost_usd, total_cost_usd{details}
FROM llm_traces
WHERE ts >= $1 AND ts < $2 AND (ts, id) > ($3, $4)
ORDER BY ts, id
LIMIT $5
"""
UPDATE_COSTS = """
UPDATE llm_traces t
SET prompt_cost_usd = u.prompt, completion_cost_usd = u.completion, total_cost_usd = u.total
FROM unnest($1::uuid[], $2::timestamptz[], $3::numeric[], $4::numeric[], $5::numeric[])
     AS u(id, ts, prompt, completion, total)
WHERE t.id = u.id AND t.ts = u.ts
"""
LOWEST_UUID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class RepriceResult:
    examined: int
    changed: int
    first_changed: datetime | None
    last_changed: datetime | None
    refreshed: tuple[str, ...]


def stored(cost: Cost | None) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    """A cost as the NUMERIC(20, 10) columns hold it (PostgreSQL rounds half away from zero)."""
    if cost is None:
        return None, None, None
    prompt, completion, total = (amount.quantize(STORED_SCALE, ROUND_HALF_UP) for amount in cost)
    return prompt, completion, total


def usage_of(row: Any, has_details: bool) -> Usage:
    details = json_value(row["usage_details"]) if has_details else None
    return Usage(
        row["prompt_tokens"],
        row["completion_tokens"],
        row["cache_read_tokens"],
        row["cache_write_tokens"],
        row["reasoning_tokens"],
        row["total_tokens"],  # stored derived as input + output when not reported: same verdict
        details if isinstance(details, dict) else None,
    )


def call_filter(provider: str | None, model: str | None) -> Callable[[str | None, str | None], bool]:
    """--provider matches the stored name or what it stands for (aws.bedrock = bedrock = aws);
    --model matches the stored model exactly or as a prefix, in any case."""
    wanted_provider = canonical_provider(provider) if provider else None
    wanted_model = model.lower() if model else None
    canonical: dict[str, str] = {}  # per name, not per row: the lookup walks every provider

    def matches(call_provider: str | None, call_model: str | None) -> bool:
        if wanted_provider is not None:
            if call_provider is None:
                return False
            if call_provider not in canonical:
                canonical[call_provider] = canonical_provider(call_provider)
            if canonical[call_provider] != wanted_provider:
                return False
        return wanted_model is None or (
            call_model is not None and call_model.lower().startswith(wanted_model)
        )

    return matches


async def has_usage_details(connection: asyncpg.Connection) -> bool:
    return bool(
        await connection.fetchval(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'llm_traces' "
            "AND column_name = 'usage_details')"
        )
    )


async def reprice(
    connection: asyncpg.Connection,
    catalogue: PriceCatalogue,
    since: datetime,
    until: datetime,
    provider: str | None = None,
    model: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> RepriceResult:
    """Recompute the costs of LLM calls in [since, until); only rows whose cost changes are
    written, so running it twice changes nothing the second time."""
    details = await has_usage_details(connection)
    query = BATCH.format(details=", usage_details" if details else "")
    matches = call_filter(provider, model)
    after_ts, after_id = since, LOWEST_UUID
    examined = changed = 0
    first: datetime | None = None
    last: datetime | None = None
    while True:
        rows = await connection.fetch(query, since, until, after_ts, after_id, batch_size)
        if not rows:
            break
        after_ts, after_id = rows[-1]["ts"], rows[-1]["id"]
        updates: list[tuple[Any, datetime, Decimal | None, Decimal | None, Decimal | None]] = []
        for row in rows:
            if not matches(row["provider"], row["model"]):
                continue
            examined += 1
            cost = catalogue.cost(
                row["project_id"], row["provider"], row["model"], usage_of(row, details), epoch_us(row["ts"])
            )
            new = stored(cost)
            if new != (row["prompt_cost_usd"], row["completion_cost_usd"], row["total_cost_usd"]):
                updates.append((row["id"], row["ts"], *new))
        if updates:
            await connection.execute(UPDATE_COSTS, *(list(column) for column in zip(*updates, strict=True)))
            changed += len(updates)
            first = min(first or updates[0][1], updates[0][1])
            last = max(last or updates[-1][1], updates[-1][1])
        if len(rows) < batch_size:
            break
    refreshed = await refresh_rollups(connection, first, last) if first and last else ()
    return RepriceResult(examined, changed, first, last, refreshed)


async def refresh_rollups(connection: asyncpg.Connection, first: datetime, last: datetime) -> tuple[str, ...]:
    """Continuous aggregates keep what they materialised: refresh the buckets that hold changed
    rows. (On plain PostgreSQL the rollups are views and need nothing.)"""
    if not (await detect_backend(connection)).is_timescaledb:
        return ()
    for view, width in COST_ROLLUPS:
        bounds = await connection.fetchrow(
            "SELECT time_bucket($1::interval, $2::timestamptz) AS start, "
            "time_bucket($1::interval, $3::timestamptz) + $1::interval AS end",
            width,
            first,
            last,
        )
        assert bounds is not None
        start, end = bounds["start"], bounds["end"]
        # A procedure that refuses to run in a transaction block: a plain statement, outside one.
        await connection.execute(
            f"CALL refresh_continuous_aggregate('{view}', '{start.isoformat()}', '{end.isoformat()}')"
        )
    return tuple(view for view, _ in COST_ROLLUPS)


UNPRICED = """
SELECT provider, model, count(*) AS calls,
       coalesce(sum(prompt_tokens), 0) AS input_tokens,
       coalesce(sum(completion_tokens), 0) AS output_tokens,
       coalesce(sum(cache_read_tokens), 0) + coalesce(sum(cache_write_tokens), 0) AS cache_tokens,
       min(ts) AS first_seen, max(ts) AS last_seen
FROM llm_traces
WHERE total_cost_usd IS NULL AND model IS NOT NULL AND ts >= $1
GROUP BY provider, model
ORDER BY calls DESC, provider, model
"""


async def unpriced_calls(connection: asyncpg.Connection, since: datetime) -> list[asyncpg.Record]:
    return list(await connection.fetch(UNPRICED, since))
