"""Append-only segment files of the event log, named by the first sequence number they hold.

One writer appends to the newest segment and rolls to a new one past `SEGMENT_BYTES`; a
sealed segment gets a small `.idx` side file (sparse seq → offset marks, its last seq and
newest event time) so that opening the log never rescans it. Readers see only what the writer
has fsynced. On open the newest segment is scanned and a torn or corrupt tail is cut off.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from trailhouse import faults
from trailhouse.durable import fsync_path
from trailhouse.store.sqlite.records import (
    FRAME,
    EventFrame,
    LogRecord,
    decode,
    scan_events,
    scan_records,
)

SEGMENT_BYTES = 64 * 1024 * 1024
_MARK_EVERY = 256
_READ_CHUNK = 1024 * 1024
_SUFFIX = ".log"

_Found = TypeVar("_Found")
# Adds the records of a buffer above a seq to a list, up to a limit; returns the bytes read.
_Scan = Callable[[bytes, int, int, list[_Found]], int]


@dataclass(slots=True)
class _Segment:
    """What is known of one segment file; mutated only by the writer and under the lock."""

    first_seq: int
    path: Path
    size: int = 0
    last_seq: int = 0
    max_time: int = 0
    mark_seqs: list[int] = field(default_factory=list)
    mark_offsets: list[int] = field(default_factory=list)

    def add(self, seq: int, offset: int, event_time: int) -> None:
        if (seq - self.first_seq) % _MARK_EVERY == 0:
            self.mark_seqs.append(seq)
            self.mark_offsets.append(offset)
        self.last_seq = seq
        self.max_time = max(self.max_time, event_time)

    def start_offset(self, seq: int) -> int:
        """An offset at or before the frame of `seq`."""
        index = bisect.bisect_right(self.mark_seqs, seq) - 1
        return self.mark_offsets[index] if index >= 0 else 0


class SegmentFiles:
    """The segment files under one directory: one appender, many readers."""

    def __init__(self, directory: Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._directory = directory
        self._segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._segments: list[_Segment] = []
        paths = sorted(
            (p for p in directory.glob("*" + _SUFFIX) if p.stem.isdigit()),
            key=lambda p: int(p.stem),
        )
        for path in paths[:-1]:
            self._segments.append(_load_sealed(path) or _scan(path, truncate=False))
        if paths:
            self._segments.append(_scan(paths[-1], truncate=True))
        else:
            self._segments.append(_Segment(1, self._path_for(1)))
            self._segments[-1].path.touch()
            faults.point("log.segment.created")
            fsync_path(directory)
        self._fd = os.open(self._segments[-1].path, os.O_WRONLY | os.O_APPEND)
        self._damaged = False  # a failed append could not be cut off: verify before the next

    @property
    def last_seq(self) -> int:
        """The highest sequence number durably written (0 when none ever was)."""
        with self._lock:
            for segment in reversed(self._segments):
                if segment.last_seq:
                    return segment.last_seq
            return self._segments[-1].first_seq - 1

    def append(self, frames: list[bytes], seqs: list[int], times: list[int]) -> None:
        """Write consecutive frames and fsync them; then readers may see them."""
        active = self._segments[-1]
        if self._damaged:
            self._cut_back(active)  # raises while the tail still cannot be cut
        if active.size >= self._segment_bytes and active.last_seq:
            active = self._roll(active, seqs[0])
        data = b"".join(frames)
        written = 0
        try:
            while written < len(data):
                written += os.write(self._fd, data[written:])
            faults.point("log.append.written")
            os.fdatasync(self._fd)
            faults.point("log.append.synced")
        except OSError:
            # Leave no frame of the group behind for the next append to follow (disk full, I/O
            # error). A failed fdatasync is never called again for the same pages: the kernel
            # may have dropped what it could not write, and a second call would report success.
            # The frames are cut off; the callers' retry writes them anew.
            with contextlib.suppress(OSError):  # the error the callers get is the first one
                self._cut_back(active)
            raise
        with self._lock:
            offset = active.size
            for frame, seq, event_time in zip(frames, seqs, times, strict=True):
                active.add(seq, offset, event_time)
                offset += len(frame)
            active.size = offset

    def _cut_back(self, active: _Segment) -> None:
        """Cut the active segment back to its durable size and check it; until that works,
        every append is refused without writing."""
        self._damaged = True
        os.ftruncate(self._fd, active.size)
        os.fdatasync(self._fd)
        size = os.fstat(self._fd).st_size
        if size != active.size:
            raise OSError(errno.EIO, f"segment {active.path} has {size} bytes, not {active.size}")
        self._damaged = False

    def read(self, after: int, limit: int) -> list[LogRecord]:
        """Up to `limit` committed records with seq above `after`, in seq order."""
        found: list[LogRecord] = []
        self._read(after, limit, scan_records, found)
        return found

    def read_events(self, after: int, limit: int) -> list[EventFrame]:
        """Like `read`, with only what delivery needs of each record (see `scan_events`)."""
        found: list[EventFrame] = []
        self._read(after, limit, scan_events, found)
        return found

    def _read(self, after: int, limit: int, scan: _Scan[_Found], found: list[_Found]) -> None:
        with self._lock:
            firsts = [segment.first_seq for segment in self._segments]
            index = max(bisect.bisect_right(firsts, after + 1) - 1, 0)
            chosen = [
                (segment, segment.size, segment.start_offset(after + 1))
                for segment in self._segments[index:]
            ]
        for segment, size, start in chosen:
            if len(found) >= limit:
                break
            _read_segment(segment.path, start, size, after, limit, scan, found)

    def drop_older(self, older_than: int, upto_seq: int) -> int:
        """Delete sealed segments whose events are all before `older_than`; count them."""
        with self._lock:
            doomed = [
                s for s in self._segments[:-1] if s.max_time < older_than and s.last_seq <= upto_seq
            ]
            self._segments = [s for s in self._segments if s not in doomed]
        for segment in doomed:
            segment.path.unlink(missing_ok=True)
            segment.path.with_suffix(".idx").unlink(missing_ok=True)
        return len(doomed)

    def first_seq(self) -> int:
        """The lowest sequence number a segment still holds (or would hold)."""
        with self._lock:
            return self._segments[0].first_seq

    def bytes_on_disk(self) -> int:
        """The size of every segment file."""
        with self._lock:
            return sum(segment.size for segment in self._segments)

    def close(self) -> None:
        """Release the appender's file."""
        os.close(self._fd)

    def _roll(self, sealed: _Segment, next_seq: int) -> _Segment:
        _write_side_file(sealed)
        faults.point("log.segment.sealed")
        fresh = _Segment(next_seq, self._path_for(next_seq))
        fd = os.open(fresh.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        faults.point("log.segment.created")
        fsync_path(self._directory)
        os.close(self._fd)
        self._fd = fd
        with self._lock:
            self._segments.append(fresh)
        return fresh

    def _path_for(self, first_seq: int) -> Path:
        return self._directory / f"{first_seq:020d}{_SUFFIX}"


def _read_segment(
    path: Path,
    start: int,
    size: int,
    after: int,
    limit: int,
    scan: _Scan[_Found],
    found: list[_Found],
) -> None:
    """Add the segment's records with seq above `after`, from offset `start`, to `found`."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:  # purged while we looked
        return
    try:
        offset = start
        while offset < size and len(found) < limit:
            chunk = os.pread(fd, min(size - offset, _READ_CHUNK), offset)
            position = scan(chunk, after, limit, found)
            if position == 0 and len(found) < limit:  # a frame larger than one chunk
                frame_size = int.from_bytes(chunk[:4], "little") + FRAME.size
                position = scan(os.pread(fd, frame_size, offset), after, limit, found)
                if position == 0:
                    raise OSError(f"event log segment {path} is corrupt at offset {offset}")
            offset += position
    finally:
        os.close(fd)


def _scan(path: Path, *, truncate: bool) -> _Segment:
    """Rebuild what is known of a segment by reading it, cutting off a torn tail if asked."""
    segment = _Segment(int(path.stem), path)
    data = path.read_bytes()
    offset = 0
    expected = segment.first_seq
    while True:
        decoded = decode(data, offset)
        if decoded is None or decoded[0].seq != expected:
            break
        record, end = decoded
        segment.add(record.seq, offset, record.event_time)
        offset = end
        expected += 1
    segment.size = offset
    if offset < len(data) and truncate:
        with path.open("r+b") as handle:
            handle.truncate(offset)
            handle.flush()
            os.fsync(handle.fileno())
    return segment


def _load_sealed(path: Path) -> _Segment | None:
    try:
        info = json.loads(path.with_suffix(".idx").read_text())
        segment = _Segment(
            int(path.stem),
            path,
            size=int(info["size"]),
            last_seq=int(info["last_seq"]),
            max_time=int(info["max_time"]),
            mark_seqs=[int(seq) for seq, _ in info["marks"]],
            mark_offsets=[int(offset) for _, offset in info["marks"]],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if path.stat().st_size != segment.size or not _frame_at(path, segment):
        return None
    return segment


def _frame_at(path: Path, segment: _Segment) -> bool:
    """True when the side file's last mark points at a whole frame of the seq it names."""
    if not segment.mark_seqs:
        return segment.size == 0
    offset = segment.mark_offsets[-1]
    with path.open("rb") as handle:
        handle.seek(offset)
        head = handle.read(FRAME.size)
        if len(head) < FRAME.size:
            return False
        handle.seek(offset)
        data = handle.read(int.from_bytes(head[:4], "little") + FRAME.size)
    decoded = decode(data, 0)
    return decoded is not None and decoded[0].seq == segment.mark_seqs[-1]


def _write_side_file(segment: _Segment) -> None:
    info = {
        "size": segment.size,
        "last_seq": segment.last_seq,
        "max_time": segment.max_time,
        "marks": list(zip(segment.mark_seqs, segment.mark_offsets, strict=True)),
    }
    # Not fsynced: a missing or stale side file only means rescanning the segment on open.
    segment.path.with_suffix(".idx").write_text(json.dumps(info))
