"""API-key authentication: `authorization: Bearer <key>` or `x-api-key: <key>` -> project id."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from dataclasses import dataclass

import asyncpg

from observatory_ingest import telemetry
from observatory_ingest.convert.common import DEFAULT_PROJECT_ID
from observatory_ingest.errors import DatabaseUnavailable, Unauthenticated
from observatory_ingest.store.failures import failure_kind, is_data_error
from observatory_ingest.store.keys import key_hash, lookup_prefix, well_formed

log = logging.getLogger(__name__)

CACHE_TTL_S = 30.0
# A key lookup waits no longer than this for the database (connecting included), then the client
# is told to retry: an exporter's own timeout is typically 10 s.
LOOKUP_TIMEOUT_S = 2.0


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

    def __init__(
        self,
        required: bool,
        pool: asyncpg.Pool | None = None,
        ttl: float = CACHE_TTL_S,
        lookup_timeout: float = LOOKUP_TIMEOUT_S,
    ) -> None:
        self.required = required
        self.pool = pool
        self.ttl = ttl
        self.lookup_timeout = lookup_timeout
        self._cache: dict[str, tuple[float, KeyRecord | None]] = {}  # prefix -> (fetched at, record)

    async def project_for(self, key: str | None) -> Project:
        if not self.required:
            return DEFAULT_PROJECT
        if not key:
            raise Unauthenticated("missing API key: send 'authorization: Bearer <key>' or 'x-api-key: <key>'")
        if not well_formed(key):  # never a key of ours: 401, not a retry after a failed lookup
            raise Unauthenticated("invalid or revoked API key")
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
        row = await self._fetch(prefix)
        record = (
            KeyRecord(Project(str(row["project_id"]), row["name"]), bytes(row["key_hash"]), row["revoked"])
            if row
            else None
        )
        if len(self._cache) > 10_000:  # unknown prefixes must not grow the cache without bound
            self._cache.clear()
        self._cache[prefix] = (now, record)
        return record

    async def _fetch(self, prefix: str) -> asyncpg.Record | None:
        """The key's row, classified like the writers' errors: an outage or a timeout answers
        UNAVAILABLE (retry), a value the database refuses is an invalid key."""
        assert self.pool is not None
        try:
            async with asyncio.timeout(self.lookup_timeout):
                return await self.pool.fetchrow(
                    "UPDATE api_keys k SET last_used_at = now() FROM projects p "
                    "WHERE k.key_prefix = $1 AND p.id = k.project_id "
                    "RETURNING k.project_id, p.name, k.key_hash, k.revoked_at IS NOT NULL AS revoked",
                    prefix,
                )
        except Exception as error:
            if is_data_error(error):  # e.g. a NUL character in the presented key
                raise Unauthenticated("invalid or revoked API key") from None
            telemetry.DATABASE_ERRORS.labels("key_lookup", failure_kind(error)).inc()
            raise DatabaseUnavailable(
                "cannot check the API key: the database is unreachable at the moment; retry later"
            ) from None
