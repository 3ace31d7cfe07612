"""Cost of an LLM call: the genai-prices catalogue (bundled data, no network), overridden by the
users' model_pricing rows from their effective_from, overridden in turn by a project's own rows.

Pure: override rows are loaded by store/prices.py. A (project, provider, model) is resolved once
into compiled prices (integer rates per tier); after that a call costs a dict lookup, a period
check and a few integer multiplications, and no object of the library is built per call."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import partial
from typing import Any, NamedTuple

from genai_prices.data_snapshot import find_provider_by_id, get_snapshot
from genai_prices.data_units import unit_data
from genai_prices.types import ConditionalPrice, ModelInfo, ModelPrice, Provider, StartDateConstraint
from genai_prices.types import TieredPrices as LibraryTieredPrices
from genai_prices.units import UnitDef, UnitRegistry

MAX_REMEMBERED_MODELS = 10_000  # model names come from clients: the caches stay bounded
DAY_US = 86_400_000_000
NO_END = 2**63

# Provider names of the three convention families (OTel gen_ai.provider.name, legacy
# gen_ai.system in any case, OpenInference llm.provider / llm.system), as genai-prices ids. Names
# not listed are tried as they are, then by the library's own provider matching.
PROVIDER_ALIASES = {
    "azure.ai.openai": "azure",
    "az.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "az.ai.inference": "azure",
    "azure_openai": "azure",
    "azureopenai": "azure",
    "aws.bedrock": "aws",
    "bedrock": "aws",
    "aws_bedrock": "aws",
    "amazon_bedrock": "aws",
    "gcp.vertex_ai": "google",
    "gcp.gemini": "google",
    "gcp.gen_ai": "google",
    "vertex_ai": "google",
    "vertexai": "google",
    "gemini": "google",
    "google_genai": "google",
    "mistral_ai": "mistral",
    "mistralai": "mistral",
    "x_ai": "x-ai",
    "xai": "x-ai",
    "together_ai": "together",
    "togetherai": "together",
    "fireworks_ai": "fireworks",
    "meta_llama": "meta",
    "moonshot": "moonshotai",
    "zhipu": "zhipuai",
}

# The usage keys of genai-prices a call can report, in the order Usage.priced() gives them.
REPORTED_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_reasoning_tokens",
    "input_text_tokens",
    "input_image_tokens",
    "input_audio_tokens",
    "input_video_tokens",
    "output_text_tokens",
    "output_audio_tokens",
)
SIMPLE_KEYS = frozenset(REPORTED_KEYS[:4])
DETAIL_KEYS = REPORTED_KEYS[5:]  # the keys of Usage.details
REQUESTS_KEY = "requests"
UNITS = UnitRegistry(unit_data)  # the library's units: price keys, their usage keys and dimensions


def unit_of(price_key: str) -> UnitDef | None:
    try:
        return UNITS.unit_for_price_key(price_key)
    except KeyError:
        return None


class Usage(NamedTuple):
    """What an LLM call reports about its tokens, as reported (None: not reported)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    total_tokens: int | None = None  # only as reported, never derived: it tells conventions apart
    # Per modality, as llm_traces.usage_details keeps them: input_{text,image,audio,video}_tokens,
    # output_{text,audio}_tokens. A mapping: most calls have none, and build nothing for it.
    details: Mapping[str, int] | None = None

    def cache_outside_input(self) -> bool:
        """Anthropic's API (and instrumentations that copy it) reports cache reads and writes
        beside input_tokens; OTel and OpenAI count them inside. Outside when they exceed the
        input, or when the reported total only adds up with them added."""
        cached = (self.cache_read_tokens or 0) + (self.cache_write_tokens or 0)
        if not cached:
            return False
        input_tokens = self.input_tokens or 0
        if cached > input_tokens:
            return True
        total = self.total_tokens
        return total is not None and total == input_tokens + (self.output_tokens or 0) + cached

    def priced(self) -> tuple[int, ...]:
        """The counts of REPORTED_KEYS as genai-prices reads them: cache inside input, reasoning
        inside output (a reasoning count above the output count was reported beside it)."""
        input_tokens = self.input_tokens or 0
        output_tokens = self.output_tokens or 0
        cache_read = self.cache_read_tokens or 0
        cache_write = self.cache_write_tokens or 0
        reasoning = self.reasoning_tokens or 0
        if input_tokens < 0 or output_tokens < 0 or cache_read < 0 or cache_write < 0 or reasoning < 0:
            raise UsageError("a token count is negative")
        if (cache_read or cache_write) and self.cache_outside_input():
            input_tokens += cache_read + cache_write
        if reasoning > output_tokens:
            output_tokens += reasoning
        details = self.details or {}
        return (
            input_tokens,
            output_tokens,
            cache_read,
            cache_write,
            reasoning,
            *(count if isinstance(count, int) else 0 for count in map(details.get, DETAIL_KEYS)),
        )


