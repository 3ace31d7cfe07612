"""`pricing sync`: the bundled genai-prices catalogue's current prices written into model_pricing
as source 'library' rows, so users can read (and by editing, take over) them in SQL. A sync
rewrites only library rows; a user's row for the same model and start keeps its place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from importlib.metadata import version

import asyncpg
from genai_prices.types import ConditionalPrice, ModelInfo, ModelPrice, StartDateConstraint, TieredPrices

from observatory_ingest.convert.pricing import library_providers
from observatory_ingest.store.prices import EPOCH, decimal_json

CORE_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")
SYNC_COLUMNS = (
    "provider",
    "model",
    "input_usd_per_mtok",
    "output_usd_per_mtok",
    "cache_read_usd_per_mtok",
    "cache_write_usd_per_mtok",
    "effective_from",
    "tiers",
    "other_prices",
)
LibraryRow = tuple[
    str, str, Decimal, Decimal, Decimal | None, Decimal | None, datetime, str | None, str | None
]


def current_prices(model: ModelInfo, now: datetime) -> tuple[ModelPrice, datetime]:
    """The model's prices in effect now and since when. Time-of-day prices (off-peak discounts)
    are left out: a row holds the standard price."""
    if isinstance(model.prices, ModelPrice):
        return model.prices, EPOCH
    dated: list[ConditionalPrice] = [
        c for c in model.prices if c.constraint is None or isinstance(c.constraint, StartDateConstraint)
    ]
    for conditional in reversed(dated):
        constraint = conditional.constraint
        if constraint is None:
            return conditional.prices, EPOCH
        if isinstance(constraint, StartDateConstraint) and constraint.active(now):
            return conditional.prices, datetime.combine(constraint.start_date, datetime.min.time(), UTC)
    first = dated[0] if dated else model.prices[0]
    return first.prices, EPOCH


def library_row(provider: str, model: ModelInfo, now: datetime) -> LibraryRow:
    prices, since = current_prices(model, now)
    base: dict[str, Decimal] = {}
    tiers: dict[int, dict[str, Decimal]] = {}
    for key, value in vars(prices).items():
        if isinstance(value, TieredPrices):
            base[key] = value.base
            for tier in value.tiers:
                tiers.setdefault(tier.start, {})[key] = tier.price
        elif isinstance(value, Decimal):
            base[key] = value
    other = {key: value for key, value in base.items() if key not in CORE_KEYS}
    tier_list = [{"start": start, **rates} for start, rates in sorted(tiers.items())]
    return (
        provider,
        model.id.lower(),
        # NOT NULL columns: a model priced by other units (audio hours) costs nothing per token.
        base.get("input_mtok", Decimal(0)),
        base.get("output_mtok", Decimal(0)),
        base.get("cache_read_mtok"),
        base.get("cache_write_mtok"),
        since,
        decimal_json(tier_list) if tier_list else None,
        decimal_json(other) if other else None,
    )


def library_rows(now: datetime) -> list[LibraryRow]:
    rows: dict[tuple[str, str], LibraryRow] = {}
    for provider in library_providers():
        for model in provider.models:
            key = (provider.id, model.id.lower())
            if key not in rows:  # model ids are matched in lower case: the first of a pair wins
                rows[key] = library_row(provider.id, model, now)
    return list(rows.values())


@dataclass(frozen=True)
class SyncResult:
    library_version: str
    models: int
    written: int  # inserted or changed
    removed: int  # library rows the library no longer has
    kept_user: int  # models where a user's row holds the same start


CREATE_STAGE = """
CREATE TEMP TABLE library_prices (
    provider VARCHAR(100), model VARCHAR(255), input_usd_per_mtok NUMERIC, output_usd_per_mtok NUMERIC,
    cache_read_usd_per_mtok NUMERIC, cache_write_usd_per_mtok NUMERIC, effective_from TIMESTAMPTZ,
    tiers JSONB, other_prices JSONB
) ON COMMIT DROP
"""
REMOVE_STALE = """
DELETE FROM model_pricing m
WHERE m.source = 'library' AND NOT EXISTS (
    SELECT 1 FROM library_prices l
    WHERE l.provider = m.provider AND l.model = m.model AND l.effective_from = m.effective_from)
"""
WRITE = """
INSERT INTO model_pricing (provider, model, input_usd_per_mtok, output_usd_per_mtok,
                           cache_read_usd_per_mtok, cache_write_usd_per_mtok, effective_from,
                           tiers, other_prices, source)
SELECT provider, model, input_usd_per_mtok, output_usd_per_mtok, cache_read_usd_per_mtok,
       cache_write_usd_per_mtok, effective_from, tiers, other_prices, 'library'
FROM library_prices
ON CONFLICT (provider, model, effective_from) WHERE project_id IS NULL DO UPDATE SET
    input_usd_per_mtok = excluded.input_usd_per_mtok,
    output_usd_per_mtok = excluded.output_usd_per_mtok,
    cache_read_usd_per_mtok = excluded.cache_read_usd_per_mtok,
    cache_write_usd_per_mtok = excluded.cache_write_usd_per_mtok,
    tiers = excluded.tiers,
    other_prices = excluded.other_prices,
    effective_to = NULL,
    updated_at = now()
WHERE model_pricing.source = 'library'
  AND (model_pricing.input_usd_per_mtok, model_pricing.output_usd_per_mtok,
       model_pricing.cache_read_usd_per_mtok, model_pricing.cache_write_usd_per_mtok,
       model_pricing.tiers, model_pricing.other_prices, model_pricing.effective_to)
      IS DISTINCT FROM
      (excluded.input_usd_per_mtok, excluded.output_usd_per_mtok, excluded.cache_read_usd_per_mtok,
       excluded.cache_write_usd_per_mtok, excluded.tiers, excluded.other_prices, NULL::timestamptz)
"""
HELD_BY_USERS = """
SELECT count(*) FROM library_prices l JOIN model_pricing m
  ON m.provider = l.provider AND m.model = l.model AND m.effective_from = l.effective_from
 AND m.project_id IS NULL AND m.source = 'user'
"""


async def sync_library_prices(connection: asyncpg.Connection, now: datetime | None = None) -> SyncResult:
    rows = library_rows(now or datetime.now(UTC))
    async with connection.transaction():
        # Tells the edit trigger (migration 009) that these changes are the library's, not a user's.
        await connection.execute("SET LOCAL observatory.pricing_sync = 'on'")
        await connection.execute(CREATE_STAGE)
        await connection.copy_records_to_table("library_prices", records=rows, columns=SYNC_COLUMNS)
        removed = int((await connection.execute(REMOVE_STALE)).split()[-1])
        written = int((await connection.execute(WRITE)).split()[-1])
        kept = int(await connection.fetchval(HELD_BY_USERS))
    return SyncResult(version("genai-prices"), len(rows), written, removed, kept)
