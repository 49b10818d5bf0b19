"""The control-plane document contract: versioned, all-or-nothing commits, on every adapter."""

from __future__ import annotations

import json
import threading

import pytest
from records import ACCOUNT, OTHER_ACCOUNT

from trailhouse.errors import VersionConflict
from trailhouse.settings import Settings
from trailhouse.store import Stores, open_metadata, open_stores
from trailhouse.store.ports import Document, DocumentWrite, MetadataStore

TRAIL = "trail"


def body(**fields: object) -> bytes:
    return json.dumps(fields, sort_keys=True, ensure_ascii=False).encode()


def put(
    name: str, expected: int, data: bytes | None, kind: str = TRAIL, scope: str = ACCOUNT
) -> DocumentWrite:
    return DocumentWrite(kind, scope, name, data, expected)


def test_a_document_is_created_and_read(stores: Stores) -> None:
    metadata = stores.metadata
    assert metadata.get_document(TRAIL, ACCOUNT, "audit") is None
    metadata.commit([put("audit", 0, body(bucket="logs", note="日志"))])
    assert metadata.get_document(TRAIL, ACCOUNT, "audit") == Document(
        TRAIL, ACCOUNT, "audit", body(bucket="logs", note="日志"), 1
    )
    # The address is all three parts: a neighbour in another scope or kind is not it.
    assert metadata.get_document(TRAIL, OTHER_ACCOUNT, "audit") is None
    assert metadata.get_document("role", ACCOUNT, "audit") is None


def test_an_update_with_the_read_version_bumps_it(stores: Stores) -> None:
    metadata = stores.metadata
    metadata.commit([put("audit", 0, body(v=1))])
    metadata.commit([put("audit", 1, body(v=2))])
    metadata.commit([put("audit", 2, body(v=3))])
    assert metadata.get_document(TRAIL, ACCOUNT, "audit") == Document(
        TRAIL, ACCOUNT, "audit", body(v=3), 3
    )


def test_a_stale_version_is_refused_and_nothing_is_written(stores: Stores) -> None:
    metadata = stores.metadata
    metadata.commit([put("audit", 0, body(v=1))])
    metadata.commit([put("audit", 1, body(v=2))])
    with pytest.raises(VersionConflict) as refused:
        metadata.commit([put("audit", 1, body(v="lost"))])
    message = str(refused.value)
    assert f"{TRAIL}/{ACCOUNT}/audit" in message
    assert "expected version 1" in message
    assert "found version 2" in message
    assert metadata.get_document(TRAIL, ACCOUNT, "audit") == Document(
        TRAIL, ACCOUNT, "audit", body(v=2), 2
    )


def test_updating_a_missing_document_is_refused(stores: Stores) -> None:
    with pytest.raises(VersionConflict, match="expected version 3, found none"):
        stores.metadata.commit([put("ghost", 3, body(v=4))])
    assert stores.metadata.get_document(TRAIL, ACCOUNT, "ghost") is None


def test_a_commit_with_one_stale_write_writes_nothing(stores: Stores) -> None:
    metadata = stores.metadata
    metadata.commit([put("kept", 0, body(v=1)), put("doomed", 0, body(v=1))])
    with pytest.raises(VersionConflict, match=f"{TRAIL}/{ACCOUNT}/kept"):
        metadata.commit(
            [
                put("fresh", 0, body(v=1)),
                put("doomed", 1, None),
                put("kept", 7, body(v=2)),  # only the last write is stale
            ]
        )
    assert metadata.get_document(TRAIL, ACCOUNT, "fresh") is None
    assert metadata.get_document(TRAIL, ACCOUNT, "doomed") == Document(
        TRAIL, ACCOUNT, "doomed", body(v=1), 1
    )
    assert metadata.get_document(TRAIL, ACCOUNT, "kept") == Document(
        TRAIL, ACCOUNT, "kept", body(v=1), 1
    )
    # The same commit with the right version applies all three writes.
    metadata.commit([put("fresh", 0, body(v=1)), put("doomed", 1, None), put("kept", 1, body(v=2))])
    assert [(d.name, d.version) for d in metadata.list_documents(TRAIL)] == [
        ("fresh", 1),
        ("kept", 2),
    ]


