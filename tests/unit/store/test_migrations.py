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
from trailhouse.store.ports import KeyStatus
from trailhouse.store.postgres import schema as postgres_schema
from trailhouse.store.sqlite import metadata as sqlite_metadata


def test_a_fresh_sqlite_store_is_at_the_newest_version(tmp_path: Path) -> None:
    settings = Settings.load({"data_dir": tmp_path}, environ={})
    open_metadata(settings).close()
    result = upgrade_schema(settings)
    assert (result.current, result.latest) == (2, 2)


def test_a_version_1_sqlite_store_keeps_its_keys_active_after_the_status_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings.load({"data_dir": tmp_path}, environ={})
    monkeypatch.setattr(sqlite_metadata, "SQLITE_MIGRATIONS", [])
    open_metadata(settings).close()  # a store made by a trailhouse of schema version 1
    with sqlite3.connect(tmp_path / "metadata.sqlite") as conn:
        conn.execute(
            "INSERT INTO access_keys VALUES ('LTAI5tOldKey000000000001', 's', 'root-account', "
            "'1234567890123456', 'root', '1234567890123456', 1740787200)"
        )
    monkeypatch.undo()
    store = open_metadata(settings)
    try:
        key = store.get_access_key("LTAI5tOldKey000000000001")
        assert key is not None and key.status == KeyStatus.ACTIVE and key.active
        assert store.set_access_key_status(key.access_key_id, KeyStatus.INACTIVE)
        assert [k.status for k in store.list_access_keys("1234567890123456")] == ["Inactive"]
    finally:
        store.close()
    assert upgrade_schema(settings).current == 2


def test_sqlite_refuses_a_newer_schema_and_applies_its_migrations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings.load({"data_dir": tmp_path}, environ={})
    open_metadata(settings).close()
    step: Migration[sqlite3.Connection] = Migration(
        3, "a table for the test", lambda c: c.execute("CREATE TABLE added (x INTEGER)")
    )
    released = sqlite_metadata.SQLITE_MIGRATIONS
    monkeypatch.setattr(sqlite_metadata, "SQLITE_MIGRATIONS", [*released, step])
    store = open_metadata(settings)  # the embedded store migrates itself on open
    store.close()
    with sqlite3.connect(tmp_path / "metadata.sqlite") as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (3,)
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
    latest = released[-1].version
    with pytest.raises(
        SchemaNeedsUpgrade, match=f"version 1 and this trailhouse needs {latest}; run"
    ):
        open_metadata(settings)
    # the real steps: shared rate-limit buckets, the access keys' status, events' recorders,
    # LookupEvents' derived keys
    assert upgrade_schema(settings).current == latest
    upgraded = open_metadata(settings)
    try:
        assert upgraded.take_token("LookupEvents/a", 1.0, 1.0) == 0.0
        assert upgraded.list_access_keys("1234567890123456") == []
    finally:
        upgraded.close()
    monkeypatch.setattr(postgres_schema, "POSTGRES_MIGRATIONS", [])
    with pytest.raises(
        SchemaTooNew, match=f"schema version {latest}, newer than this trailhouse knows"
    ):
        open_metadata(settings)


def test_db_upgrade_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "trailhouse", "db", "upgrade", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "schema version 2 of 2, up to date" in done.stdout
