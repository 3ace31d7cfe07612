import asyncpg
import pytest


async def test_unit_tests_cannot_reach_a_database() -> None:
    with pytest.raises(RuntimeError, match="unit tests must not connect"):
        await asyncpg.connect("postgresql://postgres@127.0.0.1/postgres")
