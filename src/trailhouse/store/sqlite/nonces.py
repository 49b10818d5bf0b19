"""Short-lived state beside the metadata: signature nonces and rate-limit buckets in
`nonces.sqlite`, with a spare in memory for while the disk cannot take a write.

Every signed call records its nonce, reads included, so a full disk would refuse them all. When
the file refuses a write with a disk error, the nonce is checked against the file and kept in
memory instead (and a rate bucket counted there): replays are still refused within this process,
and once the disk takes writes again every new nonce is checked against the spare as well. A
restart while the disk is full forgets the spare, as a power cut forgets the file's last
unsynced nonces: the clock-skew check bounds that replay window either way.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from pathlib import Path

from trailhouse.errors import DiskError
from trailhouse.store.ports import seconds_to_token
from trailhouse.store.sqlite.connections import Guarded, connect_private

_log = logging.getLogger(__name__)

# Expired nonces are harmless (they may be reused); deleting them now and then keeps the table
# as small as the clock-skew window allows.
_NONCE_SWEEP_SECONDS = 60.0

# Never migrated: lost or dropped, this state only re-opens windows the clock bounds.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)
WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rate_buckets (
    bucket TEXT PRIMARY KEY, tokens REAL NOT NULL, updated REAL NOT NULL
) WITHOUT ROWID;
"""

# An existing but expired nonce is taken over, as if it had never been used.
_USE_NONCE = """
INSERT INTO nonces (nonce, expires_at) VALUES (?, ?)
ON CONFLICT (nonce) DO UPDATE SET expires_at = excluded.expires_at
WHERE nonces.expires_at < ? RETURNING 1
"""

# One token from a bucket, refilled since its last use: no row comes back when it is empty.
_TAKE_FROM_BUCKET = """
INSERT INTO rate_buckets AS b (bucket, tokens, updated) VALUES (:bucket, :burst - 1, :now)
ON CONFLICT (bucket) DO UPDATE SET
    tokens = min(:burst, b.tokens + (excluded.updated - b.updated) * :rate) - 1,
    updated = excluded.updated
WHERE min(:burst, b.tokens + (excluded.updated - b.updated) * :rate) >= 1
RETURNING tokens
"""


class ShortLivedState:
    """Nonces and rate buckets: in their file, or in memory while the disk refuses writes."""

    def __init__(self, path: Path) -> None:
        conn = connect_private(path, "NORMAL")
        conn.executescript(_SCHEMA)
        self._file = Guarded(conn, "nonce store")
        spare = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        spare.executescript(_SCHEMA)
        self._spare = Guarded(spare, "nonce store")
        self._spared = False  # once a nonce went to memory, new ones are checked there too
        self._next_sweep = 0.0

    def use_nonce(self, nonce: str, expires_at: int) -> bool:
        """Record a signature nonce; False when it was already used and has not expired."""
        now = int(time.time())
        try:
            fresh = self._file.run(lambda c: _use(c, nonce, expires_at, now))
        except DiskError as exc:
            if self._file.run(lambda c: _unexpired(c, nonce, now)):
                return False
            if not self._spared:
                _log.warning("nonces are kept in memory while the disk refuses writes: %s", exc)
            self._spared = True
            fresh = self._spare.run(lambda c: _use(c, nonce, expires_at, now))
        else:
            if fresh and self._spared:
                fresh = not self._spare.run(lambda c: _unexpired(c, nonce, now))
        if now >= self._next_sweep:
            self._next_sweep = now + _NONCE_SWEEP_SECONDS
            with contextlib.suppress(DiskError):  # a sweep can wait for the disk
                self._file.run(lambda c: _sweep(c, now))
            self._spare.run(lambda c: _sweep(c, now))
        return fresh

    def take_token(self, bucket: str, rate: float, burst: float) -> float:
        """Take one token from the bucket; 0.0, or the seconds until one is there."""
        now = time.time()
        try:
            return self._file.run(lambda c: _take(c, bucket, rate, burst, now))
        except DiskError:  # counted in memory meanwhile; the file's bucket resumes later
            return self._spare.run(lambda c: _take(c, bucket, rate, burst, now))

    def close(self) -> None:
        """Release the connections; idempotent."""
        self._file.close()
        self._spare.close()


def _use(conn: sqlite3.Connection, nonce: str, expires_at: int, now: int) -> bool:
    return conn.execute(_USE_NONCE, (nonce, expires_at, now)).fetchone() is not None


def _sweep(conn: sqlite3.Connection, now: int) -> None:
    conn.execute("DELETE FROM nonces WHERE expires_at < ?", (now,))


def _unexpired(conn: sqlite3.Connection, nonce: str, now: int) -> bool:
    row = conn.execute(
        "SELECT 1 FROM nonces WHERE nonce = ? AND expires_at >= ?", (nonce, now)
    ).fetchone()
    return row is not None


def _take(conn: sqlite3.Connection, bucket: str, rate: float, burst: float, now: float) -> float:
    values = {"bucket": bucket, "rate": rate, "burst": burst, "now": now}
    if conn.execute(_TAKE_FROM_BUCKET, values).fetchone() is not None:
        return 0.0
    row = conn.execute(
        "SELECT tokens, updated FROM rate_buckets WHERE bucket = ?", (bucket,)
    ).fetchone()
    return 0.0 if row is None else seconds_to_token(row[0], row[1], now, rate, burst)
