"""The LLM layer through the real server: one fixture per convention family, cost to the cent,
unknown models, content dropping, the authentication matrix and cross-project isolation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp
import asyncpg
import grpc
import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from observatory_ingest.runtime.app import RunningService, running_service
from observatory_ingest.signals import SIGNALS
from observatory_ingest.store.keys import create_key, lookup_prefix, revoke_key
from tests.integration.conftest import refresh_aggregates, service_settings
from tests.integration.otlp_client import export
from tests.otlp_builders import any_value, key_values, span, trace_request

T0 = 1_800_000_000_000_000_000  # 2027-01-15, after every seeded price's start
T_ROLLUPS = T0 + 10 * 86_400 * 10**9  # the rollup test's own time range


def llm_span(
    trace: int, name: str, attributes: dict[str, Any], duration_ms: int = 1500, **fields: Any
) -> Span:
    built = span(
        bytes([trace]) * 16,
        bytes([trace, 1]) * 4,
        name,
        start=T0,
        duration_ns=duration_ms * 1_000_000,
        kind=Span.SPAN_KIND_CLIENT,
        attributes=key_values(attributes),
        **fields,
    )
    return built


def openai_chat() -> Span:
    chat = llm_span(
        0x01,
        "chat gpt-4o",
        {
            "gen_ai.provider.name": "openai",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.input_tokens": 1200,
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.cache_read.input_tokens": 200,
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.conversation.id": "conv-42",
            "user.id": "alice",
            "gen_ai.input.messages": orjson.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": "Capital of France?"}]}]
            ).decode(),
            "gen_ai.output.messages": [
                {
                    "role": "assistant",
                    "parts": [{"type": "text", "content": "Paris."}],
                    "finish_reason": "stop",
                }
            ],
        },
    )
    chat.events.add(time_unix_nano=T0 + 180_000_000, name="gen_ai.content.first_chunk")
    chat.events.add(
        time_unix_nano=T0 + 1_400_000_000,
        name="gen_ai.client.inference.operation.details",
        attributes=key_values({"gen_ai.operation.name": "chat"}),
    )
    return chat


def anthropic_chat() -> Span:
    chat = llm_span(
        0x02,
        "chat claude",
        {
            "gen_ai.provider.name": "anthropic",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "claude-sonnet-4-5-20250929",
            "gen_ai.usage.input_tokens": 5000,
            "gen_ai.usage.output_tokens": 800,
            "gen_ai.usage.cache_read.input_tokens": 3000,
            "gen_ai.usage.cache_creation.input_tokens": 1000,
            "gen_ai.response.finish_reasons": ["end_turn"],
            "session.id": "sess-7",
        },
        duration_ms=4200,
        status=Status(code=Status.STATUS_CODE_ERROR, message="overloaded_error"),
    )
    chat.events.add(
        time_unix_nano=T0 + 1,
        name="gen_ai.client.inference.operation.details",
        attributes=key_values(
            {
                "gen_ai.input.messages": [
                    {"role": "user", "parts": [{"type": "text", "content": "Summarise this."}]}
                ],
                "gen_ai.output.messages": [
                    {"role": "assistant", "parts": [{"type": "text", "content": "A summary."}]}
                ],
            }
        ),
    )
    return chat


def openllmetry_chat() -> Span:
    return llm_span(
        0x03,
        "openai.chat",
        {
            "gen_ai.system": "openai",
            "llm.request.type": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.prompt_tokens": 100,
            "gen_ai.usage.completion_tokens": 50,
            "llm.usage.total_tokens": 150,
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "Hi",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "Hello!",
            "gen_ai.completion.0.finish_reason": "stop",
        },
        duration_ms=800,
    )


def openinference_llm() -> Span:
    return llm_span(
        0x04,
        "ChatAnthropic",
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
            "input.value": "Q?",
            "output.value": "A.",
            "session.id": "oi-session",
            "user.id": "bob",
        },
        duration_ms=600,
    )


def unknown_model() -> Span:
    return llm_span(
        0x05,
        "chat mystery",
        {
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "mystery-1",
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.output_tokens": 5,
        },
    )


def family_request() -> Any:
    plain = span(b"\x06" * 16, b"\x06" * 8, "GET /health")
    return trace_request(
        [openai_chat(), anthropic_chat(), openllmetry_chat(), openinference_llm(), unknown_model(), plain],
        service="chat-app",
        resource={"deployment.environment.name": "prod"},
    )


async def llm_rows(db: asyncpg.Connection) -> dict[str, dict[str, Any]]:
    return {row["span_name"]: dict(row) for row in await db.fetch("SELECT * FROM llm_traces")}


async def test_each_convention_family_lands_field_by_field_with_cost(
    service: RunningService, db: asyncpg.Connection
) -> None:
    await export(service.grpc_port, "traces", family_request())
    rows = await llm_rows(db)
    assert set(rows) >= {"chat gpt-4o", "chat claude", "openai.chat", "ChatAnthropic", "chat mystery"}
    assert "GET /health" not in rows
    assert await db.fetchval("SELECT count(*) FROM trace_spans WHERE name = 'GET /health'") == 1

    openai = rows["chat gpt-4o"]
    assert (openai["provider"], openai["model"], openai["operation"]) == (
        "openai",
        "gpt-4o-2024-08-06",
        "chat",
    )
    assert (openai["prompt_tokens"], openai["completion_tokens"], openai["total_tokens"]) == (1200, 300, 1500)
    assert (openai["cache_read_tokens"], openai["cache_write_tokens"], openai["reasoning_tokens"]) == (
        200,
        None,
        None,
    )
    assert (openai["prompt_cost_usd"], openai["completion_cost_usd"], openai["total_cost_usd"]) == (
        Decimal("0.00275"),
        Decimal("0.003"),
        Decimal("0.00575"),
    )
    assert (openai["finish_reason"], openai["ttft_ms"], openai["duration_ms"]) == ("stop", 180.0, 1500.0)
    assert (openai["user_id"], openai["session_id"], openai["environment"]) == ("alice", "conv-42", "prod")
    assert (openai["input_text"], openai["output_text"]) == ("Capital of France?", "Paris.")
    assert orjson.loads(openai["output_messages"])[0]["finish_reason"] == "stop"
    assert (openai["status_code"], openai["error_message"], openai["span_kind"]) == ("unset", None, "client")
    attributes = orjson.loads(openai["attributes"])
    assert (attributes["gen_ai.request.model"], attributes["gen_ai.response.model"]) == (
        "gpt-4o",
        "gpt-4o-2024-08-06",
    )
    assert openai["trace_id"] == "01" * 16 and openai["span_id"] == "0101" * 4
    assert orjson.loads(openai["resource_attributes"])["service.name"] == "chat-app"

    anthropic = rows["chat claude"]
    assert (anthropic["provider"], anthropic["model"]) == ("anthropic", "claude-sonnet-4-5-20250929")
    assert (anthropic["cache_read_tokens"], anthropic["cache_write_tokens"]) == (3000, 1000)
    # 1000 uncached x $3 + 3000 x $0.30 + 1000 x $3.75, and 800 x $15, per million tokens.
    assert (anthropic["prompt_cost_usd"], anthropic["completion_cost_usd"], anthropic["total_cost_usd"]) == (
        Decimal("0.00765"),
        Decimal("0.012"),
        Decimal("0.01965"),
    )
    assert (anthropic["status_code"], anthropic["error_message"]) == ("error", "overloaded_error")
    assert (anthropic["input_text"], anthropic["output_text"]) == ("Summarise this.", "A summary.")
    assert (anthropic["session_id"], anthropic["finish_reason"], anthropic["duration_ms"]) == (
        "sess-7",
        "end_turn",
        4200.0,
    )

    legacy = rows["openai.chat"]
    assert (legacy["provider"], legacy["model"], legacy["operation"]) == ("openai", "gpt-4o-mini", "chat")
    assert (legacy["prompt_tokens"], legacy["completion_tokens"], legacy["total_tokens"]) == (100, 50, 150)
    assert legacy["total_cost_usd"] == Decimal("0.000045")
    assert orjson.loads(legacy["input_messages"]) == [{"role": "user", "content": "Hi"}]
    assert (legacy["output_text"], legacy["finish_reason"]) == ("Hello!", "stop")

    openinference = rows["ChatAnthropic"]
    assert (openinference["provider"], openinference["model"], openinference["operation"]) == (
        "anthropic",
        "claude-3-5-haiku-20241022",
        "chat",
    )
    assert (
        openinference["prompt_tokens"],
        openinference["cache_read_tokens"],
        openinference["total_tokens"],
    ) == (2000, 500, 2100)
    assert openinference["total_cost_usd"] == Decimal("0.00164")
    assert (openinference["input_text"], openinference["output_text"]) == ("Q?", "A.")
    assert (openinference["user_id"], openinference["session_id"]) == ("bob", "oi-session")

    mystery = rows["chat mystery"]
    assert (mystery["total_cost_usd"], mystery["prompt_cost_usd"], mystery["total_tokens"]) == (
        None,
        None,
        15,
    )
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{service.metrics_port}/metrics") as reply,
    ):
        assert "observatory_llm_unpriced_calls_total" in await reply.text()

    genai_events = await db.fetch("SELECT * FROM llm_logs WHERE span_id = $1", "0101" * 4)
    assert {e["event_name"] for e in genai_events} == {
        "gen_ai.content.first_chunk",
        "gen_ai.client.inference.operation.details",
    }
    assert all((e["provider"], e["model"]) == ("openai", "gpt-4o-2024-08-06") for e in genai_events)


async def test_llm_metrics_and_correlated_logs(service: RunningService, db: asyncpg.Connection) -> None:
    trace_id, span_id = b"\x07" * 16, b"\x07\x01" * 4
    logs = ExportLogsServiceRequest()
    scope_logs = logs.resource_logs.add().scope_logs.add()
    scope_logs.log_records.add(
        time_unix_nano=T0 + 10,
        trace_id=trace_id,
        span_id=span_id,
        severity_number=9,
        body=any_value("calling the model"),
    )
    scope_logs.log_records.add(
        time_unix_nano=T0 + 20, trace_id=b"\x08" * 16, span_id=b"\x08" * 8, body=any_value("unrelated")
    )
    choice = scope_logs.log_records.add(
        time_unix_nano=T0 + 30, event_name="gen_ai.choice", body=any_value({"index": 0})
    )
    choice.attributes.extend(key_values({"gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"}))
    await export(service.grpc_port, "logs", logs)  # the log arrives before its span
    llm = llm_span(
        0x07, "chat late span", {"gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"}
    )
    await export(service.grpc_port, "traces", trace_request([llm]))
    after = scope_logs.log_records.add(
        time_unix_nano=T0 + 40, trace_id=trace_id, span_id=span_id, body=any_value("done")
    )
    await export(service.grpc_port, "logs", logs)  # replayed with one more record, after the span
    assert after.body.string_value == "done"
    bodies = {
        r["body"]: r
        for r in await db.fetch(
            "SELECT * FROM llm_logs WHERE body IN ('calling the model', 'done', 'unrelated')"
        )
    }
    assert set(bodies) == {"calling the model", "done"}
    assert (bodies["done"]["provider"], bodies["done"]["model"]) == ("openai", "gpt-4o")
    event = await db.fetchrow("SELECT * FROM llm_logs WHERE event_name = 'gen_ai.choice'")
    assert (event["provider"], event["model"], orjson.loads(event["body"])) == (
        "openai",
        "gpt-4o",
        {"index": 0},
    )
    assert await db.fetchval("SELECT count(*) FROM llm_logs WHERE body = 'calling the model'") == 1

    metrics = ExportMetricsServiceRequest()
    scope = metrics.resource_metrics.add().scope_metrics.add()
    usage = scope.metrics.add(name="gen_ai.client.token.usage", unit="{token}")
    for token_type, total in (("input", 1200.0), ("output", 300.0)):
        point = usage.histogram.data_points.add(time_unix_nano=T0, count=1, sum=total, min=total, max=total)
        point.attributes.extend(
            key_values(
                {
                    "gen_ai.token.type": token_type,
                    "gen_ai.provider.name": "openai",
                    "gen_ai.operation.name": "chat",
                    "gen_ai.response.model": "gpt-4o",
                }
            )
        )
    duration = scope.metrics.add(name="gen_ai.client.operation.duration", unit="s")
    duration.histogram.data_points.add(time_unix_nano=T0, count=2, sum=3.0).attributes.extend(
        key_values({"gen_ai.system": "anthropic", "gen_ai.request.model": "claude-haiku-4-5"})
    )
    renamed = scope.metrics.add(name="gen_ai.client.inference.usage.output_tokens")
    renamed.sum.data_points.add(time_unix_nano=T0, as_int=77)
    scope.metrics.add(name="http.server.duration").gauge.data_points.add(time_unix_nano=T0, as_double=1)
    await export(service.grpc_port, "metrics", metrics)
    rows = await db.fetch("SELECT * FROM llm_metrics ORDER BY name, token_type")
    assert [
        (r["name"], r["provider"], r["model"], r["operation"], r["token_type"], r["sum"], r["value"])
        for r in rows
    ] == [
        ("gen_ai.client.inference.usage.output_tokens", None, None, None, "output", None, 77.0),
        ("gen_ai.client.operation.duration", "anthropic", "claude-haiku-4-5", None, None, 3.0, None),
        ("gen_ai.client.token.usage", "openai", "gpt-4o", "chat", "input", 1200.0, None),
        ("gen_ai.client.token.usage", "openai", "gpt-4o", "chat", "output", 300.0, None),
    ]


async def test_content_can_be_dropped_or_capped(database: str, db: asyncpg.Connection) -> None:
    async with running_service(service_settings(database, llm_content="drop")) as service:
        request = trace_request(
            [
                llm_span(
                    0x09,
                    "dropped",
                    {
                        "gen_ai.system": "openai",
                        "gen_ai.request.model": "gpt-4o",
                        "gen_ai.usage.input_tokens": 7,
                        "gen_ai.prompt.0.role": "user",
                        "gen_ai.prompt.0.content": "my secret",
                        "input.value": "my secret",
                    },
                )
            ]
        )
        request.resource_spans[0].scope_spans[0].spans[0].events.add(
            time_unix_nano=T0, name="gen_ai.user.message", attributes=key_values({"content": "my secret"})
        )
        await export(service.grpc_port, "traces", request)
    row = await db.fetchrow("SELECT * FROM llm_traces WHERE span_name = 'dropped'")
    assert (row["input_text"], row["output_text"], row["input_messages"], row["prompt_tokens"]) == (
        None,
        None,
        None,
        7,
    )
    stored = await db.fetchval(
        "SELECT attributes::text || coalesce(events::text, '') FROM trace_spans WHERE name = 'dropped'"
    )
    assert "my secret" not in stored and "my secret" not in row["attributes"]
    assert "gen_ai.prompt.0.role" in stored
    assert not [
        r
        for r in await db.fetch("SELECT body FROM llm_logs WHERE span_id = $1", "0901" * 4)
        if "secret" in r["body"]
    ]

    async with running_service(service_settings(database, llm_content_max_bytes=16)) as service:
        await export(
            service.grpc_port,
            "traces",
            trace_request(
                [
                    llm_span(
                        0x0A,
                        "capped",
                        {
                            "gen_ai.system": "openai",
                            "gen_ai.prompt.0.role": "user",
                            "gen_ai.prompt.0.content": "x" * 100,
                        },
                    )
                ]
            ),
        )
    capped = await db.fetchrow("SELECT input_text FROM llm_traces WHERE span_name = 'capped'")
    assert capped["input_text"] == "x" * 16 + "…[truncated 84 bytes]"


async def grpc_status_with(port: int, metadata: tuple[tuple[str, str], ...], request: Any) -> grpc.StatusCode:
    kind = SIGNALS["traces"]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(
            kind.grpc_method, request_serializer=None, response_deserializer=kind.response_type.FromString
        )
        try:
            await call(request.SerializeToString(), metadata=metadata, timeout=5)
        except grpc.aio.AioRpcError as error:
            return error.code()
    return grpc.StatusCode.OK


async def http_status_with(port: int, headers: dict[str, str], request: Any) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{port}/v1/traces",
            data=request.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf", **headers},
        ) as reply,
    ):
        return reply.status


async def test_authentication_matrix_and_project_isolation(database: str, db: asyncpg.Connection) -> None:
    key_a, project_a = await create_key(db, "team-a")
    key_b, project_b = await create_key(db, "team-b")
    revoked, _ = await create_key(db, "team-a", "old")
    await revoke_key(db, lookup_prefix(revoked))
    # The payload claims another project: it must not matter.
    request = trace_request(
        [llm_span(0x0B, "isolated", {"gen_ai.system": "openai", "project_id": project_b})],
        resource={"observatory.project_id": project_b},
    )
    async with running_service(service_settings(database, auth="required")) as service:
        for metadata in (
            (),
            (("authorization", "Bearer obs_wrongkey_xyz"),),
            (("x-api-key", revoked),),
            (("authorization", f"Basic {key_a}"),),
        ):
            assert (
                await grpc_status_with(service.grpc_port, metadata, request)
                == grpc.StatusCode.UNAUTHENTICATED
            )
        for headers in ({}, {"x-api-key": key_a[:-1] + "?"}, {"authorization": f"Bearer {revoked}"}):
            assert await http_status_with(service.http_port, headers, request) == 401
        assert await db.fetchval("SELECT count(*) FROM trace_spans WHERE name = 'isolated'") == 0

        assert (
            await grpc_status_with(service.grpc_port, (("authorization", f"Bearer {key_a}"),), request)
            == grpc.StatusCode.OK
        )
        assert await http_status_with(service.http_port, {"x-api-key": key_b}, request) == 200
        assert (
            await grpc_status_with(service.grpc_port, (("x-api-key", key_a),), request) == grpc.StatusCode.OK
        )
    spans = await db.fetch("SELECT project_id::text, id FROM trace_spans WHERE name = 'isolated' ORDER BY 1")
    assert sorted(r["project_id"] for r in spans) == sorted([project_a, project_b])
    llm = await db.fetch("SELECT project_id::text FROM llm_traces WHERE span_name = 'isolated'")
    assert sorted(r["project_id"] for r in llm) == sorted([project_a, project_b])
    traces = await db.fetch("SELECT project_id::text, span_count FROM traces WHERE trace_id = $1", "0b" * 16)
    assert sorted((r["project_id"], r["span_count"]) for r in traces) == sorted(
        [(project_a, 1), (project_b, 1)]
    )
    assert await db.fetchval(
        "SELECT last_used_at IS NOT NULL FROM api_keys WHERE key_prefix = $1", lookup_prefix(key_a)
    )


async def test_rollups_over_ingested_calls_match_the_raw_rows(
    service: RunningService, db: asyncpg.Connection, backend: str
) -> None:
    spans = []
    for index in range(40):
        model = ("gpt-4o", "gpt-4o-mini", "claude-haiku-4-5")[index % 3]
        provider = "anthropic" if model.startswith("claude") else "openai"
        spans.append(
            span(
                bytes([0x30, index]) * 8,
                bytes([0x30, index]) * 4,
                f"rollup {index}",
                start=T_ROLLUPS + index * 90_000_000_000,
                duration_ns=(index + 1) * 10_000_000,
                attributes=key_values(
                    {
                        "gen_ai.provider.name": provider,
                        "gen_ai.request.model": model,
                        "gen_ai.usage.input_tokens": 100 + index,
                        "gen_ai.usage.output_tokens": 10,
                        "user.id": f"user-{index % 4}",
                    }
                ),
                status=Status(code=2 if index % 7 == 0 else 0),
            )
        )
    await export(service.grpc_port, "traces", trace_request(spans))
    if backend == "timescaledb":
        await refresh_aggregates(
            db, ("llm_metrics_1min", "llm_metrics_1hour", "llm_metrics_1day", "llm_error_summary")
        )
    raw = await db.fetchrow(
        "SELECT count(*) AS requests, sum(prompt_tokens) AS prompt, sum(total_cost_usd) AS cost, "
        "count(*) FILTER (WHERE status_code = 'error') AS errors "
        "FROM llm_traces WHERE span_name LIKE 'rollup %'"
    )
    assert raw["requests"] == 40 and raw["cost"] > 0
    window = "bucket BETWEEN $1::timestamptz - interval '1 day' AND $1::timestamptz + interval '2 days'"
    start = await db.fetchval("SELECT min(ts) FROM llm_traces WHERE span_name LIKE 'rollup %'")
    for view in ("llm_metrics_1min", "llm_metrics_1hour", "llm_metrics_1day"):
        rolled = await db.fetchrow(
            f"SELECT sum(request_count) AS requests, sum(prompt_tokens) AS prompt, "
            f"sum(total_cost_usd) AS cost, sum(error_count) AS errors FROM {view} WHERE {window}",
            start,
        )
        assert dict(rolled) == dict(raw), view
    assert await db.fetchval(f"SELECT sum(distinct_users) FROM llm_metrics_1day WHERE {window}", start) >= 4
    assert (
        await db.fetchval(f"SELECT sum(error_count) FROM llm_error_summary WHERE {window}", start)
        == raw["errors"]
    )