def test_a_check_only_write_fences_a_commit_and_changes_nothing(stores: Stores) -> None:
    metadata = stores.metadata
    metadata.commit([put("lease", 0, body(owner="a"), kind="lease")])
    lease = metadata.get_document("lease", ACCOUNT, "lease")
    assert lease is not None
    metadata.commit([put("audit", 0, body(v=1)), DocumentWrite.check(lease)])
    # The check left the lease as it was: same body, same version.
    assert metadata.get_document("lease", ACCOUNT, "lease") == lease
    # Once the lease moves on, a commit fenced by the old version writes nothing.
    metadata.commit([put("lease", 1, body(owner="b"), kind="lease")])
    with pytest.raises(VersionConflict, match=r"lease/.*expected version 1, found version 2"):
        metadata.commit([put("audit", 1, body(v=2)), DocumentWrite.check(lease)])
    assert metadata.get_document(TRAIL, ACCOUNT, "audit") == Document(
        TRAIL, ACCOUNT, "audit", body(v=1), 1
    )


def test_creating_an_existing_document_is_refused(stores: Stores) -> None:
    metadata = stores.metadata
    metadata.commit([put("audit", 0, body(owner="first"))])
    with pytest.raises(VersionConflict) as refused:
        metadata.commit([put("audit", 0, body(owner="second"))])
    message = str(refused.value)
    assert f"{TRAIL}/{ACCOUNT}/audit" in message
    assert "expected no document, found version 1" in message
    assert metadata.get_document(TRAIL, ACCOUNT, "audit") == Document(
        TRAIL, ACCOUNT, "audit", body(owner="first"), 1
    )


def test_a_document_is_deleted_at_its_version_only(stores: Stores) -> None:
    metadata = stores.metadata
    metadata.commit([put("audit", 0, body(v=1))])
    metadata.commit([put("audit", 1, body(v=2))])
    with pytest.raises(VersionConflict, match="expected version 1, found version 2"):
        metadata.commit([put("audit", 1, None)])
    assert metadata.get_document(TRAIL, ACCOUNT, "audit") is not None
    metadata.commit([put("audit", 2, None)])
    assert metadata.get_document(TRAIL, ACCOUNT, "audit") is None
    assert metadata.list_documents(TRAIL) == []
    with pytest.raises(VersionConflict, match="found none"):
        metadata.commit([put("audit", 2, None)])
    # A re-created document starts its history again.
    metadata.commit([put("audit", 0, body(v="again"))])
    assert metadata.get_document(TRAIL, ACCOUNT, "audit") == Document(
        TRAIL, ACCOUNT, "audit", body(v="again"), 1
    )


def test_documents_are_listed_by_kind_and_scope_in_order(stores: Stores) -> None:
    metadata = stores.metadata
    assert metadata.list_documents(TRAIL) == []
    # Byte order, whatever the database's locale: upper case before lower, '-' before letters.
    metadata.commit(
        [
            put("b", 0, body(n=1), scope=OTHER_ACCOUNT),
            put("ab", 0, body(n=2)),
            put("a-b", 0, body(n=3)),
            put("B", 0, body(n=4)),
            put("a", 0, body(n=5), scope=OTHER_ACCOUNT),
            put("a", 0, body(n=6), kind="role"),
        ]
    )
    everything = metadata.list_documents(TRAIL)
    assert ACCOUNT < OTHER_ACCOUNT
    assert [(d.scope, d.name) for d in everything] == [
        (ACCOUNT, "B"),
        (ACCOUNT, "a-b"),
        (ACCOUNT, "ab"),
        (OTHER_ACCOUNT, "a"),
        (OTHER_ACCOUNT, "b"),
    ]
    assert all(d.kind == TRAIL and d.version == 1 for d in everything)
    assert [d.name for d in metadata.list_documents(TRAIL, ACCOUNT)] == ["B", "a-b", "ab"]
    assert metadata.list_documents(TRAIL, OTHER_ACCOUNT) == [
        Document(TRAIL, OTHER_ACCOUNT, "a", body(n=5), 1),
        Document(TRAIL, OTHER_ACCOUNT, "b", body(n=1), 1),
    ]
    assert metadata.list_documents("role") == [Document("role", ACCOUNT, "a", body(n=6), 1)]
    assert metadata.list_documents("organization") == []
    assert metadata.list_documents(TRAIL, "no-such-account") == []


