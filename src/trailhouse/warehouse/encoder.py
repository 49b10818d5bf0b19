"""Encoding a batch's Parquet file, in a helper process when the batch is large, so that
delivery's CPU-bound work does not hold the server's GIL while PutEvents waits for it.

Turning events into a file (decoding their JSON into columns, shredding the path columns, Parquet
and zstd) costs ~80 µs of Python per event, nearly as much as accepting it. On the server's
thread that work holds the GIL, and every request thread waits for it: with a trail logging,
unpaced PutEvents reached 0.66× of its rate with the trail stopped (`bench/delivery.py`). A
helper process (`python -m trailhouse.warehouse.encoder`, started on the first large batch)
does it on another core instead, and its memory is given back to the system after each file.

The helper only computes bytes: placing the file and committing it stay in the caller, so
exactly-once delivery and the crash points are unchanged. A helper that dies or fails is
replaced, and its batch encoded in the caller, where an error is raised as it would be anyway.
It reads its requests from a pipe and ends when the pipe closes, so it never outlives the
server, even one killed with `kill -9` (`helper_process.py`, shared with the evaluation of
detections and insights).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import logging
import pickle
import struct
import sys
import threading
import time
from array import array
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from trailhouse.helper_process import HelperProcess, serve
from trailhouse.memory import arrow_without_pandas, release_freed
from trailhouse.warehouse.json_columns import SLICE_ROWS, JsonLayout, Shredder, appended
from trailhouse.warehouse.schema import RECORDED_BY_COLUMN, current, rows_of

log = logging.getLogger(__name__)

# How much nicer than the server the helper runs by default (the indexer thread's 10 steps).
NICENESS = 10
# Arrow allocates in the helper with the system's malloc, which `release_freed` trims, rather
# than its own pool (mimalloc), which kept ~25 MB after each batch and ~20 MB more at the peak of
# a 16 MB batch; read by Arrow as it starts, hence set in the helper's environment.
HELPER_ENVIRONMENT = {"ARROW_DEFAULT_MEMORY_POOL": "system"}
# A helper with no batch for this long is stopped, giving back its ~90 MB until the next large
# batch starts another (~0.3 s of CPU, off the server's GIL): a trail's steady traffic keeps
# one, a burst leaves none behind.
IDLE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class EncodedFile:
    """A batch's Parquet file and what its `DataFile` document records about it."""

    data: bytes
    sha256: str
    schema_version: int
    layout: JsonLayout
    min_event_time: str
    max_event_time: str
    column_bytes: dict[str, int]


def encode(
    bodies: Sequence[bytes] | pa.LargeBinaryArray, recorded_by: Sequence[str | None]
) -> EncodedFile:
    """The Parquet file of these events (JSON bodies, or the helper's Arrow array of them) in the
    current schema, with who recorded each (`recorded_by`, one per body, as LookupEvents shows
    it)."""
    schema = current()
    shredder = Shredder((column.path for column in schema.typed), schema.version)
    # Slice by slice: each slice's events decoded into Python objects are freed before the next
    # (a 16 MB batch decoded at once raised the peak by ~90 MB, its columns ~22 MB of it); its
    # columns stay as Arrow chunks, written as one row group as before.
    parts = []
    for offset in range(0, len(bodies), SLICE_ROWS):
        recorders = recorded_by[offset : offset + SLICE_ROWS]
        if isinstance(bodies, pa.Array):  # the event column is the array's text, not a copy
            texts = bodies.slice(offset, SLICE_ROWS)
            part, events = texts.to_pylist(), texts.cast(pa.string())
        else:
            part, events = bodies[offset : offset + SLICE_ROWS], None
        parts.append(rows_of(part, schema, {RECORDED_BY_COLUMN: recorders}, events))
        shredder.add(part)
        del part, events
    rows = pa.concat_tables(parts) if parts else rows_of([], schema, {RECORDED_BY_COLUMN: []})
    del parts
    table, layout = appended(rows, *shredder.finish())
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    data = buffer.getvalue()
    del buffer
    times = [t for t in table.column("event_time").to_pylist() if t is not None]
    return EncodedFile(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        schema_version=schema.version,
        layout=layout,
        min_event_time=min(times, default=""),
        max_event_time=max(times, default=""),
        column_bytes=column_bytes(data),
    )


def column_bytes(data: bytes) -> dict[str, int]:
    """The compressed bytes of each column of a Parquet file (what a query reading it is billed)."""
    metadata = pq.ParquetFile(io.BytesIO(data)).metadata
    sizes: dict[str, int] = defaultdict(int)
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for index in range(row_group.num_columns):
            chunk = row_group.column(index)
            sizes[chunk.path_in_schema] += chunk.total_compressed_size
    return dict(sizes)