class Cost(NamedTuple):
    prompt_usd: Decimal
    completion_usd: Decimal
    total_usd: Decimal


# Value objects built from a tuple in one C call: a NamedTuple's own __new__ is a Python frame,
# and these are built once per LLM call.
new_usage = partial(tuple.__new__, Usage)
new_cost = partial(tuple.__new__, Cost)


class Tiered(NamedTuple):
    """A rate that changes for the whole call once its input tokens exceed a tier's start."""

    base: Decimal
    tiers: tuple[tuple[int, Decimal], ...]  # (start, rate), ascending


Rate = Decimal | Tiered


class UsageError(ValueError):
    """The call's counts contradict each other (a part larger than its whole)."""


@dataclass(frozen=True, slots=True)
class Rates:
    """One set of prices, compiled: integer rates of `scale` USD per unit, one band per tier.

    Simple prices (input, output, cache read / write only: most models) cost a closed formula;
    others decompose the usage as genai-prices does: each priced unit pays for what its priced
    sub-units (cached audio within audio within input, ...) do not."""

    scale: Decimal
    thresholds: tuple[int, ...]  # a band is chosen by how many thresholds the input exceeds
    bands: tuple[tuple[int, ...], ...]  # simple: (input, output, cache read, cache write, fixed)
    terms: tuple[tuple[int, int, tuple[int, ...]], ...] | None  # (usage index, direction, sub-terms)

    def cost(self, usage: Usage) -> Cost:
        if self.terms is not None:
            return self.decomposed_cost(usage.priced())
        # Simple prices, inline (this runs per LLM call): Usage.priced() for the four counts.
        input_tokens, output_tokens, read, write, reasoning, total, _ = usage
        input_tokens = input_tokens or 0
        output_tokens = output_tokens or 0
        read = read or 0
        write = write or 0
        if input_tokens < 0 or output_tokens < 0 or read < 0 or write < 0:
            raise UsageError("a token count is negative")
        if read or write:
            cached = read + write
            if cached > input_tokens or total == input_tokens + output_tokens + cached:
                input_tokens += cached
        if reasoning is not None and reasoning > output_tokens:
            output_tokens += reasoning
        band = self.bands[bisect_left(self.thresholds, input_tokens)] if self.thresholds else self.bands[0]
        input_rate, output_rate, read_rate, write_rate, fixed = band
        prompt = (input_tokens - read - write) * input_rate + read * read_rate + write * write_rate
        completion = output_tokens * output_rate
        scale = self.scale  # self.amounts(), inline: a Python call costs as much as a Decimal here
        prompt_usd, completion_usd = Decimal(prompt) * scale, Decimal(completion) * scale
        total_usd = prompt_usd + completion_usd  # exact: two amounts of one scale
        return new_cost(
            (prompt_usd, completion_usd, total_usd + Decimal(fixed) * scale if fixed else total_usd)
        )

    def amounts(self, prompt: int, completion: int, fixed: int) -> Cost:
        scale = self.scale
        prompt_usd, completion_usd = Decimal(prompt) * scale, Decimal(completion) * scale
        total_usd = prompt_usd + completion_usd  # exact: two amounts of one scale
        return new_cost(
            (prompt_usd, completion_usd, total_usd + Decimal(fixed) * scale if fixed else total_usd)
        )

    def decomposed_cost(self, usage: tuple[int, ...]) -> Cost:
        band = self.bands[bisect_left(self.thresholds, usage[0])] if self.thresholds else self.bands[0]
        return self.amounts(*self.decomposed(usage, band))

    def decomposed(self, usage: tuple[int, ...], band: tuple[int, ...]) -> tuple[int, int, int]:
        assert self.terms is not None
        leaves: list[int] = []
        amounts = [0, 0]
        for position, (index, direction, sub_terms) in enumerate(self.terms):
            leaf = usage[index] - sum(leaves[sub] for sub in sub_terms)
            if leaf < 0:
                raise UsageError(f"{REPORTED_KEYS[index]} is smaller than its parts")
            leaves.append(leaf)
            amounts[direction] += leaf * band[position]
        return amounts[0], amounts[1], band[-1]


