"""The indexer's CPU an event on a copy of a large day file, beside the same work done with a
reader's connection settings (the baseline), in one run.

Takes a stored day file (by default the largest of `--store`'s `events/days/`) and the log's
last `--events` records of that day, renamed (new seq and event id, so every one is a new row
with a new id hash, as a new event is), and indexes them into a fresh copy of the
day in batches of `--batch` with a checkpoint after each, as the indexer does under load. Each
setting runs `--rounds` times, alternately, each on its own copy; the figure is the indexing
thread's CPU (`time.thread_time`) per event, median of the rounds. `--without INDEX` drops
that index from every copy first: the difference from a run with it is what the one index costs.
A day file of an older index format is brought up to the current one (untimed) first.

Usage: `.venv/bin/python bench/index_cost.py --store /work/bench1m/data` (a store that
`bench/ingest_lookup.py` filled and left, its server stopped).
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import time
from pathlib import Path

import msgspec

from trailhouse.store.sqlite.days import MMAP_BYTES, DayFiles, day_of
from trailhouse.store.sqlite.records import LogRecord
from trailhouse.store.sqlite.segments import SegmentFiles

_READER_CACHE_KIB = 16384


def arguments() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", type=Path, required=True, help="a stopped store's data dir")
    parser.add_argument("--day", type=int, help="YYYYMMDD; default: the largest day file")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=20_000, help="events per transaction")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--times",
        choices=("now", "stored"),
        default="now",
        help="now: event times in order, ten a second, as a live producer sends them; "
        "stored: the times the log holds (the ingest benchmark's pool, spread over the day)",
    )
    parser.add_argument("--mmap-mb", type=int, default=64, help="as `index_mmap_mb`")
    parser.add_argument(
        "--without",
        action="append",
        default=[],
        metavar="INDEX",
        help="drop this index (events_name, events_time, …) from every copy before timing: what "
        "the index costs is the difference from a run with it (repeatable)",
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/trailhouse-index-cost"))
    return parser.parse_args()


def new_records(store: Path, day: int, count: int, in_order: bool) -> list[LogRecord]:
    """The log's last `count` records of `day`, each renamed into a new event; `in_order`, with
    times rising ten events a second to the day's newest."""
    segments = SegmentFiles(store / "events" / "log")
    try:
        last = segments.last_seq
        found: list[LogRecord] = []
        position = max(last - 4 * count, 0)
        while batch := segments.read(position, 50_000):
            found.extend(r for r in batch if day_of(r.event_time) == day)
            position = batch[-1].seq
    finally:
        segments.close()
    found = found[-count:]
    newest = max(r.event_time for r in found)
    return [
        msgspec.structs.replace(
            r,
            seq=last + 1 + n,
            event_id=f"{r.event_id}-{n}",
            event_time=newest - (len(found) - n) // 10 if in_order else r.event_time,
        )
        for n, r in enumerate(found)
    ]


def _timed(days: DayFiles, day: int, records: list[LogRecord], batch: int) -> float:
    started = time.thread_time()
    for at in range(0, len(records), batch):
        days.index(day, records[at : at + batch])
        days.sync(day)
    return (time.thread_time() - started) / len(records) * 1e6


def as_reader(days: DayFiles, day: int, mmap: int) -> None:
    """Give the writer's connection a reader's settings: the baseline."""
    writer = days._writer(day)  # a look inside: the benchmark sets what the store does not
    writer.execute(f"PRAGMA mmap_size={mmap}")
    writer.execute(f"PRAGMA cache_size=-{_READER_CACHE_KIB}")


def main() -> int:
    """Run both settings alternately and print the medians."""
    args = arguments()
    day_dir = args.store / "events" / "days"
    if args.day is None:
        source = max(day_dir.glob("*.sqlite"), key=lambda p: p.stat().st_size)
        day = int(source.stem)
    else:
        day, source = args.day, day_dir / f"{args.day}.sqlite"
    mmap = args.mmap_mb * 1024 * 1024 if args.mmap_mb else MMAP_BYTES
    records = new_records(args.store, day, args.events, args.times == "now")
    rows = _count(source)
    print(
        f"day {day}: {rows:,} events, {source.stat().st_size / 1e9:.2f} GB; "
        f"indexing {len(records):,} new events ({args.times} times) in batches of {args.batch:,}"
        + (f", without {', '.join(args.without)}" if args.without else ""),
        file=sys.stderr,
    )
    figures: dict[str, list[float]] = {"indexer": [], "reader settings (baseline)": []}
    for round_ in range(args.rounds):
        for name in figures:
            workdir = args.workdir / name.split()[0]
            shutil.rmtree(workdir, ignore_errors=True)
            (workdir / "days").mkdir(parents=True)
            shutil.copyfile(source, workdir / "days" / source.name)
            _drop_indexes(workdir / "days" / source.name, args.without)
            days = DayFiles(workdir / "days", mmap)
            try:
                days.add_recent_tables()  # a day file of an older format, brought up untimed
                days.index(day, records[:1])
                if name != "indexer":
                    as_reader(days, day, mmap)
                figure = _timed(days, day, records[1:], args.batch)
            finally:
                days.close()
            figures[name].append(figure)
            print(f"  round {round_ + 1}: {name}: {figure:.1f} µs an event", file=sys.stderr)
    shutil.rmtree(args.workdir, ignore_errors=True)
    ours, base = (statistics.median(v) for v in figures.values())
    print(f"indexer CPU an event into a day of {rows:,} events (median of {args.rounds}):")
    print(
        f"  indexer settings (no map, {_READER_CACHE_KIB // 1024 + mmap // 2**20} MB cache): "
        f"{ours:.1f} µs"
    )
    print(
        f"  reader settings ({mmap // 2**20} MB mapped, {_READER_CACHE_KIB // 1024} MB cache): "
        f"{base:.1f} µs  (baseline)"
    )
    print(f"  ratio: {ours / base:.2f}×")
    return 0


def _drop_indexes(path: Path, names: list[str]) -> None:
    """Drop the indexes `names` from the day file at `path` (a copy)."""
    if not names:
        return
    conn = sqlite3.connect(path)
    try:
        for name in names:
            if not name.isidentifier():
                raise SystemExit(f"not an index name: {name!r}")
            conn.execute(f"DROP INDEX {name}")
        conn.commit()
    finally:
        conn.close()


def _count(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        conn.close()


if __name__ == "__main__":
    raise SystemExit(main())
