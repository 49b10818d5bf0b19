"""Raw SQLite inserts of the store's own rows, with its own schema: the indexed-insert baseline.

The largest SQLite file of the data directory (a full day file after the prefill) is copied
schema first (tables, indexes and triggers, as `sqlite_master` holds them) into a fresh file;
then its rows are inserted again, 100 events per transaction, each commit fsynced. No parsing,
validation or compression: only SQLite's b-tree work and the fsyncs.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True, slots=True)
class BaselineResult:
    """Events inserted per second, and what was copied from where."""

    source: Path
    events: int
    rows: int
    tables: int
    indexes: int
    seconds: float
    cpu_seconds: float  # the inserting thread's, the kernel's work for it included

    @property
    def events_per_second(self) -> float:
        """Events (rows of the table holding event ids) inserted per second."""
        return self.events / self.seconds if self.seconds else 0.0


def sqlite_files(data_dir: Path) -> list[Path]:
    """Every SQLite database file under `data_dir`, largest first."""
    found = []
    for path in data_dir.rglob("*"):
        if not path.is_file() or path.name.endswith(("-wal", "-shm", "-journal")):
            continue
        with path.open("rb") as handle:
            if handle.read(16) == SQLITE_MAGIC:
                found.append(path)
    return sorted(found, key=lambda p: p.stat().st_size, reverse=True)


def _event_table(connection: sqlite3.Connection) -> str | None:
    """The table holding one row per event (it has an event_id column and the most rows)."""
    best: tuple[int, str] | None = None
    for (name,) in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ):
        columns = {row[1] for row in connection.execute(f'PRAGMA table_info("{name}")')}
        if "event_id" not in columns:
            continue
        (count,) = connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()
        if best is None or count > best[0]:
            best = (count, name)
    return None if best is None else best[1]


def find_day_file(data_dir: Path) -> Path | None:
    """The largest SQLite file under `data_dir` that holds events."""
    for path in sqlite_files(data_dir):
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if _event_table(connection) is not None:
                return path
        except sqlite3.DatabaseError:
            continue
        finally:
            connection.close()
    return None


def run_baseline(
    data_dir: Path, max_events: int, batch: int = 100, synchronous: str = "FULL"
) -> BaselineResult | None:
    """Insert up to `max_events` of the day files' rows again (largest first); None without any."""
    source = find_day_file(data_dir)
    if source is None:
        return None
    schema, journal, page_size = _schema(source)
    event_table = _event_table_of(source)
    rows: dict[str, list[tuple[object, ...]]] = {}
    events = 0
    # The largest day file first; smaller ones of the same schema top it up (a quick run's
    # day files are small). Sequence numbers are global, so rows of two days never collide.
    for path in sqlite_files(data_dir):
        if events >= max_events:
            break
        if path != source and _schema(path)[0] != schema:
            continue
        events += _read_rows(path, schema, event_table, max_events - events, rows)

    with tempfile.TemporaryDirectory(prefix="bench-sqlite-", dir=data_dir.parent) as scratch:
        target = sqlite3.connect(Path(scratch) / "baseline.sqlite", isolation_level=None)
        try:
            target.execute(f"PRAGMA page_size = {int(page_size)}")
            target.execute(f"PRAGMA journal_mode = {journal}")
            target.execute(f"PRAGMA synchronous = {synchronous}")
            for _kind, _name, sql in schema:
                if not sql.upper().startswith("CREATE VIRTUAL"):
                    target.execute(sql)
            statements = {
                name: f'INSERT OR IGNORE INTO "{name}" VALUES ({", ".join("?" * len(table[0]))})'
                for name, table in rows.items()
                if table
            }
            transactions = max(1, (events + batch - 1) // batch)
            begun, begun_cpu = time.perf_counter(), time.thread_time()
            for number in range(transactions):
                target.execute("BEGIN")
                for name, statement in statements.items():
                    table = rows[name]
                    low = len(table) * number // transactions
                    high = len(table) * (number + 1) // transactions
                    if high > low:
                        target.executemany(statement, table[low:high])
                target.execute("COMMIT")
            seconds = time.perf_counter() - begun
            cpu_seconds = time.thread_time() - begun_cpu
        finally:
            target.close()
    return BaselineResult(
        source=source,
        events=events,
        rows=sum(len(table) for table in rows.values()),
        tables=sum(1 for kind, _, _ in schema if kind == "table"),
        indexes=sum(1 for kind, _, _ in schema if kind == "index"),
        seconds=seconds,
        cpu_seconds=cpu_seconds,
    )


Schema = list[tuple[str, str, str]]


def _schema(path: Path) -> tuple[Schema, str, int]:
    """The CREATE statements of a file, its journal mode and page size."""
    reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        schema = [
            (kind, name, sql)
            for kind, name, sql in reader.execute(
                "SELECT type, name, sql FROM sqlite_master "
                "WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
            )
        ]
        journal = str(reader.execute("PRAGMA journal_mode").fetchone()[0])
        page_size = int(reader.execute("PRAGMA page_size").fetchone()[0])
    finally:
        reader.close()
    return schema, journal, page_size


def _event_table_of(path: Path) -> str:
    reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        name = _event_table(reader)
    finally:
        reader.close()
    assert name is not None
    return name


def _read_rows(
    path: Path,
    schema: Schema,
    event_table: str,
    wanted: int,
    rows: dict[str, list[tuple[object, ...]]],
) -> int:
    """Add up to `wanted` events' worth of every table's rows of `path` to `rows`."""
    reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (total,) = reader.execute(f'SELECT count(*) FROM "{event_table}"').fetchone()
        share = min(1.0, wanted / max(1, total))
        for kind, name, sql in schema:
            if kind != "table" or sql.upper().startswith("CREATE VIRTUAL"):
                continue
            table_rows = reader.execute(f'SELECT * FROM "{name}"').fetchall()
            rows.setdefault(name, []).extend(table_rows[: round(len(table_rows) * share)])
    finally:
        reader.close()
    return min(int(total), wanted)