def compile_rates(prices: Mapping[str, Rate]) -> Rates | None:
    """Rates from genai-prices price keys (input_mtok, cache_audio_read_mtok, requests_kcount, ...)
    in USD per their unit. Keys of units no call reports (web searches, audio hours) price
    nothing here and are left out. None when nothing is priced."""
    units = []
    for price_key, rate in prices.items():
        unit = unit_of(price_key)
        if unit is not None and (unit.usage_key in REPORTED_KEYS or unit.usage_key == REQUESTS_KEY):
            units.append((unit, rate))
    if not units:
        return None
    tokens = [(unit, rate) for unit, rate in units if unit.usage_key != REQUESTS_KEY]
    # Most specific units first: each one's leaf is its count less its priced sub-units' leaves.
    tokens.sort(key=lambda item: (-len(item[0].dimensions), item[0].usage_key))
    thresholds = tuple(sorted({start for _, rate in units for start, _ in tiers_of(rate)}))
    digits = max(
        decimals(value) + len(str(unit.per)) - 1 for unit, rate in units for value in values_of(rate)
    )
    scale = Decimal(1).scaleb(-digits)

    def integer(rate: Rate, per: int, band: int) -> int:
        value = rate_in_band(rate, thresholds[:band])
        return int(value.scaleb(digits) / per)

    fixed_units = [(unit, rate) for unit, rate in units if unit.usage_key == REQUESTS_KEY]
    simple = {unit.usage_key for unit, _ in tokens} <= SIMPLE_KEYS
    bands: list[tuple[int, ...]] = []
    for band in range(len(thresholds) + 1):
        fixed = sum(integer(rate, unit.per, band) for unit, rate in fixed_units)
        if simple:
            by_key = {unit.usage_key: integer(rate, unit.per, band) for unit, rate in tokens}
            input_rate = by_key.get("input_tokens", 0)
            bands.append(
                (
                    input_rate,
                    by_key.get("output_tokens", 0),
                    by_key.get("cache_read_tokens", input_rate),
                    by_key.get("cache_write_tokens", input_rate),
                    fixed,
                )
            )
        else:
            bands.append((*(integer(rate, unit.per, band) for unit, rate in tokens), fixed))
    terms = None
    if not simple:
        terms = tuple(
            (
                REPORTED_KEYS.index(unit.usage_key),
                0 if unit.dimensions.get("direction") == "input" else 1,
                tuple(
                    position
                    for position, (other, _) in enumerate(tokens)
                    if other is not unit and unit.dimensions.items() <= other.dimensions.items()
                ),
            )
            for unit, _ in tokens
        )
    return Rates(scale, thresholds, tuple(bands), terms)


def tiers_of(rate: Rate) -> tuple[tuple[int, Decimal], ...]:
    return rate.tiers if isinstance(rate, Tiered) else ()


def values_of(rate: Rate) -> list[Decimal]:
    return [rate.base, *(value for _, value in rate.tiers)] if isinstance(rate, Tiered) else [rate]


def rate_in_band(rate: Rate, exceeded: tuple[int, ...]) -> Decimal:
    """The rate once the input exceeds every start in `exceeded` (and no other)."""
    if not isinstance(rate, Tiered):
        return rate
    value = rate.base
    for start, tier_rate in rate.tiers:
        if start in exceeded:
            value = tier_rate
    return value


