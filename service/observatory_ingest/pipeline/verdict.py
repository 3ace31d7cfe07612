"""The database's verdict on one request's rows, returned by the writers as its own value: the
conversion result is never changed after the fact."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RowRefusal:
    """A row the database refused; it was kept in ingest_rejects and its neighbours were stored."""

    table: str
    reason: str

    def __str__(self) -> str:
        return f"{self.table} row could not be stored: {self.reason}"


# Nothing refused: what almost every request gets.
ALL_STORED: tuple[RowRefusal, ...] = ()
