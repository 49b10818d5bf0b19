"""First-seen baselines of live evaluation, durable: per account, rule and key (e.g. an access
key), the values seen for it (e.g. its source addresses) and the eventTime it started learning.

A decision is made at once, in the request that carries the event; what it adds to a baseline
is written after the batch is evaluated, every baseline the batch changed in one commit, not
one commit per new value: the commit of the batch's findings (`take`, then `writes`), so a
value is never learnt without the finding it caused. The document is `{"since": <first eventTime>,
"values": [...]}` (a bare list, from before learning periods, has learned), the last
`MAX_SEEN_VALUES` values. Another process adding to the same baseline meanwhile is merged, not
overwritten. A baseline read is kept `READ_SECONDS`, so a key used from many new addresses
costs one read every few seconds, not one per address: a value another process added within
that time may be taken for new once more (two servers could already race within one batch).
"""

from __future__ import annotations

import threading
import time

import orjson

from trailhouse.store.ports import DocumentWrite, MetadataStore

SEEN_KIND = "detection-seen"
MAX_SEEN_VALUES = 1000
MAX_KNOWN = 200_000
READ_SECONDS = 5.0  # as long as an account's rules are cached (service.CACHE_SECONDS)
MAX_READ = 20_000  # baselines kept read at once


class FirstSeenBaselines:
    """The durable first-seen store `engine.Evaluator` asks (`__call__`), batching its writes."""

    def __init__(self, metadata: MetadataStore) -> None:
        self._metadata = metadata
        self._lock = threading.Lock()
        self._known: set[tuple[str, str, str]] = set()  # values known durable or pending
        # (account, baseline name) → (since, values to add), handed to the commit by `take`.
        self._pending: dict[tuple[str, str], tuple[int, list[str]]] = {}
        # (account, baseline name) → (when read, since, values): the stored baseline as read,
        # with what this process committed since.
        self._read: dict[tuple[str, str], tuple[float, int | None, set[str]]] = {}

    def __call__(
        self, account_id: str, rule_id: str, key: str, value: str, moment: int, learn: int
    ) -> bool | None:
        """True when `value` is new for `key` past its learning, None while the baseline
        learns (its first value, or within `learn` seconds of eventTime after it), False when
        it was seen."""
        name = f"{rule_id}/{key}"
        known = (account_id, name, value)
        with self._lock:
            if known in self._known:  # seen before by this process: no read needed
                return False
        since, values = self._stored(account_id, name)
        with self._lock:
            pending = self._pending.get((account_id, name))
            if pending is not None:
                since = pending[0] if since is None else min(since, pending[0])
            if len(self._known) >= MAX_KNOWN:
                self._known.clear()
            self._known.add(known)
            if value in values or (pending is not None and value in pending[1]):
                return False
            first = since is None
            start = moment if since is None else since
            self._pending[(account_id, name)] = (start, [*(pending[1] if pending else []), value])
        return None if first or moment < start + learn else True

    def _stored(self, account_id: str, name: str) -> tuple[int | None, set[str]]:
        """The stored baseline (since, values), read at most once every `READ_SECONDS`."""
        now = time.monotonic()
        with self._lock:
            read = self._read.get((account_id, name))
        if read is not None and now - read[0] < READ_SECONDS:
            return read[1], read[2]
        stored = self._metadata.get_document(SEEN_KIND, account_id, name)
        since, values = _baseline(stored.body) if stored is not None else (None, [])
        seen = set(values)
        with self._lock:
            if len(self._read) >= MAX_READ:
                self._read.clear()
            self._read[(account_id, name)] = (now, since, seen)
        return since, seen

    def take(self) -> dict[tuple[str, str], tuple[int, list[str]]]:
        """What the evaluated batches added, handed to the caller to commit (`writes`); the
        baselines as read count it from now on."""
        with self._lock:
            pending, self._pending = self._pending, {}
            for address, (since, added) in pending.items():
                read = self._read.get(address)
                if read is not None:
                    was = since if read[1] is None else min(read[1], since)
                    self._read[address] = (read[0], was, read[2] | set(added))
        return pending

    def writes(self, pending: dict[tuple[str, str], tuple[int, list[str]]]) -> list[DocumentWrite]:
        """The writes that add `pending` to the stored baselines, merged with what another
        process wrote (read now: a commit that conflicts reads them again)."""
        writes = []
        for (account_id, name), (since, added) in pending.items():
            stored = self._metadata.get_document(SEEN_KIND, account_id, name)
            was, values = _baseline(stored.body) if stored is not None else (since, [])
            merged = list(dict.fromkeys([*values, *added]))[-MAX_SEEN_VALUES:]
            body = orjson.dumps({"since": min(was, since), "values": merged})
            version = stored.version if stored is not None else 0
            writes.append(DocumentWrite(SEEN_KIND, account_id, name, body, version))
        return writes


def _baseline(body: bytes) -> tuple[int, list[str]]:
    """A first-seen baseline document: since when it learns, and its values."""
    stored = orjson.loads(body)
    if isinstance(stored, list):
        return 0, [str(v) for v in stored]
    return int(stored.get("since", 0)), [str(v) for v in stored.get("values", [])]
