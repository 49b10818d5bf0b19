"""The SQLite metadata store's own properties: private files, many threads, nonce sweeping."""

from __future__ import annotations

import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest

from trailhouse.errors import ConflictError, StoreUnavailable
from trailhouse.store.ports import AccessKey, Account, PrincipalKind
from trailhouse.store.sqlite.metadata import SqliteMetadataStore


def key(access_key_id: str) -> AccessKey:
    return AccessKey(
        access_key_id, "secret-" + access_key_id, PrincipalKind.ROOT, "1", "root", "1", 0
    )


def test_files_holding_secrets_are_private(tmp_path: Path) -> None:
    store = SqliteMetadataStore(tmp_path)
    store.create_access_key(key("LTAI5tPrivate0000001"))
    assert store.use_nonce("n-1", int(time.time()) + 60)
    store.close()
    for name in ("metadata.sqlite", "metadata.sqlite-wal", "nonces.sqlite"):
        path = tmp_path / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name


def test_many_threads_create_and_use_nonces_safely(tmp_path: Path) -> None:
    store = SqliteMetadataStore(tmp_path)
    expires = int(time.time()) + 900
    wins: list[str] = []
    conflicts: list[str] = []

    def work(worker: int) -> None:
        for n in range(50):
            if store.use_nonce(f"nonce-{n}", expires):  # every thread races for each nonce
                wins.append(f"nonce-{n}")
            try:
                store.create_account(Account(f"acct-{n}", worker))
            except ConflictError:
                conflicts.append(f"acct-{n}")

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == sorted(f"nonce-{n}" for n in range(50))
    assert len(conflicts) == 5 * 50
    assert [a.account_id for a in store.list_accounts()] == sorted(f"acct-{n}" for n in range(50))
    store.close()
    store.close()
    with pytest.raises(StoreUnavailable):
        store.get_account("acct-1")


def test_expired_nonces_are_swept(tmp_path: Path) -> None:
    store = SqliteMetadataStore(tmp_path)
    now = int(time.time())
    for n in range(20):
        store.use_nonce(f"old-{n}", now - 10)
    store.close()
    store = SqliteMetadataStore(tmp_path)  # a fresh store sweeps on its first nonce
    assert store.use_nonce("fresh", now + 60)
    store.close()
    with sqlite3.connect(tmp_path / "nonces.sqlite") as conn:
        left = [row[0] for row in conn.execute("SELECT nonce FROM nonces")]
    conn.close()
    assert left == ["fresh"]


def test_reads_do_not_wait_for_a_commit_in_progress(tmp_path: Path) -> None:
    """PutEvents reads its access key on every call; a delivery commit holding the writer
    connection through its fsync must not stall it."""
    store = SqliteMetadataStore(tmp_path)
    store.create_access_key(key("LTAI5tReader00000001"))
    holding = threading.Event()
    release = threading.Event()

    def slow_commit(conn: sqlite3.Connection) -> None:  # the writer, mid-commit
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO accounts (account_id, created_at) VALUES ('held', 0)")
        holding.set()
        release.wait(10)
        conn.execute("COMMIT")

    writer = threading.Thread(target=lambda: store._main.run(slow_commit))
    writer.start()
    try:
        assert holding.wait(10)
        begun = time.monotonic()
        found = store.get_access_key("LTAI5tReader00000001")
        assert found is not None and found.secret == "secret-LTAI5tReader00000001"
        assert store.get_account("held") is None  # not committed yet: not seen
        assert time.monotonic() - begun < 2.0
    finally:
        release.set()
        writer.join()
    assert store.get_account("held") is not None  # committed: seen by the next read
    store.close()
    with pytest.raises(StoreUnavailable):
        store.get_access_key("LTAI5tReader00000001")
