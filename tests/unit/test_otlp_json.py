"""OTLP/JSON to protobuf: the same message as the protobuf body would be, for any request of the
three signals; for hostile bodies a 400 naming what is wrong, never another error."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from observatory_ingest.errors import InvalidRequest
from observatory_ingest.receiver.otlp_json import encode_document, json_decoder, message_spec, parse_json
from observatory_ingest.signals import SIGNALS
from tests.json_strategies import SIGNAL_REQUESTS, hostile_documents, nested, valid_documents


def encoded_message(signal: str, body: bytes) -> Any:
    request_type = SIGNALS[signal].request_type
    return request_type.FromString(encode_document(message_spec(request_type.DESCRIPTOR), parse_json(body)))


@pytest.mark.parametrize("signal", list(SIGNAL_REQUESTS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_request_in_otlp_json_gives_the_same_message(signal: str, data: st.DataObject) -> None:
    request, body = data.draw(valid_documents(signal))
    # Compared as dicts: NaN equals NaN there ("NaN"), and packed or not does not matter.
    assert json_format.MessageToDict(encoded_message(signal, body)) == json_format.MessageToDict(request)


@pytest.mark.parametrize("signal", list(SIGNAL_REQUESTS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_json_body_decodes_as_its_protobuf_twin(signal: str, data: st.DataObject) -> None:
    request, body = data.draw(valid_documents(signal))
    kind = SIGNALS[signal]
    try:
        expected = kind.decode(request.SerializeToString(), 4096)
    except ValueError:
        with pytest.raises(InvalidRequest):
            json_decoder(kind, body)(4096)
        return
    assert repr(json_decoder(kind, body)(4096)) == repr(expected)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_documents())
def test_a_hostile_body_is_stored_or_refused_as_invalid_never_anything_else(case: tuple[str, bytes]) -> None:
    signal, body = case
    try:
        json_decoder(SIGNALS[signal], body)(4096)
    except InvalidRequest as error:
        assert str(error)


def spans_with(fields: str) -> bytes:
    return ('{"resourceSpans":[{"scopeSpans":[{"spans":[{%s}]}]}]}' % fields).encode()  # noqa: UP031


def value_of(any_value: str) -> bytes:
    return spans_with('"attributes":[{"key":"k","value":%s}]' % any_value)  # noqa: UP031


SPAN = "resourceSpans[0].scopeSpans[0].spans[0]"
REFUSED = {
    "deep JSON": (b"[" * 100_000 + b"]" * 100_000, "invalid JSON: nested too deeply to parse"),
    "deep object": (b'{"a":' * 5000 + b"1" + b"}" * 5000, "invalid JSON: nested too deeply to parse"),
    "not an object": (b"[1, 2]", "the JSON body must be an object (ExportTraceServiceRequest), got an array"),
    "not UTF-8": (
        spans_with('"name":"\xff"'.encode("latin-1").decode("latin-1")).replace(b"\xc3\xbf", b"\xff"),
        "not UTF-8",
    ),
    "lone surrogate": (spans_with(r'"name":"\ud800"'), f"{SPAN}.name: the string holds a lone surrogate"),
    "duplicate key": (spans_with('"name":"a","name":"b"'), 'the key "name" appears twice in one object'),
    "both spellings": (
        spans_with('"traceId":"00","trace_id":"01"'),
        f"{SPAN}: traceId and trace_id are the same field",
    ),
    "NaN literal": (value_of('{"doubleValue":NaN}'), 'NaN is not a JSON number (OTLP/JSON spells it "NaN")'),
    "Infinity literal": (value_of('{"doubleValue":-Infinity}'), "-Infinity is not a JSON number"),
    "double overflow": (
        value_of('{"doubleValue":1e999}'),
        f"{SPAN}.attributes[0].value.doubleValue: the number is out of range for double",
    ),
    "int overflow": (
        value_of('{"intValue":"9223372036854775808"}'),
        '"9223372036854775808" is out of range for int64',
    ),
    "negative fixed64": (
        spans_with('"startTimeUnixNano":-1'),
        f"{SPAN}.startTimeUnixNano: -1 is out of range for fixed64",
    ),
    "integer literal of 41 digits": (
        spans_with('"startTimeUnixNano":' + "9" * 41),
        "an integer of 41 digits is out of range",
    ),
    "integer overflowing as float": (spans_with('"startTimeUnixNano":1e300'), "out of range for fixed64"),
    "fraction": (
        spans_with('"startTimeUnixNano":1.5'),
        f"{SPAN}.startTimeUnixNano: expected an integer (fixed64), got 1.5",
    ),
    "bool for int": (spans_with('"kind":true'), f"{SPAN}.kind: expected an integer (enum), got true"),
    "string for bool": (
        value_of('{"boolValue":"true"}'),
        'boolValue: expected true or false, got the string "true"',
    ),
    "number for string": (spans_with('"name":5'), f"{SPAN}.name: expected a string, got 5"),
    "object for array": (b'{"resourceSpans":{"a":1}}', "resourceSpans: expected an array, got an object"),
    "array for object": (
        spans_with('"status":[]'),
        f"{SPAN}.status: expected an object (Status), got an array",
    ),
    "null in an array": (
        b'{"resourceSpans":[null]}',
        "resourceSpans[0]: expected an object (ResourceSpans), got null",
    ),
    "two oneof members": (
        value_of('{"stringValue":"a","intValue":"1"}'),
        "only one of stringValue and intValue may be set",
    ),
    "bad hex id": (spans_with('"traceId":"zz"'), f'{SPAN}.traceId: must be hex, got "zz"'),
    "hex id with spaces": (spans_with('"spanId":"01 02"'), "must be hex"),
    "bad base64": (value_of('{"bytesValue":"!!"}'), 'bytesValue: must be base64, got "!!"'),
    "bad number text": (
        value_of('{"doubleValue":"1.2.3"}'),
        'expected a number, "NaN", "Infinity" or "-Infinity", got the string "1.2.3"',
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_hostile_bodies_are_refused_naming_the_field(case: str) -> None:
    body, message = REFUSED[case]
    with pytest.raises(InvalidRequest) as raised:
        json_decoder(SIGNALS["traces"], body)(4096)
    assert message in str(raised.value)


def test_what_proto3_json_allows_is_taken() -> None:
    body = spans_with(
        '"traceId":"0102030405060708090A0B0C0D0E0F10","span_id":"0102030405060708",'
        '"kind":"SPAN_KIND_CLIENT","startTimeUnixNano":"1e18","endTimeUnixNano":1000000000000000001,'
        '"name":null,"futureField":{"deep":[[[1]]]},"flags":"7",'
        '"attributes":[{"key":"a","value":{"doubleValue":"Infinity"}},{"key":"b","value":{"bytesValue":"AAE"}},'
        '{"key":"c","value":{"bytesValue":"-_8="}},{"key":"d","value":{"intValue":-3}},{"key":"e","value":{}}]'
    )
    span = encoded_message("traces", body).resource_spans[0].scope_spans[0].spans[0]
    assert (span.trace_id.hex(), span.span_id.hex()) == (
        "0102030405060708090a0b0c0d0e0f10",
        "0102030405060708",
    )
    assert (span.kind, span.start_time_unix_nano, span.end_time_unix_nano, span.flags) == (
        3,
        10**18,
        10**18 + 1,
        7,
    )
    values = [attribute.value for attribute in span.attributes]
    assert values[0].double_value == float("inf")
    assert (values[1].bytes_value, values[2].bytes_value, values[3].int_value) == (b"\0\1", b"\xfb\xff", -3)
    assert values[4].WhichOneof("value") is None
    unknown = spans_with('"kind":"SPAN_KIND_FROM_THE_FUTURE"')  # an enum name we do not know: left out
    assert encoded_message("traces", unknown).resource_spans[0].scope_spans[0].spans[0].kind == 0


@pytest.mark.parametrize("depth", [200, 240])
def test_nesting_the_parser_takes_is_encoded_without_the_python_stack(depth: int) -> None:
    """Each AnyValue level is four JSON levels: 240 of them is as deep as the parser goes. The
    encoder walks them with a stack of its own (the decoder then applies its depth policy)."""
    wire = encode_document(
        message_spec(SIGNALS["logs"].request_type.DESCRIPTOR), parse_json(nested(depth, "values"))
    )
    assert len(wire) > depth * 4
