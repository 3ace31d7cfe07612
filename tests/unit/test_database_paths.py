"""Database errors off the write path (key lookups, price reloads) are classified like the
writers' errors, with timeouts: an outage tells the client to retry, never INTERNAL."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY

from observatory_ingest.auth import Authenticator
from observatory_ingest.convert.pricing import Override, PriceCatalogue, override_rates
from observatory_ingest.errors import DatabaseUnavailable, Unauthenticated
from observatory_ingest.outcomes import outcome_for
from observatory_ingest.store.keys import new_key
from observatory_ingest.store.prices import PriceCatalog


def database_errors(operation: str, kind: str) -> float:
    value = REGISTRY.get_sample_value(
        "observatory_database_errors_total", {"operation": operation, "kind": kind}
    )
    return value or 0.0


class FailingPool:
    """Stands in for asyncpg.Pool: every query raises `error`, or never returns."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error

    async def fetchrow(self, *args: Any) -> Any:
        if self.error is None:
            await asyncio.sleep(3600)
        raise self.error  # type: ignore[misc]


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ConnectionRefusedError(111, "Connection refused"), "connection"),
        (asyncpg.ConnectionDoesNotExistError("connection was closed"), "sqlstate_08"),
        (asyncpg.InterfaceError("connection is closed"), "connection"),
        (asyncpg.CannotConnectNowError("the database system is starting up"), "sqlstate_57"),
        (asyncpg.TooManyConnectionsError("too many clients"), "sqlstate_53"),
    ],
)
async def test_a_key_lookup_during_an_outage_is_unavailable_with_retry_info(
    error: Exception, kind: str
) -> None:
    authenticator = Authenticator(required=True, pool=FailingPool(error))  # type: ignore[arg-type]
    before = database_errors("key_lookup", kind)
    with pytest.raises(DatabaseUnavailable) as raised:
        await authenticator.project_for(new_key())
    outcome = outcome_for(raised.value)
    assert (outcome.grpc_code.name, outcome.http_status, outcome.retry_after_s) == ("UNAVAILABLE", 503, 2.0)
    assert database_errors("key_lookup", kind) == before + 1


async def test_a_key_lookup_that_hangs_gives_up_after_its_timeout() -> None:
    authenticator = Authenticator(required=True, pool=FailingPool(None), lookup_timeout=0.2)  # type: ignore[arg-type]
    before = database_errors("key_lookup", "timeout")
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable, match="retry later"):
        await authenticator.project_for(new_key())
    assert time.monotonic() - started < 5  # the liveness bound; the timeout is 0.2 s
    assert database_errors("key_lookup", "timeout") == before + 1


async def test_a_key_the_database_cannot_even_compare_is_invalid_not_an_outage() -> None:
    refused = asyncpg.CharacterNotInRepertoireError("invalid byte sequence for encoding UTF8: 0x00")
    authenticator = Authenticator(required=True, pool=FailingPool(refused))  # type: ignore[arg-type]
    with pytest.raises(Unauthenticated):
        await authenticator.project_for("obs_\x00\x00\x00\x00\x00\x00\x00\x00_x")


@pytest.mark.parametrize(
    "key", ["nope", "obs_short", "obs_wmmr7ug8_\udce9\udce9", "obs_wmmr7ug8_\u00e9\u00e9"]
)
async def test_a_key_no_keys_create_could_make_is_refused_without_a_lookup(key: str) -> None:
    """Non-ASCII (aiohttp hands undecodable header bytes over as surrogates, which failed to
    encode: 503 'internal error', retried for ever) or malformed: 401, even while the database
    is down, since no lookup could ever accept it."""
    authenticator = Authenticator(required=True, pool=FailingPool(ConnectionRefusedError()))  # type: ignore[arg-type]
    with pytest.raises(Unauthenticated):
        await authenticator.project_for(key)


async def test_an_outage_is_not_remembered_as_an_unknown_key() -> None:
    pool = FailingPool(ConnectionResetError())
    authenticator = Authenticator(required=True, pool=pool)  # type: ignore[arg-type]
    key = new_key()
    with pytest.raises(DatabaseUnavailable):
        await authenticator.project_for(key)
    pool.error = OSError("still down")
    with pytest.raises(DatabaseUnavailable):  # asked again, not answered "invalid key" from the cache
        await authenticator.project_for(key)


PRICES = PriceCatalogue(
    [Override("openai", "gpt-4o", None, 0, None, override_rates(Decimal("2.5"), Decimal(10), None, None))]
)


async def test_a_failed_price_reload_keeps_the_last_good_prices_and_is_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    catalog = PriceCatalog()
    catalog.book = PRICES
    before = sum(database_errors("price_reload", kind) for kind in ("connection", "RuntimeError"))
    # The unit tests' guard makes every connection attempt raise.
    assert not await catalog.reload("postgresql://nobody@127.0.0.1:1/none")
    assert catalog.book is PRICES
    after = sum(database_errors("price_reload", kind) for kind in ("connection", "RuntimeError"))
    assert after == before + 1
    assert [r.message for r in caplog.records] == ["price reload failed; keeping the previous prices"]


async def test_a_price_reload_that_hangs_gives_up_after_its_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    async def hanging_connect(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(3600)

    monkeypatch.setattr(asyncpg, "connect", hanging_connect)
    catalog = PriceCatalog(reload_timeout=0.2)
    catalog.book = PRICES
    before = database_errors("price_reload", "timeout")
    started = time.monotonic()
    assert not await catalog.reload("postgresql://nobody@127.0.0.1:1/none")
    assert time.monotonic() - started < 5
    assert catalog.book is PRICES
    assert database_errors("price_reload", "timeout") == before + 1
