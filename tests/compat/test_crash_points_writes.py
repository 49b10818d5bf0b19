"""A real server killed at each durable step of users' writes (a SQL write job, a PyODPS tunnel
upload into a table of the account's own project) starts again holding each write whole or not
at all: a job's status says which, a retried upload commit lists its rows once, and no file a
crash left behind is read. `test_crash_points.py` counts `WRITE_CASES` among the points' cases."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from compat_support import Server
from crash_writes_support import (
    OWN,
    ROWS,
    TARGET,
    WriteStore,
    assert_killed_at,
    copy_write_store,
    files_on_disk,
    job_of,
    prepare_writes,
    restart,
    run,
    select,
    start_armed,
    submit,
    tags,
)
from odps.tunnel import TableTunnel
from pyodps_support import client, pyodps_state


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WriteStore]:
    with pyodps_state():
        yield prepare_writes(tmp_path_factory.mktemp("crash-writes") / "data")


@contextlib.contextmanager
def restarted(store: WriteStore) -> Iterator[Server]:
    server = restart(store)
    try:
        yield server
    finally:
        assert server.stop() == 0


def _overwrite_killed_before_its_commit(store: WriteStore) -> None:
    """INSERT OVERWRITE killed with its file renamed into the table's folder, not listed: the
    job is Failed, the table holds the old rows only, the orphan file is on disk and not read;
    the job run again replaces the old rows by the new ones, once."""
    point = "warehouse.job_files.placed"
    armed = start_armed(store, point)
    job_id = submit(
        armed, store.keys, f"INSERT OVERWRITE TABLE {TARGET} {select(store.source, 'new')}"
    )
    assert_killed_at(armed, point)
    orphan = f"job-{job_id}-00000.parquet"
    assert orphan in files_on_disk(store)
    with restarted(store) as server:
        assert job_of(server, store.keys, job_id)["Status"] == "Failed"
        assert tags(server, store) == {"old": ROWS}
        run(server, store.keys, f"INSERT OVERWRITE TABLE {TARGET} {select(store.source, 'new')}")
        assert tags(server, store) == {"new": ROWS}


def _insert_killed_after_its_commit(store: WriteStore) -> None:
    """INSERT INTO killed once its commit listed the file, before the job was saved Terminated:
    the restarted server says the job Terminated (a client told Failed would run it again and
    double the rows), and the table holds the new rows once beside the old."""
    point = "warehouse.job_write.committed"
    armed = start_armed(store, point)
    job_id = submit(armed, store.keys, f"INSERT INTO TABLE {TARGET} {select(store.source, 'new')}")
    assert_killed_at(armed, point)
    with restarted(store) as server:
        job = job_of(server, store.keys, job_id)
        assert job["Status"] == "Terminated", job
        assert tags(server, store) == {"old": ROWS, "new": ROWS}


# What PyODPS raises when the server dies under a call: the connection refused or reset.
CUT_OFF = (requests.ConnectionError,)


def _overwrite_killed_after_its_commit(store: WriteStore) -> None:
    """INSERT OVERWRITE killed once committed: the new rows only, the job Terminated."""
    point = "warehouse.job_write.committed"
    armed = start_armed(store, point)
    sql = f"INSERT OVERWRITE TABLE {TARGET} {select(store.source, 'new')}"
    job_id = submit(armed, store.keys, sql)
    assert_killed_at(armed, point)
    with restarted(store) as server:
        assert job_of(server, store.keys, job_id)["Status"] == "Terminated"
        assert tags(server, store) == {"new": ROWS}


def _ctas_killed(store: WriteStore, point: str) -> tuple[Server, str]:
    """CREATE TABLE made AS SELECT, killed at `point`; the restarted server and the job id."""
    armed = start_armed(store, point)
    job_id = submit(armed, store.keys, f"CREATE TABLE made AS {select(store.source, 'new')}")
    assert_killed_at(armed, point)
    return restart(store), job_id


def _ctas_killed_before_its_commit(store: WriteStore) -> None:
    """CTAS killed with its file renamed, the table not created: no table, the job Failed; run
    again, it creates the table whole (its orphan file not read)."""
    server, job_id = _ctas_killed(store, "warehouse.job_files.placed")
    try:
        assert f"job-{job_id}-00000.parquet" in files_on_disk(store, "made")
        assert job_of(server, store.keys, job_id)["Status"] == "Failed"
        assert not client(server, store.keys, OWN).exist_table("made")
        run(server, store.keys, f"CREATE TABLE made AS {select(store.source, 'new')}")
        assert tags(server, store, "made") == {"new": ROWS}
    finally:
        assert server.stop() == 0


def _ctas_killed_after_its_commit(store: WriteStore) -> None:
    """CTAS killed once committed: the table is there, whole, and the job Terminated."""
    server, job_id = _ctas_killed(store, "warehouse.job_write.committed")
    try:
        assert job_of(server, store.keys, job_id)["Status"] == "Terminated"
        assert tags(server, store, "made") == {"new": ROWS}
    finally:
        assert server.stop() == 0


def _uploaded_rows() -> list[list[str]]:
    return [[f"up-{n}", "up"] for n in range(ROWS)]


def _write_block(session: object) -> None:
    with session.open_record_writer(0) as writer:  # type: ignore[attr-defined]
        for row in _uploaded_rows():
            writer.write(session.new_record(row))  # type: ignore[attr-defined]


def _upload_killed(store: WriteStore, point: str, *, at_commit: bool) -> str:
    """Open an upload session into `target`, send its block, commit; the server dies at
    `point` (while the block is staged, or in the commit). The session's id."""
    armed = start_armed(store, point)
    tunnel = TableTunnel(client(armed, store.keys, OWN))
    session = tunnel.create_upload_session(TARGET)
    if at_commit:
        _write_block(session)
        with pytest.raises(CUT_OFF):
            session.commit([0])
    else:
        with pytest.raises(CUT_OFF):
            _write_block(session)
    assert_killed_at(armed, point)
    upload_id: str = session.id
    return upload_id


