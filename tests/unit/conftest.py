"""Unit tests never touch a database: any attempt to connect fails loudly."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest


def refuse_database(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("unit tests must not connect to a database; move this test to tests/integration")


@pytest.fixture(autouse=True)
def block_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asyncpg, "connect", refuse_database)
    monkeypatch.setattr(asyncpg, "create_pool", refuse_database)
    monkeypatch.setattr(asyncpg.connection, "connect", refuse_database)
