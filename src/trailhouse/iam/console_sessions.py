"""Console sessions: server-side, kept as control-plane documents in the metadata store.

The console calls this service (built by `trailhouse.runtime`) and never the store behind it.

Any process sharing the store accepts a session, and signing out anywhere ends it everywhere.
The browser holds only a random token; the store keeps the token's SHA-256, so a copy of the
store cannot be replayed as a cookie. Expiry is checked here, whatever the cookie's Max-Age.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from trailhouse.errors import VersionConflict
from trailhouse.store.documents import decode, encode
from trailhouse.store.ports import DocumentWrite, MetadataStore

SESSION_KIND = "console-session"
SESSION_SCOPE = "console"


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A signed-in browser: whose key it acts with, its CSRF token and when it ends."""

    access_key_id: str
    csrf_token: str
    created_at: float
    expires_at: float


def token_digest(token: str) -> str:
    """The name a session is stored under: the SHA-256 of the cookie's token, in hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class SessionStore:
    """Creates, finds and ends console sessions."""

    def __init__(
        self,
        metadata: MetadataStore,
        lifetime_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._metadata = metadata
        self.lifetime_seconds = lifetime_seconds
        self._clock = clock

    def create(self, access_key_id: str) -> tuple[str, ConsoleSession]:
        """A new session for `access_key_id`: the cookie token (shown once) and the session."""
        self.sweep()
        now = self._clock()
        token = secrets.token_urlsafe(32)
        session = ConsoleSession(
            access_key_id=access_key_id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + self.lifetime_seconds,
        )
        self._metadata.commit(
            [DocumentWrite(SESSION_KIND, SESSION_SCOPE, token_digest(token), encode(session), 0)]
        )
        return token, session

    def find(self, token: str) -> ConsoleSession | None:
        """The live session of this token; None when there is none or it has expired."""
        if not token:
            return None
        document = self._metadata.get_document(SESSION_KIND, SESSION_SCOPE, token_digest(token))
        if document is None:
            return None
        session = decode(ConsoleSession, document.body)
        if session.expires_at <= self._clock():
            self._delete(document.name, document.version)
            return None
        return session

    def end(self, token: str) -> None:
        """Sign out: the session is gone for every process sharing the store."""
        if not token:
            return
        name = token_digest(token)
        document = self._metadata.get_document(SESSION_KIND, SESSION_SCOPE, name)
        if document is not None:
            self._delete(name, document.version)

    def end_for_key(self, access_key_id: str) -> int:
        """End every session signed in with this key (it was disabled or deleted); return how
        many ended. Sessions check their key at each request anyway; this makes the end final,
        so enabling the key again does not bring them back."""
        ended = 0
        for document in self._metadata.list_documents(SESSION_KIND, SESSION_SCOPE):
            if decode(ConsoleSession, document.body).access_key_id == access_key_id:
                ended += self._delete(document.name, document.version)
        return ended

    def sweep(self) -> int:
        """Delete every expired session; return how many went (run at each sign-in)."""
        now = self._clock()
        removed = 0
        for document in self._metadata.list_documents(SESSION_KIND, SESSION_SCOPE):
            if decode(ConsoleSession, document.body).expires_at <= now:
                removed += self._delete(document.name, document.version)
        return removed

    def _delete(self, name: str, version: int) -> int:
        try:
            self._metadata.commit([DocumentWrite(SESSION_KIND, SESSION_SCOPE, name, None, version)])
        except VersionConflict:  # another process ended or swept it first
            return 0
        return 1
