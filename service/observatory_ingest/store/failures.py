"""Which database errors are worth retrying (outages) and which are about the data itself."""

from __future__ import annotations

import asyncpg

# Everything that is not about the data is waited out and retried: connection loss (08),
# deadlocks and serialization failures (40), resources (53), shutdowns (57), system errors (58).
# 22 data exception, 23 integrity violation, 54 program limit (e.g. index row too large).
DATA_SQLSTATE_CLASSES = {"22", "23", "54"}


def sqlstate_class(error: BaseException) -> str | None:
    state = getattr(error, "sqlstate", None)
    return state[:2] if isinstance(state, str) else None


# Raised by asyncpg itself while encoding a row for binary COPY (an int beyond its column's range,
# a value of the wrong type): the data is at fault, and retrying the same rows would loop forever.
CLIENT_SIDE_DATA_ERRORS = (OverflowError, ValueError, TypeError, asyncpg.DataError)


def is_data_error(error: BaseException) -> bool:
    if isinstance(error, asyncpg.PostgresError):
        return sqlstate_class(error) in DATA_SQLSTATE_CLASSES
    return isinstance(error, CLIENT_SIDE_DATA_ERRORS)


def failure_kind(error: BaseException) -> str:
    """A short label for logs and metrics."""
    if is_data_error(error):
        return "data"
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, OSError | asyncpg.InterfaceError):
        return "connection"
    klass = sqlstate_class(error)
    return f"sqlstate_{klass}" if klass else type(error).__name__
