"""Cost of an LLM call from model_pricing: exact model first, then the longest matching prefix,
effective at the call's time. Pure: the price list is loaded elsewhere (store/pricing.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

MILLION = Decimal(1_000_000)
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


class Usage(NamedTuple):  # a tuple: one is made per LLM call
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


class Cost(NamedTuple):
    prompt_usd: Decimal
    completion_usd: Decimal

    @property
    def total_usd(self) -> Decimal:
        return self.prompt_usd + self.completion_usd


def cost_of(price: Price, usage: Usage) -> Cost:
    """Cached tokens are a subset of input tokens and are priced at the cache prices; reasoning
    tokens are a subset of output tokens and are priced as output."""
    cached = usage.cache_read_tokens + usage.cache_write_tokens
    uncached = max(usage.input_tokens - cached, 0)
    prompt = (
        uncached * price.input_per_mtok
        + usage.cache_read_tokens
        * (price.cache_read_per_mtok if price.cache_read_per_mtok is not None else price.input_per_mtok)
        + usage.cache_write_tokens
        * (price.cache_write_per_mtok if price.cache_write_per_mtok is not None else price.input_per_mtok)
    ) / MILLION
    completion = usage.output_tokens * price.output_per_mtok / MILLION
    return Cost(prompt, completion)


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
