"""Throttling console sign-ins, per source address and per AccessKey ID, and counting failures.

Brute force is slowed twice: every attempt takes a token from its source address's bucket (the
metadata store's rate buckets, as LookupEvents uses), and failed attempts for one AccessKey ID
are counted in a window that opens at its first failure; once the window holds
`console_signin_failures`, the key cannot sign in until the window ends. Unknown key IDs are
counted exactly like existing ones, so a refusal never tells whether a key exists.

The windows are control-plane documents, so every process sharing the store (PostgreSQL) sees
one count. They also carry what the audit trail needs: the console records a window's first
failure at once and its other failures and refusals as one event once the window has ended
(`ended`, then `settle`), so that an attacker cannot flood the trail. The console calls this
service (built by `trailhouse.runtime`), never the store behind it.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from trailhouse.errors import VersionConflict
from trailhouse.iam.principals import Caller
from trailhouse.store.documents import decode, encode
from trailhouse.store.ports import Document, DocumentWrite, MetadataStore

WINDOW_KIND = "console-signin-failures"
# A window is left alone this long after it ends before it is recorded and deleted, so that an
# attempt that read it while it was open has long committed its count.
SETTLE_GRACE_SECONDS = 30.0
# Key IDs are at most this long; longer ones are wrong pairs, counted only by their address.
MAX_KEY_ID_CHARS = 128
# How many distinct source addresses a window lists.
MAX_ADDRESSES = 10
# Writers of one window retry this often when another process wrote it first.
_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class SignInLimits:
    """Attempts per address per minute; failures per key per window; the window's length."""

    per_address_per_minute: int
    failures_per_key: int
    window_seconds: float


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an attempt is refused before its secret is checked, and when to try again."""

    reason: str  # "address" or "key"
    retry_after_seconds: int


@dataclass(frozen=True, slots=True)
class FailureWindow:
    """Failed sign-ins for one AccessKey ID, from the first failure for `window_seconds`.

    The principal fields are empty for a key ID that does not exist. `failures` counts wrong
    secrets (the first one included), `refused` the attempts refused while the key was locked.
    """

    access_key_id: str
    kind: str
    account_id: str
    name: str
    principal_id: str
    region: str
    opened_at: float
    ends_at: float
    failures: int
    refused: int
    last_at: float
    last_source_ip: str
    last_user_agent: str
    source_ips: tuple[str, ...]

    @property
    def caller(self) -> Caller | None:
        """The principal the key belongs to; None for a key ID that does not exist."""
        if not self.account_id:
            return None
        return Caller(self.access_key_id, self.kind, self.account_id, self.name, self.principal_id)


@dataclass(frozen=True, slots=True)
class EndedWindow:
    """A window past its end, to record and then `settle`; `key` names it in the store."""

    window: FailureWindow
    key: str


def address_bucket(source_ip: str) -> str:
    """The rate bucket of an address: itself for IPv4, its /64 for IPv6 (one host often holds
    a whole /64, so counting single IPv6 addresses would not limit it)."""
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return source_ip[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def key_scope(access_key_id: str) -> str:
    """The store scope of one key ID's windows (a digest: key IDs are whatever was typed)."""
    return hashlib.sha256(access_key_id.encode("utf-8")).hexdigest()[:40]


