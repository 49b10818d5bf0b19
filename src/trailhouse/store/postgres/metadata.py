"""The PostgreSQL metadata store: accounts, RAM users, access keys, signature nonces and
control-plane documents."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Sequence

from trailhouse.errors import ConflictError
from trailhouse.store.ports import (
    ACCESS_KEY_COLUMNS,
    AccessKey,
    Account,
    Document,
    DocumentWrite,
    MetadataStore,
    RamUser,
    seconds_to_token,
)
from trailhouse.store.postgres.pool import Connection, ConnectionPool

# Expired nonces are harmless (they are reusable); deleting them now and then keeps the table
# as small as the clock-skew window allows.
_NONCE_SWEEP_SECONDS = 60.0

_KEY_VALUES = ", ".join(["%s"] * len(ACCESS_KEY_COLUMNS.split(", ")))

_DOCUMENT_COLUMNS = "kind, scope, name, body, version"

# One token from a bucket, refilled since its last use: no row comes back when it is empty.
# The row lock of the upsert serialises takes from every process.
_TAKE_FROM_BUCKET = """
INSERT INTO rate_buckets AS b (bucket, tokens, updated)
VALUES (%(bucket)s, %(burst)s - 1, extract(epoch FROM clock_timestamp()))
ON CONFLICT (bucket) DO UPDATE SET
    tokens = LEAST(%(burst)s, b.tokens + (EXCLUDED.updated - b.updated) * %(rate)s) - 1,
    updated = EXCLUDED.updated
