"""Binary COPY of rows encoded in one C call (native/copy_binary.c) instead of asyncpg's codec per
value, which took a quarter of the service's CPU. A column's type is read from the catalog the
first time its table is written: the database, not a second declaration, says what it holds."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from observatory_ingest._copy_binary import encode_rows

if TYPE_CHECKING:
    from observatory_ingest.store.writer import Connection

# The encoder's code for each type it writes; a table with any other type goes through asyncpg.
TYPE_CODES = {
    "bool": b"b",
    "int2": b"h",
    "int4": b"i",
    "int8": b"q",
    "float8": b"d",
    "text": b"t",
    "varchar": b"t",
    "bpchar": b"t",
    "jsonb": b"j",
    "uuid": b"u",
    "timestamptz": b"T",  # the converters' (microseconds since 2000,) form, as the writer's codec
    "numeric": b"n",
}

COLUMN_TYPES = """
SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
"""

# (table, columns) -> codes, or None where asyncpg must encode. The tables are the migrations',
# the same in every database this process writes.
_known_codes: dict[tuple[str, tuple[str, ...]], bytes | None] = {}


async def column_codes(connection: Connection, table: str, columns: tuple[str, ...]) -> bytes | None:
    key = (table, columns)
    if key not in _known_codes:
        types = {name: type_name for name, type_name in await connection.fetch(COLUMN_TYPES, table)}
        codes = [TYPE_CODES.get(types[column]) for column in columns]
        _known_codes[key] = None if None in codes else b"".join(code for code in codes if code)
    return _known_codes[key]


async def copy_rows(
    connection: Connection, table: str, columns: tuple[str, ...], rows: Sequence[Any]
) -> None:
    codes = await column_codes(connection, table, columns)
    if codes is None:
        await connection.copy_records_to_table(table, records=rows, columns=columns)
        return
    stream = encode_rows(rows if isinstance(rows, list) else list(rows), codes)
    await connection.copy_to_table(table, source=one_chunk(stream), columns=columns, format="binary")


async def one_chunk(stream: bytes) -> AsyncIterator[bytes]:
    # Not the bytes themselves: asyncpg would take them for a file name (bytes are path-like).
    yield stream
