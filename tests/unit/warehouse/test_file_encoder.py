"""Large batches' files are encoded in a helper process, byte for byte as the caller would; a
helper that dies is replaced, one that cannot encode a batch leaves it to the caller, and no
helper outlives its server."""

from __future__ import annotations

import importlib.util
import io
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import orjson
import pyarrow.parquet as pq
import pytest

from server_process import running
from trailhouse.warehouse import encoder as encoder_module
from trailhouse.warehouse.encoder import NICENESS, FileEncoder, encode

SRC = Path(__file__).resolve().parents[3] / "src"


def _bodies(n: int) -> list[bytes]:
    return [
        orjson.dumps(
            {
                "eventId": f"e-{i}",
                "eventName": "DescribeTrails" if i % 3 else "CreateTrail",
                "eventTime": f"2026-12-0{1 + i % 2}T10:00:{i % 60:02d}Z",
                "userIdentity": {"type": "ram-user", "userName": f"u{i % 7}"},
                "requestParameters": {"Name": f"trail-{i}", "Count": i},
            }
        )
        for i in range(n)
    ]


@pytest.fixture
def encoder() -> Iterator[FileEncoder]:
    found = FileEncoder(process_from=10)
    yield found
    found.close()


def _gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not running(pid):
            return True
        time.sleep(0.05)
    return False


def _not_here(bodies: object, recorded_by: object) -> None:
    raise AssertionError("encoded in the caller: the helper did not answer")


