"""The SQLite metadata store: accounts, users, access keys and control-plane documents in
`metadata.sqlite`, nonces apart.

Access keys hold HMAC secrets, so the database files are created readable by their owner only.
Nonces live in their own database with a cheaper sync mode (`nonces.py`): losing the last few
after a power cut merely re-opens a replay window the clock-skew check already bounds.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from trailhouse import faults
from trailhouse.errors import ConflictError
from trailhouse.store.migrations import Migration, check, pending
from trailhouse.store.ports import (
    ACCESS_KEY_COLUMNS,
    AccessKey,
    Account,
    Document,
    DocumentWrite,
    MetadataStore,
    RamUser,
)
from trailhouse.store.sqlite.connections import Guarded, Readers, connect_private
from trailhouse.store.sqlite.nonces import ShortLivedState

_KEY_VALUES = ", ".join(["?"] * len(ACCESS_KEY_COLUMNS.split(", ")))

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    account_id TEXT PRIMARY KEY, created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ram_users (
    account_id TEXT NOT NULL, user_name TEXT NOT NULL, user_id TEXT NOT NULL,
    created_at INTEGER NOT NULL, PRIMARY KEY (account_id, user_name)
);
CREATE TABLE IF NOT EXISTS access_keys (
    access_key_id TEXT PRIMARY KEY, secret TEXT NOT NULL, kind TEXT NOT NULL,
    account_id TEXT NOT NULL, name TEXT NOT NULL, principal_id TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    kind TEXT NOT NULL, scope TEXT NOT NULL, name TEXT NOT NULL, body BLOB NOT NULL,
    version INTEGER NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (kind, scope, name)
) WITHOUT ROWID;
"""

_DOCUMENT_COLUMNS = "kind, scope, name, body, version"


def _add_key_status(main: sqlite3.Connection) -> None:
    """Version 2: a status per access key (existing keys stay Active), and keys by account."""
    main.execute("ALTER TABLE access_keys ADD COLUMN status TEXT NOT NULL DEFAULT 'Active'")
    main.execute("CREATE INDEX IF NOT EXISTS access_keys_account ON access_keys (account_id)")


# Version 1 is `_SCHEMA`; later versions are steps appended here, never edited once released.
SQLITE_MIGRATIONS: list[Migration[sqlite3.Connection]] = [
    Migration(2, "access keys can be disabled (status)", _add_key_status),
]


def schema_version(main: sqlite3.Connection) -> int:
    """The metadata schema's version (0: a store made before versions were kept)."""
    row = main.execute("PRAGMA user_version").fetchone()
    return int(row[0]) if row else 0


def migrate(main: sqlite3.Connection, path: Path) -> None:
    """Create the schema, or bring it to the newest version; SchemaTooNew when it is newer.

    The embedded store has one process, so it migrates itself on open.
    """
    current = schema_version(main)
    check(f"the SQLite store {path}", current, SQLITE_MIGRATIONS)
    if current == 0:  # new, or made before versions were kept: version 1 either way
        _apply(main, 1, _create_schema)
        current = 1
    for step in pending(current, SQLITE_MIGRATIONS):
        _apply(main, step.version, step.apply)


def _create_schema(main: sqlite3.Connection) -> None:
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            main.execute(statement)


def _apply(
    main: sqlite3.Connection, version: int, step: Callable[[sqlite3.Connection], None]
) -> None:
    """Run `step` and stamp `version` in one transaction: a crash leaves the store at the
    version before, or at this one, never between (the connection is in autocommit mode, so
    `with main:` would not make one)."""
    main.execute("BEGIN IMMEDIATE")
    try:
        step(main)
        main.execute(f"PRAGMA user_version = {int(version)}")
        faults.point("migration.applied")
        main.execute("COMMIT")
    except BaseException:
        if main.in_transaction:  # SQLite ends it itself on some errors (a full disk)
            main.execute("ROLLBACK")
        raise


