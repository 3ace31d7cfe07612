"""The native binary COPY encoder against asyncpg's: the same rows stored through each must read
back the same, and a value one refuses the other refuses with the same error."""

from __future__ import annotations

import asyncio
import decimal
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from observatory_ingest.store.copy_format import column_codes, copy_rows
from observatory_ingest.store.failures import is_data_error
from observatory_ingest.store.writer import prepare_connection

# One column of every type the encoder writes, as the migrations use them.
COLUMNS = {
    "n": "integer",
    "b": "boolean",
    "h": "smallint",
    "i": "integer",
    "q": "bigint",
    "d": "double precision",
    "t": "text",
    "v": "varchar(40)",
    "j": "jsonb",
    "u": "uuid",
    "ts": "timestamptz",
    "cost": "numeric(20,10)",
    "exact": "numeric",
}
NAMES = tuple(COLUMNS)
TIMESTAMP_US = st.integers(-(2**40), 2**40)  # about ±35 years around 2000
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
UUIDS = st.uuids().flatmap(
    lambda value: st.sampled_from([value.hex, str(value), value.hex.upper(), value])  # type: ignore[arg-type]
)
DECIMALS = st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
    lambda value: abs(value.adjusted()) < 9
)
VALUES = {
    "b": st.booleans(),
    "h": st.integers(-(2**15), 2**15 - 1),
    "i": st.integers(-(2**31), 2**31 - 1) | st.floats(-1e9, 1e9),  # floats truncate, as in asyncpg
    "q": st.integers(-(2**63), 2**63 - 1),
    "d": st.floats() | st.integers(-(2**53), 2**53),
    "t": TEXT,
    "v": TEXT,
    "j": JSON.map(lambda value: orjson.dumps(value).decode()),
    "u": UUIDS,
    "ts": TIMESTAMP_US.map(lambda us: (us,)),
    "cost": DECIMALS | st.integers(-(10**9), 10**9),
    "exact": DECIMALS
    | st.sampled_from([decimal.Decimal("NaN"), decimal.Decimal("-0"), decimal.Decimal("1E+12")]),
}


@st.composite
def rows(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    count = draw(st.integers(1, 12))
    return [(index, *(draw(st.none() | VALUES[name]) for name in NAMES[1:])) for index in range(count)]


@pytest.fixture(scope="module")
def twin_tables(database: str) -> Iterator[str]:
    """Two tables of every type, in a migrated database (the writer's connection setup needs it)."""

    async def create() -> None:
        connection = await asyncpg.connect(database)
        definition = ", ".join(f"{name} {kind}" for name, kind in COLUMNS.items())
        for table in ("through_asyncpg", "through_native"):
            await connection.execute(f"CREATE TABLE {table} ({definition})")
        await connection.close()

    asyncio.run(create())
    yield database


async def stored(connection: asyncpg.Connection, table: str) -> list[str]:
    return [row[0] for row in await connection.fetch(f"SELECT r::text FROM {table} r ORDER BY n")]


async def both_ways(dsn: str, batch: list[tuple[Any, ...]]) -> tuple[list[str], list[str]]:
    connection = await asyncpg.connect(dsn)
    try:
        await prepare_connection(connection)  # the writer's timestamp codec
        await connection.execute("TRUNCATE through_asyncpg, through_native")
        await connection.copy_records_to_table("through_asyncpg", records=batch, columns=NAMES)
        await copy_rows(connection, "through_native", NAMES, batch)
        return await stored(connection, "through_asyncpg"), await stored(connection, "through_native")
    finally:
        await connection.close()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=rows())
def test_rows_read_back_the_same_through_either_encoder(
    twin_tables: str, batch: list[tuple[Any, ...]]
) -> None:
    through_asyncpg, through_native = asyncio.run(both_ways(twin_tables, batch))
    assert through_native == through_asyncpg
    assert len(through_native) == len(batch)


def test_every_column_of_this_table_goes_through_the_native_encoder(twin_tables: str) -> None:
    async def codes() -> bytes | None:
        connection = await asyncpg.connect(twin_tables)
        try:
            return await column_codes(connection, "through_native", NAMES)
        finally:
            await connection.close()

    assert asyncio.run(codes()) == b"ibhiqdttjuTnn"


BAD_VALUES = [
    ("i", 2**31),
    ("i", float("inf")),
    ("i", "7"),
    ("h", -(2**15) - 1),
    ("q", 2**63),
    ("b", 1),
    ("t", 5),
    ("t", "\ud800"),
    ("j", {"not": "text"}),
    ("u", "not-a-uuid-at-all-not-a-uuid-at-all"),
    ("u", "0123456789abcdef0123456789abcdeZ"),
    ("u", "0123"),
    ("ts", (1, 2)),
    ("ts", 5),
    ("d", "1.5"),
    ("cost", decimal.Decimal("1E-20000")),
    ("cost", object()),
]


async def refusal(dsn: str, column: str, value: Any, native: bool) -> BaseException:
    connection = await asyncpg.connect(dsn)
    await prepare_connection(connection)
    row = tuple(value if name == column else None for name in NAMES)
    try:
        async with connection.transaction():
            if native:
                await copy_rows(connection, "through_native", NAMES, [row])
            else:
                await connection.copy_records_to_table("through_asyncpg", records=[row], columns=NAMES)
    except Exception as error:
        return error
    finally:
        await connection.close()
    raise AssertionError(f"{value!r} was stored in column {column}")


@pytest.mark.parametrize(("column", "value"), BAD_VALUES, ids=[f"{c}-{v!r}"[:40] for c, v in BAD_VALUES])
def test_a_value_either_encoder_refuses_is_refused_alike(twin_tables: str, column: str, value: Any) -> None:
    expected = asyncio.run(refusal(twin_tables, column, value, native=False))
    refused = asyncio.run(refusal(twin_tables, column, value, native=True))
    assert (type(refused), str(refused)) == (type(expected), str(expected))
    assert is_data_error(refused)  # isolated and kept aside, never retried as an outage


def test_a_table_with_a_type_the_encoder_lacks_goes_through_asyncpg(empty_database: str) -> None:
    async def scenario() -> tuple[bytes | None, list[str]]:
        connection = await asyncpg.connect(empty_database)
        try:
            await connection.execute("CREATE TABLE with_array (n integer, tags text[])")
            codes = await column_codes(connection, "with_array", ("n", "tags"))
            await copy_rows(connection, "with_array", ("n", "tags"), [(1, ["a", "b"])])
            return codes, [row[0] for row in await connection.fetch("SELECT t::text FROM with_array t")]
        finally:
            await connection.close()

    codes, rows_stored = asyncio.run(scenario())
    assert codes is None
    assert rows_stored == ['(1,"{a,b}")']


def only(column: str, value: Any, index: int) -> tuple[Any, ...]:
    return (index, *(value if name == column else None for name in NAMES[1:]))


def test_a_uuid_object_and_its_text_store_the_same_id(twin_tables: str) -> None:
    value = uuid.uuid4()
    _, through_native = asyncio.run(both_ways(twin_tables, [only("u", value, 0), only("u", value.hex, 1)]))
    assert through_native[0].removeprefix("(0,") == through_native[1].removeprefix("(1,")
    assert value.hex[:8] in through_native[0]
