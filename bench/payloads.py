"""Realistic OTLP payloads of an LLM application: traces of ~8 spans, logs, metrics of every type.

Every request gets ids of its own (seeded), so a benchmark never measures deduplication."""

from __future__ import annotations

import random
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from bench.otlp import any_value, key_values

MS = 1_000_000
SPANS_PER_TRACE = 8
PROMPT = "You are a helpful assistant for an online bookshop. Answer briefly and cite the catalogue."
QUESTION = "Which of your fantasy novels published after 2015 would suit a twelve-year-old reader?"
ANSWER = "Three fit well: 'The Girl Who Drank the Moon', 'Nevermoor' and 'The Wild Robot'."


# (provider, model id) pairs as instrumentations report them.
LLM_CALLS = (
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-4o-2024-08-06"),
    ("anthropic", "claude-sonnet-4-5-20250929"),
    ("aws.bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0"),
    ("gcp.vertex_ai", "gemini-2.5-pro"),
    ("gcp.gemini", "gemini-2.5-flash"),
    ("azure.ai.openai", "gpt-4o"),
    ("mistral_ai", "mistral-large-latest"),
    ("deepseek", "deepseek-chat"),
    ("x_ai", "grok-3"),
    ("groq", "llama-3.3-70b-versatile"),
)

value = any_value
kvs = key_values


