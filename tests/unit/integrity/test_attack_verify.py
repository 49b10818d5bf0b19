"""Attacks on `trailhouse verify`: files smuggled where an outside reader would read them.

Each attack copies a real delivered data file to a name trailhouse never writes but DuckDB,
Spark or pyarrow would read as table data (`integrity/readers.py`); verify must name the file
and the readers. Names that no reader reads are left alone, so a copy's own bookkeeping
(`_SUCCESS`, `.DS_Store`, the digests) never fails a whole table.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from integrity_support import Delivered, check, copy, data_files

from trailhouse.integrity.readers import readers_of

# (where the smuggled file goes, with {day} for a real partition; the readers that read it)
SMUGGLED = [
    ("ds={day}/extra.parquet", "DuckDB and Spark and pyarrow"),
    ("DS={day}/part-upper.parquet", "DuckDB and Spark and pyarrow"),
    ("ds={day}/sub/part-nested.parquet", "DuckDB and Spark and pyarrow"),
    ("ds={day}/part-upper.PARQUET", "DuckDB and Spark and pyarrow"),
    ("ds={day}/part-no-extension", "Spark and pyarrow"),
    ("ds={day}/part.parquet._COPYING_", "pyarrow"),
    ("top-level.parquet", "DuckDB and Spark and pyarrow"),
    ("ds=20990101/part-future.parquet", "DuckDB and Spark and pyarrow"),
    ("_staging/part-staged.parquet", "DuckDB"),
    ("_digests/rows.parquet", "DuckDB"),
    (".hidden/part-hidden.parquet", "DuckDB"),
    ("ds={day}/.part-dot.parquet", "DuckDB"),
    ("ds={day}/_part-underscore.parquet", "DuckDB"),
    ("_x=1/part-no-extension", "Spark"),
]

# Names no reader reads: bookkeeping beside the data.
IGNORED = [
    "_digests/README.txt",
    "_staging/part-x.parquet.tmp",
    ".DS_Store",
    "ds={day}/_SUCCESS",
    "ds={day}/.part-x.parquet.crc",
    "_x/part-no-extension",
]


@pytest.mark.parametrize(("where", "readers"), SMUGGLED)
def test_a_smuggled_file_is_named_with_its_readers(
    delivered: Delivered, tmp_path: Path, where: str, readers: str
) -> None:
    folder = copy(delivered, tmp_path)
    original = data_files(folder)[0]
    relative = where.format(day=original.parent.name.removeprefix("ds="))
    target = folder / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(original, target)
    (problem,) = check(delivered, folder)
    assert problem == (
        f"{relative}: no digest lists this file, which {readers} would read (added or forged)"
    )


@pytest.mark.parametrize("where", IGNORED)
def test_files_no_reader_reads_are_left_alone(
    delivered: Delivered, tmp_path: Path, where: str
) -> None:
    folder = copy(delivered, tmp_path)
    original = data_files(folder)[0]
    relative = where.format(day=original.parent.name.removeprefix("ds="))
    assert readers_of(relative) == ()
    target = folder / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(original, target)
    assert check(delivered, folder) == []


def test_a_folder_linked_in_from_outside_is_walked(delivered: Delivered, tmp_path: Path) -> None:
    """Readers follow symbolic links; so does verify."""
    folder = copy(delivered, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(data_files(folder)[0], outside / "part-linked.parquet")
    (folder / "ds=20990102").symlink_to(outside, target_is_directory=True)
    (folder / "ds=20990103").symlink_to(folder, target_is_directory=True)  # a loop
    (problem,) = check(delivered, folder)
    assert problem.startswith("ds=20990102/part-linked.parquet: no digest lists this file")


def test_a_link_to_nothing_is_named(delivered: Delivered, tmp_path: Path) -> None:
    folder = copy(delivered, tmp_path)
    dangling = folder / data_files(folder)[0].parent.name / "part-dangling.parquet"
    dangling.symlink_to(tmp_path / "gone.parquet")
    (problem,) = check(delivered, folder)
    assert problem.startswith(f"{dangling.relative_to(folder)}: no digest lists this file")
