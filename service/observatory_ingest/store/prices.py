"""model_pricing and the service: the users' rows loaded as overrides of the genai-prices catalogue
and kept fresh, and the rows users maintain (`pricing set` / `pricing import`)."""

from __future__ import annotations

import asyncio
import csv
import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from observatory_ingest import telemetry
from observatory_ingest.background import running_in_background
from observatory_ingest.convert.pricing import (
    Override,
    PriceCatalogue,
    canonical_provider,
    library_providers,
    override_rates,
)
from observatory_ingest.store.database import APPLICATION_NAME
from observatory_ingest.store.failures import failure_kind

log = logging.getLogger(__name__)

REFRESH_INTERVAL_S = 60.0
RELOAD_TIMEOUT_S = 10.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_us(moment: datetime | None) -> int | None:
    return None if moment is None else (moment - EPOCH) // (datetime(1970, 1, 1, 0, 0, 0, 1, UTC) - EPOCH)


def decimal_json(value: Any) -> str:
    """JSON with Decimals as exact numbers (orjson would need floats or strings for them)."""
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(f"{orjson.dumps(str(k)).decode()}:{decimal_json(v)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ",".join(decimal_json(item) for item in value) + "]"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return orjson.dumps(value).decode()


def json_value(value: Any) -> Any:
    """A JSONB column as asyncpg returns it (text, without a codec); numbers stay exact."""
    return json.loads(value, parse_float=Decimal) if isinstance(value, str | bytes) else value


USER_PRICES = """
SELECT provider, model, project_id::text AS project_id, input_usd_per_mtok, output_usd_per_mtok,
       cache_read_usd_per_mtok, cache_write_usd_per_mtok, tiers, other_prices,
       effective_from, effective_to
FROM model_pricing WHERE source = 'user'
"""


async def load_overrides(connection: asyncpg.Connection | asyncpg.Pool) -> list[Override]:
    """The users' rows; a row that cannot be a price is skipped (and logged), never the rest."""
    overrides = []
    for row in await connection.fetch(USER_PRICES):
        try:
            tiers = json_value(row["tiers"]) or []
            other = json_value(row["other_prices"]) or {}
            if not isinstance(tiers, list) or not all(isinstance(t, dict) for t in tiers):
                raise ValueError("tiers must be a JSON array of objects")
            if not isinstance(other, dict):
                raise ValueError("other_prices must be a JSON object")
            rates = override_rates(
                row["input_usd_per_mtok"],
                row["output_usd_per_mtok"],
                row["cache_read_usd_per_mtok"],
                row["cache_write_usd_per_mtok"],
                tiers,
                other,
            )
        except ValueError as error:  # json.JSONDecodeError is one
            telemetry.PRICE_ROWS_SKIPPED.inc()
            log.warning(
                "model_pricing row skipped",
                extra={"provider": row["provider"], "model": row["model"], "error": str(error)},
            )
            continue
        overrides.append(
            Override(
                canonical_provider(row["provider"]),
                row["model"].lower(),
                row["project_id"],
                epoch_us(row["effective_from"]) or 0,
                epoch_us(row["effective_to"]),
                rates,
            )
        )
    return overrides


async def load_catalogue(connection: asyncpg.Connection | asyncpg.Pool) -> PriceCatalogue:
    return PriceCatalogue(await load_overrides(connection))


class PriceCatalog:
    """The current PriceCatalogue (the library's prices under the users' rows), reloaded
    periodically so price changes apply without a restart. A reload that fails keeps the last good
    one: logged and counted, never fatal. Until the first load succeeds the library's prices serve."""

    def __init__(self, reload_timeout: float = RELOAD_TIMEOUT_S) -> None:
        self.book = PriceCatalogue()
        self.reload_timeout = reload_timeout

    async def refresh(self, dsn: str) -> None:
        async with asyncio.timeout(self.reload_timeout):
            connection = await asyncpg.connect(dsn, server_settings={"application_name": APPLICATION_NAME})
            try:
                self.book = await load_catalogue(connection)
            finally:
                await connection.close()

    async def reload(self, dsn: str) -> bool:
        """Refresh; on any failure keep the previous prices. True if the prices were reloaded."""
        try:
            await self.refresh(dsn)
        except Exception as error:
            kind = failure_kind(error)
            telemetry.DATABASE_ERRORS.labels("price_reload", kind).inc()
            log.warning(
                "price reload failed; keeping the previous prices",
                extra={"kind": kind, "error": str(error) or type(error).__name__},
            )
            return False
        return True

    @asynccontextmanager
    async def refreshing(self, dsn: str, interval: float = REFRESH_INTERVAL_S) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(interval)
                await self.reload(dsn)

        library_providers()  # the bundled data loads once, now, rather than on the first LLM call
        await self.reload(dsn)
        async with running_in_background(loop()):
            yield


@dataclass(frozen=True)
class PriceRow:
    """A user's price: USD per million tokens; tiers and other_prices use genai-prices' keys."""

    provider: str
    model: str
    input_usd_per_mtok: Decimal
    output_usd_per_mtok: Decimal
    cache_read_usd_per_mtok: Decimal | None = None
    cache_write_usd_per_mtok: Decimal | None = None
    effective_from: datetime = EPOCH
    tiers: list[dict[str, Any]] = field(default_factory=list)
    other_prices: dict[str, Any] = field(default_factory=dict)
    project: str | None = None  # a project's name: the price applies to that project only


