"""One contract for a row: the layouts the C code builds are the ones convert/columns.py and
convert/wire.py declare, name by name, so a column added on one side only fails here."""

from __future__ import annotations

from observatory_ingest.convert import native
from observatory_ingest.convert.columns import EVENT_COLUMNS, SPAN_COLUMNS, TRACE_PART_COLUMNS
from observatory_ingest.convert.wire import DECODED_EVENT_FIELDS, DECODED_SPAN_FIELDS
from tests.native_marks import native_only


@native_only
def test_the_c_row_builder_builds_the_declared_rows() -> None:
    assert native.SPAN_ROW_LAYOUT == SPAN_COLUMNS
    assert native.EVENT_ROW_LAYOUT == EVENT_COLUMNS
    assert native.TRACE_PART_LAYOUT == TRACE_PART_COLUMNS


@native_only
def test_the_c_decoder_builds_the_declared_span_tuples() -> None:
    assert native.SPAN_TUPLE_LAYOUT == DECODED_SPAN_FIELDS
    assert native.EVENT_TUPLE_LAYOUT == DECODED_EVENT_FIELDS
