"""model_pricing: load it into a PriceBook, keep that fresh, and maintain rows (CLI)."""

from __future__ import annotations

import asyncio
import csv
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import astuple, dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import asyncpg

from observatory_ingest import telemetry
from observatory_ingest.background import running_in_background
from observatory_ingest.convert.pricing import Price, PriceBook
from observatory_ingest.store.database import APPLICATION_NAME
from observatory_ingest.store.failures import failure_kind

log = logging.getLogger(__name__)

REFRESH_INTERVAL_S = 60.0
RELOAD_TIMEOUT_S = 10.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_us(moment: datetime | None) -> int | None:
    return None if moment is None else (moment - EPOCH) // timedelta(microseconds=1)


async def load_price_book(connection: asyncpg.Connection | asyncpg.Pool) -> PriceBook:
    rows = await connection.fetch(
        """SELECT provider, lower(model) AS model, input_usd_per_mtok, output_usd_per_mtok,
                  cache_read_usd_per_mtok, cache_write_usd_per_mtok, effective_from, effective_to
           FROM model_pricing"""
    )
    return PriceBook.of(
        [
            Price(
                row["provider"],
                row["model"],
                row["input_usd_per_mtok"],
                row["output_usd_per_mtok"],
                row["cache_read_usd_per_mtok"],
                row["cache_write_usd_per_mtok"],
                epoch_us(row["effective_from"]) or 0,
                epoch_us(row["effective_to"]),
            )
            for row in rows
        ]
    )


class PriceCatalog:
    """The current PriceBook, reloaded periodically so price changes apply without a restart. A
    reload that fails keeps the last good book: logged and counted, never fatal."""

    def __init__(self, reload_timeout: float = RELOAD_TIMEOUT_S) -> None:
        self.book = PriceBook()
        self.reload_timeout = reload_timeout

    async def refresh(self, dsn: str) -> None:
        async with asyncio.timeout(self.reload_timeout):
            connection = await asyncpg.connect(dsn, server_settings={"application_name": APPLICATION_NAME})
            try:
                self.book = await load_price_book(connection)
            finally:
                await connection.close()

    async def reload(self, dsn: str) -> bool:
        """Refresh; on any failure keep the previous prices. True if the book was reloaded."""
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

        await self.reload(dsn)
        async with running_in_background(loop()):
            yield


@dataclass(frozen=True)
class PriceRow:
    provider: str
    model: str
    input_usd_per_mtok: Decimal
    output_usd_per_mtok: Decimal
    cache_read_usd_per_mtok: Decimal | None = None
    cache_write_usd_per_mtok: Decimal | None = None
    effective_from: datetime = EPOCH


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
        if value < 0:
            raise ValueError(f"{where}: {name} must not be negative")
        return value

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
    required = decimal("input_usd_per_mtok", True), decimal("output_usd_per_mtok", True)
    assert required[0] is not None and required[1] is not None
    return PriceRow(
        provider.lower(),
        model.lower(),
        required[0],
        required[1],
        decimal("cache_read_usd_per_mtok", False),
        decimal("cache_write_usd_per_mtok", False),
        effective_from,
    )


def read_price_file(path: Path) -> list[PriceRow]:
    """CSV with a header: provider,model,input_usd_per_mtok,output_usd_per_mtok[,cache_read_usd_per_mtok,
    cache_write_usd_per_mtok,effective_from]."""
    with path.open(newline="") as handle:
        return [
            parse_price_row(record, f"{path.name} line {number}")
            for number, record in enumerate(csv.DictReader(handle), 2)
        ]


UPSERT_PRICE = """
INSERT INTO model_pricing (provider, model, input_usd_per_mtok, output_usd_per_mtok,
                           cache_read_usd_per_mtok, cache_write_usd_per_mtok, effective_from)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (provider, model, effective_from) DO UPDATE SET
    input_usd_per_mtok = excluded.input_usd_per_mtok,
    output_usd_per_mtok = excluded.output_usd_per_mtok,
    cache_read_usd_per_mtok = excluded.cache_read_usd_per_mtok,
    cache_write_usd_per_mtok = excluded.cache_write_usd_per_mtok,
    updated_at = now()
"""
CLOSE_PREVIOUS_PERIODS = """
UPDATE model_pricing p
SET effective_to = (SELECT min(n.effective_from) FROM model_pricing n
                    WHERE n.provider = p.provider AND n.model = p.model
                      AND n.effective_from > p.effective_from),
    updated_at = now()
WHERE p.provider = $1 AND p.model = $2
"""


async def upsert_prices(connection: asyncpg.Connection, rows: Sequence[PriceRow]) -> int:
    """A newer price for the same model and start date replaces the old one; the effective_to of
    the previous period is closed so exactly one price applies at any time."""
    async with connection.transaction():
        for row in rows:
            await connection.execute(UPSERT_PRICE, *astuple(row))
            await connection.execute(CLOSE_PREVIOUS_PERIODS, row.provider, row.model)
    return len(rows)
