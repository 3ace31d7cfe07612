from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from observatory_ingest.convert.pricing import Price, PriceBook, canonical_provider, cost_of

D = Decimal
T2025, T2026 = 1_735_689_600_000_000, 1_767_225_600_000_000  # 2025-01-01, 2026-01-01 in µs


def price(
    model: str, provider: str = "openai", start: int = 0, end: int | None = None, **rates: str
) -> Price:
    return Price(
        provider,
        model,
        D(rates.get("i", "2.50")),
        D(rates.get("o", "10")),
        D(rates["cr"]) if "cr" in rates else None,
        D(rates["cw"]) if "cw" in rates else None,
        start,
        end,
    )


def test_cached_tokens_are_a_priced_subset_of_input_and_output_is_output() -> None:
    gpt4o = price("gpt-4o", cr="1.25")
    cost = cost_of(gpt4o, input_tokens=1200, output_tokens=300, cache_read_tokens=200)
    assert cost.prompt_usd == D("0.00275")  # 1000 x 2.50 + 200 x 1.25 per million
    assert cost.completion_usd == D("0.003")
    assert cost.total_usd == D("0.00575")


def test_cache_writes_use_their_price_and_missing_cache_prices_fall_back_to_input() -> None:
    sonnet = price("claude-sonnet-4-5", "anthropic", i="3", o="15", cr="0.30", cw="3.75")
    cost = cost_of(sonnet, 5000, 800, cache_read_tokens=3000, cache_write_tokens=1000)
    assert cost.prompt_usd == D("0.00765") and cost.completion_usd == D("0.012")
    plain = price("m", i="1", o="1")
    assert cost_of(plain, 100, 0, cache_read_tokens=40).prompt_usd == D("0.0001")


def test_exact_match_beats_prefix_and_the_longest_prefix_wins() -> None:
    book = PriceBook.of([price("gpt-4o"), price("gpt-4o-mini", i="0.15"), price("gpt-4o-2024-05-13", i="5")])
    assert book.find("openai", "gpt-4o-2024-05-13", T2026).input_per_mtok == D("5")  # type: ignore[union-attr]
    assert book.find("openai", "gpt-4o-2024-08-06", T2026).model == "gpt-4o"  # type: ignore[union-attr]
    assert book.find("openai", "gpt-4o-mini-2024-07-18", T2026).model == "gpt-4o-mini"  # type: ignore[union-attr]
    assert book.find("openai", "GPT-4O", T2026).model == "gpt-4o"  # type: ignore[union-attr]
    assert book.find("openai", "openai/gpt-4o", T2026).model == "gpt-4o"  # type: ignore[union-attr]
    assert book.find("openai", "o9-preview", T2026) is None
    assert book.find("anthropic", "gpt-4o", T2026) is None
    assert book.find(None, "gpt-4o", T2026) is None


def test_the_price_effective_at_the_call_time_applies() -> None:
    book = PriceBook.of([price("gpt-4o", end=T2026, i="5"), price("gpt-4o", start=T2026, i="2.5")])
    assert book.find("openai", "gpt-4o", T2025).input_per_mtok == D("5")  # type: ignore[union-attr]
    assert book.find("openai", "gpt-4o", T2026).input_per_mtok == D("2.5")  # type: ignore[union-attr]


def test_provider_names_of_every_family_fold_onto_pricing_names() -> None:
    assert canonical_provider("gcp.vertex_ai") == "google"
    assert canonical_provider("gcp.gemini") == "google"
    assert canonical_provider("mistral_ai") == "mistral"
    assert canonical_provider("Azure.AI.OpenAI") == "openai"
    assert canonical_provider("cohere") == "cohere"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.decimals(min_value=0, max_value=10**6, places=8, allow_nan=False), min_size=4, max_size=4),
    st.lists(st.integers(0, 10**9), min_size=4, max_size=4),
)
def test_costs_are_exact_decimal_arithmetic(rates: list[Decimal], tokens: list[int]) -> None:
    input_rate, output_rate, read_rate, write_rate = rates
    input_tokens, output_tokens, read_tokens, write_tokens = tokens
    cost = cost_of(
        Price("p", "m", input_rate, output_rate, read_rate, write_rate, 0, None),
        input_tokens,
        output_tokens,
        read_tokens,
        write_tokens,
    )
    uncached = max(input_tokens - read_tokens - write_tokens, 0)
    prompt = (uncached * input_rate + read_tokens * read_rate + write_tokens * write_rate) / 1_000_000
    completion = output_tokens * output_rate / 1_000_000
    assert (cost.prompt_usd, cost.completion_usd, cost.total_usd) == (prompt, completion, prompt + completion)


def test_a_price_that_is_not_a_number_prices_nothing() -> None:
    book = PriceBook.of([price("gpt-4o", i="NaN"), price("gpt-4", o="Infinity")])
    assert book.find("openai", "gpt-4o", T2026) is None
    assert book.find("openai", "gpt-4", T2026) is None