def parse_price_row(record: dict[str, Any], where: str) -> PriceRow:
    def decimal(name: str, required: bool) -> Decimal | None:
        text = str(record.get(name) or "").strip()
        if not text:
            if required:
                raise ValueError(f"{where}: {name} is required")
            return None
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"{where}: {name} must be a number, got {text!r}") from None
        if not value.is_finite() or value < 0:
            raise ValueError(f"{where}: {name} must be a finite number, not negative")
        return value

    def json_field(name: str, kind: type) -> Any:
        value = record.get(name)
        if isinstance(value, str):
            try:
                value = json_value(value) if value.strip() else None
            except json.JSONDecodeError:
                raise ValueError(f"{where}: {name} must be JSON") from None
        if value is not None and not isinstance(value, kind):
            raise ValueError(f"{where}: {name} must be a JSON {'array' if kind is list else 'object'}")
        return value or kind()

    provider, model = str(record.get("provider") or "").strip(), str(record.get("model") or "").strip()
    if not provider or not model:
        raise ValueError(f"{where}: provider and model are required")
    effective = str(record.get("effective_from") or "").strip()
    try:
        effective_from = datetime.fromisoformat(effective) if effective else EPOCH
    except ValueError:
        raise ValueError(
            f"{where}: effective_from must be an ISO date or timestamp, got {effective!r}"
        ) from None
    if effective_from.tzinfo is None:
        effective_from = effective_from.replace(tzinfo=UTC)
    input_rate, output_rate = decimal("input_usd_per_mtok", True), decimal("output_usd_per_mtok", True)
    assert input_rate is not None and output_rate is not None
    row = PriceRow(
        provider.lower(),
        model.lower(),
        input_rate,
        output_rate,
        decimal("cache_read_usd_per_mtok", False),
        decimal("cache_write_usd_per_mtok", False),
        effective_from,
        json_field("tiers", list),
        json_field("other_prices", dict),
        str(record.get("project") or "").strip() or None,
    )
    try:  # the service must be able to price with it: refuse now what it would skip later
        override_rates(
            row.input_usd_per_mtok,
            row.output_usd_per_mtok,
            row.cache_read_usd_per_mtok,
            row.cache_write_usd_per_mtok,
            row.tiers,
            row.other_prices,
        )
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    return row


def read_price_file(path: Path) -> list[PriceRow]:
    """CSV with a header: provider,model,input_usd_per_mtok,output_usd_per_mtok[,cache_read_usd_per_mtok,
    cache_write_usd_per_mtok,effective_from,project,tiers,other_prices] (tiers and other_prices as JSON)."""
    with path.open(newline="") as handle:
        return [
            parse_price_row(record, f"{path.name} line {number}")
            for number, record in enumerate(csv.DictReader(handle), 2)
        ]


PRICE_VALUES = """($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10, 'user')"""
UPSERT_SET = """DO UPDATE SET
    input_usd_per_mtok = excluded.input_usd_per_mtok,
    output_usd_per_mtok = excluded.output_usd_per_mtok,
    cache_read_usd_per_mtok = excluded.cache_read_usd_per_mtok,
    cache_write_usd_per_mtok = excluded.cache_write_usd_per_mtok,
    tiers = excluded.tiers,
    other_prices = excluded.other_prices,
    source = 'user',
    updated_at = now()"""
INSERT_PRICE = """
INSERT INTO model_pricing (provider, model, input_usd_per_mtok, output_usd_per_mtok,
                           cache_read_usd_per_mtok, cache_write_usd_per_mtok, effective_from,
                           tiers, other_prices, project_id, source)
VALUES """
UPSERT_GLOBAL_PRICE = f"""{INSERT_PRICE}{PRICE_VALUES}
ON CONFLICT (provider, model, effective_from) WHERE project_id IS NULL {UPSERT_SET}"""
UPSERT_PROJECT_PRICE = f"""{INSERT_PRICE}{PRICE_VALUES}
ON CONFLICT (project_id, provider, model, effective_from) WHERE project_id IS NOT NULL {UPSERT_SET}"""
# Periods are closed within one owner (everyone, or one project) and source.
CLOSE_PREVIOUS_PERIODS = """
UPDATE model_pricing p
SET effective_to = (SELECT min(n.effective_from) FROM model_pricing n
                    WHERE n.provider = p.provider AND n.model = p.model AND n.source = p.source
                      AND n.project_id IS NOT DISTINCT FROM p.project_id
                      AND n.effective_from > p.effective_from),
    updated_at = now()
WHERE p.provider = $1 AND p.model = $2 AND p.source = 'user' AND p.project_id IS NOT DISTINCT FROM $3
"""


class UnknownProject(ValueError):
    pass


async def project_id_of(connection: asyncpg.Connection, name: str) -> str:
    project_id = await connection.fetchval("SELECT id::text FROM projects WHERE name = $1", name)
    if project_id is None:
        raise UnknownProject(f"no project named {name!r} (projects are created with `keys create`)")
    return str(project_id)


async def upsert_prices(connection: asyncpg.Connection, rows: Sequence[PriceRow]) -> int:
    """A newer price for the same model, owner and start date replaces the old one (a library
    row included: it becomes the user's); the effective_to of the previous period is closed so
    exactly one of the owner's prices applies at any time."""
    async with connection.transaction():
        for row in rows:
            project_id = await project_id_of(connection, row.project) if row.project else None
            await connection.execute(
                UPSERT_PROJECT_PRICE if project_id else UPSERT_GLOBAL_PRICE,
                row.provider,
                row.model,
                row.input_usd_per_mtok,
                row.output_usd_per_mtok,
                row.cache_read_usd_per_mtok,
                row.cache_write_usd_per_mtok,
                row.effective_from,
                decimal_json(row.tiers) if row.tiers else None,
                decimal_json(row.other_prices) if row.other_prices else None,
                project_id,
            )
            await connection.execute(CLOSE_PREVIOUS_PERIODS, row.provider, row.model, project_id)
    return len(rows)
