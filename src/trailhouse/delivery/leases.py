"""Which delivery worker delivers which trail: leases in the metadata store, renewed and fenced.

Every process that delivers (`trailhouse serve` with delivery on, `trailhouse deliver`) is a
worker. It announces itself with a `delivery-worker` document it refreshes, and holds a
`delivery-lease` document per trail it delivers, renewed every third of `delivery_lease_seconds`.
A lease nobody renewed for `delivery_lease_seconds` is free: when a worker dies, the others
take its trails within about that long. A worker on the same host whose process is gone (a
restart after `kill -9`, the embedded server's usual case) is known dead at once, and its
leases are free at once. Each worker takes free leases up to its fair share
(the trails divided by the live workers, rounded up) and hands back what it holds beyond it,
so that a worker that joins gets work within a few renewals.

Fencing: a worker's delivery commit carries a check of its lease at the version it last wrote
(`DocumentWrite.check`). Taking a lease over writes it, so a worker that lost its lease (paused
past its expiry, say) cannot commit any more, whatever it believes. Exactly-once does not rest on
leases alone: a trail's delivery state is versioned too; leases keep workers from doing the same
work twice and bound how long a dead worker's trails wait.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace

from trailhouse.errors import VersionConflict
from trailhouse.store.documents import decode, encode
from trailhouse.store.ports import Document, DocumentWrite, MetadataStore
from trailhouse.trails.model import Trail

log = logging.getLogger(__name__)

LEASE_KIND = "delivery-lease"
WORKER_KIND = "delivery-worker"
# A worker document not refreshed for this many lease periods is deleted by the others.
_FORGET_WORKER_AFTER = 20

TrailKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Lease:
    """Who delivers a trail, until when (epoch ms). An empty owner is a lease handed back."""

    account_id: str
    trail_name: str
    owner: str
    expires_ms: int
    taken_ms: int


@dataclass(frozen=True, slots=True)
class Worker:
    """A delivery worker, as the others see it: alive while `seen_ms` is recent."""

    worker_id: str
    host: str
    pid: int
    started_ms: int
    seen_ms: int


def new_worker_id() -> str:
    """A worker id that says where the worker runs, unique across restarts."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def read_leases(metadata: MetadataStore) -> dict[TrailKey, Lease]:
    """Every trail's lease, held or not (for status pages and metrics)."""
    leases = (decode(Lease, d.body) for d in metadata.list_documents(LEASE_KIND))
    return {(lease.account_id, lease.trail_name): lease for lease in leases}


def read_lease(metadata: MetadataStore, trail: Trail) -> Lease | None:
    """The trail's lease (held, handed back or expired), or None before any worker took it."""
    document = metadata.get_document(LEASE_KIND, trail.account_id, trail.name)
    return decode(Lease, document.body) if document else None


def live_workers(metadata: MetadataStore, lease_seconds: float, now: float) -> list[Worker]:
    """The workers that refreshed their document within the last lease period."""
    workers = (decode(Worker, d.body) for d in metadata.list_documents(WORKER_KIND))
    return [w for w in workers if w.seen_ms > (now - lease_seconds) * 1000]


