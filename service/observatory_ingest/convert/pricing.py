"""Cost of an LLM call from model_pricing: exact model first, then the longest matching prefix,
effective at the call's time. Pure: the price list is loaded elsewhere (store/pricing.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import NamedTuple

MILLION_DIGITS = 6  # rates are per million tokens
MAX_REMEMBERED_MODELS = 10_000

# Provider names of the three convention families, folded onto model_pricing's names.
PROVIDER_ALIASES = {
    "openai": "openai",
    "azure.ai.openai": "openai",
    "azure_openai": "openai",
    "az.ai.openai": "openai",
    "anthropic": "anthropic",
    "aws.bedrock": "aws.bedrock",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "google": "google",
    "gemini": "google",
    "vertex_ai": "google",
    "vertexai": "google",
    "google_genai": "google",
    "mistral_ai": "mistral",
    "mistralai": "mistral",
    "mistral": "mistral",
    "meta": "meta",
    "meta_llama": "meta",
    "llama": "meta",
}


def canonical_provider(provider: str | None) -> str | None:
    if provider is None:
        return None
    lowered = provider.strip().lower()
    return PROVIDER_ALIASES.get(lowered, lowered)


@dataclass(frozen=True)
class Price:
    provider: str
    model: str
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cache_read_per_mtok: Decimal | None
    cache_write_per_mtok: Decimal | None
    effective_from_us: int  # microseconds since the Unix epoch
    effective_to_us: int | None

    def effective_at(self, at_us: int) -> bool:
        return self.effective_from_us <= at_us and (
            self.effective_to_us is None or at_us < self.effective_to_us
        )

    @property
    def finite(self) -> bool:
        return all(rate.is_finite() for rate in self.per_mtok)

    @property
    def per_mtok(self) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        """Input, output, cache read and cache write rates; cache rates default to the input rate."""
        input_rate = self.input_per_mtok
        read = self.cache_read_per_mtok if self.cache_read_per_mtok is not None else input_rate
        write = self.cache_write_per_mtok if self.cache_write_per_mtok is not None else input_rate
        return input_rate, self.output_per_mtok, read, write

    @cached_property
    def integer_rates(self) -> tuple[Decimal, int, int, int, int]:
        """(unit, input, output, cache read, cache write): the rates as integers of `unit` USD per
        token, so a cost is exact integer arithmetic and one Decimal multiplication."""
        shift = max(0, *(-int(rate.as_tuple().exponent) for rate in self.per_mtok))
        input_rate, output, read, write = (int(rate.scaleb(shift)) for rate in self.per_mtok)
        return Decimal(1).scaleb(-(shift + MILLION_DIGITS)), input_rate, output, read, write


class Cost(NamedTuple):
    prompt_usd: Decimal
    completion_usd: Decimal
    total_usd: Decimal


def cost_of(
    price: Price,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> Cost:
    """Cached tokens are a subset of input tokens and are priced at the cache prices; reasoning
    tokens are a subset of output tokens and are priced as output."""
    unit, input_rate, output_rate, read_rate, write_rate = price.integer_rates
    uncached = input_tokens - cache_read_tokens - cache_write_tokens
    uncached = uncached if uncached > 0 else 0  # max() costs a generic call per LLM span
    prompt = uncached * input_rate + cache_read_tokens * read_rate + cache_write_tokens * write_rate
    completion = output_tokens * output_rate
    return Cost(Decimal(prompt) * unit, Decimal(completion) * unit, Decimal(prompt + completion) * unit)


@dataclass(frozen=True)
class PriceBook:
    """Prices by provider, each list newest first; lookups are exact, then longest prefix."""

    by_provider: dict[str, list[Price]] = field(default_factory=dict)
    # (provider, model) -> the prices that name it, in lookup order; filled as calls arrive.
    candidates: dict[tuple[str, str], list[Price]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, prices: list[Price]) -> PriceBook:
        grouped: dict[str, list[Price]] = {}
        for price in prices:
            if not price.finite:  # a NaN or infinite rate prices nothing: its cost would poison sums
                continue
            grouped.setdefault(canonical_provider(price.provider) or "", []).append(price)
        for entries in grouped.values():
            entries.sort(key=lambda p: (-len(p.model), -p.effective_from_us))
        return cls(grouped)

    def find(self, provider: str | None, model: str | None, at_us: int) -> Price | None:
        if not provider or not model:
            return None
        matches = self.candidates.get((provider, model))
        if matches is None:
            if len(self.candidates) >= MAX_REMEMBERED_MODELS:  # model names come from clients
                self.candidates.clear()
            matches = self.candidates[(provider, model)] = self.matching(provider, model)
        for price in matches:
            if price.effective_at(at_us):
                return price
        return None

    def matching(self, provider: str, model: str) -> list[Price]:
        """Exact names first, then prefixes (longest first); find takes the first in effect."""
        entries = self.by_provider.get(canonical_provider(provider) or "", [])
        lowered = model.lower()
        # A qualified model id ("models/gemini-2.5-pro", "openai/gpt-4o") also matches by its last part.
        names = (lowered, lowered.rsplit("/", 1)[-1])
        exact = [price for name in names for price in entries if price.model == name]
        return exact + [price for name in names for price in entries if name.startswith(price.model)]