class FileEncoder:
    """Encodes files in the caller, or in the helper process for batches of `process_from`
    events or more (0: never; `delivery_encode_process_events`, 1,000 by default: a smaller
    batch costs less than the trip); one file at a time goes to the helper. A helper that had
    no batch for `idle_seconds` is stopped (0: never), and started again by the next one."""

    def __init__(
        self, process_from: int = 0, niceness: int = NICENESS, idle_seconds: float = IDLE_SECONDS
    ) -> None:
        self._process_from = process_from
        self._idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._helper = HelperProcess(
            "trailhouse.warehouse.encoder", [str(niceness)], environment=HELPER_ENVIRONMENT
        )
        self._closed = False
        self._last_used = 0.0  # time.monotonic() of the helper's last batch
        self._timer: threading.Timer | None = None  # stops an idle helper; one at a time

    def encode(self, bodies: Sequence[bytes], recorded_by: Sequence[str | None]) -> EncodedFile:
        """The file of these events (see `encode`)."""
        if self._process_from <= 0 or len(bodies) < self._process_from:
            return encode(bodies, recorded_by)
        with self._lock:
            if self._closed:
                return encode(bodies, recorded_by)
            try:
                reply = self._helper.ask(_request(bodies, recorded_by))
                answer = pickle.loads(reply)  # noqa: S301 - our own child
            except Exception as exc:  # a broken helper: never a reason to fail the batch
                log.warning("the file encoder process failed (%s); starting another", exc)
                self._helper.stop()
                answer = None
            self._last_used = time.monotonic()
            self._stop_when_idle(self._idle_seconds)
        # The helper could not encode it: here, any error is raised as the writer's own.
        return answer if isinstance(answer, EncodedFile) else encode(bodies, recorded_by)

    def _stop_when_idle(self, after: float) -> None:
        """Look again in `after` seconds whether the helper is idle (under the lock)."""
        if self._timer is None and self._idle_seconds > 0 and self._helper.running():
            self._timer = threading.Timer(after, self._idle)
            self._timer.daemon = True
            self._timer.start()

    def _idle(self) -> None:
        """Stop the helper when it had no batch for `idle_seconds`; else look again later."""
        with self._lock:
            self._timer = None
            if self._closed:
                return
            idle = time.monotonic() - self._last_used
            if idle >= self._idle_seconds:
                self._helper.stop()  # its memory goes back to the system until the next batch
            else:
                self._stop_when_idle(self._idle_seconds - idle)

    def helper_pid(self) -> int | None:
        """The helper process's id while it runs (for tests and benchmarks)."""
        return self._helper.pid()

    def close(self) -> None:
        """Stop the helper; files are encoded in the caller from now on."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._helper.stop()


# The request's header: the length of its pickled part.
_HEADER = struct.Struct("<Q")


def _request(bodies: Sequence[bytes], recorded_by: Sequence[str | None]) -> list[bytes]:
    """A batch as sent to the helper, in parts written one after another: the length of the
    pickled (count, bodies' end offsets, recorded_by), that, then every body. The server never
    joins the bodies into one copy; the helper reads them as one Arrow array without a copy."""
    ends = array("q", itertools.accumulate(map(len, bodies), initial=0)).tobytes()
    header = pickle.dumps((len(bodies), ends, list(recorded_by)), protocol=5)
    return [_HEADER.pack(len(header)), header, *bodies]


def _answer(request: bytes) -> bytes:
    """The helper's answer to one request (`_request`): the file, or why it could not be made."""
    (size,) = _HEADER.unpack_from(request)
    start = _HEADER.size + size
    count, ends, recorded_by = pickle.loads(request[_HEADER.size : start])  # noqa: S301 - ours
    texts = pa.py_buffer(request).slice(start)
    bodies = pa.Array.from_buffers(pa.large_binary(), count, [None, pa.py_buffer(ends), texts])
    try:
        answer: EncodedFile | str = encode(bodies, recorded_by)
    except Exception as exc:  # the caller encodes it again and raises it there
        answer = f"{type(exc).__name__}: {exc}"
    del bodies, texts, recorded_by
    return pickle.dumps(answer, protocol=5)


if __name__ == "__main__":
    # Under its own name, so that what it pickles names `trailhouse.warehouse.encoder`. Ingest
    # comes first, as for the index (docs/storage.md): when PutEvents keeps every core busy,
    # delivery yields and catches up once the rate drops; callers never wait for it.
    from trailhouse.warehouse.encoder import _answer as answer

    arrow_without_pandas()  # nothing the helper runs uses pandas
    serve(answer, int(sys.argv[1]) if len(sys.argv) > 1 else NICENESS, after=release_freed)
