"""Fuzz targets, one per entry point of the C extensions: each takes bytes, runs the C code and its
reference on them, and raises AssertionError when they disagree. A crash or a sanitizer report ends
a run by itself. tests/fuzz/run.py runs them under atheris (coverage-guided); tests/unit/
test_fuzz_corpus.py replays the checked-in seed corpus through them on every test run.

- decode: native decode_traces against the protobuf runtime under the depth policy (the runtime
  parses at any depth, the policy's values are put in, what is kept is parsed again): refused
  alike, or the same values, with attributes capped at 64 KiB and at 12 bytes.
- flatten: native flatten_values (the first byte picks the signal) against the same reference and,
  for inputs of up to 4 KiB, its Python twin: the same message, or refused alike.
- rows: span_rows, add_to_trace_part and first_values on whatever decodes, against the reference
  conversion and the Python twins.

Inputs shorter than 20,000 bytes cannot nest 10,000 levels (each level takes two bytes at least),
so the reference needs no limit of its own there; longer refusals for depth are taken as given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.message import DecodeError as RuntimeDecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from observatory_ingest.convert import native, python_twins
from observatory_ingest.convert.common import capped_value
from observatory_ingest.convert.context import ConvertContext
from observatory_ingest.convert.genai import FIELD_NAMES, KEY_FIELD_RANK
from observatory_ingest.convert.nesting import flatten_values_python
from observatory_ingest.convert.traces import convert_traces
from observatory_ingest.convert.wire import ATTRIBUTES, decoded_from_message
from tests.depth_reference import parsed_as_the_policy_reads

REQUEST_TYPES = (ExportTraceServiceRequest, ExportMetricsServiceRequest, ExportLogsServiceRequest)
UNCHECKED_DEPTH = 20_000  # inputs this long may nest past 10,000 levels
LIMITS = (64 * 1024, 12)
TWIN_CHECKED = 4096  # the Python twin of the rewrite is slow: checked on shorter inputs (most of them)
NOW = 1_790_000_000_000_000_000
REFUSED = (ValueError, RuntimeDecodeError)


def outcome(read: Callable[[], Any]) -> Any:
    """What read returns, or the error it raises (as a string) for bytes that are not a request."""
    try:
        return read()
    except REFUSED as error:
        return Refused(str(error))


class Refused(str):
    """An error message: what a reader returned instead of a value."""


def agree(data: bytes, ours: Any, reference: Any) -> None:
    if isinstance(ours, Refused) and len(data) >= UNCHECKED_DEPTH and "nested too deep" in ours:
        return
    if isinstance(ours, Refused) or isinstance(reference, Refused):
        assert isinstance(ours, Refused) and isinstance(reference, Refused), (ours, reference)
    else:
        assert ours == reference


def check_decode(data: bytes) -> None:
    assert native.decode_traces is not None
    decode = native.decode_traces
    for limit in LIMITS:
        reference = outcome(lambda limit=limit: repr(reference_traces(data, limit)))
        ours = outcome(lambda limit=limit: repr(decode(data, limit, capped_value)))
        agree(data, ours, reference)


def reference_traces(data: bytes, limit: int) -> Any:
    return decoded_from_message(parsed_as_the_policy_reads(ExportTraceServiceRequest, data), limit)


def check_flatten(data: bytes) -> None:
    assert native.flatten_values is not None
    flatten = native.flatten_values
    if not data:
        return
    signal, payload = data[0] % 3, data[1:]
    request_type = REQUEST_TYPES[signal]

    def serialized(message: Any) -> bytes:
        return message.SerializeToString(deterministic=True)  # type: ignore[no-any-return]

    reference = outcome(lambda: serialized(parsed_as_the_policy_reads(request_type, payload)))
    ours = outcome(lambda: serialized(request_type.FromString(flatten(payload, signal))))
    agree(payload, ours, reference)
    if len(payload) > TWIN_CHECKED:
        return
    twin = outcome(lambda: serialized(request_type.FromString(flatten_values_python(payload, signal))))
    agree(payload, twin, reference)
    if isinstance(ours, Refused):
        assert isinstance(twin, Refused), twin
    else:
        assert ours == twin


def check_rows(data: bytes) -> None:
    assert native.decode_traces is not None
    decoded = outcome(lambda: native.decode_traces(data, 64 * 1024, capped_value))  # type: ignore[misc]
    if isinstance(decoded, Refused):
        return
    for scopes in (scopes for _, scopes in decoded):
        for _, _, spans in scopes:
            for span in spans:
                attributes = span[ATTRIBUTES]
                expected = python_twins.first_values(attributes, KEY_FIELD_RANK, FIELD_NAMES)
                assert native.first_values(attributes, KEY_FIELD_RANK, FIELD_NAMES) == expected
    context = ConvertContext(received_ns=NOW)
    # Decoded again for the reference: it may add the sanitized marker to a span's attributes.
    built = convert_traces(decoded, context, native_rows=True)
    reference = convert_traces(
        native.decode_traces(data, 64 * 1024, capped_value), context, native_rows=False
    )
    assert built.tables == reference.tables
    assert (built.accepted, built.rejected, built.sanitized, built.errors) == (
        reference.accepted,
        reference.rejected,
        reference.sanitized,
        reference.errors,
    )
    parts: dict[str, list[Any]] = {}
    for row in reference.tables["trace_spans"]:
        python_twins.add_to_trace_part(parts, row)
    assert [tuple(part) for part in parts.values()] == built.tables["trace_parts"]


TARGETS: dict[str, Callable[[bytes], None]] = {
    "decode": check_decode,
    "flatten": check_flatten,
    "rows": check_rows,
}
