"""GenAI normalisation of each convention family (pure; no database)."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from observatory_ingest.convert.context import ContentPolicy
from observatory_ingest.convert.genai import (
    FIELD_KEYS,
    KEY_FIELD_RANK,
    cap_messages,
    cap_text,
    first,
    first_of_each,
    is_llm_call,
    llm_fields,
    resource_environment,
    strip_content,
)

KEEP = ContentPolicy()


def fields(
    attributes: dict[str, Any],
    events: list[tuple[str, int, dict[str, Any]]] | None = None,
    resource: dict[str, Any] | None = None,
    content: ContentPolicy = KEEP,
) -> dict[str, Any]:
    return llm_fields(attributes, resource_environment(resource or {}), events or [], 1_000_000_000, content)


def test_what_counts_as_an_llm_call() -> None:
    assert is_llm_call({"gen_ai.provider.name": "openai"})
    assert is_llm_call({"gen_ai.system": "anthropic"})
    assert is_llm_call({"llm.model_name": "x"})
    assert is_llm_call({"gen_ai.usage.input_tokens": 3})
    assert is_llm_call({"gen_ai.operation.name": "embeddings"})
    assert is_llm_call({"llm.request.type": "completion"})
    assert is_llm_call({"openinference.span.kind": "LLM"})
    assert not is_llm_call({"openinference.span.kind": "CHAIN"})
    assert not is_llm_call({"gen_ai.operation.name": "execute_tool"})
    assert not is_llm_call({"http.method": "GET"})


def test_current_otel_genai_attributes_and_events() -> None:
    result = fields(
        {
            "gen_ai.provider.name": "openai",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.input_tokens": 1200,
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.cache_read.input_tokens": 200,
            "gen_ai.usage.reasoning.output_tokens": 40,
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.conversation.id": "conv-1",
            "user.id": "u-1",
            "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "Hello"}]}]',
            "gen_ai.system_instructions": [{"type": "text", "content": "Be brief."}],
        },
        events=[("gen_ai.content.first_chunk", 1_250_000_000, {})],
        resource={"deployment.environment.name": "prod"},
    )
    assert (result["provider"], result["model"], result["operation"]) == (
        "openai",
        "gpt-4o-2024-08-06",
        "chat",
    )
    assert (result["prompt_tokens"], result["completion_tokens"], result["total_tokens"]) == (1200, 300, 1500)
    assert (result["cache_read_tokens"], result["reasoning_tokens"]) == (200, 40)
    assert result["finish_reason"] == "stop"
    assert (result["session_id"], result["user_id"], result["environment"]) == ("conv-1", "u-1", "prod")
    assert result["ttft_ms"] == 250.0
    assert result["input_text"] == "Be brief.\nHello"
    assert orjson.loads(result["input_messages"])[0] == {
        "role": "system",
        "parts": [{"type": "text", "content": "Be brief."}],
    }


def test_legacy_openllmetry_indexed_attributes() -> None:
    result = fields(
        {
            "gen_ai.system": "openai",
            "llm.request.type": "completion",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.prompt_tokens": 100,
            "gen_ai.usage.completion_tokens": 50,
            "llm.usage.total_tokens": 151,
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "sys",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "Hi",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "Hello!",
            "gen_ai.completion.0.finish_reason": "length",
        }
    )
    assert (result["operation"], result["total_tokens"], result["finish_reason"]) == (
        "text_completion",
        151,
        "length",
    )
    assert orjson.loads(result["input_messages"]) == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "Hi"},
    ]
    assert result["output_text"] == "Hello!"


def test_legacy_events_carry_the_conversation() -> None:
    result = fields(
        {"gen_ai.system": "anthropic", "gen_ai.request.model": "claude-3-5-haiku"},
        events=[
            ("gen_ai.system.message", 1, {"content": "rules"}),
            ("gen_ai.user.message", 2, {"content": "question"}),
            (
                "gen_ai.choice",
                3,
                {
                    "index": 0,
                    "finish_reason": "end_turn",
                    "message": {"role": "assistant", "content": "answer"},
                },
            ),
        ],
    )
    assert result["input_text"] == "rules\nquestion"
    assert result["output_text"] == "answer"
    assert result["finish_reason"] == "end_turn"


def test_openinference_attributes() -> None:
    result = fields(
        {
            "openinference.span.kind": "LLM",
            "llm.provider": "anthropic",
            "llm.system": "anthropic",
            "llm.model_name": "claude-3-5-haiku-20241022",
            "llm.token_count.prompt": 2000,
            "llm.token_count.completion": 100,
            "llm.token_count.total": 2100,
            "llm.token_count.prompt_details.cache_read": 500,
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "Q?",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "A.",
            "input.value": "raw input",
            "session.id": "s-9",
            "user.id": "u-9",
        }
    )
    assert (result["provider"], result["model"], result["operation"]) == (
        "anthropic",
        "claude-3-5-haiku-20241022",
        "chat",
    )
    assert (result["prompt_tokens"], result["completion_tokens"], result["total_tokens"]) == (2000, 100, 2100)
    assert result["cache_read_tokens"] == 500
    assert (result["input_text"], result["output_text"]) == ("Q?", "A.")
    assert (result["session_id"], result["user_id"]) == ("s-9", "u-9")


def test_content_drop_and_caps() -> None:
    attributes = {
        "gen_ai.system": "openai",
        "gen_ai.prompt.0.content": "secret",
        "gen_ai.prompt.0.role": "user",
        "input.value": "secret",
        "gen_ai.usage.input_tokens": 5,
    }
    dropped = fields(attributes, content=ContentPolicy(keep=False))
    assert dropped["input_text"] is None and dropped["input_messages"] is None
    assert dropped["prompt_tokens"] == 5
    assert strip_content(attributes) == {
        "gen_ai.system": "openai",
        "gen_ai.prompt.0.role": "user",
        "gen_ai.usage.input_tokens": 5,
    }
    assert cap_text("x" * 100, 10) == "x" * 10 + "…[truncated 90 bytes]"
    capped = orjson.loads(cap_messages([{"role": "user", "content": "y" * 50}] * 4, 120) or "")
    assert capped[0] == {"role": "user", "content": "y" * 50}
    assert capped[-1] == {"role": "observatory", "content": "[truncated: 1 of 4 messages kept]"}


def test_token_counts_that_are_no_integer_are_left_out() -> None:
    result = fields(
        {
            "gen_ai.provider.name": "openai",
            "gen_ai.usage.input_tokens": float("inf"),
            "gen_ai.usage.output_tokens": float("nan"),
            "gen_ai.usage.total_tokens": "12",
            "gen_ai.usage.cache_read.input_tokens": True,
            "gen_ai.usage.reasoning.output_tokens": 7.9,
        }
    )
    assert (result["prompt_tokens"], result["completion_tokens"], result["total_tokens"]) == (None, None, 12)
    assert (result["cache_read_tokens"], result["reasoning_tokens"]) == (None, 7)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.one_of(st.sampled_from(sorted(KEY_FIELD_RANK)), st.text(max_size=5)),
        st.one_of(st.none(), st.just(""), st.text(max_size=3), st.integers(), st.booleans()),
        max_size=12,
    )
)
def test_first_of_each_is_first_for_every_field(attributes: dict[str, Any]) -> None:
    picked = first_of_each(attributes)
    for name, keys in FIELD_KEYS.items():
        assert picked.get(name) == first(attributes, keys)
        assert (name in picked) == (first(attributes, keys) is not None)


def test_usage_per_modality_of_otel_and_openinference() -> None:
    otel = llm_fields(
        {
            "gen_ai.provider.name": "openai",
            "gen_ai.usage.input_tokens": 900,
            "gen_ai.usage.text.input_tokens": 200,
            "gen_ai.usage.image.input_tokens": 100,
            "gen_ai.usage.audio.input_tokens": 500,
            "gen_ai.usage.video.input_tokens": 100,
            "gen_ai.usage.text.output_tokens": 30,
            "gen_ai.usage.audio.output_tokens": 70,
        },
        None,
        [],
        0,
        ContentPolicy(),
    )
    assert otel["usage_details"] == {
        "input_text_tokens": 200,
        "input_image_tokens": 100,
        "input_audio_tokens": 500,
        "input_video_tokens": 100,
        "output_text_tokens": 30,
        "output_audio_tokens": 70,
    }
    openinference = llm_fields(
        {
            "llm.provider": "openai",
            "llm.token_count.prompt_details.audio": 40,
            "llm.token_count.completion_details.audio": "12",
            "llm.token_count.total": 99,
        },
        None,
        [],
        0,
        ContentPolicy(),
    )
    assert openinference["usage_details"] == {"input_audio_tokens": 40, "output_audio_tokens": 12}
    assert openinference["reported_total_tokens"] == 99
    plain = llm_fields(
        {"gen_ai.usage.input_tokens": 5, "gen_ai.usage.output_tokens": 1}, None, [], 0, ContentPolicy()
    )
    assert (
        plain["usage_details"] is None
        and plain["reported_total_tokens"] is None
        and plain["total_tokens"] == 6
    )


def test_an_openinference_kind_of_any_type_is_read_without_failing() -> None:
    # A list under the key failed the whole request (unhashable in the set of LLM kinds).
    assert is_llm_call({"openinference.span.kind": ["LLM"]}) is False
    assert is_llm_call({"openinference.span.kind": {"k": 1}}) is False
    assert is_llm_call({"openinference.span.kind": "LLM"}) is True
