"""Files that survive a crash whole: replaced through a fsynced temporary file and a rename,
with the rename itself made durable by fsyncing the directory.

Every small file trailhouse rewrites (the event log's `state.json`, compression dictionaries,
signed digests) goes through `replace_file`, and every rename or creation another writer makes
durable goes through `fsync_directory`: one place says how, and names the crash points between.
"""

from __future__ import annotations

import os
from pathlib import Path

from trailhouse import faults


def fsync_directory(directory: Path) -> None:
    """Make a rename or a file creation in `directory` survive a power cut."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def replace_file(path: Path, content: bytes, *, staged: str, replaced: str | None = None) -> None:
    """Replace `path` by `content` whole: after a crash at any moment it holds the old content
    or the new one, never a mix. `staged` and `replaced` name the crash points once the
    temporary file is durable and once it has been renamed over `path` (`trailhouse.faults`).

    A write the disk refuses (full, I/O error) deletes the temporary file, whose blocks may be
    what the disk lacks, and raises; `path` is untouched."""
    temporary = path.with_suffix(".tmp")
    try:
        with temporary.open("wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError:
        temporary.unlink(missing_ok=True)
        raise
    faults.point(staged)
    os.replace(temporary, path)
    if replaced is not None:
        faults.point(replaced)
    fsync_directory(path.parent)
