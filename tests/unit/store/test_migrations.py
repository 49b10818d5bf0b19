"""Schema versions: fresh stores are current, newer schemas are refused, migrations apply once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from trailhouse.settings import Settings
from trailhouse.store import open_metadata, upgrade_schema
from trailhouse.store.migrations import Migration, SchemaNeedsUpgrade, SchemaTooNew
from trailhouse.store.postgres import schema as postgres_schema
from trailhouse.store.sqlite import metadata as sqlite_metadata


def test_a_fresh_sqlite_store_is_at_the_newest_version(tmp_path: Path) -> None:
    settings = Settings.load({"data_dir": tmp_path}, environ={})
    open_metadata(settings).close()
    result = upgrade_schema(settings)
    assert (result.current, result.latest) == (1, 1)


def test_sqlite_refuses_a_newer_schema_and_applies_its_migrations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings.load({"data_dir": tmp_path}, environ={})
    open_metadata(settings).close()
    step: Migration[sqlite3.Connection] = Migration(
        2, "a table for the test", lambda c: c.execute("CREATE TABLE added (x INTEGER)")
    )
    monkeypatch.setattr(sqlite_metadata, "SQLITE_MIGRATIONS", [step])
    store = open_metadata(settings)  # the embedded store migrates itself on open
    store.close()
    with sqlite3.connect(tmp_path / "metadata.sqlite") as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (2,)
        conn.execute("SELECT x FROM added")
        conn.execute("PRAGMA user_version = 7")
    with pytest.raises(SchemaTooNew, match="schema version 7, newer than this trailhouse knows"):
        open_metadata(settings)


@pytest.mark.postgres
def test_postgres_waits_for_db_upgrade_then_migrates_and_refuses_a_newer_schema(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings.load({"database_url": postgres_url}, environ={})
    released = postgres_schema.POSTGRES_MIGRATIONS
    monkeypatch.setattr(postgres_schema, "POSTGRES_MIGRATIONS", [])
    open_metadata(settings).close()  # a database made by a trailhouse of schema version 1
    monkeypatch.setattr(postgres_schema, "POSTGRES_MIGRATIONS", released)
    with pytest.raises(SchemaNeedsUpgrade, match="version 1 and this trailhouse needs 2; run"):
        open_metadata(settings)
    assert upgrade_schema(settings).current == 2  # the real step: shared rate-limit buckets
    upgraded = open_metadata(settings)
    try:
        assert upgraded.take_token("LookupEvents/a", 1.0, 1.0) == 0.0
    finally:
        upgraded.close()
    monkeypatch.setattr(postgres_schema, "POSTGRES_MIGRATIONS", [])
    with pytest.raises(SchemaTooNew, match="schema version 2, newer than this trailhouse knows"):
        open_metadata(settings)


def test_db_upgrade_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "trailhouse", "db", "upgrade", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "schema version 1 of 1, up to date" in done.stdout
