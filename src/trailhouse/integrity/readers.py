"""Which files of a table's folder an outside reader would take as table data.

A copy of a table is read by tools that know nothing of its manifest, so `verify` must check
every file any of them would read, not only the names trailhouse writes. Measured with DuckDB
2.0, Spark 4 and pyarrow 26 over a folder holding odd names:

- DuckDB, `read_parquet('<table>/**/*.parquet')`: every file whose name ends in `.parquet`,
  at any depth, in *every* folder, `_staging`, `_digests` and `.hidden` included. The match is
  taken without regard to case, since on a case-insensitive file system (macOS, Windows) the
  glob matches `X.PARQUET` too; Polars' globs read the same files.
- Spark, the folder read recursively: every file at any depth, whatever its name, unless one
  part of its path starts with `.`, or with `_` and holds no `=` (`_a=1/` is read), or the name
  ends in `._COPYING_`. Hive and Trino skip the same `.`/`_` names.
- pyarrow.dataset over the folder: every file unless one part of its path starts with `.` or
  `_`.

So no reader reads a file that sits under a hidden part (`_digests/`, `_staging/`, `.x/`, or a
hidden name itself) and whose name does not end in `.parquet`: digests, staged `.tmp` files,
`_SUCCESS`, `.DS_Store`. Everything else is data to someone.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

_SPARK_SKIPS_SUFFIX = "._COPYING_"


def readers_of(relative: str) -> tuple[str, ...]:
    """The readers that would read the file at `relative` (a POSIX path inside the table)."""
    parts = PurePosixPath(relative).parts
    name = parts[-1]
    readers = []
    if name.lower().endswith(".parquet"):
        readers.append("DuckDB")
    if not any(_spark_hides(part) for part in parts) and not name.endswith(_SPARK_SKIPS_SUFFIX):
        readers.append("Spark")
    if not any(part.startswith((".", "_")) for part in parts):
        readers.append("pyarrow")
    return tuple(readers)


def table_files(table_dir: Path, unreadable: Callable[[str], None]) -> Iterator[tuple[str, Path]]:
    """Every file under the folder, as (POSIX path relative to it, path), sorted per folder.

    Symbolic links are followed, as readers follow them (a folder reached twice is walked
    once). A folder that cannot be listed is passed to `unreadable`: what it holds is unseen.
    """
    seen: set[str] = set()

    def failed(error: OSError) -> None:
        unreadable(f"{error.filename}: cannot be listed ({error.strerror})")

    for root, folders, names in os.walk(table_dir, onerror=failed, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:
            folders.clear()
            continue
        seen.add(real)
        folders.sort()
        for name in sorted(names):
            path = Path(root, name)
            yield path.relative_to(table_dir).as_posix(), path


def _spark_hides(part: str) -> bool:
    return part.startswith(".") or (part.startswith("_") and "=" not in part)
