"""Many rows per INSERT statement, into the day files (`days.py`)."""

from __future__ import annotations

import functools
import itertools
import sqlite3
from collections.abc import Iterator, Sequence

# Rows per INSERT statement: 1,000 rows of `events` bind 14,000 values (SQLite allows 32,766).
ROWS_PER_INSERT = 1000


def insert_rows(conn: sqlite3.Connection, table: str, rows: Sequence[tuple[object, ...]]) -> int:
    """INSERT OR IGNORE `rows` into `table`, many rows per statement; count the new ones.

    Not `executemany`: it runs one statement per row, and each lets go of the GIL and must wait
    to take it back, up to 5 ms while another thread runs Python. Measured here with one busy
    thread beside it, executemany inserted ~200 rows/s and 1,000-row statements ~78,000/s; this
    is what kept the index minutes behind a loaded server.
    """
    inserted = 0
    at = 0
    for size in statement_sizes(len(rows)):
        chunk = rows[at : at + size]
        at += size
        values = list(itertools.chain.from_iterable(chunk))
        inserted += conn.execute(_statement(table, len(chunk[0]), size), values).rowcount
    return max(inserted, 0)


def statement_sizes(count: int) -> Iterator[int]:
    """Rows per INSERT for `count` rows: `ROWS_PER_INSERT` each, then the rest as powers of two.
    Each size is a statement of its own, which the connection keeps prepared (Python's sqlite3
    caches 128 a connection, ~1.4 MB each at 1,000 rows of `events`): a statement for every
    remainder a batch ever had took SQLite's memory for one day's writer from 37 to 83 MB
    (batches of 2,000 to 15,000 events at random)."""
    whole, rest = divmod(count, ROWS_PER_INSERT)
    yield from itertools.repeat(ROWS_PER_INSERT, whole)
    power = 1 << (ROWS_PER_INSERT.bit_length() - 1)
    while rest:
        if rest >= power:
            yield power
            rest -= power
        power >>= 1


@functools.lru_cache(maxsize=64)
def _statement(table: str, width: int, rows: int) -> str:
    row = "(" + ", ".join("?" * width) + ")"
    return f"INSERT OR IGNORE INTO {table} VALUES " + ", ".join([row] * rows)
