"""The storage ports: what services need from a store, whichever adapter provides it.

Two ports, each with a SQLite adapter (the embedded default) and a PostgreSQL adapter: the
`EventLog` (the sequenced source of truth for events, and the 90-day searchable history) and the
`MetadataStore` (accounts, RAM users, access keys and signature nonces). `tests/contract/` runs
one behaviour suite over every adapter.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from trailhouse.errors import VersionConflict
from trailhouse.events.model import (
    Direction,
    EventRecord,
    LoggedEvent,
    LookupPage,
    LookupQuery,
)


class PrincipalKind:
    """Who an access key speaks for (plain string constants, stored as text). Services and
    edges import it from `trailhouse.iam.principals`."""

    ROOT = "root-account"
    RAM_USER = "ram-user"
    SERVICE = "service"


class KeyStatus:
    """Whether an access key signs requests: RAM's two states, stored as text."""

    ACTIVE = "Active"
    INACTIVE = "Inactive"


# `pending_after` counts no further: a delivery backlog is reported as at least this much.
PENDING_CAP = 100_000

# Events per lookup page when `count_by_day` counts by paging.
_COUNT_PAGE = 1000


class EventLog(abc.ABC):
    """The sequenced, durable log of every accepted event, and its searchable history.

    Every appended event gets a sequence number `seq`, strictly increasing in commit order: a
    reader that follows `seq` with `read_after` never skips an event, even under concurrent
    writers. Events are unique per (account_id, event_id); appending a duplicate is a no-op.
    """

    @abc.abstractmethod
    def append(self, records: Sequence[EventRecord]) -> list[bool]:
        """Append `records` durably; True for each one stored, False for each duplicate.

        When this returns, the stored events survive a crash. A batch may hold duplicates of
        itself; the first copy wins.
        """

    @abc.abstractmethod
    def recorders(self, records: Sequence[EventRecord]) -> list[str | None]:
        """Who recorded the stored event each of `records` is a duplicate of (its `recorder`,
        "" when unknown), or None where nothing is stored under its (account_id, event_id).

        Asked only about the duplicates an `append` reported, so it may be slower than one.
        """

    @abc.abstractmethod
    def read_after(self, seq: int, limit: int) -> list[LoggedEvent]:
        """Up to `limit` events with a sequence number above `seq`, in sequence order."""

    @abc.abstractmethod
    def last_seq(self) -> int:
        """The highest committed sequence number (0 for an empty log): no event committed
        later gets one at or below it."""

    def pending_after(self, seq: int, cap: int = PENDING_CAP, up_to: int | None = None) -> int:
        """How many events lie above `seq` up to `last_seq()` (and up to `up_to` when given),
        at most `cap`. This default suits a log whose seqs are dense; an adapter with sparse
        seqs counts."""
        end = self.last_seq() if up_to is None else min(up_to, self.last_seq())
        return min(cap, max(0, end - seq))

    @abc.abstractmethod
    def lookup(self, query: LookupQuery) -> LookupPage:
        """One page of an account's history matching `query` (all conditions ANDed)."""

    def count_by_day(self, account_id: str, start: int, end: int) -> dict[int, int]:
        """How many of the account's searchable events have an event_time from `start` to `end`
        (inclusive), per UTC day: the day's first second → its count, days without events
        left out. This default pages through `lookup`; an adapter may count in its index."""
        counts: dict[int, int] = {}
        after = None
        while True:
            page = self.lookup(
                LookupQuery(account_id, start, end, Direction.FORWARD, (), _COUNT_PAGE, after)
            )
            for event in page.events:
                day = event.event_time - event.event_time % 86400
                counts[day] = counts.get(day, 0) + 1
            if page.next_position is None:
                return counts
            after = page.next_position

    @abc.abstractmethod
    def catch_up(self, timeout: float = 10.0) -> bool:
        """Block until every appended event is searchable by `lookup`; False on timeout.

        Adapters that index behind the log make events searchable a moment after `append`
        returns; this lets tests, the demo and benchmarks wait for that moment.
        """

    @abc.abstractmethod
    def purge(self, older_than: int) -> int:
        """Delete events whose event_time is before `older_than`; return how many went."""

    @abc.abstractmethod
    def stats(self) -> LogStats:
        """Counts and sizes, for status pages and benchmarks."""

    @abc.abstractmethod
    def close(self) -> None:
        """Finish pending work and release files and connections; idempotent."""


@dataclass(frozen=True, slots=True)
class LogStats:
    """What an event log holds right now."""

    events: int
    last_seq: int
    indexed_seq: int
    bytes_on_disk: int
    # The embedded log's unindexed tail: events it let go before the index reached them
    # (LookupEvents finds them only once indexed), and the seconds PutEvents waited for room.
    let_go: int = 0
    index_wait_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Account:
    """A tenant: every event, user and key belongs to one account."""

    account_id: str
    created_at: int


@dataclass(frozen=True, slots=True)
class RamUser:
    """A RAM user of an account, with a numeric principal id like ActionTrail's."""

    account_id: str
    user_name: str
    user_id: str
    created_at: int


