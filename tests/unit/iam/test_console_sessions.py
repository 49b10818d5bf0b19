"""Console sessions in the metadata store: only the token's hash is kept, expiry is the
server's, sign-out ends a session for every process sharing the store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from trailhouse.iam.console_sessions import SESSION_KIND, SESSION_SCOPE, SessionStore, token_digest
from trailhouse.settings import Settings
from trailhouse.store import Stores, open_stores


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def stores(settings: Settings) -> Iterator[Stores]:
    opened = open_stores(settings)
    yield opened
    opened.close()


def test_a_session_is_stored_under_the_hash_of_its_token_only(stores: Stores) -> None:
    sessions = SessionStore(stores.metadata, 3600)
    token, session = sessions.create("LTAI5tKEY")
    documents = stores.metadata.list_documents(SESSION_KIND, SESSION_SCOPE)
    assert [d.name for d in documents] == [token_digest(token)]
    assert token.encode() not in documents[0].body
    assert sessions.find(token) == session
    assert session.access_key_id == "LTAI5tKEY"
    assert len(session.csrf_token) >= 32


def test_unknown_and_empty_tokens_find_nothing(stores: Stores) -> None:
    sessions = SessionStore(stores.metadata, 3600)
    sessions.create("LTAI5tKEY")
    assert sessions.find("") is None
    assert sessions.find("not-a-token") is None


def test_a_session_expires_on_the_server_clock_and_is_deleted(stores: Stores) -> None:
    clock = Clock()
    sessions = SessionStore(stores.metadata, 60, clock=clock)
    token, _ = sessions.create("LTAI5tKEY")
    clock.now += 59
    assert sessions.find(token) is not None
    clock.now += 1
    assert sessions.find(token) is None
    assert stores.metadata.list_documents(SESSION_KIND, SESSION_SCOPE) == []


def test_sign_out_ends_the_session_for_every_process_sharing_the_store(stores: Stores) -> None:
    here = SessionStore(stores.metadata, 3600)
    token, session = here.create("LTAI5tKEY")
    elsewhere = SessionStore(stores.metadata, 3600)  # another process reads the same documents
    assert elsewhere.find(token) == session
    elsewhere.end(token)
    assert here.find(token) is None
    here.end(token)  # ending twice is harmless


def test_sign_in_sweeps_expired_sessions(stores: Stores) -> None:
    clock = Clock()
    sessions = SessionStore(stores.metadata, 60, clock=clock)
    old, _ = sessions.create("LTAI5tOLD")
    clock.now += 30
    kept, _ = sessions.create("LTAI5tKEPT")
    clock.now += 45
    sessions.create("LTAI5tNEW")
    names = {d.name for d in stores.metadata.list_documents(SESSION_KIND, SESSION_SCOPE)}
    assert token_digest(old) not in names
    assert token_digest(kept) in names
    assert len(names) == 2