def test_documents_survive_close_and_reopen(stores: Stores, store_settings: Settings) -> None:
    stores.metadata.commit([put("audit", 0, body(v=1)), put("gone", 0, body(v=1))])
    stores.metadata.commit([put("audit", 1, body(v=2)), put("gone", 1, None)])
    stores.close()
    reopened = open_stores(store_settings)
    try:
        assert reopened.metadata.list_documents(TRAIL) == [
            Document(TRAIL, ACCOUNT, "audit", body(v=2), 2)
        ]
        reopened.metadata.commit([put("audit", 2, body(v=3))])
        assert reopened.metadata.get_document(TRAIL, ACCOUNT, "audit") == Document(
            TRAIL, ACCOUNT, "audit", body(v=3), 3
        )
    finally:
        reopened.close()


def increment(metadata: MetadataStore, times: int) -> int:
    """Add one to the shared counter `times` times, retrying each on conflict; the retries."""
    retries = 0
    done = 0
    while done < times:
        current = metadata.get_document("counter", ACCOUNT, "hits")
        assert current is not None
        value = json.loads(current.body)["value"]
        try:
            metadata.commit([put("hits", current.version, body(value=value + 1), "counter")])
        except VersionConflict:
            retries += 1
            assert retries < 100 * times, "no progress: every commit conflicts"
            continue
        done += 1
    return retries


def test_concurrent_read_modify_writes_lose_no_update(
    stores: Stores, store_settings: Settings
) -> None:
    stores.metadata.commit([put("hits", 0, body(value=0), "counter")])
    # Separate store instances, as separate processes would have. Only the metadata store: the
    # SQLite event log admits one opener per data directory.
    writers = [open_metadata(store_settings) for _ in range(4)]
    start = threading.Barrier(len(writers), timeout=30)
    retries: list[int] = []
    failures: list[BaseException] = []

    def work(metadata: MetadataStore) -> None:
        try:
            start.wait()
            retries.append(increment(metadata, 25))
        except BaseException as exc:  # reported below: a thread's exception is otherwise lost
            failures.append(exc)
            start.abort()  # release the other threads instead of leaving them waiting

    threads = [threading.Thread(target=work, args=(writer,)) for writer in writers]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        for writer in writers:
            writer.close()
    assert not failures, failures
    assert len(retries) == len(writers)
    final = stores.metadata.get_document("counter", ACCOUNT, "hits")
    assert final is not None
    assert json.loads(final.body) == {"value": 100}
    assert final.version == 101


def test_concurrent_creators_of_one_document_have_one_winner(store_settings: Settings) -> None:
    writers = [open_metadata(store_settings) for _ in range(4)]
    rounds = 10
    start = threading.Barrier(len(writers), timeout=30)
    wins: list[tuple[int, int]] = []
    conflicts: list[int] = []
    failures: list[BaseException] = []

    def work(index: int, metadata: MetadataStore) -> None:
        try:
            for round_ in range(rounds):
                start.wait()
                try:
                    metadata.commit([put(f"race-{round_}", 0, body(winner=index))])
                except VersionConflict:
                    conflicts.append(round_)
                else:
                    wins.append((round_, index))
        except BaseException as exc:  # reported below: a thread's exception is otherwise lost
            failures.append(exc)
            start.abort()  # release the other threads instead of leaving them waiting

    threads = [
        threading.Thread(target=work, args=(index, writer)) for index, writer in enumerate(writers)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not failures, failures
        assert sorted(round_ for round_, _ in wins) == list(range(rounds))
        assert len(conflicts) == rounds * (len(writers) - 1)
        for round_, index in wins:
            stored = writers[0].get_document(TRAIL, ACCOUNT, f"race-{round_}")
            assert stored == Document(TRAIL, ACCOUNT, f"race-{round_}", body(winner=index), 1)
    finally:
        for writer in writers:
            writer.close()
