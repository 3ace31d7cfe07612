"""API keys: created once (only a hash and a lookup prefix are stored), listed, revoked."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import asyncpg

KEY_PREFIX = "obs_"
LOOKUP_PREFIX_LENGTH = len(KEY_PREFIX) + 8  # "obs_" and 8 random characters identify the row


def key_hash(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def well_formed(key: str) -> bool:
    """Whether a presented key could be one `keys create` made (ASCII, prefixed, long enough):
    one that cannot is refused without a lookup, whatever the database's state."""
    return key.isascii() and key.startswith(KEY_PREFIX) and len(key) > LOOKUP_PREFIX_LENGTH


def lookup_prefix(key: str) -> str:
    return key[:LOOKUP_PREFIX_LENGTH]


def new_key() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return KEY_PREFIX + "".join(secrets.choice(alphabet) for _ in range(8)) + "_" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class KeyListing:
    prefix: str
    project: str
    name: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


async def ensure_project(connection: asyncpg.Connection, name: str) -> str:
    row = await connection.fetchrow(
        "INSERT INTO projects (name) VALUES ($1) "
        "ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id",
        name,
    )
    assert row is not None
    return str(row["id"])


async def create_key(
    connection: asyncpg.Connection, project: str, name: str | None = None
) -> tuple[str, str]:
    """(key, project id); the key is shown once and cannot be recovered."""
    async with connection.transaction():
        project_id = await ensure_project(connection, project)
        key = new_key()
        await connection.execute(
            "INSERT INTO api_keys (project_id, name, key_prefix, key_hash) VALUES ($1, $2, $3, $4)",
            project_id,
            name,
            lookup_prefix(key),
            key_hash(key),
        )
    return key, project_id


async def list_keys(connection: asyncpg.Connection) -> list[KeyListing]:
    rows = await connection.fetch(
        "SELECT k.key_prefix, p.name AS project, k.name, k.created_at, k.last_used_at, k.revoked_at "
        "FROM api_keys k JOIN projects p ON p.id = k.project_id ORDER BY p.name, k.created_at"
    )
    return [KeyListing(*row) for row in rows]


async def revoke_key(connection: asyncpg.Connection, prefix: str) -> int:
    status = await connection.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE key_prefix = $1 AND revoked_at IS NULL", prefix
    )
    return int(status.split()[-1])