class SignInGuard:
    """Admits or refuses console sign-in attempts and counts the failed ones."""

    def __init__(
        self,
        metadata: MetadataStore,
        limits: SignInLimits,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._metadata = metadata
        self.limits = limits
        self._clock = clock

    def admit(self, access_key_id: str, source_ip: str) -> Refusal | None:
        """Take the attempt from its address's bucket, and check the key is not locked.

        A refusal for a locked key is counted in the key's window; None admits the attempt,
        whose secret the caller then checks.
        """
        per_minute = self.limits.per_address_per_minute
        if per_minute > 0:
            wait = self._metadata.take_token(
                f"console-signin/{address_bucket(source_ip)}", per_minute / 60.0, per_minute
            )
            if wait > 0:
                return Refusal("address", max(1, math.ceil(wait)))
        if self.limits.failures_per_key <= 0 or not _countable(access_key_id):
            return None
        for _ in range(_ATTEMPTS):
            now = self._clock()
            live = self._live(access_key_id, now)
            if sum(window.failures for _, window, _ in live) < self.limits.failures_per_key:
                return None
            name, window, version = live[-1]
            counted = replace(window, refused=window.refused + 1)
            if self._write(access_key_id, name, counted, version):
                return Refusal("key", max(1, math.ceil(max(w.ends_at for _, w, _ in live) - now)))
        return Refusal("key", max(1, math.ceil(self.limits.window_seconds)))

    def failed(
        self,
        access_key_id: str,
        caller: Caller | None,
        region: str,
        source_ip: str,
        user_agent: str,
    ) -> bool:
        """Count a wrong pair for `access_key_id` (`caller` None when the key does not exist).

        True when it opened a new window: that first failure is to be recorded at once, the
        window's later ones when it ends.
        """
        if not _countable(access_key_id):
            return caller is not None
        for _ in range(_ATTEMPTS):
            now = self._clock()
            live = self._live(access_key_id, now)
            if live:
                name, window, version = live[-1]
                addresses = window.source_ips
                if source_ip not in addresses and len(addresses) < MAX_ADDRESSES:
                    addresses = (*addresses, source_ip)
                counted = replace(
                    window,
                    failures=window.failures + 1,
                    last_at=now,
                    last_source_ip=source_ip,
                    last_user_agent=user_agent[:512],
                    source_ips=addresses,
                )
                if self._write(access_key_id, name, counted, version):
                    return False
                continue
            opened = FailureWindow(
                access_key_id=access_key_id,
                kind=caller.kind if caller else "",
                account_id=caller.account_id if caller else "",
                name=caller.name if caller else "",
                principal_id=caller.principal_id if caller else "",
                region=region,
                opened_at=now,
                ends_at=now + self.limits.window_seconds,
                failures=1,
                refused=0,
                last_at=now,
                last_source_ip=source_ip,
                last_user_agent=user_agent[:512],
                source_ips=(source_ip,),
            )
            if self._write(access_key_id, f"{int(now * 1000):015d}", opened, 0):
                return True
        return False  # counted by no window: other processes kept writing; theirs record it

    def ended(self, access_key_id: str | None = None) -> list[EndedWindow]:
        """Windows that ended over SETTLE_GRACE_SECONDS ago (of one key ID, or of all)."""
        if access_key_id is not None and not _countable(access_key_id):
            return []
        scope = None if access_key_id is None else key_scope(access_key_id)
        cutoff = self._clock() - SETTLE_GRACE_SECONDS
        found = []
        for document in self._metadata.list_documents(WINDOW_KIND, scope):
            window = decode(FailureWindow, document.body)
            if window.ends_at <= cutoff:
                found.append(EndedWindow(window, _address(document)))
        return found

    def settle(self, ended: EndedWindow) -> None:
        """Delete a recorded window (a no-op when another process settled it first)."""
        scope, _, name = ended.key.partition("/")
        document = self._metadata.get_document(WINDOW_KIND, scope, name)
        if document is None:
            return
        with contextlib.suppress(VersionConflict):  # settled meanwhile by another process
            self._metadata.commit([DocumentWrite(WINDOW_KIND, scope, name, None, document.version)])

    def _live(self, access_key_id: str, now: float) -> list[tuple[str, FailureWindow, int]]:
        """The key's open windows, oldest first (two only when processes raced to open one)."""
        documents = self._metadata.list_documents(WINDOW_KIND, key_scope(access_key_id))
        live = []
        for document in documents:
            window = decode(FailureWindow, document.body)
            if window.ends_at > now:
                live.append((document.name, window, document.version))
        return live

    def _write(self, access_key_id: str, name: str, window: FailureWindow, version: int) -> bool:
        write = DocumentWrite(WINDOW_KIND, key_scope(access_key_id), name, encode(window), version)
        try:
            self._metadata.commit([write])
        except VersionConflict:
            return False
        return True


def _countable(access_key_id: str) -> bool:
    return 0 < len(access_key_id) <= MAX_KEY_ID_CHARS


def _address(document: Document) -> str:
    return f"{document.scope}/{document.name}"
