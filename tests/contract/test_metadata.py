"""The MetadataStore contract: accounts, RAM users, access keys and nonces, on every adapter."""

from __future__ import annotations

import dataclasses
import time

import pytest
from records import ACCOUNT, OTHER_ACCOUNT

from trailhouse.errors import ConflictError
from trailhouse.settings import Settings
from trailhouse.store import Stores, open_metadata, open_stores
from trailhouse.store.ports import AccessKey, Account, KeyStatus, PrincipalKind, RamUser

CREATED = 1740787200


def alice(account_id: str = ACCOUNT) -> RamUser:
    return RamUser(account_id, "alice", "203785812345678901", CREATED)


def alice_key(access_key_id: str = "LTAI5tAliceKey0000001") -> AccessKey:
    return AccessKey(
        access_key_id=access_key_id,
        secret="wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
        kind=PrincipalKind.RAM_USER,
        account_id=ACCOUNT,
        name="alice",
        principal_id="203785812345678901",
        created_at=CREATED,
    )


def test_accounts_are_created_read_and_listed(stores: Stores) -> None:
    assert stores.metadata.get_account(ACCOUNT) is None
    assert stores.metadata.list_accounts() == []
    stores.metadata.create_account(Account(OTHER_ACCOUNT, CREATED + 1))
    stores.metadata.create_account(Account(ACCOUNT, CREATED))
    assert stores.metadata.get_account(ACCOUNT) == Account(ACCOUNT, CREATED)
    assert stores.metadata.list_accounts() == [
        Account(ACCOUNT, CREATED),
        Account(OTHER_ACCOUNT, CREATED + 1),
    ]


def test_duplicate_account_conflicts(stores: Stores) -> None:
    stores.metadata.create_account(Account(ACCOUNT, CREATED))
    with pytest.raises(ConflictError):
        stores.metadata.create_account(Account(ACCOUNT, CREATED + 5))
    assert stores.metadata.get_account(ACCOUNT) == Account(ACCOUNT, CREATED)


def test_users_are_unique_per_account(stores: Stores) -> None:
    stores.metadata.create_account(Account(ACCOUNT, CREATED))
    stores.metadata.create_account(Account(OTHER_ACCOUNT, CREATED))
    stores.metadata.create_user(alice())
    assert stores.metadata.get_user(ACCOUNT, "alice") == alice()
    assert stores.metadata.get_user(ACCOUNT, "bob") is None
    assert stores.metadata.get_user(OTHER_ACCOUNT, "alice") is None
    with pytest.raises(ConflictError):
        stores.metadata.create_user(RamUser(ACCOUNT, "alice", "203785899999999999", CREATED))
    twin = RamUser(OTHER_ACCOUNT, "alice", "203785800000000002", CREATED)
    stores.metadata.create_user(twin)
    assert stores.metadata.get_user(OTHER_ACCOUNT, "alice") == twin
    assert stores.metadata.get_user(ACCOUNT, "alice") == alice()


def test_access_keys_are_created_read_and_unique(stores: Stores) -> None:
    assert stores.metadata.get_access_key("LTAI5tAliceKey0000001") is None
    stores.metadata.create_access_key(alice_key())
    assert stores.metadata.get_access_key("LTAI5tAliceKey0000001") == alice_key()
    with pytest.raises(ConflictError):
        stores.metadata.create_access_key(alice_key())
    service = AccessKey(
        access_key_id="LTAI5tServiceKey00003",
        secret="c2VydmljZS1zZWNyZXQtZm9yLXRlc3Rz",
        kind=PrincipalKind.SERVICE,
        account_id="",
        name="Ecs",
        principal_id="ecs.aliyuncs.com",
        created_at=CREATED,
    )
    stores.metadata.create_access_key(service)
    assert stores.metadata.get_access_key(service.access_key_id) == service


def test_metadata_survives_close_and_reopen(stores: Stores, store_settings: Settings) -> None:
    stores.metadata.create_account(Account(ACCOUNT, CREATED))
    stores.metadata.create_user(alice())
    stores.metadata.create_access_key(alice_key())
    assert stores.metadata.use_nonce("survivor", int(time.time()) + 900)
    stores.close()
    reopened = open_stores(store_settings)
    try:
        assert reopened.metadata.get_account(ACCOUNT) == Account(ACCOUNT, CREATED)
        assert reopened.metadata.get_user(ACCOUNT, "alice") == alice()
        assert reopened.metadata.get_access_key(alice_key().access_key_id) == alice_key()
        assert not reopened.metadata.use_nonce("survivor", int(time.time()) + 900)
    finally:
        reopened.close()


