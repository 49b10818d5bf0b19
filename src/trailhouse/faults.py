"""Named crash points: every durable step of every writer calls `point(name)`, a no-op unless a
test armed that name to kill the process there or to fail it with a disk error.

The names in `POINTS` are the map of what can crash; `tests/compat/test_crash_points.py` kills a
real server at each one and checks that it starts again having lost and doubled nothing, and fails
the suite when a point has no case there. A process arms a point from `TRAILHOUSE_FAULT` when this
module is imported (`name`, `name@N` for its Nth hit, `name:enospc` or `name:eio` to raise that
error instead of killing); in-process tests call `arm`. This is the one module-level state of
trailhouse, on purpose: a hook must be reachable from any depth without threading a parameter
through every writer, and it costs one comparison when nothing is armed. A helper process that
writes for its server (the index process) arms itself from the same variable and calls
`kill_parent_too`, so that a kill there kills the server as if it had reached the point itself.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import threading
from dataclasses import dataclass

ENVIRONMENT = "TRAILHOUSE_FAULT"

# Each durable step, in data-path order, with what a crash right there would leave behind.
POINTS: dict[str, str] = {
    "log.segment.created": "a new segment file exists, empty, before the directory is fsynced",
    "log.append.written": "a group's frames are written to the segment but not fsynced",
    "log.append.synced": "a group is durable in the log, but no caller has its answer yet",
    "log.segment.sealed": "a full segment's side file is written, the next segment not created",
    "dictionary.staged": "a trained zstd dictionary is written to its temporary file",
    "index.day_file.staged": "a day's new index file has its tables, under its temporary name",
    "index.day_file.created": "a day's new index file is in place, before its first transaction",
    "index.transaction.committed": "a day file committed a batch that state.json does not count",
    "index.synced": "day files are checkpointed and fsynced, state.json not yet updated",
    "state.staged": "state.json's new content is in its temporary file, not yet renamed",
    "state.saved": "state.json is replaced, before its directory is fsynced",
    "index.rebuild.dropped": "an index in an old format is deleted, the restart not recorded",
    "index.recorder_column.added": "format-2 day files gained their recorder column, state.json "
    "not yet at format 3",
    "index.derived_rows.day_added": "one format-3 day file gained the rows of LookupEvents' "
    "derived keys, the other day files not yet",
    "index.derived_rows.added": "format-3 day files gained the rows of LookupEvents' derived "
    "keys, state.json not yet at format 4",
    "index.recent_tables.day_added": "one format-4 day file gained its recent tables and moved "
    "its id hashes from the index `events_id` into `event_ids`, the other day files not yet",
    "index.recent_tables.added": "format-4 day files gained their recent tables, state.json "
    "not yet at format 5",
    "purge.rule_saved": "a purge is recorded in state.json, no file deleted yet",
    "purge.day_dropped": "a purge deleted its first day file, the rest not yet",
    "purge.segments_dropped": "a purge deleted the day files, before deleting log segments",
    "warehouse.file.staged": "a batch's Parquet file is fsynced in the table's _staging folder",
    "warehouse.file.renamed": "a batch's file is in its partition folder, not in the manifest",
    "warehouse.manifest.committed": "a batch's files and trail checkpoint are committed",
    "warehouse.upload.block_staged": "an upload's block is fsynced under its temporary name in "
    "the table's _staging folder, not yet renamed nor in its session",
    "warehouse.job_files.placed": "a SQL write's or upload's files are renamed into their "
    "partition folder, not yet listed",
    "warehouse.job_write.committed": "a SQL write's or upload's files are listed with its marker, "
    "before the job or session is saved as finished",
    "compaction.staged": "a partition's merged file is fsynced in _staging",
    "compaction.renamed": "the merged file is in the partition folder, the swap not committed",
    "compaction.swapped": "the merged file replaced the small ones in the manifest",
    "compaction.swept": "the sweep deleted its first file that no manifest lists",
    "digest.staged": "a digest file is written under its temporary name",
    "digest.written": "a digest file is in place, before the trail's digest state is committed",
    "anchor.staged": "a trail's anchor file is written under its temporary name, not yet renamed",
    "migration.applied": "a metadata schema step ran, inside its transaction, before commit",
    "finding.committed": "a batch's findings are committed with their unrecorded markers, their "
    "events not yet appended to the log",
    "finding.recorded": "a finding's event is durable in the log, its unrecorded marker not yet "
    "dropped",
}


class FaultInjected(OSError):
    """The error an armed `point` raises in place of the disk's own (ENOSPC or EIO)."""


@dataclass(slots=True)
class _Armed:
    name: str
    action: str  # "kill", "enospc" or "eio"
    hits_left: int  # fire on the hit that brings this to 0
    fired: bool = False


_ACTIONS = ("kill", "enospc", "eio")
_lock = threading.Lock()
_armed: _Armed | None = None
_kill_parent = False


def kill_parent_too() -> None:
    """Make a kill in this (helper) process kill its parent, the server, first."""
    global _kill_parent
    _kill_parent = True


def arm(name: str, action: str = "kill", *, hit: int = 1) -> None:
    """Make the `hit`th call of `point(name)` kill this process or raise ENOSPC/EIO."""
    global _armed
    if name not in POINTS:
        raise ValueError(f"unknown fault point {name!r}; known: {', '.join(POINTS)}")
    if action not in _ACTIONS:
        raise ValueError(f"unknown fault action {action!r}; use one of {', '.join(_ACTIONS)}")
    if hit < 1:
        raise ValueError("a fault point fires on hit 1 or later")
    with _lock:
        _armed = _Armed(name, action, hit)


def disarm() -> None:
    """Make every point a no-op again."""
    global _armed
    with _lock:
        _armed = None


def fired() -> bool:
    """True once the armed point has fired (for tests that raise rather than kill)."""
    armed = _armed
    return armed is not None and armed.fired


def point(name: str) -> None:
    """A durable step named `name` is reached: do nothing, unless a test armed it."""
    armed = _armed
    if armed is None or armed.name != name:
        return
    with _lock:
        if armed.fired:
            return
        armed.hits_left -= 1
        if armed.hits_left > 0:
            return
        armed.fired = True
    if armed.action == "kill":
        sys.stderr.write(f"trailhouse fault: killed at {name}\n")
        sys.stderr.flush()
        if _kill_parent:
            os.kill(os.getppid(), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)
    code = errno.ENOSPC if armed.action == "enospc" else errno.EIO
    raise FaultInjected(code, f"{os.strerror(code)} (fault injected at {name})")


def parse(spec: str) -> tuple[str, str, int]:
    """`name[@N][:action]` as (name, action, hit)."""
    rest, _, action = spec.partition(":")
    name, _, hit = rest.partition("@")
    return name.strip(), (action.strip() or "kill"), int(hit) if hit else 1


def _arm_from_environment() -> None:
    spec = os.environ.get(ENVIRONMENT, "").strip()
    if spec:
        name, action, hit = parse(spec)
        arm(name, action, hit=hit)


_arm_from_environment()
