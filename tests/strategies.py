"""Hypothesis strategies for arbitrary OTLP content."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.proto.trace.v1.trace_pb2 import Span

# Protobuf strings must be valid UTF-8: no lone surrogates. NUL and every other code point are fair.
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
long_texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=600)
int64 = st.integers(-(2**63), 2**63 - 1)
uint64 = st.integers(0, 2**64 - 1)
timestamps = st.one_of(st.just(0), uint64, st.integers(1_700_000_000 * 10**9, 1_800_000_000 * 10**9))

scalars = st.one_of(
    texts.map(lambda v: AnyValue(string_value=v)),
    st.booleans().map(lambda v: AnyValue(bool_value=v)),
    int64.map(lambda v: AnyValue(int_value=v)),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda v: AnyValue(double_value=v)),
    st.binary(max_size=20).map(lambda v: AnyValue(bytes_value=v)),
    st.just(AnyValue()),
)
any_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(lambda vs: AnyValue(array_value=ArrayValue(values=vs))),
        st.lists(st.tuples(texts, children), max_size=4).map(
            lambda kvs: AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in kvs]))
        ),
    ),
    max_leaves=25,
)


def nested_around(leaf: AnyValue, kinds: list[bool]) -> AnyValue:
    """leaf inside arrays (True) and key-value lists (False), outermost first."""
    value = leaf
    for is_array in reversed(kinds):
        value = (
            AnyValue(array_value=ArrayValue(values=[value]))
            if is_array
            else AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key="k", value=value)]))
        )
    return value


# Values around MAX_DEPTH (16) and past it. The runtime copies a message by parsing it, so
# anything built from messages stays within its 100 levels: at most 22 wrappers (66 levels) around
# a small value, inside a span's event (requests nested deeper: tests/wire_cases.py).
small_any_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=2).map(
        lambda vs: AnyValue(array_value=ArrayValue(values=vs))
    ),
    max_leaves=3,
)
deep_any_values = st.builds(
    nested_around, small_any_values, st.lists(st.booleans(), min_size=12, max_size=22)
)
# The attributes the LLM layer reads, in its three convention families (current OTel GenAI, older
# OTel / OpenLLMetry, OpenInference), drawn beside arbitrary keys.
GENAI_KEYS = (
    "gen_ai.provider.name",
    "gen_ai.operation.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.response.finish_reasons",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.system",
    "llm.request.type",
    "gen_ai.usage.prompt_tokens",
    "gen_ai.usage.completion_tokens",
    "gen_ai.prompt.0.role",
    "gen_ai.prompt.0.content",
    "gen_ai.completion.0.content",
    "gen_ai.completion.0.finish_reason",
    "llm.provider",
    "llm.system",
    "llm.model_name",
    "openinference.span.kind",
    "llm.token_count.prompt",
    "llm.token_count.completion",
    "llm.token_count.prompt_details.cache_read",
    "llm.token_count.completion_details.reasoning",
    "llm.input_messages.0.message.role",
    "llm.input_messages.0.message.content",
    "llm.output_messages.0.message.content",
    "llm.finish_reason",
    "input.value",
    "output.value",
)
GENAI_VALUES = st.one_of(
    st.sampled_from(
        ["openai", "anthropic", "gcp.gemini", "chat", "LLM", "gpt-4o", "claude-3-5-sonnet", "stop"]
    ),
    st.integers(-5, 10**7).map(str),
)
attribute_keys = st.one_of(texts, st.sampled_from(GENAI_KEYS))
attribute_values = st.one_of(
    any_values,
    deep_any_values,
    GENAI_VALUES.map(lambda v: AnyValue(string_value=v)),
    st.integers(-5, 10**7).map(lambda v: AnyValue(int_value=v)),
)
key_value_lists = st.lists(st.tuples(attribute_keys, attribute_values), max_size=6).map(
    lambda kvs: [KeyValue(key=k, value=v) for k, v in kvs]
)
ids16 = st.one_of(st.binary(min_size=16, max_size=16), st.binary(max_size=20))
ids8 = st.one_of(st.binary(min_size=8, max_size=8), st.binary(max_size=10))


@st.composite
def spans(draw: Any) -> Span:
    span = Span(
        trace_id=draw(ids16),
        span_id=draw(ids8),
        parent_span_id=draw(st.one_of(st.just(b""), ids8)),
        name=draw(long_texts),
        kind=draw(st.integers(-2, 9)),
        start_time_unix_nano=draw(timestamps),
        end_time_unix_nano=draw(timestamps),
        attributes=draw(key_value_lists),
        trace_state=draw(texts),
        flags=draw(st.integers(0, 2**32 - 1)),
        dropped_attributes_count=draw(st.integers(0, 2**32 - 1)),
        dropped_events_count=draw(st.integers(0, 3)),
        dropped_links_count=draw(st.integers(0, 3)),
    )
    span.status.code, span.status.message = draw(st.integers(0, 5)), draw(texts)
    for _ in range(draw(st.integers(0, 2))):
        span.events.add(
            name=draw(texts),
            time_unix_nano=draw(timestamps),
            attributes=draw(key_value_lists),
            dropped_attributes_count=draw(st.integers(0, 3)),
        )
    for _ in range(draw(st.integers(0, 2))):
        span.links.add(
            trace_id=draw(ids16),
            span_id=draw(ids8),
            trace_state=draw(texts),
            attributes=draw(key_value_lists),
            dropped_attributes_count=draw(st.integers(0, 3)),
            flags=draw(st.integers(0, 2**32 - 1)),
        )
    return span


@st.composite
def trace_requests(draw: Any) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource = request.resource_spans.add()
    resource.resource.attributes.extend(draw(key_value_lists))
    scope = resource.scope_spans.add()
    scope.scope.name, scope.scope.version = draw(long_texts), draw(long_texts)
    scope.spans.extend(draw(st.lists(spans(), min_size=1, max_size=4)))
    return request


@st.composite
def log_requests(draw: Any) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    scope = request.resource_logs.add().scope_logs.add()
    scope.scope.name = draw(long_texts)
    for _ in range(draw(st.integers(1, 4))):
        scope.log_records.add(
            time_unix_nano=draw(timestamps),
            observed_time_unix_nano=draw(timestamps),
            severity_number=draw(st.integers(0, 30)),
            severity_text=draw(long_texts),
            body=draw(any_values),
            attributes=draw(key_value_lists),
            trace_id=draw(ids16),
            span_id=draw(ids8),
            event_name=draw(long_texts),
            flags=draw(st.integers(0, 2**32 - 1)),
            dropped_attributes_count=draw(st.integers(0, 2**32 - 1)),
        )
    return request


METRIC_NAMES = (
    "gen_ai.client.token.usage",
    "gen_ai.client.operation.duration",
    "gen_ai.client.inference.operation.duration",
    "http.server.duration",
)
doubles = st.floats(allow_nan=True, allow_infinity=True)


def number_point(draw: Any, point: Any) -> None:
    point.attributes.extend(draw(key_value_lists))
    point.start_time_unix_nano, point.time_unix_nano = draw(timestamps), draw(timestamps)
    if draw(st.booleans()):
        point.as_int = draw(int64)
    else:
        point.as_double = draw(doubles)
    for _ in range(draw(st.integers(0, 1))):
        point.exemplars.add(
            time_unix_nano=draw(timestamps), as_double=draw(doubles), trace_id=draw(ids16), span_id=draw(ids8)
        ).filtered_attributes.extend(draw(key_value_lists))
    point.flags = draw(st.integers(0, 1))


@st.composite
def metrics(draw: Any) -> Metric:
    metric = Metric(name=draw(st.one_of(st.sampled_from(METRIC_NAMES), texts)), unit=draw(texts))
    metric.metadata.extend(draw(key_value_lists))
    kind = draw(st.sampled_from(["gauge", "sum", "histogram", "exponential_histogram", "summary"]))
    for _ in range(draw(st.integers(1, 3))):
        if kind in ("gauge", "sum"):
            number_point(draw, getattr(metric, kind).data_points.add())
            if kind == "sum":
                metric.sum.aggregation_temporality = draw(st.integers(0, 2))
                metric.sum.is_monotonic = draw(st.booleans())
        elif kind == "histogram":
            point = metric.histogram.data_points.add(
                count=draw(uint64), time_unix_nano=draw(timestamps), attributes=draw(key_value_lists)
            )
            bounds = draw(st.lists(doubles, max_size=4))
            point.explicit_bounds.extend(bounds)
            point.bucket_counts.extend(
                draw(st.lists(uint64, min_size=len(bounds) + 1, max_size=len(bounds) + 1))
            )
            if draw(st.booleans()):
                point.sum, point.min, point.max = draw(doubles), draw(doubles), draw(doubles)
        elif kind == "exponential_histogram":
            point = metric.exponential_histogram.data_points.add(
                count=draw(uint64), scale=draw(st.integers(-10, 20)), zero_count=draw(uint64)
            )
            point.positive.offset = draw(st.integers(-(2**31), 2**31 - 1))
            point.positive.bucket_counts.extend(draw(st.lists(uint64, max_size=4)))
            point.time_unix_nano = draw(timestamps)
        else:
            point = metric.summary.data_points.add(count=draw(uint64), sum=draw(doubles))
            point.quantile_values.add(quantile=draw(doubles), value=draw(doubles))
            point.time_unix_nano = draw(timestamps)
    return metric


@st.composite
def metric_requests(draw: Any) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    resource = request.resource_metrics.add()
    resource.resource.attributes.extend(draw(key_value_lists))
    scope = resource.scope_metrics.add()
    scope.scope.name = draw(long_texts)
    scope.scope.attributes.extend(draw(key_value_lists))
    scope.metrics.extend(draw(st.lists(metrics(), min_size=1, max_size=3)))
    return request
