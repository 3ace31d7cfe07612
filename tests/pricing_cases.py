"""LLM calls as telemetry reports them (provider name of any family, model id as instrumentations
send it, usage as reported), with what genai-prices itself is asked for the same call: its
provider id, a model id it knows, and the usage in its own terms (cache inside input)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from genai_prices import Usage as LibraryUsage
from genai_prices import calc_price

from observatory_ingest.convert.pricing import DETAIL_KEYS, Usage

NOV_2026 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Case:
    provider: str  # as telemetry names it
    model: str  # as telemetry names it
    library_provider: str
    library_model: str
    usage: dict[str, int]  # Usage fields as reported
    library_usage: dict[str, int] = field(default_factory=dict)  # empty: the same counts
    at: datetime = NOV_2026
    why: str = ""

    @property
    def id(self) -> str:
        return f"{self.provider}:{self.model}:{self.why or '-'}:{self.at:%Y%m%dT%H%M}"

    def reported(self) -> Usage:
        counts = {key: value for key, value in self.usage.items() if key not in DETAIL_KEYS}
        details = {key: value for key, value in self.usage.items() if key in DETAIL_KEYS}
        return Usage(**counts, details=details or None)

    def library_cost(self) -> tuple[Decimal, Decimal, Decimal]:
        counts: dict[str, Any] = dict(self.library_usage or self.usage)
        if "reasoning_tokens" in counts:
            counts["output_reasoning_tokens"] = counts.pop("reasoning_tokens")
        counts.pop("total_tokens", None)
        calculation = calc_price(
            LibraryUsage(**counts),
            self.library_model,
            provider_id=self.library_provider,
            genai_request_timestamp=self.at,
        )
        return calculation.input_price, calculation.output_price, calculation.total_price


def case(provider: str, model: str, library: tuple[str, str], why: str = "", **usage: Any) -> Case:
    at = usage.pop("at", NOV_2026)
    library_usage = usage.pop("library_usage", {})
    return Case(provider, model, library[0], library[1], usage, library_usage, at, why)


CASES = [
    # OpenAI, and its names in the three families
    case("openai", "gpt-4o-mini", ("openai", "gpt-4o-mini"), input_tokens=1000, output_tokens=200),
    case(
        "openai",
        "gpt-4o-2024-08-06",
        ("openai", "gpt-4o-2024-08-06"),
        "dated snapshot, cache read",
        input_tokens=5000,
        output_tokens=300,
        cache_read_tokens=1024,
    ),
    case(
        "openai",
        "o3-mini",
        ("openai", "o3-mini"),
        "reasoning",
        input_tokens=2000,
        output_tokens=1500,
        reasoning_tokens=1000,
    ),
    case(
        "openai",
        "gpt-5",
        ("openai", "gpt-5"),
        "cache and reasoning",
        input_tokens=10000,
        output_tokens=2000,
        cache_read_tokens=4000,
        reasoning_tokens=1500,
    ),
    case(
        "openai",
        "gpt-4o-realtime-preview",
        ("openai", "gpt-4o-realtime-preview"),
        "audio in and out",
        input_tokens=1000,
        output_tokens=500,
        input_audio_tokens=400,
        output_audio_tokens=300,
    ),
    case(
        "openai",
        "gpt-4o-realtime-preview-2024-12-17",
        ("openai", "gpt-4o-realtime-preview"),
        "audio, text split",
        input_tokens=900,
        output_tokens=80,
        input_audio_tokens=700,
        input_text_tokens=200,
        output_text_tokens=80,
    ),
    case(
        "openai",
        "gpt-4o-mini-transcribe",
        ("openai", "gpt-4o-mini-transcribe"),
        "audio input",
        input_tokens=600,
        output_tokens=50,
        input_audio_tokens=600,
    ),
    case(
        "openai",
        "gpt-4o-audio-preview",
        ("openai", "gpt-4o-audio-preview"),
        "audio the model prices as text",
        input_tokens=800,
        output_tokens=100,
        input_audio_tokens=500,
    ),
    case("openai", "text-embedding-3-small", ("openai", "text-embedding-3-small"), input_tokens=24),
    case("openai", "gpt-4.1", ("openai", "gpt-4.1"), "long input", input_tokens=100000, output_tokens=100),
    case(
        "openai",
        "o3",
        ("openai", "o3"),
        "before the 2025-06-10 price cut",
        input_tokens=1000,
        output_tokens=1000,
        at=datetime(2025, 6, 9, 23, 59, tzinfo=UTC),
    ),
    case(
        "openai",
        "o3",
        ("openai", "o3"),
        "after the 2025-06-10 price cut",
        input_tokens=1000,
        output_tokens=1000,
        at=datetime(2025, 6, 10, 0, 0, tzinfo=UTC),
    ),
    case(
        "OpenAI", "gpt-4o", ("openai", "gpt-4o"), "legacy gen_ai.system", input_tokens=700, output_tokens=70
    ),
    case(
        "openai",
        "openai/gpt-4o",
        ("openai", "gpt-4o"),
        "OpenRouter-style id",
        input_tokens=1500,
        output_tokens=150,
    ),
    # Anthropic: inside and outside conventions, tiers
    case(
        "anthropic",
        "claude-3-5-sonnet-20241022",
        ("anthropic", "claude-3-5-sonnet-20241022"),
        "cache inside input",
        input_tokens=3000,
        output_tokens=400,
        cache_read_tokens=1000,
        cache_write_tokens=500,
    ),
    case(
        "Anthropic",
        "claude-3-5-haiku-20241022",
        ("anthropic", "claude-3-5-haiku-20241022"),
        "cache outside input: exceeds it",
        input_tokens=100,
        output_tokens=50,
        cache_read_tokens=2000,
        cache_write_tokens=300,
        library_usage={
            "input_tokens": 2400,
            "output_tokens": 50,
            "cache_read_tokens": 2000,
            "cache_write_tokens": 300,
        },
    ),
    case(
        "anthropic",
        "claude-opus-4-1-20250805",
        ("anthropic", "claude-opus-4-1-20250805"),
        "cache outside input: the total says so",
        input_tokens=1000,
        output_tokens=200,
        cache_read_tokens=500,
        total_tokens=1700,
        library_usage={"input_tokens": 1500, "output_tokens": 200, "cache_read_tokens": 500},
    ),
    case(
        "anthropic",
        "claude-opus-4-1-20250805",
        ("anthropic", "claude-opus-4-1-20250805"),
        "cache inside input: the total says so",
        input_tokens=1000,
        output_tokens=200,
        cache_read_tokens=500,
        total_tokens=1200,
    ),
    case(
        "anthropic",
        "claude-sonnet-4-5-20250929",
        ("anthropic", "claude-sonnet-4-5-20250929"),
        "above the 200k tier",
        input_tokens=250000,
        output_tokens=1000,
        cache_read_tokens=50000,
    ),
    case(
        "anthropic",
        "claude-sonnet-4-5",
        ("anthropic", "claude-sonnet-4-5"),
        "exactly at the 200k tier start",
        input_tokens=200000,
        output_tokens=1000,
    ),
    case(
        "anthropic",
        "claude-sonnet-4-5",
        ("anthropic", "claude-sonnet-4-5"),
        "one above the 200k tier start",
        input_tokens=200001,
        output_tokens=1000,
    ),
    case(
        "anthropic",
        "claude-sonnet-4-5",
        ("anthropic", "claude-sonnet-4-5"),
        "outside convention pushes the call over the tier",
        input_tokens=150000,
        output_tokens=100,
        cache_read_tokens=160000,
        library_usage={"input_tokens": 310000, "output_tokens": 100, "cache_read_tokens": 160000},
    ),
    case(
        "anthropic",
        "claude-haiku-4-5",
        ("anthropic", "claude-haiku-4-5"),
        input_tokens=500,
        output_tokens=100,
    ),
    case(
        "anthropic",
        "claude-3-opus-20240229",
        ("anthropic", "claude-3-opus-20240229"),
        input_tokens=900,
        output_tokens=90,
    ),
    # AWS Bedrock ids, regional prefixes included
    case(
        "aws.bedrock",
        "anthropic.claude-3-5-sonnet-20241022-v2:0",
        ("aws", "anthropic.claude-3-5-sonnet-20241022-v2:0"),
        "cache",
        input_tokens=2000,
        output_tokens=300,
        cache_read_tokens=500,
    ),
    case(
        "aws.bedrock",
        "us.anthropic.claude-sonnet-4-20250514-v1:0",
        ("aws", "us.anthropic.claude-sonnet-4-20250514-v1:0"),
        "regional",
        input_tokens=4000,
        output_tokens=500,
    ),
    case(
        "aws.bedrock",
        "eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
        ("aws", "eu.anthropic.claude-3-7-sonnet-20250219-v1:0"),
        input_tokens=1200,
        output_tokens=120,
    ),
    case(
        "aws.bedrock",
        "amazon.nova-pro-v1:0",
        ("aws", "amazon.nova-pro-v1:0"),
        input_tokens=1000,
        output_tokens=100,
    ),
    case(
        "bedrock",
        "amazon.nova-lite-v1:0",
        ("aws", "amazon.nova-lite-v1:0"),
        input_tokens=3000,
        output_tokens=30,
    ),
    case(
        "aws.bedrock",
        "meta.llama3-1-70b-instruct-v1:0",
        ("aws", "meta.llama3-1-70b-instruct-v1:0"),
        input_tokens=800,
        output_tokens=200,
    ),
    # Azure OpenAI
    case(
        "azure.ai.openai",
        "gpt-4o",
        ("azure", "gpt-4o"),
        "cache",
        input_tokens=1000,
        output_tokens=100,
        cache_read_tokens=500,
    ),
    case(
        "azure.ai.openai",
        "gpt-4o-mini-2024-07-18",
        ("azure", "gpt-4o-mini-2024-07-18"),
        input_tokens=300,
        output_tokens=30,
    ),
    case("az.ai.openai", "gpt-4.1-mini", ("azure", "gpt-4.1-mini"), input_tokens=400, output_tokens=40),
    case(
        "azure",
        "o1",
        ("azure", "o1"),
        "reasoning",
        input_tokens=500,
        output_tokens=3000,
        reasoning_tokens=2500,
    ),
    # Google: Vertex and Gemini, tiers, audio
    case(
        "gcp.vertex_ai",
        "publishers/google/models/gemini-2.5-pro",
        ("google", "gemini-2.5-pro"),
        "Vertex id, above the 200k tier",
        input_tokens=300000,
        output_tokens=2000,
        cache_read_tokens=100000,
    ),
    case(
        "gcp.vertex_ai",
        "gemini-2.5-pro",
        ("google", "gemini-2.5-pro"),
        "below the tier",
        input_tokens=120000,
        output_tokens=2000,
    ),
    case(
        "gcp.gemini",
        "gemini-2.5-flash",
        ("google", "gemini-2.5-flash"),
        "reasoning",
        input_tokens=1000,
        output_tokens=300,
        reasoning_tokens=200,
    ),
    case(
        "gcp.gemini",
        "models/gemini-2.0-flash",
        ("google", "gemini-2.0-flash"),
        "audio input",
        input_tokens=1000,
        output_tokens=100,
        input_audio_tokens=600,
    ),
    case(
        "gcp.gemini",
        "gemini-2.0-flash",
        ("google", "gemini-2.0-flash"),
        "image and video input",
        input_tokens=3000,
        output_tokens=100,
        input_image_tokens=1000,
        input_video_tokens=1500,
    ),
    case(
        "VertexAI",
        "gemini-1.5-pro",
        ("google", "gemini-1.5-pro"),
        "legacy name, above the 128k tier",
        input_tokens=150000,
        output_tokens=100,
    ),
    case(
        "gcp.vertex_ai",
        "publishers/anthropic/models/claude-3-5-sonnet-v2@20241022",
        ("google", "claude-3-5-sonnet-v2@20241022"),
        "Anthropic on Vertex",
        input_tokens=2000,
        output_tokens=200,
    ),
    # Mistral
    case(
        "mistral_ai",
        "mistral-large-latest",
        ("mistral", "mistral-large-latest"),
        input_tokens=2000,
        output_tokens=300,
    ),
    case(
        "mistralai",
        "mistral-small-latest",
        ("mistral", "mistral-small-latest"),
        "OpenInference name",
        input_tokens=5000,
        output_tokens=500,
    ),
    case("mistral", "codestral-latest", ("mistral", "codestral-latest"), input_tokens=800, output_tokens=400),
    # xAI
    case(
        "x_ai",
        "grok-3",
        ("x-ai", "grok-3"),
        "cache",
        input_tokens=1000,
        output_tokens=100,
        cache_read_tokens=200,
    ),
    case("xai", "grok-4", ("x-ai", "grok-4"), input_tokens=3000, output_tokens=900),
    case(
        "x_ai",
        "grok-3-mini",
        ("x-ai", "grok-3-mini"),
        "reasoning",
        input_tokens=400,
        output_tokens=900,
        reasoning_tokens=700,
    ),
    # DeepSeek: off-peak prices by time of day
    case(
        "deepseek",
        "deepseek-chat",
        ("deepseek", "deepseek-chat"),
        "standard hours",
        input_tokens=1000,
        output_tokens=100,
        cache_read_tokens=200,
        at=datetime(2026, 11, 2, 17, 0, tzinfo=UTC),
    ),
    case(
        "deepseek",
        "deepseek-chat",
        ("deepseek", "deepseek-chat"),
        "the daily window",
        input_tokens=1000,
        output_tokens=100,
        cache_read_tokens=200,
        at=datetime(2026, 11, 2, 3, 0, tzinfo=UTC),
    ),
    case(
        "deepseek",
        "deepseek-reasoner",
        ("deepseek", "deepseek-reasoner"),
        input_tokens=2000,
        output_tokens=4000,
        reasoning_tokens=3000,
    ),
    # Groq, Cohere, Perplexity, Together, Fireworks, OpenRouter
    case(
        "groq",
        "llama-3.3-70b-versatile",
        ("groq", "llama-3.3-70b-versatile"),
        input_tokens=1000,
        output_tokens=500,
    ),
    case(
        "Groq", "llama-3.1-8b-instant", ("groq", "llama-3.1-8b-instant"), input_tokens=5000, output_tokens=50
    ),
    case("cohere", "command-r-plus", ("cohere", "command-r-plus"), input_tokens=1000, output_tokens=300),
    case("cohere", "command-r-08-2024", ("cohere", "command-r-08-2024"), input_tokens=600, output_tokens=60),
    case(
        "perplexity",
        "sonar-pro",
        ("perplexity", "sonar-pro"),
        "a fee per request",
        input_tokens=100,
        output_tokens=100,
    ),
    case(
        "together_ai",
        "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        ("together", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
        input_tokens=1000,
        output_tokens=1000,
    ),
    case(
        "fireworks",
        "accounts/fireworks/models/llama-v3p1-8b-instruct",
        ("fireworks", "accounts/fireworks/models/llama-v3p1-8b-instruct"),
        input_tokens=1000,
        output_tokens=100,
    ),
    case(
        "openrouter", "openai/gpt-4o", ("openrouter", "openai/gpt-4o"), input_tokens=2000, output_tokens=200
    ),
    case(
        "openrouter",
        "anthropic/claude-3.5-sonnet",
        ("openrouter", "anthropic/claude-3.5-sonnet"),
        "cache",
        input_tokens=2000,
        output_tokens=200,
        cache_read_tokens=1500,
    ),
]