def _commit_again(server: Server, store: WriteStore, upload_id: str, *, send: bool) -> None:
    """The client attaches to its session on the restarted server, sends its block again when
    `send`, and commits (twice: a commit sent again lists nothing more)."""
    session = TableTunnel(client(server, store.keys, OWN)).create_upload_session(
        TARGET, upload_id=upload_id
    )
    if send:
        _write_block(session)
    session.commit([0])
    session.commit([0])


def _upload_killed_with_its_block_staged(store: WriteStore) -> None:
    """A block killed half-placed (its staged file written, not renamed): nothing is visible
    after the restart; the block sent again to the same session and committed lists the rows
    once."""
    upload_id = _upload_killed(store, "warehouse.upload.block_staged", at_commit=False)
    assert [name for name in files_on_disk(store) if upload_id in name and ".part" in name]
    with restarted(store) as server:
        assert tags(server, store) == {"old": ROWS}
        _commit_again(server, store, upload_id, send=True)
        assert tags(server, store) == {"old": ROWS, "up": ROWS}


def _upload_commit_killed_before_listing(store: WriteStore) -> None:
    """An upload's commit killed with the block's file renamed into the table, not listed:
    nothing is visible; the commit retried lists that same file, once (the block need not be
    sent again)."""
    upload_id = _upload_killed(store, "warehouse.job_files.placed", at_commit=True)
    assert f"job-{upload_id}-00000.parquet" in files_on_disk(store)  # placed, not listed
    with restarted(store) as server:
        assert tags(server, store) == {"old": ROWS}
        _commit_again(server, store, upload_id, send=False)
        assert tags(server, store) == {"old": ROWS, "up": ROWS}


def _upload_commit_killed_after_listing(store: WriteStore) -> None:
    """An upload's commit killed once listed, unanswered: the rows are there once; the commit
    retried changes nothing and closes the session."""
    upload_id = _upload_killed(store, "warehouse.job_write.committed", at_commit=True)
    with restarted(store) as server:
        assert tags(server, store) == {"old": ROWS, "up": ROWS}
        _commit_again(server, store, upload_id, send=False)
        assert tags(server, store) == {"old": ROWS, "up": ROWS}


Scenario = Callable[[WriteStore], None]

# One case per crash point of users' writes (the inventory test counts these keys) ...
WRITE_CASES: dict[str, Scenario] = {
    "warehouse.job_files.placed": _overwrite_killed_before_its_commit,
    "warehouse.job_write.committed": _insert_killed_after_its_commit,
    "warehouse.upload.block_staged": _upload_killed_with_its_block_staged,
}
# ... and the same points reached by the other writes: OVERWRITE, CTAS, an upload's commit.
MORE_CASES: dict[str, Scenario] = {
    "overwrite-committed": _overwrite_killed_after_its_commit,
    "ctas-placed": _ctas_killed_before_its_commit,
    "ctas-committed": _ctas_killed_after_its_commit,
    "upload-commit-placed": _upload_commit_killed_before_listing,
    "upload-commit-committed": _upload_commit_killed_after_listing,
}


@pytest.mark.slow
@pytest.mark.parametrize("point", sorted(WRITE_CASES))
def test_a_write_killed_at_the_point_is_whole_or_absent(
    point: str, prepared: WriteStore, tmp_path: Path
) -> None:
    WRITE_CASES[point](copy_write_store(prepared, tmp_path / "data"))


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(MORE_CASES))
def test_other_writes_killed_at_those_points_are_whole_or_absent(
    case: str, prepared: WriteStore, tmp_path: Path
) -> None:
    MORE_CASES[case](copy_write_store(prepared, tmp_path / "data"))