WHERE LEAST(%(burst)s, b.tokens + (EXCLUDED.updated - b.updated) * %(rate)s) >= 1
RETURNING tokens
"""


class PostgresMetadataStore(MetadataStore):
    """Metadata in a PostgreSQL database shared by any number of processes."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self._next_sweep = 0.0
        self._sweep_lock = threading.Lock()

    def create_account(self, account: Account) -> None:
        """Store a new account; ConflictError when its id exists."""
        with self._pool.connection() as conn:
            cursor = conn.execute(
                "INSERT INTO accounts (account_id, created_at) VALUES (%s, %s) "
                "ON CONFLICT DO NOTHING",
                (account.account_id, account.created_at),
            )
            if cursor.rowcount != 1:
                raise ConflictError(f"account {account.account_id} already exists")

    def get_account(self, account_id: str) -> Account | None:
        """The account with this id, or None."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT account_id, created_at FROM accounts WHERE account_id = %s", (account_id,)
            ).fetchone()
        return None if row is None else Account(row[0], row[1])

    def list_accounts(self) -> list[Account]:
        """Every account, ordered by id."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT account_id, created_at FROM accounts ORDER BY account_id"
            ).fetchall()
        return [Account(account_id, created_at) for account_id, created_at in rows]

    def create_user(self, user: RamUser) -> None:
        """Store a new RAM user; ConflictError when the name exists in the account."""
        with self._pool.connection() as conn:
            cursor = conn.execute(
                "INSERT INTO ram_users (account_id, user_name, user_id, created_at) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (user.account_id, user.user_name, user.user_id, user.created_at),
            )
            if cursor.rowcount != 1:
                raise ConflictError(
                    f"RAM user {user.user_name} already exists in account {user.account_id}"
                )

    def get_user(self, account_id: str, user_name: str) -> RamUser | None:
        """The RAM user of this name in this account, or None."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT account_id, user_name, user_id, created_at FROM ram_users "
                "WHERE account_id = %s AND user_name = %s",
                (account_id, user_name),
            ).fetchone()
        return None if row is None else RamUser(*row)

    def create_access_key(self, key: AccessKey) -> None:
        """Store a new access key; ConflictError when its id exists."""
        with self._pool.connection() as conn:
            cursor = conn.execute(
                f"INSERT INTO access_keys ({ACCESS_KEY_COLUMNS}) VALUES ({_KEY_VALUES}) "
                "ON CONFLICT DO NOTHING",
                dataclasses.astuple(key),
            )
            if cursor.rowcount != 1:
                raise ConflictError(f"access key {key.access_key_id} already exists")

    def get_access_key(self, access_key_id: str) -> AccessKey | None:
        """The access key with this id, or None."""
        with self._pool.connection() as conn:
            row = conn.execute(
                f"SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE access_key_id = %s",
                (access_key_id,),
            ).fetchone()
        return None if row is None else AccessKey(*row)

    def list_access_keys(self, account_id: str) -> list[AccessKey]:
        """Every access key of an account, ordered by id."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE account_id = %s "
                "ORDER BY access_key_id",
                (account_id,),
            ).fetchall()
        return [AccessKey(*row) for row in rows]

    def set_access_key_status(self, access_key_id: str, status: str) -> bool:
        """Set a key's status; False when there is no such key. Committed on return, so every
        process's next read of the key sees it."""
        with self._pool.connection() as conn:
            cursor = conn.execute(
                "UPDATE access_keys SET status = %s WHERE access_key_id = %s",
                (status, access_key_id),
            )
            return cursor.rowcount > 0

    def delete_access_key(self, access_key_id: str) -> bool:
        """Delete a key; False when there was no such key."""
        with self._pool.connection() as conn:
            cursor = conn.execute(
                "DELETE FROM access_keys WHERE access_key_id = %s", (access_key_id,)
            )
            return cursor.rowcount > 0

    def use_nonce(self, nonce: str, expires_at: int) -> bool:
        """Record a signature nonce; False when it was already used and has not expired."""
        now = int(time.time())
        with self._pool.connection() as conn:
            # An existing but expired nonce is taken over, as if it had never been used.
            row = conn.execute(
                "INSERT INTO nonces (nonce, expires_at) VALUES (%s, %s) "
                "ON CONFLICT (nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at "
                "WHERE nonces.expires_at < %s RETURNING 1",
                (nonce, expires_at, now),
            ).fetchone()
            if self._sweep_due(now):
                conn.execute("DELETE FROM nonces WHERE expires_at < %s", (now,))
        return row is not None

    def take_token(self, bucket: str, rate: float, burst: float) -> float:
        """Take one token from the bucket; 0.0, or the seconds until one is there.

        The database's clock times every process's takes, so skewed hosts share one bucket.
        """
        values = {"bucket": bucket, "rate": rate, "burst": burst}
        with self._pool.connection() as conn:
            if conn.execute(_TAKE_FROM_BUCKET, values).fetchone() is not None:
                return 0.0
            row = conn.execute(
                "SELECT tokens, updated, extract(epoch FROM clock_timestamp())::float8 "
                "FROM rate_buckets WHERE bucket = %s",
                (bucket,),
            ).fetchone()
        if row is None:  # the bucket was just refused, so it exists; unless purged meanwhile
            return 0.0
        tokens, updated, now = row
        return seconds_to_token(tokens, updated, now, rate, burst)

    def get_document(self, kind: str, scope: str, name: str) -> Document | None:
        """The document at this address, or None."""
        with self._pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_DOCUMENT_COLUMNS} FROM documents "
                "WHERE kind = %s AND scope = %s AND name = %s",
                (kind, scope, name),
            ).fetchone()
        return None if row is None else Document(*row)

    def list_documents(self, kind: str, scope: str | None = None) -> list[Document]:
        """Documents of a kind (within one scope, or all), ordered by scope, then name."""
        with self._pool.connection() as conn:
            if scope is None:
                rows = conn.execute(
                    f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE kind = %s "
                    "ORDER BY scope, name",
                    (kind,),
                ).fetchall()
            else:
                rows = conn.execute(
                    f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE kind = %s AND scope = %s "
                    "ORDER BY name",
                    (kind, scope),
                ).fetchall()
        return [Document(*row) for row in rows]

    def commit(self, writes: Sequence[DocumentWrite]) -> None:
        """Apply every write or none: VersionConflict when any expected_version is stale."""
        if not writes:
            return
        # Rows are locked in address order, so two commits touching the same documents queue
        # up instead of deadlocking; the sort is stable, so writes to one address keep order.
        ordered = sorted(writes, key=lambda w: (w.kind, w.scope, w.name))
        now = int(time.time())
        with self._pool.connection() as conn, conn.transaction():
            for write in ordered:
                _apply(conn, write, now)

    def close(self) -> None:
        """Release the connections; idempotent."""
        self._pool.close()

    def _sweep_due(self, now: float) -> bool:
        with self._sweep_lock:
            if now < self._next_sweep:
                return False
            self._next_sweep = now + _NONCE_SWEEP_SECONDS
            return True


def _apply(conn: Connection, write: DocumentWrite, now: int) -> None:
    """Check and apply one write inside the commit's transaction; VersionConflict when stale."""
    address = (write.kind, write.scope, write.name)
    # FOR UPDATE holds the row until the commit ends, so nobody changes it after the check.
    row = conn.execute(
        "SELECT version FROM documents WHERE kind = %s AND scope = %s AND name = %s FOR UPDATE",
        address,
    ).fetchone()
    found = 0 if row is None else int(row[0])
    if found != write.expected_version:
        raise write.conflict(found)
    if write.check_only:
        return
    if write.body is None:
        conn.execute("DELETE FROM documents WHERE kind = %s AND scope = %s AND name = %s", address)
    elif found == 0:
        # An absent row cannot be locked: the primary key decides between concurrent creators
        # (a second INSERT waits for the first transaction, then finds the key taken).
        inserted = conn.execute(
            "INSERT INTO documents (kind, scope, name, body, version, updated_at) "
            "VALUES (%s, %s, %s, %s, 1, %s) ON CONFLICT DO NOTHING",
            (*address, bytes(write.body), now),
        )
        if inserted.rowcount != 1:
            raise write.conflict(None)
    else:
        conn.execute(
            "UPDATE documents SET body = %s, version = version + 1, updated_at = %s "
            "WHERE kind = %s AND scope = %s AND name = %s",
            (bytes(write.body), now, *address),
        )
