"""GenAI normalisation: one llm_traces row per LLM call span, whatever convention family it uses
(OTel GenAI current, older OTel / OpenLLMetry, OpenInference), plus the content policy."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import orjson

from observatory_ingest.convert.context import ContentPolicy
from observatory_ingest.convert.native import first_values
from observatory_ingest.convert.sanitize import NUL, json_without_nul, text

PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
REQUEST_MODEL_KEYS = ("gen_ai.request.model", "llm.model_name")
RESPONSE_MODEL_KEYS = ("gen_ai.response.model",)
INPUT_TOKEN_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
OUTPUT_TOKEN_KEYS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
)
TOTAL_TOKEN_KEYS = ("gen_ai.usage.total_tokens", "llm.usage.total_tokens", "llm.token_count.total")
CACHE_READ_KEYS = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "llm.token_count.prompt_details.cache_read",
)
CACHE_WRITE_KEYS = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "llm.token_count.prompt_details.cache_write",
)
REASONING_KEYS = ("gen_ai.usage.reasoning.output_tokens", "llm.token_count.completion_details.reasoning")
# Per-modality usage (OTel GenAI, not yet released; OpenInference's details), by usage_details key.
MODALITY_USAGE_KEYS = {
    "input_text_tokens": ("gen_ai.usage.text.input_tokens",),
    "input_image_tokens": ("gen_ai.usage.image.input_tokens",),
    "input_audio_tokens": ("gen_ai.usage.audio.input_tokens", "llm.token_count.prompt_details.audio"),
    "input_video_tokens": ("gen_ai.usage.video.input_tokens",),
    "output_text_tokens": ("gen_ai.usage.text.output_tokens",),
    "output_audio_tokens": ("gen_ai.usage.audio.output_tokens", "llm.token_count.completion_details.audio"),
}
MODALITY_KEYS = frozenset(key for keys in MODALITY_USAGE_KEYS.values() for key in keys)
USAGE_KEYS = INPUT_TOKEN_KEYS + OUTPUT_TOKEN_KEYS + TOTAL_TOKEN_KEYS
USER_KEYS = ("user.id", "enduser.id", "gen_ai.user.id")
SESSION_KEYS = ("session.id", "gen_ai.conversation.id")
ENVIRONMENT_KEYS = ("deployment.environment.name", "deployment.environment")
TTFT_SECONDS_KEYS = ("gen_ai.response.time_to_first_chunk", "gen_ai.server.time_to_first_token")
TTFT_MS_KEYS = ("llm.response.time_to_first_token_ms",)
FIRST_TOKEN_EVENTS = frozenset(
    {"gen_ai.content.first_chunk", "first_token", "llm.first_token", "First Token Stream Event"}
)

LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})
# Older names (llm.request.type) and OpenInference span kinds, as gen_ai.operation.name values.
OPERATION_ALIASES = {
    "completion": "text_completion",
    "embedding": "embeddings",
    "rerank": "rerank",
    "llm": "chat",
    "tool": "execute_tool",
    "agent": "invoke_agent",
    "chain": "chain",
    "retriever": "retrieval",
    "reranker": "rerank",
    "guardrail": "guardrail",
    "evaluator": "evaluate",
}
OPENINFERENCE_LLM_KINDS = frozenset({"LLM", "EMBEDDING"})

INPUT_EVENT_ROLES = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
DETAILS_EVENT = "gen_ai.client.inference.operation.details"
CHOICE_EVENT = "gen_ai.choice"

# Attributes that carry prompt or completion content (dropped with --llm-content=drop).
CONTENT_KEYS = frozenset(
    {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "input.value",
        "output.value",
        "gen_ai.prompt",
        "gen_ai.completion",
        "content",
        "message",
    }
)
CONTENT_KEY = re.compile(
    r"^(gen_ai\.(prompt|completion)\.\d+\.(content|tool_calls.*)|llm\.(input|output)_messages\..*(content|contents).*|llm\.prompts.*)$"
)
INDEXED = re.compile(
    r"^(?P<base>gen_ai\.(?:prompt|completion)|llm\.(?:input|output)_messages)\.(?P<i>\d+)\.(?:message\.)?(?P<field>role|content|finish_reason)$"
)


def first(attributes: dict[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        value = attributes.get(key)
        if value is not None and value != "":
            return value
    return None


OPERATION_NAME_KEYS = ("gen_ai.operation.name", "llm.request.type", "openinference.span.kind")
# The fields llm_fields reads from attributes, each from the first of its keys that has a value.
FIELD_KEYS = {
    "provider": PROVIDER_KEYS,
    "request_model": REQUEST_MODEL_KEYS,
    "response_model": RESPONSE_MODEL_KEYS,
    "operation": OPERATION_NAME_KEYS,
    "input_tokens": INPUT_TOKEN_KEYS,
    "output_tokens": OUTPUT_TOKEN_KEYS,
    "total_tokens": TOTAL_TOKEN_KEYS,
    "cache_read_tokens": CACHE_READ_KEYS,
    "cache_write_tokens": CACHE_WRITE_KEYS,
    "reasoning_tokens": REASONING_KEYS,
    "user_id": USER_KEYS,
    "session_id": SESSION_KEYS,
    "environment": ENVIRONMENT_KEYS,
    "ttft_seconds": TTFT_SECONDS_KEYS,
    "ttft_ms": TTFT_MS_KEYS,
}
FIELD_NAMES = tuple(FIELD_KEYS)
KEY_FIELD_RANK = {
    key: (field, rank) for field, keys in enumerate(FIELD_KEYS.values()) for rank, key in enumerate(keys)
}


def first_of_each(attributes: dict[str, Any]) -> dict[str, Any]:
    """first() for every FIELD_KEYS entry, in one C call (it runs per LLM span)."""
    return first_values(attributes, KEY_FIELD_RANK, FIELD_NAMES)


def as_int(value: Any) -> int | None:
    if value.__class__ is int:  # the common case first: this runs for six fields per LLM span
        return value  # type: ignore[no-any-return]
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite float
        return None


def usage_details(attributes: dict[str, Any]) -> dict[str, int] | None:
    """Token counts per modality (usage_details' keys), or None when the call reports none."""
    if MODALITY_KEYS.isdisjoint(attributes.keys()):  # most calls: one test
        return None
    details = {}
    for name, keys in MODALITY_USAGE_KEYS.items():
        count = as_int(first(attributes, keys))
        if count is not None:
            details[name] = count
    return details or None


def operation_of(attributes: dict[str, Any]) -> str | None:
    return normal_operation(first(attributes, OPERATION_NAME_KEYS))


def normal_operation(operation: Any) -> str | None:
    if not isinstance(operation, str):
        return None
    lowered = operation.lower()
    return OPERATION_ALIASES.get(lowered, lowered)


LLM_MARKER_KEYS = frozenset(PROVIDER_KEYS + REQUEST_MODEL_KEYS + RESPONSE_MODEL_KEYS + USAGE_KEYS)
OPERATION_KEYS = frozenset(OPERATION_NAME_KEYS)


ANY_LLM_KEYS = LLM_MARKER_KEYS | OPERATION_KEYS


def is_llm_call(attributes: dict[str, Any]) -> bool:
    """A provider, model or token-usage attribute of any family, or an LLM operation."""
    keys = attributes.keys()
    if keys.isdisjoint(ANY_LLM_KEYS):  # most spans: one test
        return False
    if not keys.isdisjoint(LLM_MARKER_KEYS):
        return True
    if keys.isdisjoint(OPERATION_KEYS):
        return False
    kind = attributes.get("openinference.span.kind")
    if kind.__class__ is str and kind in OPENINFERENCE_LLM_KINDS:  # a list would not even hash
        return True
    return operation_of(attributes) in LLM_OPERATIONS


def is_content_key(key: str) -> bool:
    return key in CONTENT_KEYS or CONTENT_KEY.match(key) is not None


def strip_content(attributes: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in attributes.items() if not is_content_key(key)}


def parse_messages(value: Any) -> list[Any] | None:
    """Structured messages, or a JSON string of them (both are allowed by the conventions)."""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return [{"role": "user", "content": value}]
    if isinstance(value, dict):
        return [value]
    return value if isinstance(value, list) else None


FIRST_INDEXED_KEYS = {
    base: (f"{base}.0{suffix}.role", f"{base}.0{suffix}.content")
    for base, suffix in (
        ("gen_ai.prompt", ""),
        ("gen_ai.completion", ""),
        ("llm.input_messages", ".message"),
        ("llm.output_messages", ".message"),
    )
}


def indexed_messages(attributes: dict[str, Any], base: str) -> list[dict[str, Any]]:
    """gen_ai.prompt.0.role / llm.input_messages.0.message.content ... as ordered messages."""
    # Indexed messages always start at 0: without that key there is nothing to scan for.
    role_key, content_key = FIRST_INDEXED_KEYS[base]
    if role_key not in attributes and content_key not in attributes:
        return []
    found: dict[int, dict[str, Any]] = {}
    for key, value in attributes.items():
        match = INDEXED.match(key)
        if match and match["base"] == base:
            found.setdefault(int(match["i"]), {})[match["field"]] = value
    return [found[index] for index in sorted(found)]


def message_text(message: Any) -> str:
    if isinstance(message, str):
        return message
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    parts = message.get("parts") if content is None else content
    if isinstance(parts, list):
        return "\n".join(
            part if isinstance(part, str) else str(part.get("content") or part.get("text") or "")
            for part in parts
            if isinstance(part, str | dict)
        )
    return ""


def cap_text(content: str | None, max_bytes: int) -> str | None:
    if content is None:
        return None
    content = content.replace(NUL, "") if NUL in content else content
    if len(content) * 4 <= max_bytes:  # no character takes more than 4 bytes: no need to encode
        return content
    encoded = content.encode()
    if len(encoded) <= max_bytes:
        return content
    marker = f"…[truncated {len(encoded) - max_bytes} bytes]"
    return encoded[:max_bytes].decode(errors="ignore") + marker


def cap_messages(messages: list[Any] | None, max_bytes: int) -> str | None:
    """Messages as JSON within max_bytes: whole leading messages, then a marker of what was cut."""
    if not messages:
        return None
    encoded = orjson.dumps(messages)
    if len(encoded) <= max_bytes:
        return json_without_nul(encoded.decode())
    kept: list[Any] = []
    used = 2
    for message in messages:
        size = len(orjson.dumps(message)) + 1
        if used + size > max_bytes:
            break
        kept.append(message)
        used += size
    if not kept:
        kept.append(
            {
                "role": messages[0].get("role") if isinstance(messages[0], dict) else None,
                "content": cap_text(message_text(messages[0]), max_bytes),
            }
        )
    kept.append(
        {"role": "observatory", "content": f"[truncated: {len(kept)} of {len(messages)} messages kept]"}
    )
    return json_without_nul(orjson.dumps(kept).decode())


INPUT_MESSAGES_KEY = "gen_ai.input.messages"
OUTPUT_MESSAGES_KEY = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS_KEY = "gen_ai.system_instructions"
INPUT_VALUE_KEY, OUTPUT_VALUE_KEY = "input.value", "output.value"
FINISH_REASON_KEYS = ("gen_ai.response.finish_reasons", "llm.finish_reason")
# The attributes that carry messages: without any of them, Conversation reads only events.
MESSAGE_KEYS = frozenset(
    {
        INPUT_MESSAGES_KEY,
        OUTPUT_MESSAGES_KEY,
        SYSTEM_INSTRUCTIONS_KEY,
        INPUT_VALUE_KEY,
        OUTPUT_VALUE_KEY,
        *(key for keys in FIRST_INDEXED_KEYS.values() for key in keys),
    }
)
# Every attribute Conversation reads: without any of them (and without events) there is none.
CONVERSATION_KEYS = MESSAGE_KEYS | frozenset(FINISH_REASON_KEYS)


class Conversation:
    """Prompt and completion messages gathered from attributes and events of any family."""

    def __init__(self, attributes: dict[str, Any]) -> None:
        self.input: list[Any] = []
        self.output: list[Any] = []
        self.input_value = self.output_value = None
        # Most calls carry their messages as events: the attribute parsing is skipped for them.
        if not MESSAGE_KEYS.isdisjoint(attributes.keys()):
            self.read_message_attributes(attributes)
        self.finish_reasons: list[str] = []
        reasons = attributes.get(FINISH_REASON_KEYS[0]) or attributes.get(FINISH_REASON_KEYS[1])
        if isinstance(reasons, list):
            self.finish_reasons = [str(reason) for reason in reasons]
        elif reasons:
            self.finish_reasons.append(str(reasons))
        for message in self.output:
            if isinstance(message, dict) and message.get("finish_reason"):
                self.finish_reasons.append(str(message["finish_reason"]))

    def read_message_attributes(self, attributes: dict[str, Any]) -> None:
        self.input = (
            parse_messages(attributes.get(INPUT_MESSAGES_KEY))
            or indexed_messages(attributes, "gen_ai.prompt")
            or indexed_messages(attributes, "llm.input_messages")
        )
        self.output = (
            parse_messages(attributes.get(OUTPUT_MESSAGES_KEY))
            or indexed_messages(attributes, "gen_ai.completion")
            or indexed_messages(attributes, "llm.output_messages")
        )
        system = parse_messages(attributes.get(SYSTEM_INSTRUCTIONS_KEY))
        if system:
            self.input = [{"role": "system", "parts": system}, *self.input]
        self.input_value = attributes.get(INPUT_VALUE_KEY)
        self.output_value = attributes.get(OUTPUT_VALUE_KEY)

    def add_event(self, name: str, attributes: dict[str, Any]) -> None:
        if name in INPUT_EVENT_ROLES:
            content = attributes.get("content", attributes.get("message"))
            self.input.append({"role": attributes.get("role", INPUT_EVENT_ROLES[name]), "content": content})
        elif name == CHOICE_EVENT:
            message = attributes.get("message")
            content = (
                message
                if isinstance(message, dict)
                else {"role": "assistant", "content": attributes.get("content")}
            )
            if attributes.get("finish_reason"):
                content = {**content, "finish_reason": attributes["finish_reason"]}
                self.finish_reasons.append(str(attributes["finish_reason"]))
            self.output.append(content)
        elif name == DETAILS_EVENT:
            self.input = self.input or parse_messages(attributes.get("gen_ai.input.messages")) or []
            self.output = self.output or parse_messages(attributes.get("gen_ai.output.messages")) or []

    def text(self, messages: list[Any], value: Any) -> str | None:
        if messages:
            return "\n".join([text for text in map(message_text, messages) if text])
        return value if isinstance(value, str) else None

    @property
    def finish_reason(self) -> str | None:
        if len(self.finish_reasons) == 1:  # the usual case, without the deduplication
            return self.finish_reasons[0][:100]
        unique = list(dict.fromkeys(self.finish_reasons))
        return ",".join(unique)[:100] if unique else None


NUMBERS = (int, float)  # a tuple: `int | float` would build a union object per call


def resource_environment(resource_attributes: dict[str, Any]) -> Any:
    """The deployment environment a resource names, for the LLM calls that name none."""
    return first(resource_attributes, ENVIRONMENT_KEYS)


def llm_fields(
    attributes: dict[str, Any],
    resource_environment: Any,
    events: list[tuple[str, int, dict[str, Any]]],
    start_ns: int,
    content: ContentPolicy,
) -> dict[str, Any]:
    """The llm_traces columns that come from GenAI attributes and events (and the resource's
    environment, from resource_environment())."""
    ttft_ms: float | None = None
    conversation = None
    # Embedding and content-free calls (most of them with --llm-content=drop) skip the gathering.
    if events or not CONVERSATION_KEYS.isdisjoint(attributes.keys()):
        conversation = Conversation(attributes)
        for name, time_ns, event_attributes in events:
            conversation.add_event(name, event_attributes)
            if name in FIRST_TOKEN_EVENTS and ttft_ms is None:
                ttft_ms = (time_ns - start_ns) / 1e6
    picked = first_of_each(attributes)
    get = picked.get
    seconds = get("ttft_seconds")
    if isinstance(seconds, NUMBERS) and not isinstance(seconds, bool):
        ttft_ms = float(seconds) * 1000
    milliseconds = get("ttft_ms")
    if isinstance(milliseconds, NUMBERS) and not isinstance(milliseconds, bool):
        ttft_ms = float(milliseconds)
    input_tokens = as_int(get("input_tokens"))
    output_tokens = as_int(get("output_tokens"))
    total_tokens = reported_total = as_int(get("total_tokens"))
    if total_tokens is None and (input_tokens is not None or output_tokens is not None):
        total_tokens = (input_tokens or 0) + (output_tokens or 0)
    keep = content.keep
    return {
        "provider": _text(get("provider"), 100),
        "model": _text(get("response_model") or get("request_model")),
        "operation": _text(normal_operation(get("operation")), 100),
        "input_text": cap_text(
            conversation.text(conversation.input, conversation.input_value), content.max_bytes
        )
        if keep and conversation
        else None,
        "output_text": cap_text(
            conversation.text(conversation.output, conversation.output_value), content.max_bytes
        )
        if keep and conversation
        else None,
        "input_messages": cap_messages(conversation.input, content.max_bytes)
        if keep and conversation
        else None,
        "output_messages": cap_messages(conversation.output, content.max_bytes)
        if keep and conversation
        else None,
        "finish_reason": conversation.finish_reason if conversation else None,
        "prompt_tokens": input_tokens,
        "completion_tokens": output_tokens,
        "total_tokens": total_tokens,
        "reported_total_tokens": reported_total,
        "usage_details": None if MODALITY_KEYS.isdisjoint(attributes.keys()) else usage_details(attributes),
        "cache_read_tokens": as_int(get("cache_read_tokens")),
        "cache_write_tokens": as_int(get("cache_write_tokens")),
        "reasoning_tokens": as_int(get("reasoning_tokens")),
        "ttft_ms": ttft_ms,
        "user_id": _text(get("user_id")),
        "session_id": _text(get("session_id")),
        "environment": _text(get("environment") or resource_environment, 100),
    }


def _text(value: Any, limit: int = 255) -> str | None:
    if value is None:
        return None
    if value.__class__ is not str:
        value = str(value)
    # text() only when there is something to fix: this runs for six fields per LLM span.
    return text(value, limit) if len(value) > limit or NUL in value else value
