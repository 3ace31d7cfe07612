"""API-key authentication: `authorization: Bearer <key>` or `x-api-key: <key>` -> project id."""

from __future__ import annotations

import hmac
import logging
import time
from dataclasses import dataclass

import asyncpg

from observatory_ingest.convert.common import DEFAULT_PROJECT_ID
from observatory_ingest.errors import Unauthenticated
from observatory_ingest.store.keys import key_hash, lookup_prefix

log = logging.getLogger(__name__)

CACHE_TTL_S = 30.0


def credentials_from(headers: dict[str, str]) -> str | None:
    """The presented key from lower-cased header (or gRPC metadata) names, if any."""
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    return headers.get("x-api-key") or None


@dataclass(frozen=True)
class Project:
    id: str
    name: str


DEFAULT_PROJECT = Project(DEFAULT_PROJECT_ID, "default")


@dataclass(frozen=True)
class KeyRecord:
    project: Project
    key_hash: bytes
    revoked: bool


class Authenticator:
    """With auth disabled everything belongs to the default project. Otherwise keys are looked up
    by prefix, compared by hash in constant time, and cached briefly (revocation applies within
    CACHE_TTL_S)."""

    def __init__(self, required: bool, pool: asyncpg.Pool | None = None, ttl: float = CACHE_TTL_S) -> None:
        self.required = required
        self.pool = pool
        self.ttl = ttl
        self._cache: dict[str, tuple[float, KeyRecord | None]] = {}  # prefix -> (fetched at, record)

    async def project_for(self, key: str | None) -> Project:
        if not self.required:
            return DEFAULT_PROJECT
        if not key:
            raise Unauthenticated("missing API key: send 'authorization: Bearer <key>' or 'x-api-key: <key>'")
        record = await self._record(lookup_prefix(key))
        # Compare even when the key is unknown, so timing does not tell which prefixes exist.
        expected = record.key_hash if record else bytes(32)
        if not hmac.compare_digest(expected, key_hash(key)) or record is None or record.revoked:
            raise Unauthenticated("invalid or revoked API key")
        return record.project

    async def _record(self, prefix: str) -> KeyRecord | None:
        now = time.monotonic()
        cached = self._cache.get(prefix)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        assert self.pool is not None
        row = await self.pool.fetchrow(
            "UPDATE api_keys k SET last_used_at = now() FROM projects p "
            "WHERE k.key_prefix = $1 AND p.id = k.project_id "
            "RETURNING k.project_id, p.name, k.key_hash, k.revoked_at IS NOT NULL AS revoked",
            prefix,
        )
        record = (
            KeyRecord(Project(str(row["project_id"]), row["name"]), bytes(row["key_hash"]), row["revoked"])
            if row
            else None
        )
        if len(self._cache) > 10_000:  # unknown prefixes must not grow the cache without bound
            self._cache.clear()
        self._cache[prefix] = (now, record)
        return record