class SqliteMetadataStore(MetadataStore):
    """Metadata in SQLite files under the data directory."""

    def __init__(self, directory: Path) -> None:
        main = connect_private(directory / "metadata.sqlite", "FULL")
        migrate(main, directory / "metadata.sqlite")
        self._main = Guarded(main, "metadata store")
        # Reads go beside the writer connection: none waits for a commit's fsync.
        self._readers = Readers(directory / "metadata.sqlite", "metadata store")
        try:
            self._short = ShortLivedState(directory / "nonces.sqlite")
        except BaseException:
            self._main.close()
            raise

    def schema_version(self) -> int:
        """The metadata schema's version."""
        return self._main.run(schema_version)

    def create_account(self, account: Account) -> None:
        """Store a new account; ConflictError when its id exists."""
        self._insert(
            "INSERT INTO accounts (account_id, created_at) VALUES (?, ?)",
            (account.account_id, account.created_at),
            f"account {account.account_id} already exists",
        )

    def get_account(self, account_id: str) -> Account | None:
        """The account with this id, or None."""
        row = self._one(
            "SELECT account_id, created_at FROM accounts WHERE account_id = ?", (account_id,)
        )
        return None if row is None else Account(row[0], row[1])

    def list_accounts(self) -> list[Account]:
        """Every account, ordered by id."""
        rows = self._readers.run(
            lambda c: c.execute(
                "SELECT account_id, created_at FROM accounts ORDER BY account_id"
            ).fetchall()
        )
        return [Account(account_id, created_at) for account_id, created_at in rows]

    def create_user(self, user: RamUser) -> None:
        """Store a new RAM user; ConflictError when the name exists in the account."""
        self._insert(
            "INSERT INTO ram_users (account_id, user_name, user_id, created_at) "
            "VALUES (?, ?, ?, ?)",
            (user.account_id, user.user_name, user.user_id, user.created_at),
            f"RAM user {user.user_name} already exists in account {user.account_id}",
        )

    def get_user(self, account_id: str, user_name: str) -> RamUser | None:
        """The RAM user of this name in this account, or None."""
        row = self._one(
            "SELECT account_id, user_name, user_id, created_at FROM ram_users "
            "WHERE account_id = ? AND user_name = ?",
            (account_id, user_name),
        )
        return None if row is None else RamUser(*row)

    def create_access_key(self, key: AccessKey) -> None:
        """Store a new access key; ConflictError when its id exists."""
        self._insert(
            f"INSERT INTO access_keys ({ACCESS_KEY_COLUMNS}) VALUES ({_KEY_VALUES})",
            dataclasses.astuple(key),
            f"access key {key.access_key_id} already exists",
        )

    def get_access_key(self, access_key_id: str) -> AccessKey | None:
        """The access key with this id, or None."""
        row = self._one(
            f"SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE access_key_id = ?",
            (access_key_id,),
        )
        return None if row is None else AccessKey(*row)

    def list_access_keys(self, account_id: str) -> list[AccessKey]:
        """Every access key of an account, ordered by id."""
        rows = self._readers.run(
            lambda c: c.execute(
                f"SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE account_id = ? "
                "ORDER BY access_key_id",
                (account_id,),
            ).fetchall()
        )
        return [AccessKey(*row) for row in rows]

    def set_access_key_status(self, access_key_id: str, status: str) -> bool:
        """Set a key's status; False when there is no such key."""
        return self._changed(
            "UPDATE access_keys SET status = ? WHERE access_key_id = ?", (status, access_key_id)
        )

    def delete_access_key(self, access_key_id: str) -> bool:
        """Delete a key; False when there was no such key."""
        return self._changed("DELETE FROM access_keys WHERE access_key_id = ?", (access_key_id,))

    def use_nonce(self, nonce: str, expires_at: int) -> bool:
        """Record a signature nonce; False when it was already used and has not expired."""
        return self._short.use_nonce(nonce, expires_at)

    def take_token(self, bucket: str, rate: float, burst: float) -> float:
        """Take one token from the bucket; 0.0, or the seconds until one is there."""
        return self._short.take_token(bucket, rate, burst)

    def get_document(self, kind: str, scope: str, name: str) -> Document | None:
        """The document at this address, or None."""
        row = self._one(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE kind = ? AND scope = ? AND name = ?",
            (kind, scope, name),
        )
        return None if row is None else Document(*row)

    def list_documents(self, kind: str, scope: str | None = None) -> list[Document]:
        """Documents of a kind (within one scope, or all), ordered by scope, then name."""
        if scope is None:
            statement = f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE kind = ?"
            params: tuple[str, ...] = (kind,)
        else:
            statement = f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE kind = ? AND scope = ?"
            params = (kind, scope)
        rows = self._readers.run(
            lambda c: c.execute(statement + " ORDER BY scope, name", params).fetchall()
        )
        return [Document(*row) for row in rows]

    def commit(self, writes: Sequence[DocumentWrite]) -> None:
        """Apply every write or none: VersionConflict when any expected_version is stale."""
        if writes:
            self._main.run(lambda c: _commit(c, writes, int(time.time())))

    def close(self) -> None:
        """Release the connections; idempotent."""
        self._short.close()
        self._readers.close()
        self._main.close()

    def _insert(self, statement: str, params: tuple[object, ...], conflict: str) -> None:
        try:
            self._main.run(lambda c: c.execute(statement, params))
        except sqlite3.IntegrityError as exc:
            raise ConflictError(conflict) from exc

    def _changed(self, statement: str, params: tuple[object, ...]) -> bool:
        count: int = self._main.run(lambda c: c.execute(statement, params).rowcount)
        return count > 0

    def _one(self, statement: str, params: tuple[object, ...]) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._readers.run(
            lambda c: c.execute(statement, params).fetchone()
        )
        return row


def _commit(conn: sqlite3.Connection, writes: Sequence[DocumentWrite], now: int) -> None:
    # IMMEDIATE takes the write lock before the version checks, so no other connection (in this
    # process or another one) can change a document between its check and its write; the busy
    # timeout makes a concurrent committer wait for the lock instead of failing.
    conn.execute("BEGIN IMMEDIATE")
    try:
        for write in writes:
            address = (write.kind, write.scope, write.name)
            row = conn.execute(
                "SELECT version FROM documents WHERE kind = ? AND scope = ? AND name = ?", address
            ).fetchone()
            found = 0 if row is None else int(row[0])
            if found != write.expected_version:
                raise write.conflict(found)
            if write.check_only:
                continue
            if write.body is None:
                conn.execute(
                    "DELETE FROM documents WHERE kind = ? AND scope = ? AND name = ?", address
                )
            elif found == 0:
                conn.execute(
                    "INSERT INTO documents (kind, scope, name, body, version, updated_at) "
                    "VALUES (?, ?, ?, ?, 1, ?)",
                    (*address, bytes(write.body), now),
                )
            else:
                conn.execute(
                    "UPDATE documents SET body = ?, version = version + 1, updated_at = ? "
                    "WHERE kind = ? AND scope = ? AND name = ?",
                    (bytes(write.body), now, *address),
                )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