class Generator:
    def __init__(self, seed: int = 1, start_ns: int = 1_790_000_000_000_000_000) -> None:
        self.random = random.Random(seed)
        self.clock = start_ns

    def ids(self) -> tuple[bytes, list[bytes]]:
        return self.random.randbytes(16), [self.random.randbytes(8) for _ in range(SPANS_PER_TRACE)]

    def trace(self, spans: list[Span]) -> None:
        trace_id, span_ids = self.ids()
        t0 = self.clock
        self.clock += 3 * MS
        user = f"user-{self.random.randrange(5000)}"
        model = self.random.choice(("gpt-4o-mini", "gpt-4o", "claude-sonnet-4-5", "gemini-2.5-flash"))
        provider = {"gpt": "openai", "cla": "anthropic", "gem": "gcp.gemini"}[model[:3]]
        tokens_in, tokens_out = self.random.randrange(200, 4000), self.random.randrange(20, 800)

        def add(
            index: int,
            parent: int | None,
            name: str,
            offset_ms: int,
            duration_ms: int,
            kind: Span.SpanKind.ValueType,
            attributes: dict[str, Any],
            error: bool = False,
        ) -> Span:
            span = Span(
                trace_id=trace_id,
                span_id=span_ids[index],
                parent_span_id=span_ids[parent] if parent is not None else b"",
                name=name,
                kind=kind,
                start_time_unix_nano=t0 + offset_ms * MS,
                end_time_unix_nano=t0 + (offset_ms + duration_ms) * MS,
                attributes=kvs(attributes),
                flags=0x301,
                status=Status(code=Status.STATUS_CODE_ERROR, message="rate limited") if error else None,
            )
            spans.append(span)
            return span

        add(
            0,
            None,
            "POST /v1/answer",
            0,
            1900,
            Span.SPAN_KIND_SERVER,
            {
                "http.request.method": "POST",
                "http.route": "/v1/answer",
                "http.response.status_code": 200,
                "url.scheme": "https",
                "server.address": "api.bookshop.example",
                "user.id": user,
                "session.id": f"sess-{self.random.randrange(20000)}",
                "client.address": "10.1.2.3",
            },
        )
        add(
            1,
            0,
            "redis GET",
            2,
            1,
            Span.SPAN_KIND_CLIENT,
            {
                "db.system": "redis",
                "db.operation.name": "GET",
                "server.address": "cache",
                "server.port": 6379,
            },
        )
        add(
            2,
            0,
            "embeddings text-embedding-3-small",
            4,
            80,
            Span.SPAN_KIND_CLIENT,
            {
                "gen_ai.operation.name": "embeddings",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "text-embedding-3-small",
                "gen_ai.usage.input_tokens": 24,
            },
        )
        add(
            3,
            0,
            "SELECT books",
            90,
            35,
            Span.SPAN_KIND_CLIENT,
            {
                "db.system": "postgresql",
                "db.namespace": "catalogue",
                "db.operation.name": "SELECT",
                "db.query.text": "SELECT id, title FROM books ORDER BY embedding <-> $1 LIMIT 8",
                "db.response.returned_rows": 8,
            },
        )
        chat = add(
            4,
            0,
            f"chat {model}",
            130,
            1500,
            Span.SPAN_KIND_CLIENT,
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": provider,
                "gen_ai.request.model": model,
                "gen_ai.response.model": model,
                "gen_ai.request.temperature": 0.2,
                "gen_ai.request.max_tokens": 1024,
                "gen_ai.usage.input_tokens": tokens_in,
                "gen_ai.usage.output_tokens": tokens_out,
                "gen_ai.usage.cache_read.input_tokens": tokens_in // 4,
                "gen_ai.response.finish_reasons": ["stop"],
                "gen_ai.response.id": f"chatcmpl-{self.random.randrange(10**12)}",
                "user.id": user,
            },
            error=self.random.random() < 0.02,
        )
        chat.events.add(
            time_unix_nano=t0 + 131 * MS, name="gen_ai.system.message", attributes=kvs({"content": PROMPT})
        )
        chat.events.add(
            time_unix_nano=t0 + 131 * MS, name="gen_ai.user.message", attributes=kvs({"content": QUESTION})
        )
        chat.events.add(
            time_unix_nano=t0 + 1629 * MS,
            name="gen_ai.choice",
            attributes=kvs({"index": 0, "finish_reason": "stop", "content": ANSWER}),
        )
        add(
            5,
            4,
            "execute_tool search_catalogue",
            700,
            120,
            Span.SPAN_KIND_INTERNAL,
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "search_catalogue",
                "gen_ai.tool.call.id": f"call_{self.random.randrange(10**9)}",
            },
        )
        add(6, 0, "render answer", 1640, 20, Span.SPAN_KIND_INTERNAL, {"template": "answer.html", "books": 3})
        add(
            7,
            0,
            "kafka publish answered",
            1670,
            4,
            Span.SPAN_KIND_PRODUCER,
            {
                "messaging.system": "kafka",
                "messaging.destination.name": "answers",
                "messaging.operation.type": "send",
            },
        )

    def traces(self, spans_per_request: int) -> ExportTraceServiceRequest:
        request = ExportTraceServiceRequest()
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.extend(
            kvs(
                {
                    "service.name": "bookshop-assistant",
                    "service.version": "2.3.1",
                    "deployment.environment.name": "prod",
                    "telemetry.sdk.language": "python",
                    "telemetry.sdk.name": "opentelemetry",
                    "host.name": "pod-7f9c",
                }
            )
        )
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name, scope_spans.scope.version = "bookshop.instrumentation", "2.3.1"
        spans: list[Span] = []
        while len(spans) < spans_per_request:
            self.trace(spans)
        scope_spans.spans.extend(spans[:spans_per_request])
        return request

    def llm_calls(self, spans_per_request: int) -> ExportTraceServiceRequest:
        """Every span an LLM call, of every convention family, with model ids as telemetry shows them."""
        request = ExportTraceServiceRequest()
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.extend(
            kvs({"service.name": "bookshop-assistant", "deployment.environment.name": "prod"})
        )
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name = "bookshop.instrumentation"
        for index in range(spans_per_request):
            provider, model = LLM_CALLS[index % len(LLM_CALLS)]
            tokens_in, tokens_out = self.random.randrange(200, 4000), self.random.randrange(20, 800)
            family = index % 3
            if family == 0:
                attributes: dict[str, Any] = {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": provider,
                    "gen_ai.request.model": model,
                    "gen_ai.response.model": model,
                    "gen_ai.usage.input_tokens": tokens_in,
                    "gen_ai.usage.output_tokens": tokens_out,
                    "gen_ai.usage.cache_read.input_tokens": tokens_in // 4,
                }
            elif family == 1:
                attributes = {
                    "llm.request.type": "chat",
                    "gen_ai.system": provider.title(),
                    "gen_ai.request.model": model,
                    "gen_ai.usage.prompt_tokens": tokens_in,
                    "gen_ai.usage.completion_tokens": tokens_out,
                    "gen_ai.usage.cache_read_input_tokens": tokens_in // 3,
                }
            else:
                attributes = {
                    "openinference.span.kind": "LLM",
                    "llm.provider": provider,
                    "llm.model_name": model,
                    "llm.token_count.prompt": tokens_in,
                    "llm.token_count.completion": tokens_out,
                    "llm.token_count.total": tokens_in + tokens_out,
                }
            self.clock += MS
            scope_spans.spans.add(
                trace_id=self.random.randbytes(16),
                span_id=self.random.randbytes(8),
                name=f"chat {model}",
                kind=Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=self.clock,
                end_time_unix_nano=self.clock + 900 * MS,
                attributes=kvs(attributes),
            )
        return request

    def logs(self, records: int) -> ExportLogsServiceRequest:
        request = ExportLogsServiceRequest()
        resource_logs = request.resource_logs.add()
        resource_logs.resource.attributes.extend(
            kvs({"service.name": "bookshop-assistant", "host.name": "pod-7f9c"})
        )
        scope_logs = resource_logs.scope_logs.add()
        scope_logs.scope.name = "bookshop.app"
        for _ in range(records):
            self.clock += 1000
            scope_logs.log_records.add(
                time_unix_nano=self.clock,
                observed_time_unix_nano=self.clock + 500,
                severity_number=9,
                severity_text="INFO",
                body=value(f"answered question in {self.random.randrange(2000)} ms"),
                trace_id=self.random.randbytes(16),
                span_id=self.random.randbytes(8),
                flags=1,
                attributes=kvs({"code.function.name": "answer", "http.route": "/v1/answer", "books": 3}),
            )
        return request

    def metrics(self, points: int) -> ExportMetricsServiceRequest:
        request = ExportMetricsServiceRequest()
        resource_metrics = request.resource_metrics.add()
        resource_metrics.resource.attributes.extend(kvs({"service.name": "bookshop-assistant"}))
        scope = resource_metrics.scope_metrics.add()
        made = 0
        while made < points:
            self.clock += 1000
            attributes = kvs(
                {
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "worker": self.random.randrange(10**9),
                }
            )
            usage = scope.metrics.add(name="gen_ai.client.token.usage", unit="{token}")
            usage.histogram.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
            usage.histogram.data_points.add(
                time_unix_nano=self.clock,
                start_time_unix_nano=self.clock - 10**10,
                count=3,
                sum=900,
                min=100,
                max=500,
                explicit_bounds=[64, 256, 1024],
                bucket_counts=[0, 1, 2, 0],
                attributes=attributes,
            )
            requests = scope.metrics.add(name="http.server.requests", unit="1")
            requests.sum.is_monotonic = True
            requests.sum.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
            requests.sum.data_points.add(
                time_unix_nano=self.clock, as_int=self.random.randrange(10**6), attributes=attributes
            )
            scope.metrics.add(name="queue.depth").gauge.data_points.add(
                time_unix_nano=self.clock, as_double=3.5, attributes=attributes
            )
            exponential = scope.metrics.add(name="llm.latency").exponential_histogram
            point = exponential.data_points.add(
                time_unix_nano=self.clock, count=4, sum=10.5, scale=3, zero_count=0, attributes=attributes
            )
            point.positive.offset, point.positive.bucket_counts[:] = 2, [1, 2, 1]
            summary = scope.metrics.add(name="rpc.duration").summary.data_points.add(
                time_unix_nano=self.clock, count=4, sum=10.5, attributes=attributes
            )
            summary.quantile_values.add(quantile=0.5, value=2.0)
            made += 5
        return request