def test_a_large_batch_is_encoded_by_the_helper_as_the_caller_would(
    encoder: FileEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    bodies = _bodies(50)
    recorded = [None if i % 2 else '{"type":"ram-user"}' for i in range(50)]
    expected = encode(bodies, recorded)
    monkeypatch.setattr(encoder_module, "encode", _not_here)  # the helper's own answer, or fail
    assert encoder.encode(bodies, recorded) == expected
    assert encoder.helper_pid() is not None


def test_a_batch_encoded_in_slices_holds_what_one_encoded_at_once_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bodies = _bodies(50)
    recorded = [None if i % 3 else '{"type":"ram-user"}' for i in range(50)]
    monkeypatch.setattr(encoder_module, "SLICE_ROWS", 50)
    whole = encode(bodies, recorded)
    monkeypatch.setattr(encoder_module, "SLICE_ROWS", 7)
    sliced = encode(bodies, recorded)
    assert pq.read_table(io.BytesIO(sliced.data)).equals(pq.read_table(io.BytesIO(whole.data)))
    assert pq.ParquetFile(io.BytesIO(sliced.data)).metadata.num_row_groups == 1
    assert sliced.layout == whole.layout
    assert (sliced.min_event_time, sliced.max_event_time) == (
        whole.min_event_time,
        whole.max_event_time,
    )
    assert sliced.column_bytes.keys() == whole.column_bytes.keys()


def test_the_helper_allocates_with_malloc_and_never_loads_pandas(
    encoder: FileEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What keeps its memory low between batches (docs/storage.md, "Memory"): Arrow's allocations
    # go to glibc's malloc, which the helper trims after each file, and pandas, which pyarrow
    # would import at the first array it builds, is never loaded.
    bodies = _bodies(50)
    expected = encode(bodies, [None] * 50)
    monkeypatch.setattr(encoder_module, "encode", _not_here)
    assert encoder.encode(bodies, [None] * 50) == expected  # by the helper itself
    pid = encoder.helper_pid()
    assert pid is not None
    environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert b"ARROW_DEFAULT_MEMORY_POOL=system" in environment
    if importlib.util.find_spec("pandas") is None:
        pytest.skip("pandas is not installed here: nothing to keep out")
    assert "/pandas/" not in Path(f"/proc/{pid}/maps").read_text()


def test_a_request_carries_the_bodies_themselves_and_the_helper_reads_them_in_place() -> None:
    bodies = _bodies(30)
    recorded = [None if i % 2 else '{"type":"ram-user"}' for i in range(30)]
    parts = encoder_module._request(bodies, recorded)
    assert all(part is body for part, body in zip(parts[2:], bodies, strict=True))  # no copy
    answer = pickle.loads(encoder_module._answer(b"".join(parts)))  # noqa: S301 - ours
    assert answer == encode(bodies, recorded)


def test_an_idle_helper_is_stopped_and_the_next_batch_starts_another() -> None:
    bodies = _bodies(20)
    expected = encode(bodies, [None] * 20)
    encoder = FileEncoder(process_from=10, idle_seconds=2.0)
    try:
        encoder.encode(bodies, [None] * 20)
        first = encoder.helper_pid()
        assert first is not None
        for _ in range(3):  # kept while batches come
            time.sleep(0.1)
            encoder.encode(bodies, [None] * 20)
        assert encoder.helper_pid() == first
        assert _gone(first)  # idle: stopped, its memory given back
        assert encoder.helper_pid() is None
        answer = encoder.encode(bodies, [None] * 20)
        assert encoder.helper_pid() not in {None, first}  # checked before it is idle again
        assert answer == expected
    finally:
        encoder.close()


def test_a_small_batch_is_encoded_in_the_caller(encoder: FileEncoder) -> None:
    bodies = _bodies(9)
    assert encoder.encode(bodies, [None] * 9) == encode(bodies, [None] * 9)
    assert encoder.helper_pid() is None


def test_a_helper_killed_between_batches_is_replaced(encoder: FileEncoder) -> None:
    bodies = _bodies(20)
    encoder.encode(bodies, [None] * 20)
    first = encoder.helper_pid()
    assert first is not None
    os.kill(first, signal.SIGKILL)
    assert _gone(first)
    assert encoder.encode(bodies, [None] * 20) == encode(bodies, [None] * 20)
    assert encoder.encode(bodies, [None] * 20) == encode(bodies, [None] * 20)
    assert encoder.helper_pid() not in (None, first)


def test_a_batch_the_helper_cannot_encode_fails_in_the_caller_as_it_would_anyway(
    encoder: FileEncoder,
) -> None:
    bodies = [*_bodies(19), b"{not json"]
    with pytest.raises(msgspec.DecodeError):
        encode(bodies, [None] * 20)
    with pytest.raises(msgspec.DecodeError):
        encoder.encode(bodies, [None] * 20)
    helper = encoder.helper_pid()
    assert helper is not None  # the helper answered, and stays for the next batch
    good = _bodies(20)
    assert encoder.encode(good, [None] * 20) == encode(good, [None] * 20)
    assert encoder.helper_pid() == helper


def test_closing_stops_the_helper_and_encodes_in_the_caller(encoder: FileEncoder) -> None:
    bodies = _bodies(20)
    encoder.encode(bodies, [None] * 20)
    helper = encoder.helper_pid()
    assert helper is not None
    encoder.close()
    assert encoder.helper_pid() is None
    assert _gone(helper)
    assert encoder.encode(bodies, [None] * 20) == encode(bodies, [None] * 20)


def test_the_helper_ends_when_its_server_is_killed(tmp_path: Path) -> None:
    # A process that starts a helper, prints its pid and kills itself: no clean-up runs.
    script = textwrap.dedent(
        """
        import os, signal, sys
        import orjson
        from trailhouse.warehouse.encoder import FileEncoder
        encoder = FileEncoder(process_from=1)
        encoder.encode([orjson.dumps({"eventId": "x"})], [None])
        print(encoder.helper_pid(), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, env=env, timeout=120, check=False
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    helper = int(done.stdout.split()[0])
    if not _gone(helper):
        os.kill(helper, signal.SIGKILL)
        pytest.fail(f"the helper {helper} outlived the process that started it")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="niceness read from /proc")
def test_the_helper_runs_nicer_than_the_server(encoder: FileEncoder) -> None:
    bodies = _bodies(20)
    encoder.encode(bodies, [None] * 20)
    helper = encoder.helper_pid()
    assert helper is not None
    fields = Path(f"/proc/{helper}/stat").read_text().rsplit(")", 1)[1].split()
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    assert int(fields[16]) == min(ours + NICENESS, 19)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="niceness read from /proc")
def test_a_helper_of_niceness_0_runs_at_the_servers_priority() -> None:
    encoder = FileEncoder(process_from=10, niceness=0)
    try:
        encoder.encode(_bodies(20), [None] * 20)
        helper = encoder.helper_pid()
        assert helper is not None
        fields = Path(f"/proc/{helper}/stat").read_text().rsplit(")", 1)[1].split()
        assert int(fields[16]) == os.getpriority(os.PRIO_PROCESS, 0)
    finally:
        encoder.close()
