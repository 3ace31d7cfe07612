from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from observatory_ingest.store.migrate import (
    MigrationError,
    default_migrations_dir,
    discover,
    lock_id,
)


def test_discovers_every_migration_with_sqlx_descriptions_and_both_directions() -> None:
    migrations = discover(default_migrations_dir())
    assert [(m.version, m.description) for m in migrations] == [
        (1, "initial schema"),
        (2, "add hypertables"),
        (3, "create indexes"),
        (4, "continuous aggregates"),
        (5, "retention policies"),
        (6, "supporting tables"),
        (7, "ingest rejects"),
        (9, "price catalogue"),
    ]
    assert all(m.down_path is not None and m.down_path.exists() for m in migrations)
    assert not any(m.no_transaction for m in migrations)


def test_checksum_is_sha384_of_raw_up_bytes(tmp_path: Path) -> None:
    raw = b"-- no-transaction\r\nCREATE INDEX CONCURRENTLY x ON t (c);\n"
    (tmp_path / "0007_add_some_index.up.sql").write_bytes(raw)
    (migration,) = discover(tmp_path)
    assert migration.version == 7
    assert migration.description == "add some index"
    assert migration.checksum == hashlib.sha384(raw).digest()
    assert migration.no_transaction
    assert migration.down_path is None


def test_duplicate_versions_are_refused(tmp_path: Path) -> None:
    (tmp_path / "1_a.up.sql").write_text("")
    (tmp_path / "001_b.up.sql").write_text("")
    with pytest.raises(MigrationError, match="version 1 is defined twice"):
        discover(tmp_path)


def test_lock_id_is_sqlx_key() -> None:
    # SQLx: 0x3d32ad9e * crc32(database name); crc32("postgres") = 0x156A8775 (CRC-32/ISO-HDLC).
    assert lock_id("postgres") == 0x3D32AD9E * 0x156A8775
