"""Pricing: every case costs what genai-prices calculates; the cache conventions; tiers and time;
the users' and projects' overrides; what cannot be priced; the lookup cache."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from genai_prices import Usage as LibraryUsage
from hypothesis import given, settings
from hypothesis import strategies as st

from observatory_ingest.convert import pricing
from observatory_ingest.convert.columns import LLM_TRACE_COLUMNS
from observatory_ingest.convert.context import ConvertContext
from observatory_ingest.convert.genai import (
    FIELD_KEYS,
    MODALITY_KEYS,
    PROVIDER_KEYS,
    REQUEST_MODEL_KEYS,
    RESPONSE_MODEL_KEYS,
    llm_fields,
)
from observatory_ingest.convert.pricing import (
    MAX_REMEMBERED_MODELS,
    REPORTED_KEYS,
    Cost,
    Override,
    PriceCatalogue,
    Usage,
    canonical_provider,
    epoch_us,
    library_model,
    library_provider,
    override_rates,
)
from tests.otlp_builders import convert_trace_message, key_values, span, trace_request
from tests.pricing_cases import CASES, NOV_2026, Case

AT = epoch_us(NOV_2026)
HAIKU = ("anthropic", "claude-3-5-haiku-20241022")  # 0.80 in, 4 out, 0.08 cache read, 1 cache write


def cost(provider: str | None, model: str, usage: Usage, at: int = AT, project: str = "p1") -> Cost | None:
    return PriceCatalogue().cost(project, provider, model, usage, at)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_case_costs_what_genai_prices_calculates(case: Case) -> None:
    ours = PriceCatalogue().cost("p1", case.provider, case.model, case.reported(), epoch_us(case.at))
    assert ours is not None
    assert tuple(ours) == case.library_cost()


def test_the_cases_cover_providers_cache_tiers_audio_and_time() -> None:
    assert len(CASES) >= 50
    assert len({c.library_provider for c in CASES}) >= 10
    assert any(c.usage.get("cache_read_tokens") for c in CASES)
    assert any(c.usage.get("cache_write_tokens") for c in CASES)
    assert any(c.usage.get("input_audio_tokens") and c.usage.get("output_audio_tokens") for c in CASES)
    assert any((c.usage.get("input_tokens") or 0) > 200_000 for c in CASES)
    assert len({c.at for c in CASES}) >= 4


def test_cache_tokens_inside_input_are_priced_as_a_part_of_it() -> None:
    # OTel conventions and OpenAI: 1000 input of which 500 cache reads.
    assert cost(*HAIKU, Usage(1000, 50, 500)) == Cost(
        Decimal("0.00044"), Decimal("0.0002"), Decimal("0.00064")
    )


def test_cache_tokens_exceeding_the_input_were_reported_beside_it() -> None:
    # Anthropic's API: 100 uncached input beside 2000 cache reads and 300 cache writes.
    beside = cost(*HAIKU, Usage(100, 50, 2000, 300))
    assert beside == Cost(Decimal("0.00054"), Decimal("0.0002"), Decimal("0.00074"))
    assert beside == cost(*HAIKU, Usage(2400, 50, 2000, 300))  # the same call, inside convention


def test_a_total_that_adds_up_only_with_the_cache_says_it_was_beside_the_input() -> None:
    beside = cost(*HAIKU, Usage(1000, 50, 500, total_tokens=1550))
    inside = cost(*HAIKU, Usage(1000, 50, 500, total_tokens=1050))
    assert beside == Cost(Decimal("0.00084"), Decimal("0.0002"), Decimal("0.00104"))
    assert inside == cost(*HAIKU, Usage(1000, 50, 500)) != beside


def test_reasoning_above_the_output_count_was_reported_beside_it() -> None:
    inside = cost("openai", "o3-mini", Usage(100, 1000, reasoning_tokens=800))
    beside = cost("openai", "o3-mini", Usage(100, 200, reasoning_tokens=800))
    assert inside == beside and inside is not None


def test_the_tier_is_chosen_by_the_calls_own_input() -> None:
    at_start = cost("anthropic", "claude-sonnet-4-5", Usage(200_000, 1000))
    above = cost("anthropic", "claude-sonnet-4-5", Usage(200_001, 1000))
    assert at_start == Cost(Decimal("0.6"), Decimal("0.015"), Decimal("0.615"))
    assert above == Cost(Decimal("1.200006"), Decimal("0.0225"), Decimal("1.222506"))


def test_the_price_in_effect_at_the_call_time_applies() -> None:
    million = Usage(1_000_000, 1_000_000)
    before = cost("openai", "o3", million, epoch_us(datetime(2025, 6, 9, 23, 59, tzinfo=UTC)))
    after = cost("openai", "o3", million, epoch_us(datetime(2025, 6, 10, tzinfo=UTC)))
    assert before is not None and before.total_usd == 50
    assert after is not None and after.total_usd == 10
    day = cost(
        "deepseek", "deepseek-chat", Usage(1_000_000, 0), epoch_us(datetime(2026, 11, 2, 3, tzinfo=UTC))
    )
    evening = cost(
        "deepseek", "deepseek-chat", Usage(1_000_000, 0), epoch_us(datetime(2026, 11, 2, 17, tzinfo=UTC))
    )
    assert day is not None and evening is not None and day.total_usd != evening.total_usd


@pytest.mark.parametrize(
    ("name", "library_id"),
    [
        ("openai", "openai"),
        ("OpenAI", "openai"),
        ("anthropic", "anthropic"),
        ("Anthropic", "anthropic"),
        ("aws.bedrock", "aws"),
        ("AWS.Bedrock", "aws"),
        ("bedrock", "aws"),
        ("azure.ai.openai", "azure"),
        ("az.ai.openai", "azure"),
        ("azure", "azure"),
        ("gcp.vertex_ai", "google"),
        ("gcp.gemini", "google"),
        ("gcp.gen_ai", "google"),
        ("VertexAI", "google"),
        ("vertex_ai", "google"),
        ("google", "google"),
        ("gemini", "google"),
        ("mistral_ai", "mistral"),
        ("mistralai", "mistral"),
        ("MistralAI", "mistral"),
        ("x_ai", "x-ai"),
        ("xai", "x-ai"),
        ("deepseek", "deepseek"),
        ("groq", "groq"),
        ("Groq", "groq"),
        ("cohere", "cohere"),
        ("perplexity", "perplexity"),
        ("together_ai", "together"),
        ("fireworks", "fireworks"),
        ("openrouter", "openrouter"),
    ],
)
def test_provider_names_of_every_family_map_onto_the_librarys(name: str, library_id: str) -> None:
    found = library_provider(name)
    assert found is not None and found.id == library_id


def test_an_unknown_provider_prices_nothing_and_a_missing_one_is_inferred_from_the_model() -> None:
    assert cost("ollama", "llama3.1", Usage(100, 100)) is None
    assert cost("openai", "no-such-model-xyz", Usage(100, 100)) is None
    assert cost(None, "gpt-4o", Usage(1000, 100)) == cost("openai", "gpt-4o", Usage(1000, 100))
    assert PriceCatalogue().cost("p1", "openai", None, Usage(1, 1), AT) is None


def test_contradictory_counts_price_nothing_rather_than_something_wrong() -> None:
    assert cost("openai", "gpt-4o", Usage(-5, 100)) is None
    # More audio than input tokens, for a model that prices audio on its own.
    assert (
        cost("openai", "gpt-4o-realtime-preview", Usage(100, 10, details={"input_audio_tokens": 400})) is None
    )


def override(
    model: str,
    provider: str = "openai",
    project: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    **rates: str,
) -> Override:
    return Override(
        canonical_provider(provider),
        model,
        project,
        epoch_us(start) if start else 0,
        epoch_us(end) if end else None,
        override_rates(
            Decimal(rates.get("i", "1")),
            Decimal(rates.get("o", "2")),
            Decimal(rates["cr"]) if "cr" in rates else None,
            Decimal(rates["cw"]) if "cw" in rates else None,
        ),
    )


MILLION = Usage(1_000_000, 1_000_000)


def test_a_users_price_wins_over_the_library_from_its_start() -> None:
    start = datetime(2026, 10, 1, tzinfo=UTC)
    catalogue = PriceCatalogue([override("gpt-4o", start=start, i="1", o="2")])
    before = catalogue.cost("p1", "openai", "gpt-4o", MILLION, epoch_us(datetime(2026, 9, 30, tzinfo=UTC)))
    after = catalogue.cost("p1", "openai", "gpt-4o", MILLION, AT)
    assert before is not None and before.total_usd == Decimal("12.5")  # the library: 2.50 + 10
    assert after is not None and after.total_usd == 3


def test_a_projects_price_wins_over_both_for_that_project_only() -> None:
    catalogue = PriceCatalogue(
        [override("gpt-4o", i="1", o="2"), override("gpt-4o", project="p1", i="0.5", o="1")]
    )
    assert catalogue.cost("p1", "openai", "gpt-4o-2024-08-06", MILLION, AT) == Cost(
        Decimal("0.5"), Decimal("1"), Decimal("1.5")
    )
    other = catalogue.cost("p2", "openai", "gpt-4o-2024-08-06", MILLION, AT)
    assert other is not None and other.total_usd == 3


def test_an_override_matches_by_prefix_by_the_librarys_model_id_and_by_any_provider_name() -> None:
    catalogue = PriceCatalogue(
        [
            override("gpt-4o", i="1", o="1"),
            override("gpt-4o-mini", i="0.1", o="0.1"),
            override("claude-3-5-sonnet", provider="anthropic", i="3", o="3"),
            override("anthropic.claude-3-5", provider="bedrock", i="7", o="7"),
        ]
    )

    def total(provider: str, model: str) -> Decimal | None:
        found = catalogue.cost("p1", provider, model, MILLION, AT)
        return found.total_usd if found else None

    assert total("openai", "gpt-4o-mini-2024-07-18") == Decimal("0.2")  # the longest prefix wins
    assert total("openai", "gpt-4o-2024-11-20") == 2
    assert total("anthropic", "claude-3-5-sonnet-20241022") == 6  # the library's id, claude-3-5-sonnet
    assert total("aws.bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0") == 14
    assert total("anthropic", "claude-3-5-haiku-20241022") == Decimal("4.8")  # the library's


def test_an_ended_override_gives_way_to_the_library_again() -> None:
    end = datetime(2026, 10, 1, tzinfo=UTC)
    catalogue = PriceCatalogue([override("gpt-4o", end=end, i="1", o="2")])
    later = catalogue.cost("p1", "openai", "gpt-4o", MILLION, AT)
    assert later is not None and later.total_usd == Decimal("12.5")


def test_override_rates_take_tiers_and_other_price_keys_as_the_library_names_them() -> None:
    rates = override_rates(
        Decimal(2),
        Decimal(10),
        None,
        None,
        [{"start": 1000, "input_mtok": 4, "output_mtok": 20}],
        {"input_audio_mtok": 40},
    )
    catalogue = PriceCatalogue([Override("openai", "my-model", None, 0, None, rates)])
    small = catalogue.cost(
        "p1", "openai", "my-model", Usage(1000, 10, details={"input_audio_tokens": 100}), AT
    )
    large = catalogue.cost("p1", "openai", "my-model", Usage(1001, 10), AT)
    assert small == Cost(Decimal("0.0058"), Decimal("0.0001"), Decimal("0.0059"))  # 900 at 2 + 100 at 40
    assert large == Cost(Decimal("0.004004"), Decimal("0.0002"), Decimal("0.004204"))


@pytest.mark.parametrize(
    ("tiers", "other", "message"),
    [
        ([], {"warp_mtok": 1}, "unknown price key"),
        ([], {"input_audio_mtok": -1}, "non-negative"),
        ([], {"input_audio_mtok": "NaN"}, "finite"),
        ([{"start": 10, "input_audio_mtok": 3}], {}, "has no base price"),
        ([{"start": -1, "input_mtok": 3}], {}, "start must be"),
    ],
)
def test_what_cannot_be_a_price_is_refused(tiers: list, other: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=message):
        override_rates(Decimal(1), Decimal(1), None, None, tiers, other)


def test_a_model_is_resolved_once_and_no_library_lookup_happens_per_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    catalogue = PriceCatalogue()
    first = catalogue.cost("p1", "gcp.vertex_ai", "gemini-2.5-pro", Usage(250_000, 10), AT)

    def no_lookups(*_: object) -> None:
        raise AssertionError("the library was consulted for a model already resolved")

    monkeypatch.setattr(pricing, "library_model", no_lookups)
    monkeypatch.setattr(pricing, "library_periods", no_lookups)
    assert catalogue.cost("p1", "gcp.vertex_ai", "gemini-2.5-pro", Usage(250_000, 10), AT) == first
    assert catalogue.cost("p1", "gcp.vertex_ai", "gemini-2.5-pro", Usage(1000, 10), AT) != first  # other tier


def test_the_resolutions_remembered_stay_bounded() -> None:
    catalogue = PriceCatalogue()
    for index in range(MAX_REMEMBERED_MODELS + 5):
        catalogue.cost("p1", "openai", f"invented-{index}", Usage(1, 1), AT)
    assert len(catalogue.resolved) <= MAX_REMEMBERED_MODELS


PROVIDER_NAMES = sorted({c.provider for c in CASES} | {"OPENAI", "gcp.gen_ai", "ollama", "langchain", ""})
MODEL_NAMES = sorted({c.model for c in CASES} | {"gpt-4o-realtime-preview", "unknown-model", ""})
USAGE_ATTRIBUTE_KEYS = sorted(
    {key for name in ("input_tokens", "output_tokens", "total_tokens") for key in FIELD_KEYS[name]}
    | {
        key
        for name in ("cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
        for key in FIELD_KEYS[name]
    }
    | MODALITY_KEYS
)
counts = st.one_of(
    st.none(),
    st.integers(0, 400_000),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["12", "x", ""]),
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(
    provider_key=st.sampled_from(PROVIDER_KEYS),
    provider=st.one_of(st.sampled_from(PROVIDER_NAMES), st.text(max_size=12)),
    model_key=st.sampled_from(REQUEST_MODEL_KEYS + RESPONSE_MODEL_KEYS),
    model=st.one_of(st.sampled_from(MODEL_NAMES), st.text(max_size=12)),
    usage=st.dictionaries(st.sampled_from(USAGE_ATTRIBUTE_KEYS), counts, max_size=10),
    hours=st.integers(-24 * 500, 24 * 30),
)
def test_any_call_of_any_family_is_priced_as_the_library_prices_it_or_not_at_all(
    provider_key: str, provider: str, model_key: str, model: str, usage: dict[str, Any], hours: int
) -> None:
    at = NOV_2026 + timedelta(hours=hours)
    attributes = {provider_key: provider, model_key: model, **usage}
    request = trace_request(
        [
            span(
                b"\x01" * 16,
                b"\x02" * 8,
                "call",
                start=epoch_us(at) * 1000,
                attributes=key_values(attributes),
            )
        ]
    )
    context = ConvertContext(received_ns=epoch_us(at) * 1000 + 10**9)
    (row,) = convert_trace_message(request, context).tables["llm_traces"]
    prompt, completion, total = (
        row[LLM_TRACE_COLUMNS.index(c)] for c in ("prompt_cost_usd", "completion_cost_usd", "total_cost_usd")
    )
    fields = llm_fields(attributes, None, [], 0, context.content)
    reported = Usage(
        fields["prompt_tokens"],
        fields["completion_tokens"],
        fields["cache_read_tokens"],
        fields["cache_write_tokens"],
        fields["reasoning_tokens"],
        fields["reported_total_tokens"],
        fields["usage_details"],
    )
    matched = library_model(fields["provider"], fields["model"]) if fields["model"] else None

    if total is None:
        assert prompt is None and completion is None
        return
    assert prompt >= 0 and completion >= 0 and total >= prompt + completion
    assert matched is not None  # no override exists here: only the library prices
    try:
        library = matched[1].calc_price(
            LibraryUsage(**{k: v for k, v in zip(REPORTED_KEYS, reported.priced(), strict=True) if v}),
            matched[0],
            genai_request_timestamp=at,
        )
    except ValueError:  # the library refuses usage it finds ambiguous (cached audio); we assume none
        return
    assert (prompt, completion, total) == (library.input_price, library.output_price, library.total_price)
