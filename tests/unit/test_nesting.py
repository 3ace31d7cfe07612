"""The depth policy (convert/nesting.py), for all three signals: values nested deeper than
MAX_DEPTH are kept as the marker, the rest of the request is read, and only nesting past the
Go runtime's 10,000 levels is refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from observatory_ingest.convert.common import TOO_DEEP
from observatory_ingest.convert.context import ConvertContext
from observatory_ingest.convert.native import DecodeError
from observatory_ingest.convert.nesting import (
    LOGS,
    METRICS,
    TRACES,
    flatten_values,
    flatten_values_python,
    parse_request,
)
from observatory_ingest.convert.wire import decode_trace_request, decoded_from_message, runtime_decoded_traces
from observatory_ingest.signals import SIGNALS
from tests.depth_reference import parsed_as_the_policy_reads
from tests.native_marks import native_only
from tests.otlp_builders import deep_request
from tests.strategies import log_requests, metric_requests, trace_requests
from tests.wire_cases import DEEP, TOO_DEEP_TO_READ

ROOT = Path(__file__).resolve().parents[2]
REQUEST_TYPES = {
    "traces": (ExportTraceServiceRequest, TRACES),
    "metrics": (ExportMetricsServiceRequest, METRICS),
    "logs": (ExportLogsServiceRequest, LOGS),
}
# The innermost value of this many arrays is level 10,000 in a span's, a data point's and a log
# record's attributes alike (a data point's envelope is one level deeper: 4,996 is its deepest).
DEEPEST = 4996


@pytest.mark.parametrize("signal", REQUEST_TYPES)
@pytest.mark.parametrize("levels", [60, DEEPEST])
def test_one_deep_attribute_keeps_its_neighbours_and_becomes_the_marker(signal: str, levels: int) -> None:
    payload = deep_request(signal, 40, levels, "deep")
    request_type, _ = REQUEST_TYPES[signal]
    with pytest.raises(Exception, match=r"(?i)pars"):  # the runtime alone refuses it
        request_type.FromString(payload)
    decoded = SIGNALS[signal].decode(payload, 64 * 1024)
    converted = SIGNALS[signal].convert(decoded, ConvertContext())
    assert (converted.accepted, converted.rejected) == (40, 0)


@pytest.mark.parametrize("signal", REQUEST_TYPES)
def test_nesting_past_ten_thousand_levels_is_refused(signal: str) -> None:
    with pytest.raises(ValueError, match="nested too deep"):
        SIGNALS[signal].decode(deep_request(signal, 40, 5000, "deep"), 64 * 1024)


@pytest.mark.parametrize("name", DEEP)
def test_the_trace_decoder_reads_what_the_rewrite_lets_the_runtime_read(name: str) -> None:
    decoded = decode_trace_request(DEEP[name])
    assert repr(decoded) == repr(runtime_decoded_traces(DEEP[name]))
    assert TOO_DEEP in repr(decoded) or "replaced" in name


@pytest.mark.parametrize("name", TOO_DEEP_TO_READ)
def test_every_path_refuses_nesting_past_ten_thousand_levels(name: str) -> None:
    for read in (decode_trace_request, runtime_decoded_traces):
        with pytest.raises(ValueError, match="nested too deep"):
            read(TOO_DEEP_TO_READ[name])


@native_only
@pytest.mark.parametrize("name", [*DEEP, *TOO_DEEP_TO_READ])
def test_the_c_and_python_rewrites_agree(name: str) -> None:
    payload = {**DEEP, **TOO_DEEP_TO_READ}[name]
    outcomes = []
    for flatten in (flatten_values, flatten_values_python):
        try:
            outcomes.append(ExportTraceServiceRequest.FromString(flatten(payload, TRACES)))
        except ValueError as error:
            outcomes.append(str(error))
    assert outcomes[0] == outcomes[1]


def converted_alike(signal: str, payload: bytes) -> None:
    """Read at once by the runtime, or rewritten first (or by the C decoder): the same rows, ids
    included."""
    request_type, number = REQUEST_TYPES[signal]
    context = ConvertContext(received_ns=1_800_000_000_000_000_000)
    convert = SIGNALS[signal].convert

    def rows(message: Any) -> Any:
        decoded = decoded_from_message(message, 64 * 1024) if signal == "traces" else message
        return convert(decoded, context).tables

    direct = rows(request_type.FromString(payload))
    assert rows(request_type.FromString(flatten_values(payload, number))) == direct
    if signal == "traces":
        assert convert(decode_trace_request(payload), context).tables == direct


@pytest.mark.parametrize("signal", REQUEST_TYPES)
def test_values_past_max_depth_convert_alike_read_at_once_or_rewritten(signal: str) -> None:
    # 20 levels: the runtime reads it at once, and common.any_value puts the marker in the message.
    payload = deep_request(signal, 3, 20, "twenty", deep_item=1)
    request_type, number = REQUEST_TYPES[signal]
    assert request_type.FromString(payload) != request_type.FromString(flatten_values(payload, number))
    converted_alike(signal, payload)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_rewrite_reads_requests_as_the_policy_does(data: st.DataObject) -> None:
    signal = data.draw(st.sampled_from(list(REQUEST_TYPES)))
    strategy = {"traces": trace_requests, "metrics": metric_requests, "logs": log_requests}[signal]
    request = data.draw(strategy())
    request_type, number = REQUEST_TYPES[signal]
    payload = request.SerializeToString()
    expected = parsed_as_the_policy_reads(request_type, payload)
    for flatten in (flatten_values, flatten_values_python):
        assert request_type.FromString(flatten(payload, number)) == expected


def test_parse_request_refuses_what_is_not_a_request() -> None:
    with pytest.raises(DecodeError):
        parse_request(ExportLogsServiceRequest, b"\x0a\x05\x0a", LOGS)


STACK_PROBE = """
import sys, threading
from observatory_ingest.convert.nesting import flatten_values
from observatory_ingest.convert.wire import decode_trace_request
from tests.otlp_builders import deep_request
from tests.wire_cases import DEEP
traces = [DEEP["array nested 4,997 levels"], DEEP["groups to level 10,000"]]
others = [(signal, deep_request(name, 2, 4996, "stack")) for signal, name in ((1, "metrics"), (2, "logs"))]
def read():
    for payload in traces:
        decode_trace_request(payload)
        flatten_values(payload, 0)
    for signal, payload in others:
        flatten_values(payload, signal)
threading.stack_size(64 * 1024)
thread = threading.Thread(target=read)
thread.start()
thread.join()
"""


@native_only
def test_ten_thousand_levels_are_read_within_a_small_stack() -> None:
    """The C code reads past MAX_DEPTH without recursion: 10,000 levels fit a 64 KiB thread stack
    (recursing once per level would take a megabyte and more, and crash the process)."""
    probe = subprocess.run([sys.executable, "-c", STACK_PROBE], cwd=ROOT, capture_output=True, timeout=120)
    assert probe.returncode == 0, probe.stderr.decode()[-2000:]
