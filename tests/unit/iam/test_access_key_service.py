"""Access keys as RAM manages them: whose keys a call reaches, disable, enable, delete, and that
no process keeps serving a key the store no longer holds as active."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from trailhouse.errors import (
    EntityNotExistUser,
    EntityNotExistUserAccessKey,
    InvalidAccessKeyIdInactive,
    InvalidAccessKeyIdNotFound,
    NoPermission,
    NotFoundError,
)
from trailhouse.iam.access_keys import AccessKeyService, KeyStatus
from trailhouse.iam.accounts import AccountService
from trailhouse.iam.console_sessions import SessionStore
from trailhouse.iam.permissions import require
from trailhouse.iam.roles import (
    FULL_ACCESS_POLICY,
    RAM_FULL_ACCESS_POLICY,
    RAM_READ_ONLY_POLICY,
    RoleService,
)
from trailhouse.settings import Settings
from trailhouse.store import open_metadata
from trailhouse.store.ports import MetadataStore

ACCOUNT = "1234567890123456"
OTHER = "6543210987654321"


@pytest.fixture
def metadata(settings: Settings) -> Iterator[MetadataStore]:
    store = open_metadata(settings)
    yield store
    store.close()


@pytest.fixture
def accounts(metadata: MetadataStore) -> AccountService:
    return AccountService(metadata)


@pytest.fixture
def sessions(metadata: MetadataStore) -> SessionStore:
    return SessionStore(metadata, 3600)


@pytest.fixture
def keys(metadata: MetadataStore, sessions: SessionStore) -> AccessKeyService:
    return AccessKeyService(metadata, sessions)


def test_a_disabled_key_is_refused_and_an_enabled_one_signs_again(
    accounts: AccountService, keys: AccessKeyService
) -> None:
    root = accounts.create_account(ACCOUNT)
    caller = accounts.caller_for(root.access_key_id)
    owner = keys.owner(caller, None)
    keys.set_status(root.access_key_id, KeyStatus.INACTIVE, owner)
    with pytest.raises(InvalidAccessKeyIdInactive, match="is disabled"):
        accounts.caller_for(root.access_key_id)
    assert accounts.active_caller(root.access_key_id) is None
    # The signature check still gets the secret: only its holder learns the key is disabled.
    request = accounts.request_key()
    assert request.secret_of(root.access_key_id) == root.access_key_secret
    with pytest.raises(InvalidAccessKeyIdInactive):
        request.caller(root.access_key_id)
    keys.set_status(root.access_key_id, KeyStatus.ACTIVE, owner)
    assert accounts.caller_for(root.access_key_id) == caller


def test_a_deleted_key_is_not_found(accounts: AccountService, keys: AccessKeyService) -> None:
    root = accounts.create_account(ACCOUNT)
    owner = keys.owner(accounts.caller_for(root.access_key_id), None)
    deleted = keys.delete(root.access_key_id, owner)  # its own signing key: RAM allows it
    assert deleted.access_key_id == root.access_key_id
    with pytest.raises(InvalidAccessKeyIdNotFound):
        accounts.caller_for(root.access_key_id)
    assert accounts.request_key().secret_of(root.access_key_id) is None
    with pytest.raises(EntityNotExistUserAccessKey):
        keys.delete(root.access_key_id, owner)


def test_a_change_made_by_another_process_holds_at_the_next_request(
    settings: Settings, accounts: AccountService
) -> None:
    """Keys are never cached: a server process sees what the admin process wrote."""
    root = accounts.create_account(ACCOUNT)
    assert accounts.caller_for(root.access_key_id).account_id == ACCOUNT  # read (and once cached)
    elsewhere = open_metadata(settings)  # another process sharing the store
    try:
        other_keys = AccessKeyService(elsewhere, SessionStore(elsewhere, 3600))
        other_keys.set_status(root.access_key_id, KeyStatus.INACTIVE)
        with pytest.raises(InvalidAccessKeyIdInactive):
            accounts.caller_for(root.access_key_id)
        other_keys.delete(root.access_key_id)
        with pytest.raises(InvalidAccessKeyIdNotFound):
            accounts.caller_for(root.access_key_id)
    finally:
        elsewhere.close()


def test_without_a_user_name_a_call_reaches_its_callers_own_keys(
    accounts: AccountService, keys: AccessKeyService
) -> None:
    root = accounts.create_account(ACCOUNT)
    second_root = accounts.create_key(ACCOUNT)
    alice = accounts.create_user(ACCOUNT, "alice")
    root_owner = keys.owner(accounts.caller_for(root.access_key_id), None)
    alice_owner = keys.owner(accounts.caller_for(alice.access_key_id), None)
    assert {k.access_key_id for k in keys.list_keys(root_owner)} == {
        root.access_key_id,
        second_root.access_key_id,
    }
    assert [k.access_key_id for k in keys.list_keys(alice_owner)] == [alice.access_key_id]
    # A user's call without UserName never reaches the root's keys, nor the root's a user's.
    with pytest.raises(EntityNotExistUserAccessKey):
        keys.set_status(root.access_key_id, KeyStatus.INACTIVE, alice_owner)
    with pytest.raises(EntityNotExistUserAccessKey):
        keys.delete(alice.access_key_id, root_owner)
    assert accounts.caller_for(root.access_key_id).kind == "root-account"


def test_a_user_name_reaches_that_users_keys_in_the_callers_account_only(
    accounts: AccountService, keys: AccessKeyService
) -> None:
    root = accounts.create_account(ACCOUNT)
    accounts.create_user(ACCOUNT, "alice")
    other_root = accounts.create_account(OTHER)
    other_alice = accounts.create_user(OTHER, "alice")  # same name, another account
    attacker = accounts.caller_for(root.access_key_id)
    owner = keys.owner(attacker, "alice")
    assert owner.account_id == ACCOUNT
    for victim in (other_alice.access_key_id, other_root.access_key_id):
        with pytest.raises(EntityNotExistUserAccessKey):
            keys.set_status(victim, KeyStatus.INACTIVE, owner)
        with pytest.raises(EntityNotExistUserAccessKey):
            keys.delete(victim, owner)
        with pytest.raises(EntityNotExistUserAccessKey):
            keys.delete(victim, keys.owner(attacker, None))
    assert accounts.caller_for(other_alice.access_key_id).account_id == OTHER
    assert accounts.caller_for(other_root.access_key_id).account_id == OTHER
    with pytest.raises(EntityNotExistUser):
        keys.owner(attacker, "mallory")


def test_a_user_named_root_does_not_reach_the_root_keys(
    accounts: AccountService, keys: AccessKeyService
) -> None:
    root = accounts.create_account(ACCOUNT)
    accounts.create_user(ACCOUNT, "root")
    caller = accounts.caller_for(root.access_key_id)
    with pytest.raises(EntityNotExistUserAccessKey):
        keys.delete(root.access_key_id, keys.owner(caller, "root"))


def test_disabling_or_deleting_a_key_ends_its_console_sessions(
    accounts: AccountService, keys: AccessKeyService, sessions: SessionStore
) -> None:
    root = accounts.create_account(ACCOUNT)
    alice = accounts.create_user(ACCOUNT, "alice")
    alice_token, _ = sessions.create(alice.access_key_id)
    root_token, _ = sessions.create(root.access_key_id)
    keys.set_status(alice.access_key_id, KeyStatus.INACTIVE)
    keys.set_status(alice.access_key_id, KeyStatus.ACTIVE)
    assert sessions.find(alice_token) is None  # enabling again does not bring it back
    assert sessions.find(root_token) is not None
    keys.delete(root.access_key_id)
    assert sessions.find(root_token) is None


def test_the_host_admin_reaches_any_key_and_is_told_of_unknown_ones(
    accounts: AccountService, keys: AccessKeyService
) -> None:
    service = accounts.create_service("billing")
    keys.set_status(service.access_key_id, KeyStatus.INACTIVE)
    with pytest.raises(InvalidAccessKeyIdInactive):
        accounts.caller_for(service.access_key_id)
    with pytest.raises(NotFoundError):
        keys.delete("LTAI5tNoSuchKey000000000")
    with pytest.raises(ValueError, match="Active, Inactive"):
        keys.set_status(service.access_key_id, "inactive")


def test_create_key_gives_an_account_or_user_a_new_key(accounts: AccountService) -> None:
    accounts.create_account(ACCOUNT)
    accounts.create_user(ACCOUNT, "alice")
    assert accounts.caller_for(accounts.create_key(ACCOUNT).access_key_id).kind == "root-account"
    alice = accounts.caller_for(accounts.create_key(ACCOUNT, "alice").access_key_id)
    assert (alice.kind, alice.name) == ("ram-user", "alice")
    with pytest.raises(NotFoundError):
        accounts.create_key(ACCOUNT, "bob")
    with pytest.raises(NotFoundError):
        accounts.create_key(OTHER)


@pytest.mark.parametrize(
    ("policy", "allowed"),
    [
        (None, set()),
        (FULL_ACCESS_POLICY, set()),  # ActionTrail's full access is not RAM's
        (RAM_READ_ONLY_POLICY, {"ram:ListAccessKeys"}),
        (
            RAM_FULL_ACCESS_POLICY,
            {"ram:ListAccessKeys", "ram:UpdateAccessKey", "ram:DeleteAccessKey"},
        ),
    ],
)
def test_a_ram_user_manages_keys_only_with_a_ram_policy(
    metadata: MetadataStore, accounts: AccountService, policy: str | None, allowed: set[str]
) -> None:
    roles = RoleService(metadata)
    accounts.create_account(ACCOUNT)
    alice = accounts.caller_for(accounts.create_user(ACCOUNT, "alice").access_key_id)
    if policy:
        roles.attach_user_policy(ACCOUNT, "alice", policy)
    for permission in ("ram:ListAccessKeys", "ram:UpdateAccessKey", "ram:DeleteAccessKey"):
        if permission in allowed:
            require(alice, permission, roles)
        else:
            with pytest.raises(NoPermission, match=f"not allowed {permission}; .*AliyunRAMFull"):
                require(alice, permission, roles)
    if policy == RAM_FULL_ACCESS_POLICY:  # and RAM's full access is not ActionTrail's
        with pytest.raises(NoPermission, match="actiontrail:CreateTrail"):
            require(alice, "CreateTrail", roles)