def decimals(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


# Periods of a model's prices, as genai-prices defines them: the last whose condition holds wins,
# the first applies when none does.
ALWAYS, FROM_DAY, DAILY = 0, 1, 2
Period = tuple[int, int, int, Rates | None]  # (kind, start, end, rates)


def rates_at(periods: tuple[Period, ...], at_us: int) -> Rates | None:
    for kind, start, end, rates in reversed(periods):
        if kind == ALWAYS:
            return rates
        if kind == FROM_DAY:
            if at_us >= start:
                return rates
        else:
            of_day = at_us % DAY_US
            if (start <= of_day < end) if start <= end else (of_day >= start or of_day < end):
                return rates
    return periods[0][3]


def library_rates(prices: ModelPrice) -> Rates | None:
    """A genai-prices ModelPrice, compiled (once per model, never per call)."""
    converted: dict[str, Rate] = {}
    for key, value in vars(prices).items():
        if isinstance(value, LibraryTieredPrices):
            converted[key] = Tiered(value.base, tuple((tier.start, tier.price) for tier in value.tiers))
        elif isinstance(value, Decimal):
            converted[key] = value
    return compile_rates(converted)


def library_periods(model: ModelInfo) -> tuple[Period, ...]:
    if isinstance(model.prices, ModelPrice):
        return ((ALWAYS, 0, 0, library_rates(model.prices)),)
    return tuple(period_of(conditional) for conditional in model.prices)


def period_of(conditional: ConditionalPrice) -> Period:
    rates = library_rates(conditional.prices)
    constraint = conditional.constraint
    if constraint is None:
        return ALWAYS, 0, 0, rates
    if isinstance(constraint, StartDateConstraint):
        return FROM_DAY, day_start_us(constraint.start_date), 0, rates
    return DAILY, utc_time_of_day_us(constraint.start_time), utc_time_of_day_us(constraint.end_time), rates


def day_start_us(day: date) -> int:
    return epoch_us(datetime.combine(day, time(), UTC))


def utc_time_of_day_us(moment: time) -> int:
    aware = datetime.combine(date(1970, 1, 1), moment)
    if aware.tzinfo is None:
        aware = aware.replace(tzinfo=UTC)
    utc = aware.astimezone(UTC)
    return ((utc.hour * 60 + utc.minute) * 60 + utc.second) * 1_000_000 + utc.microsecond


def epoch_us(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // _MICROSECOND


_MICROSECOND = datetime(1970, 1, 1, 0, 0, 0, 1) - datetime(1970, 1, 1)


def library_providers() -> list[Provider]:
    return get_snapshot().providers


def library_provider(provider: str | None) -> Provider | None:
    """The genai-prices provider a telemetry provider name stands for, or None."""
    if not provider:
        return None
    lowered = provider.strip().lower()
    return find_provider_by_id(library_providers(), PROVIDER_ALIASES.get(lowered, lowered))


def canonical_provider(provider: str) -> str:
    """The name prices are keyed by: the library's provider id, else the name in lower case."""
    found = library_provider(provider)
    return found.id if found is not None else provider.strip().lower()


def model_refs(model: str) -> list[str]:
    """The ids to try for a model as telemetry names it: as is, then without a qualifying path
    (Vertex `publishers/google/models/gemini-2.5-pro`, OpenRouter-style `openai/gpt-4o`)."""
    lowered = model.strip().lower()
    refs = [lowered]
    last = lowered.rsplit("/", 1)[-1]
    if last != lowered and last:
        refs.append(last)
    return refs


def library_model(provider: str | None, model: str) -> tuple[Provider, ModelInfo] | None:
    """The library's model for a call. A provider the library does not know prices nothing (no
    guessing a local model's price); without a provider the model id chooses one, as the library
    does. Uses no cache of the library's: those grow with every model name a client invents."""
    providers = library_providers()
    if provider:
        found = library_provider(provider)
        candidates = [found] if found is not None else []
    else:
        candidates = [p for p in providers if p.model_match is not None]
    for ref in model_refs(model):
        for candidate in candidates:
            if provider is None and not (candidate.model_match and candidate.model_match.is_match(ref)):
                continue
            matched = candidate.find_model(ref, all_providers=providers)
            if matched is not None:
                return candidate, matched
    return None


@dataclass(frozen=True)
class Override:
    """A model_pricing row of source 'user': wins over the library for its provider and model
    (exact name or prefix, as telemetry or the library names it) from effective_from."""

    provider: str
    model: str
    project_id: str | None
    effective_from_us: int
    effective_to_us: int | None
    rates: Rates


# A call's candidate prices in precedence order: (from, to, periods) each.
Candidates = tuple[tuple[int, int, tuple[Period, ...]], ...]


def simplest(candidates: Candidates) -> Rates | Candidates:
    """The Rates themselves when they hold at every time: a call then needs no period check."""
    if len(candidates) == 1:
        start, end, periods = candidates[0]
        rates = periods[0][3]
        if start <= -NO_END and end >= NO_END and len(periods) == 1 and rates is not None:
            return rates
    return candidates


def in_effect(candidates: Candidates, at_us: int) -> Rates | None:
    for start, end, periods in candidates:
        if start <= at_us < end:
            return periods[0][3] if len(periods) == 1 else rates_at(periods, at_us)
    return None


_library_compiled: dict[tuple[str, str], tuple[Period, ...]] = {}


def compiled_library_model(provider: Provider, model: ModelInfo) -> tuple[Period, ...]:
    key = (provider.id, model.id)
    periods = _library_compiled.get(key)
    if periods is None:
        periods = _library_compiled[key] = library_periods(model)
    return periods


@dataclass
class PriceCatalogue:
    """The users' overrides over the library, with the per-(project, provider, model) resolution
    remembered. One catalogue serves until the overrides are reloaded."""

    overrides: Sequence[Override] = ()
    by_provider: dict[tuple[str | None, str], list[Override]] = field(default_factory=dict, repr=False)
    # (project, provider, model) -> its Rates when one price holds at every time (most models),
    # else its candidates (none: nothing prices it).
    resolved: dict[tuple[str, str | None, str], Rates | Candidates] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for override in self.overrides:
            self.by_provider.setdefault((override.project_id, override.provider), []).append(override)
        for entries in self.by_provider.values():
            entries.sort(key=lambda o: (-len(o.model), -o.effective_from_us))

    def cost(
        self, project_id: str, provider: str | None, model: str | None, usage: Usage, at_us: int
    ) -> Cost | None:
        """None when nothing prices this model at this time, or its counts contradict themselves."""
        if not model:
            return None
        key = (project_id, provider, model)
        resolved = self.resolved.get(key)
        if resolved is None:
            if len(self.resolved) >= MAX_REMEMBERED_MODELS:
                self.resolved.clear()
            resolved = self.resolved[key] = simplest(self.candidates(project_id, provider, model))
        rates = resolved if isinstance(resolved, Rates) else in_effect(resolved, at_us)
        if rates is None:
            return None
        try:
            return rates.cost(usage)
        except UsageError:  # e.g. more audio tokens than input tokens: no price is right
            return None

    def candidates(self, project_id: str, provider: str | None, model: str) -> Candidates:
        matched = library_model(provider, model)
        names = model_refs(model)
        if matched is not None and matched[1].id.lower() not in names:
            names.append(matched[1].id.lower())
        found: list[tuple[int, int, tuple[Period, ...]]] = []
        if provider:
            canonical = canonical_provider(provider)
            for owner in (project_id, None):
                for override in self.matching(owner, canonical, names):
                    end = override.effective_to_us if override.effective_to_us is not None else NO_END
                    found.append((override.effective_from_us, end, ((ALWAYS, 0, 0, override.rates),)))
        if matched is not None:
            found.append((-NO_END, NO_END, compiled_library_model(*matched)))
        return tuple(found)

    def matching(self, project_id: str | None, provider: str, names: list[str]) -> list[Override]:
        """Exact names first, then prefixes (longest first); the first in effect wins."""
        entries = self.by_provider.get((project_id, provider), [])
        exact = [o for name in names for o in entries if o.model == name]
        return exact + [o for name in names for o in entries if o.model != name and name.startswith(o.model)]


def override_rates(
    input_rate: Decimal,
    output_rate: Decimal,
    cache_read_rate: Decimal | None,
    cache_write_rate: Decimal | None,
    tiers: Iterable[Mapping[str, Any]] = (),
    other_prices: Mapping[str, Any] | None = None,
) -> Rates:
    """A model_pricing row's prices (USD per million tokens; tiers and other price keys as the
    library names them), compiled. Raises ValueError for what cannot be a price."""
    flat: dict[str, Decimal] = {"input_mtok": input_rate, "output_mtok": output_rate}
    if cache_read_rate is not None:
        flat["cache_read_mtok"] = cache_read_rate
    if cache_write_rate is not None:
        flat["cache_write_mtok"] = cache_write_rate
    for key, value in (other_prices or {}).items():
        flat[str(key)] = price_decimal(value, str(key))
    tier_rates: dict[str, list[tuple[int, Decimal]]] = {}
    for tier in tiers:
        start = tier.get("start")
        if not isinstance(start, int) or isinstance(start, bool) or start < 0:
            raise ValueError(f"a tier's start must be a non-negative integer, got {start!r}")
        for key, value in tier.items():
            if key != "start":
                tier_rates.setdefault(str(key), []).append((start, price_decimal(value, str(key))))
    prices: dict[str, Rate] = {}
    for key in {*flat, *tier_rates}:
        if unit_of(key) is None:
            raise ValueError(f"unknown price key {key!r}")
        if key not in flat:
            raise ValueError(f"tier price {key!r} has no base price")
        tiered = tier_rates.get(key)
        prices[key] = Tiered(flat[key], tuple(sorted(tiered))) if tiered else flat[key]
    for value in prices.values():
        if not all(v.is_finite() and v >= 0 for v in values_of(value)):
            raise ValueError("prices must be finite and not negative")
    rates = compile_rates(prices)
    assert rates is not None  # input_mtok is always there
    return rates


def price_decimal(value: Any, key: str) -> Decimal:
    try:
        result = Decimal(str(value))
    except ArithmeticError:
        raise ValueError(f"{key} must be a number, got {value!r}") from None
    if not result.is_finite() or result < 0:
        raise ValueError(f"{key} must be a finite, non-negative number, got {value!r}")
    return result
