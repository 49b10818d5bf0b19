"""zstd dictionaries for event bodies in PostgreSQL, shared by every process through a table.

Bodies are a row's largest part, and PostgreSQL compresses nothing under ~2 KB. zstd alone
shrinks a ~1.3 KB event only ~1.2-1.8x; a dictionary trained on the deployment's own events
shrinks it about 4x more (as in the SQLite store, `store/sqlite/compression.py`). The first
process to gather `TRAIN_AFTER` bodies trains dictionary 1 and inserts it into `zstd_dicts`
(committed before any body names it); a process that loses that race uses the winner's. Every
row names the dictionary it was compressed with (`events.dict_id`, 0: none), and a reader that
meets an id it has not loaded yet reads it from the table, so any body can always be read back.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, cast

import zstandard

from trailhouse.errors import StoreError
from trailhouse.store.postgres.pool import ConnectionPool

_log = logging.getLogger(__name__)

LEVEL = 3
TRAIN_AFTER = 2_000
_DICT_BYTES = 64 * 1024
NO_DICTIONARY = 0
_FIRST = 1


class Dictionaries:
    """Compressors and decompressors for every dictionary in `zstd_dicts`, thread-safe."""

    def __init__(self, pool: ConnectionPool, train_after: int = TRAIN_AFTER) -> None:
        self._pool = pool
        self._train_after = train_after
        self._lock = threading.Lock()
        self._dicts: dict[int, zstandard.ZstdCompressionDict] = {}
        self._samples: list[bytes] = []
        self._training: threading.Thread | None = None
        self._local = threading.local()  # zstandard's objects must not cross threads
        self._load()
        self._current = max(self._dicts, default=NO_DICTIONARY)

    def compress(self, bodies: list[bytes]) -> tuple[int, list[bytes]]:
        """`bodies` compressed with the current dictionary, and its id."""
        dict_id = self._current
        compressor = self._codec("compressors", dict_id)
        if len(bodies) < 2:
            return dict_id, [compressor.compress(body) for body in bodies]
        # One call for the batch: per-body calls each wait to retake the GIL under load.
        out = compressor.multi_compress_to_buffer(
            cast("list[bytes | bytearray | memoryview]", bodies)
        )
        return dict_id, [out[n].tobytes() for n in range(len(out))]

    def decompressor(self, dict_id: int) -> zstandard.ZstdDecompressor:
        """This thread's decompressor for bodies of dictionary `dict_id`."""
        if dict_id != NO_DICTIONARY and dict_id not in self._dicts:
            self._load()  # made by another process after this one started
        decompressor: zstandard.ZstdDecompressor = self._codec("decompressors", dict_id)
        return decompressor

    def offer(self, bodies: list[bytes]) -> None:
        """Keep `bodies` as training samples until there is a dictionary."""
        if self._current != NO_DICTIONARY or self._train_after <= 0:
            return
        with self._lock:
            if self._training is not None:
                return
            self._samples.extend(bodies[: 2 * self._train_after - len(self._samples)])
            if len(self._samples) < self._train_after:
                return
            samples, self._samples = self._samples, []
            self._training = threading.Thread(
                target=self._train, args=(samples,), name="zstd-dictionary", daemon=True
            )
            self._training.start()

    def join(self) -> None:
        """Wait for a training under way (tests and benchmarks)."""
        with self._lock:
            thread = self._training
        if thread is not None:
            thread.join()

    def _train(self, samples: list[bytes]) -> None:
        try:
            self._load()  # another process may have trained one since this one started
            if not self._dicts:
                trained = zstandard.train_dictionary(_DICT_BYTES, list[Any](samples), level=LEVEL)
                with self._pool.connection() as conn:
                    conn.execute(
                        "INSERT INTO zstd_dicts (id, dict) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                        (_FIRST, trained.as_bytes()),
                    )
                self._load()  # ours, or the one another process inserted first
        except (zstandard.ZstdError, StoreError) as exc:  # bodies compress without one meanwhile
            _log.warning("no compression dictionary from %d events: %s", len(samples), exc)
            with self._lock:
                self._train_after *= 2
                self._training = None
            return
        self._current = max(self._dicts, default=NO_DICTIONARY)

    def _load(self) -> None:
        with self._pool.connection() as conn:
            rows = conn.execute("SELECT id, dict FROM zstd_dicts").fetchall()
        with self._lock:
            for dict_id, data in rows:
                if int(dict_id) not in self._dicts:
                    self._dicts[int(dict_id)] = zstandard.ZstdCompressionDict(bytes(data))

    def _codec(self, kind: str, dict_id: int) -> Any:
        cache: dict[int, Any] | None = getattr(self._local, kind, None)
        if cache is None:
            cache = {}
            setattr(self._local, kind, cache)
        codec = cache.get(dict_id)
        if codec is None:
            data = self._dicts[dict_id] if dict_id != NO_DICTIONARY else None
            if kind == "compressors":
                codec = zstandard.ZstdCompressor(level=LEVEL, dict_data=data)
            else:
                codec = zstandard.ZstdDecompressor(dict_data=data)
            cache[dict_id] = codec
        return codec