class DeliveryLeases:
    """The trails this worker holds, kept up to date by `refresh` at every delivery pass."""

    def __init__(
        self,
        metadata: MetadataStore,
        lease_seconds: float,
        worker_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._metadata = metadata
        self._lease_ms = int(lease_seconds * 1000)
        self.worker_id = worker_id or new_worker_id()
        self._clock = clock
        self._started_ms = int(clock() * 1000)
        self._held: dict[TrailKey, Document] = {}
        self._known: frozenset[TrailKey] = frozenset()
        self._next_refresh = 0.0
        # When the next lease held by another worker runs out, as of the last listing: a
        # look then (a listing, no writes) catches a dead worker's trails as they come free.
        self._next_expiry = math.inf

    def holds(self, trail: Trail) -> bool:
        """Whether this worker delivers `trail` (as of the last refresh)."""
        return (trail.account_id, trail.name) in self._held

    def held(self) -> frozenset[TrailKey]:
        """The trails this worker holds."""
        return frozenset(self._held)

    def fence(self, trail: Trail) -> DocumentWrite:
        """The check a delivery commit of `trail` carries: it fails once the lease is lost."""
        document = self._held.get((trail.account_id, trail.name))
        if document is None:
            raise VersionConflict(f"worker {self.worker_id} does not hold trail {trail.name}")
        return DocumentWrite.check(document)

    def refresh(self, trails: Iterable[Trail]) -> None:
        """Renew, take and hand back leases; cheap unless a renewal is due, trails changed, or
        another worker's lease may have run out."""
        keys = frozenset((t.account_id, t.name) for t in trails)
        now = self._clock()
        due = now >= self._next_refresh or keys != self._known
        if not due and now >= self._next_expiry:
            due = self._some_lease_free(now)
        if not due:
            return
        self._known = keys
        self._next_refresh = now + self._lease_ms / 3000
        now_ms = int(now * 1000)
        workers, dead = self._announce(now_ms)
        share = math.ceil(len(keys) / max(1, len(workers)))
        leases = {(d.scope, d.name): d for d in self._metadata.list_documents(LEASE_KIND)}
        self._watch_expiries(leases.values(), now)
        self._held = {
            k: d for k, d in leases.items() if decode(Lease, d.body).owner == self.worker_id
        }
        self._drop_gone(leases, keys)
        self._renew(now_ms, share)
        self._take(leases, keys, now_ms, share, dead)

    def _some_lease_free(self, now: float) -> bool:
        """Whether another worker's lease has run out or was handed back (one listing)."""
        leases = self._metadata.list_documents(LEASE_KIND)
        self._watch_expiries(leases, now)
        others = (decode(Lease, d.body) for d in leases)
        return any(_free(lease, now * 1000) for lease in others if lease.owner != self.worker_id)

    def _watch_expiries(self, leases: Iterable[Document], now: float) -> None:
        """Remember when the first lease held by another worker runs out: now, while one is
        free and untaken (another worker may be about to take it, or this one may need to)."""
        expiries = [
            max(now, lease.expires_ms / 1000) if lease.owner else now
            for lease in (decode(Lease, d.body) for d in leases)
            if lease.owner != self.worker_id
        ]
        self._next_expiry = min(expiries, default=math.inf)

    def release_all(self) -> None:
        """Hand every lease back (a worker stopping cleanly), so others take them at once."""
        for key, document in list(self._held.items()):
            self._write(key, document, owner="", expires_ms=0)
        self._held.clear()
        self._known = frozenset()
        worker = self._metadata.get_document(WORKER_KIND, "", self.worker_id)
        if worker is not None:
            self._commit_quietly(
                [DocumentWrite(WORKER_KIND, "", self.worker_id, None, worker.version)]
            )

    def _announce(self, now_ms: int) -> tuple[list[Worker], set[str]]:
        """Refresh this worker's document; the live workers (this one included), and the ids
        of workers known dead (their process on this host is gone)."""
        me = Worker(self.worker_id, socket.gethostname(), os.getpid(), self._started_ms, now_ms)
        found = {d.name: d for d in self._metadata.list_documents(WORKER_KIND)}
        mine = found.get(self.worker_id)
        self._commit_quietly(
            [
                DocumentWrite(
                    WORKER_KIND, "", self.worker_id, encode(me), mine.version if mine else 0
                )
            ]
        )
        live, dead = [me], set()
        for name, document in found.items():
            worker = decode(Worker, document.body)
            if name == self.worker_id:
                continue
            if worker.host == me.host and not _process_exists(worker.pid):
                dead.add(name)
            elif worker.seen_ms > now_ms - self._lease_ms:  # its leases have not run out
                live.append(worker)
            elif worker.seen_ms < now_ms - _FORGET_WORKER_AFTER * self._lease_ms:
                self._commit_quietly([DocumentWrite(WORKER_KIND, "", name, None, document.version)])
        return live, dead

    def _drop_gone(self, leases: dict[TrailKey, Document], trails: frozenset[TrailKey]) -> None:
        """Delete the leases of trails that no longer exist (any worker may)."""
        for key, document in leases.items():
            if key not in trails:
                self._commit_quietly([DocumentWrite(LEASE_KIND, *key, None, document.version)])
                self._held.pop(key, None)

    def _renew(self, now_ms: int, share: int) -> None:
        """Extend the leases held, and hand back those beyond this worker's share."""
        keep = sorted(self._held, key=self._preference)
        for key in keep[share:]:
            log.info("worker %s hands trail %s/%s back", self.worker_id, *key)
            self._write(key, self._held.pop(key), owner="", expires_ms=0)
        for key in keep[:share]:
            renewed = self._write(
                key, self._held[key], owner=self.worker_id, expires_ms=now_ms + self._lease_ms
            )
            if renewed is None:
                del self._held[key]  # taken over while this worker was away
            else:
                self._held[key] = renewed

    def _take(
        self,
        leases: dict[TrailKey, Document],
        trails: frozenset[TrailKey],
        now_ms: int,
        share: int,
        dead: set[str],
    ) -> None:
        """Take free leases (none yet, handed back, expired, or a dead worker's) up to this
        worker's share."""
        for key in sorted(trails - set(self._held), key=self._preference):
            if len(self._held) >= share:
                return
            document = leases.get(key)
            lease = decode(Lease, document.body) if document else None
            if lease is not None and not _free(lease, now_ms, dead):
                continue
            taken = self._write(
                key,
                document,
                owner=self.worker_id,
                expires_ms=now_ms + self._lease_ms,
                now_ms=now_ms,
            )
            if taken is not None:
                if lease is not None and lease.owner:
                    log.info(
                        "worker %s took trail %s/%s over from %s", self.worker_id, *key, lease.owner
                    )
                self._held[key] = taken

    def _preference(self, key: TrailKey) -> bytes:
        """An order of trails particular to this worker, so workers taking at once differ."""
        return hashlib.blake2b(
            f"{self.worker_id}/{key[0]}/{key[1]}".encode(), digest_size=8
        ).digest()

    def _write(
        self,
        key: TrailKey,
        document: Document | None,
        *,
        owner: str,
        expires_ms: int,
        now_ms: int = 0,
    ) -> Document | None:
        """Write the lease over `document`; the new document, or None when it had changed."""
        before = decode(Lease, document.body) if document else None
        if before is not None and before.owner == owner:
            lease = replace(before, expires_ms=expires_ms)
        else:
            lease = Lease(key[0], key[1], owner, expires_ms, now_ms)
        body = encode(lease)
        version = document.version if document else 0
        if not self._commit_quietly([DocumentWrite(LEASE_KIND, *key, body, version)]):
            return None
        return Document(LEASE_KIND, key[0], key[1], body, version + 1)

    def _commit_quietly(self, writes: list[DocumentWrite]) -> bool:
        """Commit; False when another worker changed a document first."""
        try:
            self._metadata.commit(writes)
        except VersionConflict:
            return False
        return True


def _free(lease: Lease, now_ms: float, dead: Collection[str] = ()) -> bool:
    """Whether a lease may be taken: handed back, run out, or held by a worker known dead."""
    return not lease.owner or lease.owner in dead or lease.expires_ms <= now_ms


def _process_exists(pid: int) -> bool:
    """Whether a process with this id runs on this host (signal 0 checks without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True
