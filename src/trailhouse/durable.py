"""Files that survive a crash whole: replaced through a fsynced temporary file and a rename,
with the rename itself made durable by fsyncing the directory.

Every file trailhouse writes whole goes through `place_file`: the warehouse's Parquet files
(staged in the table's `_staging` folder) and, through `replace_file`, the small files it
rewrites (the event log's `state.json`, compression dictionaries, signed digests). One place says
how, and names the crash points between; `fsync_path` makes other writes, creations and renames
durable.
"""

from __future__ import annotations

import os
from pathlib import Path

from trailhouse import faults


def fsync_path(path: Path) -> None:
    """Make what was written to the file `path`, or the renames and creations in the directory
    `path`, survive a power cut."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def place_file(
    content: bytes, staged_path: Path, path: Path, *, staged: str, placed: str | None = None
) -> None:
    """Put `content` at `path` whole: it is written to `staged_path` and fsynced, then renamed to
    `path`, whose directory is fsynced. After a crash at any moment `path` holds the old content
    (or nothing) or the new one, never a mix. `staged` and `placed` name the crash points once
    the staged file is durable and once it is renamed (`trailhouse.faults`).

    A write the disk refuses (full, I/O error) deletes the staged file, whose blocks may be what
    the disk lacks, and raises; `path` is untouched."""
    try:
        with staged_path.open("wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError:
        staged_path.unlink(missing_ok=True)
        raise
    faults.point(staged)
    os.replace(staged_path, path)
    if placed is not None:
        faults.point(placed)
    fsync_path(path.parent)


def replace_file(path: Path, content: bytes, *, staged: str, placed: str | None = None) -> None:
    """Replace the small file `path` by `content` whole, through `<path>.tmp` (`place_file`)."""
    place_file(content, path.with_suffix(".tmp"), path, staged=staged, placed=placed)
