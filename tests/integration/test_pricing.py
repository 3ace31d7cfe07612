"""Pricing against the real database and server: stored costs equal genai-prices' own calculation,
one end-to-end call per convention family, overrides from model_pricing, `pricing sync`,
`pricing unpriced`, `pricing reprice` with the rollups after it, and reloads that fail."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import aiohttp
import asyncpg
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from observatory_ingest import telemetry
from observatory_ingest.convert.pricing import Usage, epoch_us
from observatory_ingest.runtime.app import RunningService
from observatory_ingest.store.price_sync import library_rows, sync_library_prices
from observatory_ingest.store.prices import PriceRow, load_catalogue, upsert_prices
from observatory_ingest.store.reprice import reprice, unpriced_calls
from tests.integration.conftest import refresh_aggregates
from tests.integration.otlp_client import export
from tests.otlp_builders import key_values, span, trace_request
from tests.pricing_cases import CASES, Case

STORED = Decimal("1e-10")  # NUMERIC(20, 10)
# OTel GenAI attribute names for a case's reported usage.
OTEL_USAGE_KEYS = {
    "input_tokens": "gen_ai.usage.input_tokens",
    "output_tokens": "gen_ai.usage.output_tokens",
    "cache_read_tokens": "gen_ai.usage.cache_read.input_tokens",
    "cache_write_tokens": "gen_ai.usage.cache_creation.input_tokens",
    "reasoning_tokens": "gen_ai.usage.reasoning.output_tokens",
    "total_tokens": "gen_ai.usage.total_tokens",
    "input_text_tokens": "gen_ai.usage.text.input_tokens",
    "input_image_tokens": "gen_ai.usage.image.input_tokens",
    "input_audio_tokens": "gen_ai.usage.audio.input_tokens",
    "input_video_tokens": "gen_ai.usage.video.input_tokens",
    "output_text_tokens": "gen_ai.usage.text.output_tokens",
    "output_audio_tokens": "gen_ai.usage.audio.output_tokens",
}


def as_stored(amounts: tuple[Decimal, ...]) -> tuple[Decimal, ...]:
    return tuple(amount.quantize(STORED, ROUND_HALF_UP) for amount in amounts)


def ns(moment: datetime) -> int:
    return epoch_us(moment) * 1000


def case_span(index: int, case: Case) -> Span:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": case.provider,
        "gen_ai.request.model": case.model,
        **{OTEL_USAGE_KEYS[name]: count for name, count in case.usage.items()},
    }
    return span(
        (0x1000 + index).to_bytes(2, "big") * 8,
        (0x1000 + index).to_bytes(2, "big") * 4,
        f"case {index}",
        start=ns(case.at),
        kind=Span.SPAN_KIND_CLIENT,
        attributes=key_values(attributes),
    )


async def costs_by_span(db: asyncpg.Connection) -> dict[str, tuple[Decimal, ...]]:
    rows = await db.fetch(
        "SELECT span_name, prompt_cost_usd, completion_cost_usd, total_cost_usd FROM llm_traces"
    )
    return {row["span_name"]: tuple(row)[1:] for row in rows}


async def test_every_stored_cost_equals_the_librarys_calculation(
    service: RunningService, db: asyncpg.Connection
) -> None:
    # Spans up to a year and a half old are within the plausible window; the cases are newer.
    await export(service.grpc_port, "traces", trace_request([case_span(i, c) for i, c in enumerate(CASES)]))
    stored = await costs_by_span(db)
    for index, case in enumerate(CASES):
        assert stored[f"case {index}"] == as_stored(case.library_cost()), case.id


# One call per convention family, as its instrumentations send it.
FAMILY_CALLS = {
    "otel": (
        {
            "gen_ai.provider.name": "aws.bedrock",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "us.anthropic.claude-sonnet-4-20250514-v1:0",
            "gen_ai.usage.input_tokens": 12000,
            "gen_ai.usage.output_tokens": 700,
            "gen_ai.usage.cache_read.input_tokens": 8000,
            "gen_ai.usage.cache_creation.input_tokens": 1000,
        },
        Case(
            "aws.bedrock",
            "-",
            "aws",
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            {},
            {
                "input_tokens": 12000,
                "output_tokens": 700,
                "cache_read_tokens": 8000,
                "cache_write_tokens": 1000,
            },
        ),
    ),
    "openllmetry": (
        {
            "gen_ai.system": "Anthropic",
            "llm.request.type": "chat",
            "gen_ai.request.model": "claude-3-5-haiku-20241022",
            "gen_ai.usage.prompt_tokens": 40,  # Anthropic's uncached input, beside the cache
            "gen_ai.usage.completion_tokens": 300,
            "gen_ai.usage.cache_read_input_tokens": 5000,
            "gen_ai.usage.cache_creation_input_tokens": 200,
        },
        Case(
            "Anthropic",
            "-",
            "anthropic",
            "claude-3-5-haiku-20241022",
            {},
            {
                "input_tokens": 5240,
                "output_tokens": 300,
                "cache_read_tokens": 5000,
                "cache_write_tokens": 200,
            },
        ),
    ),
    "openinference": (
        {
            "openinference.span.kind": "LLM",
            "llm.provider": "google",
            "llm.system": "vertexai",
            "llm.model_name": "publishers/google/models/gemini-2.0-flash",
            "llm.token_count.prompt": 3000,
            "llm.token_count.completion": 150,
            "llm.token_count.total": 3150,
            "llm.token_count.prompt_details.audio": 2000,
            "llm.token_count.prompt_details.cache_read": 400,
        },
        Case(
            "google",
            "-",
            "google",
            "gemini-2.0-flash",
            {},
            {
                "input_tokens": 3000,
                "output_tokens": 150,
                "input_audio_tokens": 2000,
                "cache_read_tokens": 400,
                # No convention reports cached audio: the service takes it as none; the library
                # wants that said.
                "cache_audio_read_tokens": 0,
            },
        ),
    ),
}


@pytest.mark.parametrize("family", FAMILY_CALLS)
async def test_one_call_per_convention_family_is_stored_at_the_librarys_price(
    family: str, service: RunningService, db: asyncpg.Connection
) -> None:
    attributes, expected = FAMILY_CALLS[family]
    at = datetime.now(UTC) - timedelta(minutes=5)
    trace = {"otel": 0x31, "openllmetry": 0x32, "openinference": 0x33}[family]
    call = span(
        bytes([trace]) * 16,
        bytes([trace]) * 8,
        f"family {family}",
        start=ns(at),
        attributes=key_values(attributes),
    )
    await export(service.grpc_port, "traces", trace_request([call]))
    stored = (await costs_by_span(db))[f"family {family}"]
    library = Case(
        expected.provider,
        "-",
        expected.library_provider,
        expected.library_model,
        {},
        expected.library_usage,
        at,
    )
    assert stored == as_stored(library.library_cost())
    assert stored[2] is not None and stored[2] > 0


async def test_overrides_from_model_pricing_win_in_order(db: asyncpg.Connection) -> None:
    await db.execute("INSERT INTO projects (name) VALUES ('discounted') ON CONFLICT DO NOTHING")
    discounted = str(await db.fetchval("SELECT id FROM projects WHERE name = 'discounted'"))
    start = datetime(2026, 10, 1, tzinfo=UTC)
    await upsert_prices(
        db,
        [
            PriceRow("mistral_ai", "mistral-large", Decimal(1), Decimal(1), effective_from=start),
            PriceRow("mistral_ai", "mistral-large", Decimal("0.5"), Decimal("0.5"), project="discounted"),
        ],
    )
    catalogue = await load_catalogue(db)
    million = Usage(1_000_000, 1_000_000)

    def total(project: str, at: datetime) -> Decimal:
        found = catalogue.cost(project, "mistral_ai", "mistral-large-latest", million, epoch_us(at))
        assert found is not None
        return found.total_usd

    before, after = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    assert total("00000000-0000-0000-0000-000000000000", before) == 8  # the library's 2 + 6
    assert total("00000000-0000-0000-0000-000000000000", after) == 2
    assert total(discounted, before) == total(discounted, after) == 1
    await db.execute("DELETE FROM model_pricing WHERE model = 'mistral-large' AND source = 'user'")


async def test_a_project_unknown_to_pricing_set_is_refused(db: asyncpg.Connection) -> None:
    with pytest.raises(ValueError, match="no project named 'nobody'"):
        await upsert_prices(db, [PriceRow("openai", "gpt-4o", Decimal(1), Decimal(1), project="nobody")])


async def test_sync_writes_the_library_leaves_users_rows_and_takes_edited_rows_as_users(
    db: asyncpg.Connection,
) -> None:
    seeded = await db.fetchval("SELECT count(*) FROM model_pricing WHERE source = 'library'")
    assert seeded >= 30  # 009 marked 006's untouched list prices as library data
    await upsert_prices(db, [PriceRow("openai", "gpt-4o", Decimal(7), Decimal(7))])
    first = await sync_library_prices(db)
    assert first.models == len(library_rows(datetime.now(UTC))) > 1000
    assert first.kept_user == 1 and first.removed >= 1  # 006's 'meta' prices are not the library's
    library = await db.fetchrow(
        "SELECT * FROM model_pricing "
        "WHERE provider = 'google' AND model = 'gemini-2.5-pro' AND source = 'library'"
    )
    assert library["input_usd_per_mtok"] == Decimal("1.25") and library["tiers"] is not None
    users = await db.fetchrow("SELECT * FROM model_pricing WHERE provider = 'openai' AND model = 'gpt-4o'")
    assert (users["source"], users["input_usd_per_mtok"]) == ("user", 7)

    again = await sync_library_prices(db)
    assert (again.written, again.removed, again.kept_user) == (0, 0, 1)

    await db.execute(
        "UPDATE model_pricing SET input_usd_per_mtok = 1 "
        "WHERE provider = 'google' AND model = 'gemini-2.5-pro'"
    )
    edited = await db.fetchval(
        "SELECT source FROM model_pricing WHERE provider = 'google' AND model = 'gemini-2.5-pro'"
    )
    assert edited == "user"
    assert (await sync_library_prices(db)).kept_user == 2
    assert (
        await db.fetchval(
            "SELECT input_usd_per_mtok FROM model_pricing "
            "WHERE provider = 'google' AND model = 'gemini-2.5-pro'"
        )
        == 1
    )
    await db.execute("DELETE FROM model_pricing WHERE source = 'user'")


def cli(database: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "observatory_ingest", "pricing", *arguments, "--database-url", database],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def llm_call(index: int, provider: str, model: str, at: datetime, tokens: int) -> Span:
    return span(
        (0x4000 + index).to_bytes(2, "big") * 8,
        (0x4000 + index).to_bytes(2, "big") * 4,
        f"reprice {index}",
        start=ns(at),
        kind=Span.SPAN_KIND_CLIENT,
        attributes=key_values(
            {
                "gen_ai.provider.name": provider,
                "gen_ai.request.model": model,
                "gen_ai.usage.input_tokens": tokens,
                "gen_ai.usage.output_tokens": tokens // 10,
            }
        ),
    )


async def sums(db: asyncpg.Connection, table: str, since: datetime) -> Decimal:
    column = "ts" if table == "llm_traces" else "bucket"
    return await db.fetchval(
        f"SELECT coalesce(sum(total_cost_usd), 0) FROM {table} WHERE {column} >= $1", since
    )


async def provider_cost(db: asyncpg.Connection, provider: str, since: datetime) -> Decimal:
    return await db.fetchval(
        "SELECT sum(total_cost_usd) FROM llm_traces WHERE provider = $1 AND ts >= $2", provider, since
    )


async def test_reprice_recomputes_in_batches_is_idempotent_and_refreshes_the_rollups(
    service: RunningService, db: asyncpg.Connection, database: str, backend: str
) -> None:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=2)
    calls = [
        llm_call(i, "openai", "gpt-4o-mini", start + timedelta(minutes=7 * i), 1000 + i) for i in range(12)
    ]
    calls += [
        llm_call(20 + i, "groq", "llama-3.1-8b-instant", start + timedelta(minutes=5 * i), 5000)
        for i in range(3)
    ]
    calls.append(llm_call(40, "acme", "house-model-1", start, 800))
    await export(service.grpc_port, "traces", trace_request(calls))
    if backend == "timescaledb":
        await refresh_aggregates(db, ("llm_metrics_1min", "llm_metrics_1hour", "llm_metrics_1day"))
    before = await sums(db, "llm_traces", start)
    groq_before = await provider_cost(db, "groq", start)

    unpriced = await unpriced_calls(db, start)
    assert [(r["provider"], r["model"], r["calls"], r["input_tokens"]) for r in unpriced] == [
        ("acme", "house-model-1", 1, 800)
    ]
    listed = cli(database, "unpriced", "--since", start.isoformat())
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[:4] for line in listed.stdout.splitlines()] == [
        ["acme", "house-model-1", "calls", "1"]
    ]

    await upsert_prices(
        db,
        [
            PriceRow("openai", "gpt-4o-mini", Decimal(10), Decimal(20)),
            PriceRow("acme", "house-model", Decimal(1), Decimal(2)),
            PriceRow("groq", "llama-3.1-8b-instant", Decimal(9), Decimal(9)),
        ],
    )
    catalogue = await load_catalogue(db)
    result = await reprice(db, catalogue, start, datetime.now(UTC), provider="OpenAI", batch_size=5)
    assert (result.examined, result.changed) == (12, 12)
    # Each batch commits on its own (ingestion never waits on more than one): the updated rows
    # carry the ids of several transactions.
    transactions = await db.fetchval(
        "SELECT count(DISTINCT xmin::text) FROM llm_traces WHERE provider = 'openai' AND ts >= $1", start
    )
    assert transactions >= 3
    assert await provider_cost(db, "groq", start) == groq_before
    tokens = sum(1000 + i for i in range(12))
    expected = Decimal(tokens * 10 + sum((1000 + i) // 10 for i in range(12)) * 20) / 1_000_000
    assert await provider_cost(db, "openai", start) == expected

    again = await reprice(db, catalogue, start, datetime.now(UTC), provider="openai", batch_size=5)
    assert (again.examined, again.changed, again.refreshed) == (12, 0, ())

    through_cli = cli(
        database, "reprice", "--since", start.isoformat(), "--model", "house-model", "--batch-size", "2"
    )
    assert through_cli.returncode == 0, through_cli.stderr
    assert "examined 1 call(s), changed the cost of 1" in through_cli.stdout
    assert await db.fetchval(
        "SELECT total_cost_usd FROM llm_traces WHERE model = 'house-model-1'"
    ) == Decimal("0.00096")
    assert await unpriced_calls(db, start) == []

    after = await sums(db, "llm_traces", start)
    assert after != before
    for view in ("llm_metrics_1min", "llm_metrics_1hour", "llm_metrics_1day"):
        # Day buckets start before `start`: compare whole buckets.
        assert await sums(db, view, start - timedelta(days=1)) == after, view
    if backend == "timescaledb":
        assert result.refreshed == ("llm_metrics_1min", "llm_metrics_1hour", "llm_metrics_1day")
    await db.execute("DELETE FROM model_pricing WHERE source = 'user'")


async def test_a_row_that_cannot_be_a_price_is_skipped_and_the_rest_load(db: asyncpg.Connection) -> None:
    await db.execute(
        "INSERT INTO model_pricing (provider, model, input_usd_per_mtok, output_usd_per_mtok, other_prices) "
        "VALUES ('openai', 'broken', 1, 1, '{\"warp_mtok\": 3}'), ('openai', 'fine', 1, 1, NULL)"
    )
    skipped = telemetry.PRICE_ROWS_SKIPPED._value.get()
    catalogue = await load_catalogue(db)
    assert [o.model for o in catalogue.overrides] == ["fine"]
    assert telemetry.PRICE_ROWS_SKIPPED._value.get() == skipped + 1
    await db.execute("DELETE FROM model_pricing WHERE model IN ('broken', 'fine')")


async def test_pricing_set_with_tiers_and_other_prices_through_the_command_line(
    database: str, db: asyncpg.Connection
) -> None:
    stored = cli(
        database,
        "set",
        "--provider", "openai", "--model", "my-audio-model", "--input", "2", "--output", "8",
        "--tier", "128000:4:16", "--price", "input_audio_mtok=40",
    )  # fmt: skip
    assert stored.returncode == 0, stored.stderr
    row = await db.fetchrow("SELECT * FROM model_pricing WHERE model = 'my-audio-model'")
    assert row["source"] == "user"
    catalogue = await load_catalogue(db)
    cost = catalogue.cost(
        "p",
        "openai",
        "my-audio-model",
        Usage(130_000, 0, details={"input_audio_tokens": 1000}),
        epoch_us(datetime.now(UTC)),
    )
    assert cost is not None and cost.total_usd == Decimal("0.556")  # 129000 at 4 + 1000 at 40
    refused = cli(
        database,
        "set",
        "--provider",
        "openai",
        "--model",
        "m",
        "--input",
        "1",
        "--output",
        "1",
        "--price",
        "warp_mtok=1",
    )
    assert refused.returncode == 2 and "unknown price key 'warp_mtok'" in refused.stdout
    listing = cli(database, "list", "--source", "user")
    assert "my-audio-model" in listing.stdout and "input_audio_mtok" in listing.stdout
    await db.execute("DELETE FROM model_pricing WHERE model = 'my-audio-model'")


async def test_unpriced_calls_show_in_metrics(service: RunningService) -> None:
    at = datetime.now(UTC) - timedelta(minutes=1)
    await export(service.grpc_port, "traces", trace_request([llm_call(60, "acme", "unheard-of", at, 10)]))
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{service.metrics_port}/metrics") as reply,
    ):
        text = await reply.text()
    line = next(x for x in text.splitlines() if x.startswith("observatory_llm_unpriced_calls_total"))
    assert float(line.split()[-1]) >= 1
