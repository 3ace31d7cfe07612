"""Each difference the C decoder once had with the protobuf runtime (issue 20), held shut: the
runtime still decides each case as written down, and the decoder decides and reads it alike."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from observatory_ingest.convert.wire import decode_trace_request
from tests.native_marks import native_only
from tests.unit.test_wire import same
from tests.wire_cases import DIFFERENCES

CAP = 12  # --max-attribute-bytes of these cases


def runtime_outcome(payload: bytes) -> str:
    try:
        ExportTraceServiceRequest.FromString(payload)
    except Exception:
        return "refused"
    return "decoded"


@pytest.mark.parametrize("name", DIFFERENCES)
def test_the_case_is_what_the_runtime_says(name: str) -> None:
    payload, outcome = DIFFERENCES[name]
    assert runtime_outcome(payload) == outcome


@native_only
@pytest.mark.parametrize("name", DIFFERENCES)
def test_the_decoder_decides_and_reads_as_the_runtime(name: str) -> None:
    payload, outcome = DIFFERENCES[name]
    if outcome == "decoded":
        same(payload, CAP)
    else:
        with pytest.raises(ValueError):
            decode_trace_request(payload, CAP)


def attribute_k(name: str) -> object:
    return decode_trace_request(DIFFERENCES[name][0], CAP)[0][1][0][2][0][9]["k"]


def test_capping_measures_a_value_as_the_runtime_encodes_it() -> None:
    # Padded on the wire (a replaced string, an overlong length, unknown fields): kept whole.
    assert attribute_k("array padded on the wire") == [1]
    assert attribute_k("array padded with unknown fields") == [1]
    # Over the cap as encoded: capped, as its JSON.
    assert attribute_k("array over the cap") == "[1,1,1]"