@dataclass(frozen=True, slots=True)
class AccessKey:
    """An AccessKey pair and the principal it authenticates.

    `account_id` is the owning account (empty for a service key, which may record events for
    any account); `name` is the RAM user name or the service name. Only an `Active` key signs
    requests; an `Inactive` one is kept, and can be made active again.
    """

    access_key_id: str
    secret: str
    kind: str
    account_id: str
    name: str
    principal_id: str
    created_at: int
    status: str = KeyStatus.ACTIVE

    @property
    def active(self) -> bool:
        """True when the key may sign requests."""
        return self.status == KeyStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class Document:
    """A versioned JSON document of the control plane (a trail, a role, an organization…).

    Documents are addressed by (kind, scope, name): the scope is usually the owning account,
    the name the entity's key. `version` starts at 1 and grows by one with every write.
    """

    kind: str
    scope: str
    name: str
    body: bytes
    version: int


@dataclass(frozen=True, slots=True)
class DocumentWrite:
    """One write of an all-or-nothing commit.

    `expected_version` is 0 for "must not exist yet", else the version the writer read; `body`
    None deletes the document. A `check_only` write changes nothing: it only makes the commit
    fail unless the document is still at `expected_version` (a fencing token, such as the
    delivery lease a worker must still hold when it commits).
    """

    kind: str
    scope: str
    name: str
    body: bytes | None
    expected_version: int
    check_only: bool = False

    @classmethod
    def check(cls, document: Document) -> DocumentWrite:
        """A write that only requires `document` to be unchanged when the commit applies."""
        return cls(document.kind, document.scope, document.name, None, document.version, True)

    def conflict(self, found: int | None) -> VersionConflict:
        """The error refusing this write: its document, the version expected and the one found
        (0 when the document does not exist, None when it appeared concurrently)."""
        expected = (
            "expected no document"
            if self.expected_version == 0
            else f"expected version {self.expected_version}"
        )
        if found is None:
            seen = "found one created concurrently"
        elif found == 0:
            seen = "found none"
        else:
            seen = f"found version {found}"
        return VersionConflict(
            f"document {self.kind}/{self.scope}/{self.name} changed: {expected}, {seen}"
        )


# Adapters store access keys in these columns, in this order: a row is `astuple(key)` and a
# key is `AccessKey(*row)`, so the columns follow the dataclass rather than a copy of it.
ACCESS_KEY_COLUMNS = ", ".join(field.name for field in dataclasses.fields(AccessKey))


class MetadataStore(abc.ABC):
    """Accounts, RAM users, access keys, nonces, and the control plane's documents."""

    @abc.abstractmethod
    def create_account(self, account: Account) -> None:
        """Store a new account; ConflictError when its id exists."""

    @abc.abstractmethod
    def get_account(self, account_id: str) -> Account | None:
        """The account with this id, or None."""

    @abc.abstractmethod
    def list_accounts(self) -> list[Account]:
        """Every account, ordered by id."""

    @abc.abstractmethod
    def create_user(self, user: RamUser) -> None:
        """Store a new RAM user; ConflictError when the name exists in the account."""

    @abc.abstractmethod
    def get_user(self, account_id: str, user_name: str) -> RamUser | None:
        """The RAM user of this name in this account, or None."""

    @abc.abstractmethod
    def create_access_key(self, key: AccessKey) -> None:
        """Store a new access key; ConflictError when its id exists."""

    @abc.abstractmethod
    def get_access_key(self, access_key_id: str) -> AccessKey | None:
        """The access key with this id, or None."""

    @abc.abstractmethod
    def list_access_keys(self, account_id: str) -> list[AccessKey]:
        """Every access key of an account (root and RAM users), ordered by id."""

    @abc.abstractmethod
    def set_access_key_status(self, access_key_id: str, status: str) -> bool:
        """Set a key's status (a `KeyStatus`); False when there is no such key.

        Every process sharing the store sees the new status on its next read.
        """

    @abc.abstractmethod
    def delete_access_key(self, access_key_id: str) -> bool:
        """Delete a key for good; False when there was no such key."""

    @abc.abstractmethod
    def use_nonce(self, nonce: str, expires_at: int) -> bool:
        """Record a signature nonce; False when it was already used and has not expired."""

    @abc.abstractmethod
    def take_token(self, bucket: str, rate: float, burst: float) -> float:
        """Take one token from a token bucket shared by every process of the store.

        The bucket refills at `rate` tokens per second up to `burst`, and starts full. Returns
        0.0 when a token was taken, else the seconds until one will be there (nothing taken).
        """

    @abc.abstractmethod
    def get_document(self, kind: str, scope: str, name: str) -> Document | None:
        """The document at this address, or None."""

    @abc.abstractmethod
    def list_documents(self, kind: str, scope: str | None = None) -> list[Document]:
        """Documents of a kind (within one scope, or all), ordered by scope, then name."""

    @abc.abstractmethod
    def commit(self, writes: Sequence[DocumentWrite]) -> None:
        """Apply every write or none: VersionConflict when any expected_version is stale.

        This is the control plane's only transaction: a service reads what it needs, decides,
        and commits its writes with the versions it read, retrying on conflict.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections; idempotent."""


def seconds_to_token(tokens: float, updated: float, now: float, rate: float, burst: float) -> float:
    """How long until a bucket last left with `tokens` at `updated` holds one token again."""
    held = min(burst, tokens + max(0.0, now - updated) * rate)
    return max(0.0, (1.0 - held) / rate) if rate > 0 else float("inf")
