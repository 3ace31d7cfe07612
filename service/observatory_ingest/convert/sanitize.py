"""What PostgreSQL cannot store, made storable: NUL characters, over-long names, implausible
timestamps. Each fix is cheap to test for, so the common case costs one comparison."""

from __future__ import annotations

import re

NUL = "\x00"
SANITIZED_KEY = "observatory.sanitized"  # attribute listing what conversion had to fix
TRUNCATION_MARK = "…"
JSON_NUL = re.compile(r"(\\+)u0000")
# TimescaleDB would create a chunk per stray day; PostgreSQL would accept almost any year.
PAST_LIMIT_NS = 5 * 366 * 86_400 * 10**9
FUTURE_LIMIT_NS = 366 * 86_400 * 10**9


def text(value: str, limit: int) -> str:
    """A string for a VARCHAR(limit) or TEXT column: no NUL characters, at most `limit` characters."""
    if NUL in value:
        value = value.replace(NUL, "")
    if len(value) > limit:
        value = value[: limit - 1] + TRUNCATION_MARK
    return value


def optional_text(value: str, limit: int) -> str | None:
    return text(value, limit) if value else None


def json_without_nul(document: str) -> str:
    """JSON text without the \\u0000 escape, which jsonb refuses (an escaped backslash before
    'u0000' is kept: only an odd run of backslashes is an escape)."""
    if "\\u0000" not in document:
        return document
    return JSON_NUL.sub(lambda m: m[1][:-1] if len(m[1]) % 2 else m[0], document)


def plausible(unix_nanos: int, now_nanos: int) -> bool:
    return now_nanos - PAST_LIMIT_NS <= unix_nanos <= now_nanos + FUTURE_LIMIT_NS


INT32_MAX = 2**31 - 1


def int32_bits(flags: int) -> int:
    """A uint32 bit field for an INTEGER column: the same 32 bits, read as signed."""
    return flags - 2**32 if flags > INT32_MAX else flags


def int32_count(count: int) -> int:
    """A uint32 count for an INTEGER column: counts past 2^31 - 1 (never real) are capped."""
    return count if count <= INT32_MAX else INT32_MAX