def test_a_nonce_is_refused_until_it_expires(stores: Stores) -> None:
    now = int(time.time())
    assert stores.metadata.use_nonce("3f1c6a9e-5b7d-4e21-9a0c-1d2e3f4a5b6c", now + 900)
    assert not stores.metadata.use_nonce("3f1c6a9e-5b7d-4e21-9a0c-1d2e3f4a5b6c", now + 900)
    assert stores.metadata.use_nonce("7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a", now + 900)


def test_an_expired_nonce_is_accepted_again(stores: Stores) -> None:
    now = int(time.time())
    assert stores.metadata.use_nonce("expired-nonce", now - 60)
    assert stores.metadata.use_nonce("expired-nonce", now + 900)
    assert not stores.metadata.use_nonce("expired-nonce", now + 900)


def test_a_token_bucket_allows_its_burst_then_says_how_long_to_wait(stores: Stores) -> None:
    metadata = stores.metadata
    assert [metadata.take_token("LookupEvents/a", 2.0, 2.0) for _ in range(2)] == [0.0, 0.0]
    wait = metadata.take_token("LookupEvents/a", 2.0, 2.0)
    assert 0.0 < wait <= 0.5  # one token comes back every half second
    assert metadata.take_token("LookupEvents/b", 2.0, 2.0) == 0.0  # each bucket is its own
    time.sleep(wait + 0.05)
    assert metadata.take_token("LookupEvents/a", 2.0, 2.0) == 0.0
    assert metadata.take_token("LookupEvents/a", 2.0, 2.0) > 0.0


def test_a_token_bucket_is_shared_by_every_process_of_the_store(
    stores: Stores, store_settings: Settings
) -> None:
    other = open_metadata(store_settings)  # what another process opens
    try:
        assert stores.metadata.take_token("shared", 1.0, 2.0) == 0.0
        assert other.take_token("shared", 1.0, 2.0) == 0.0
        assert stores.metadata.take_token("shared", 1.0, 2.0) > 0.0
        assert other.take_token("shared", 1.0, 2.0) > 0.0
    finally:
        other.close()


def test_access_keys_are_listed_per_account(stores: Stores) -> None:
    root = AccessKey(
        "LTAI5tRootKey00000000002", "root-secret", PrincipalKind.ROOT, ACCOUNT, "root", ACCOUNT,
        CREATED,
    )  # fmt: skip
    other = dataclasses.replace(alice_key("LTAI5tOtherKey0000000003"), account_id=OTHER_ACCOUNT)
    for key in (root, alice_key(), other):
        stores.metadata.create_access_key(key)
    assert stores.metadata.list_access_keys(ACCOUNT) == [alice_key(), root]
    assert stores.metadata.list_access_keys(OTHER_ACCOUNT) == [other]
    assert stores.metadata.list_access_keys("9999999999999999") == []


def test_a_key_is_disabled_and_enabled_and_every_process_sees_it_at_once(
    stores: Stores, store_settings: Settings
) -> None:
    stores.metadata.create_access_key(alice_key())
    other = open_metadata(store_settings)  # what another process opens
    try:
        assert other.get_access_key(alice_key().access_key_id) == alice_key()
        assert stores.metadata.set_access_key_status(alice_key().access_key_id, KeyStatus.INACTIVE)
        seen = other.get_access_key(alice_key().access_key_id)
        assert seen is not None and seen.status == KeyStatus.INACTIVE and not seen.active
        assert seen == dataclasses.replace(alice_key(), status=KeyStatus.INACTIVE)
        assert other.set_access_key_status(alice_key().access_key_id, KeyStatus.ACTIVE)
        assert stores.metadata.get_access_key(alice_key().access_key_id) == alice_key()
    finally:
        other.close()
    assert not stores.metadata.set_access_key_status("LTAI5tNoSuchKey000000009", "Inactive")


def test_a_deleted_key_is_gone_for_every_process(stores: Stores, store_settings: Settings) -> None:
    stores.metadata.create_access_key(alice_key())
    stores.metadata.create_access_key(alice_key("LTAI5tAliceKey0000000002"))
    other = open_metadata(store_settings)
    try:
        assert other.get_access_key(alice_key().access_key_id) is not None
        assert stores.metadata.delete_access_key(alice_key().access_key_id)
        assert other.get_access_key(alice_key().access_key_id) is None
        assert not other.delete_access_key(alice_key().access_key_id)
        assert [k.access_key_id for k in other.list_access_keys(ACCOUNT)] == [
            "LTAI5tAliceKey0000000002"
        ]
    finally:
        other.close()
