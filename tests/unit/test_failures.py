"""Which write failures are about the data (isolate, never retry) and which are outages (retry)."""

from __future__ import annotations

import asyncpg

from observatory_ingest.store.failures import failure_kind, is_data_error


def test_data_errors_from_the_server_and_from_the_driver() -> None:
    assert is_data_error(asyncpg.NumericValueOutOfRangeError("out of range"))  # 22003
    assert is_data_error(asyncpg.NotNullViolationError("null"))  # 23502
    assert is_data_error(asyncpg.ProgramLimitExceededError("index row too big"))  # 54000
    assert is_data_error(OverflowError("value out of int32 range"))  # binary COPY encoding
    assert is_data_error(TypeError("expected str"))
    assert failure_kind(OverflowError()) == "data"


def test_outages_are_not_data_errors() -> None:
    assert not is_data_error(asyncpg.AdminShutdownError("terminating connection"))  # 57P01
    assert not is_data_error(asyncpg.CannotConnectNowError("starting up"))  # 57P03
    assert not is_data_error(asyncpg.DeadlockDetectedError("deadlock"))  # 40P01
    assert not is_data_error(ConnectionRefusedError())
    assert not is_data_error(asyncpg.ConnectionDoesNotExistError("closed"))
    assert failure_kind(ConnectionRefusedError()) == "connection"
    assert failure_kind(asyncpg.AdminShutdownError("x")) == "sqlstate_57"
