"""The event log's small persistent state: how far the index got, and which events were purged.

A purge is recorded as a rule "events up to seq S older than T are gone" before any file is
deleted, so readers of the log, and an indexer re-running after a crash, skip purged events
still lying in a segment that also holds newer ones.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from trailhouse.durable import replace_file

_log = logging.getLogger(__name__)


class LogState:
    """`state.json`: the persisted indexed_seq, index format and purge rules, rewritten
    atomically. Without the file the index is taken to be in `unsaved_format`; a file saved
    without a format is format 1.
    """

    def __init__(self, path: Path, unsaved_format: int) -> None:
        self._path = path
        self._lock = threading.Lock()
        # True when the file could not be read: the index it describes cannot be trusted.
        self.damaged = False
        try:
            saved = _read(path)
        except FileNotFoundError:
            saved = {"index_format": unsaved_format}
        except ValueError as exc:
            # Only a damaged disk does this (the file is replaced whole, fsynced): keep it aside
            # for a look, and let the index be rebuilt. Purge rules it held are applied again
            # by the next purge.
            _log.error("%s cannot be read (%s); it is kept as %s.damaged", path, exc, path.name)
            os.replace(path, path.with_name(path.name + ".damaged"))
            saved = {"index_format": unsaved_format}
            self.damaged = True
        self._indexed_seq = int(saved.get("indexed_seq", 0))
        self._index_format = int(saved.get("index_format", 1))
        self._purges: list[tuple[int, int]] = [
            (int(cutoff), int(upto)) for cutoff, upto in saved.get("purges", [])
        ]

    @property
    def indexed_seq(self) -> int:
        """The seq up to which the index was durably built when last saved."""
        return self._indexed_seq

    @property
    def index_format(self) -> int:
        """The layout of the day files the index was built in."""
        return self._index_format

    @property
    def newest_purge(self) -> tuple[int, int] | None:
        """The latest purge rule (cutoff time, up to seq), to finish if a crash interrupted it."""
        return max(self._purges, default=None)

    @property
    def purged_upto(self) -> int:
        """The highest seq a purge rule covers: no event after it is ever hidden (0: none)."""
        return max((upto for _, upto in self._purges), default=0)

    def hidden(self, seq: int, event_time: int) -> bool:
        """True when a purge removed the event `seq` of this time."""
        return any(seq <= upto and event_time < cutoff for cutoff, upto in self._purges)

    def save_indexed(self, indexed_seq: int) -> None:
        """Record durable indexing progress."""
        with self._lock:
            self._save(indexed_seq, self._index_format, self._purges)
            self._indexed_seq = indexed_seq

    def restart_index(self, index_format: int) -> None:
        """Record durably that the index is empty and will be built in `index_format`."""
        with self._lock:
            self._save(0, index_format, self._purges)
            self._indexed_seq = 0
            self._index_format = index_format

    def set_format(self, index_format: int) -> None:
        """Record durably that the day files were brought up to `index_format` in place."""
        with self._lock:
            self._save(self._indexed_seq, index_format, self._purges)
            self._index_format = index_format

    def add_purge(self, older_than: int, upto_seq: int) -> None:
        """Record durably that events up to `upto_seq` older than `older_than` are gone."""
        with self._lock:
            # A newer rule with a later cutoff makes an older one redundant (the usual case).
            kept = [
                (cutoff, upto)
                for cutoff, upto in self._purges
                if not (cutoff <= older_than and upto <= upto_seq)
            ]
            kept.append((older_than, upto_seq))
            self._save(self._indexed_seq, self._index_format, kept)
            self._purges = kept

    def _save(self, indexed_seq: int, index_format: int, purges: list[tuple[int, int]]) -> None:
        """Replace the file; what is in memory changes only after this returned (a full disk
        leaves both the file and the state as they were)."""
        saved = {"indexed_seq": indexed_seq, "index_format": index_format, "purges": purges}
        content = json.dumps(saved).encode()
        replace_file(self._path, content, staged="state.staged", placed="state.saved")


def _read(path: Path) -> dict[str, Any]:
    """The saved state; ValueError when it is not what `_save` writes."""
    try:
        saved = json.loads(path.read_bytes())
        if not isinstance(saved, dict):
            raise ValueError("not a JSON object")
        int(saved.get("indexed_seq", 0))
        int(saved.get("index_format", 1))
        for cutoff, upto in saved.get("purges", []):
            int(cutoff), int(upto)
    except (TypeError, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)) from exc
    return saved
