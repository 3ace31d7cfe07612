"""The pure-Python twins (convert/python_twins.py, OBSERVATORY_NO_NATIVE=1) against the C
originals they stand in for: the same constants, the same results. The decoders' twins are held to
the C decoders in test_wire.py and test_nesting.py."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from observatory_ingest.convert import native, python_twins
from observatory_ingest.convert.columns import SPAN_COLUMNS, position
from observatory_ingest.convert.genai import FIELD_NAMES, KEY_FIELD_RANK
from tests.native_marks import native_only
from tests.strategies import texts

CONSTANTS = (
    "MAX_DEPTH",
    "MAX_NESTING",
    "RUNTIME_NESTING",
    "TOO_DEEP",
    "MAX_NAME",
    "MAX_TEXT",
    "POSTGRES_EPOCH_US",
)


@native_only
def test_the_twins_define_what_the_c_code_defines() -> None:
    for name in CONSTANTS:
        assert getattr(python_twins, name) == getattr(native, name), name
    for name in ("SPAN_ROW_LAYOUT", "EVENT_ROW_LAYOUT", "TRACE_PART_LAYOUT"):
        assert getattr(python_twins, name) == getattr(native, name), name


def test_the_switch_is_the_environment_variable() -> None:
    assert (os.environ.get("OBSERVATORY_NO_NATIVE", "") in ("", "0")) == native.NATIVE
    assert (native.decode_traces is None) == (not native.NATIVE)


# Rows as add_to_trace_part reads them: trace, project, service, start, end, status, message,
# parent, name, attributes and resource JSON.
def row(
    trace: str, service: str, start: int, end: int | None, status: str, message: str | None, root: bool
) -> tuple[Any, ...]:
    values: list[Any] = [None] * len(SPAN_COLUMNS)
    for column, value in {
        "trace_id": trace,
        "project_id": "p",
        "service_name": service,
        "start_time": (start,),
        "end_time": None if end is None else (end,),
        "status": status,
        "status_message": message,
        "parent_span_id": None if root else "0102030405060708",
        "name": f"{service} op",
        "attributes": f'{{"s":"{service}"}}',
        "resource_attributes": "{}",
    }.items():
        values[position(SPAN_COLUMNS, column)] = value
    return tuple(values)


rows = st.builds(
    row,
    st.sampled_from(["t1", "t2", "t3"]),
    st.sampled_from(["a", "b", "c", ""]),
    st.integers(0, 100),
    st.one_of(st.none(), st.integers(0, 100)),
    st.sampled_from(["unset", "ok", "error"]),
    st.one_of(st.none(), st.sampled_from(["x", "y", ""])),
    st.booleans(),
)


@native_only
@settings(max_examples=300, deadline=None)
@given(st.lists(rows, max_size=12))
def test_add_to_trace_part_folds_alike(span_rows: list[tuple[Any, ...]]) -> None:
    native_parts: dict[str, list[Any]] = {}
    twin_parts: dict[str, list[Any]] = {}
    for span_row in span_rows:
        native.add_to_trace_part(native_parts, span_row)
        python_twins.add_to_trace_part(twin_parts, span_row)
    assert native_parts == twin_parts


attribute_values = st.one_of(
    st.none(), st.just(""), texts, st.integers(), st.floats(allow_nan=False), st.booleans()
)
attribute_maps = st.dictionaries(
    st.one_of(st.sampled_from(sorted(KEY_FIELD_RANK)), texts), attribute_values, max_size=12
)


@native_only
@settings(max_examples=300, deadline=None)
@given(attribute_maps)
def test_first_values_picks_alike(attributes: dict[str, Any]) -> None:
    expected = native.first_values(attributes, KEY_FIELD_RANK, FIELD_NAMES)
    picked = python_twins.first_values(attributes, KEY_FIELD_RANK, FIELD_NAMES)
    assert picked == expected
    assert list(picked) == list(expected)  # in the same order


def test_the_twin_row_builder_leaves_every_span_to_the_reference() -> None:
    assert python_twins.span_rows((), b"", "", "", "", None, None, 0, 0, bytes) is None


def test_blake2b_16_twin() -> None:
    assert python_twins.blake2b_16(b"abc") == native.blake2b_16(b"abc")
