"""Accounts, RAM users and service keys: creating them and resolving the key behind a request.

A secret is returned once, by the call that creates it, and is never logged. Keys are read from
the store for every request, never cached: a key disabled or deleted by any process sharing the
store stops signing at the very next request (one primary-key read per request).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from trailhouse.errors import (
    ConflictError,
    InvalidAccessKeyIdInactive,
    InvalidAccessKeyIdNotFound,
    NotFoundError,
)
from trailhouse.iam.principals import (
    Caller,
    is_account_id,
    new_access_key_id,
    new_access_key_secret,
    new_account_id,
    new_principal_id,
)
from trailhouse.store.ports import AccessKey, Account, MetadataStore, PrincipalKind, RamUser

_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}\Z")
_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9_-]{1,63}\Z")


@dataclass(frozen=True, slots=True)
class Credentials:
    """A new AccessKey pair and whom it belongs to; the only place a secret is shown."""

    account_id: str
    access_key_id: str
    access_key_secret: str
    user_name: str | None = None
    service_name: str | None = None


class AccountService:
    """Creates accounts, RAM users and service keys, and finds the caller behind a key."""

    def __init__(self, metadata: MetadataStore) -> None:
        self._metadata = metadata

    def create_account(self, account_id: str | None = None) -> Credentials:
        """Create an account (a random 16-digit id unless given) and its root access key."""
        account_id = account_id or new_account_id()
        if not is_account_id(account_id):
            raise ValueError(f"account id {account_id!r} must be exactly 16 digits")
        now = int(time.time())
        self._metadata.create_account(Account(account_id, now))
        return self._new_key(PrincipalKind.ROOT, account_id, "root", account_id)

    def create_user(self, account_id: str, user_name: str) -> Credentials:
        """Create a RAM user in an existing account, with its own access key."""
        if not _USER_NAME.match(user_name):
            raise ValueError(
                f"user name {user_name!r} must be 1-64 letters, digits, '.', '_', '@' or '-', "
                "starting with a letter or digit"
            )
        self.require_account(account_id)
        user = RamUser(account_id, user_name, new_principal_id(), int(time.time()))
        self._metadata.create_user(user)
        return self._new_key(PrincipalKind.RAM_USER, account_id, user_name, user.user_id)

    def create_service(self, name: str) -> Credentials:
        """Create a service key, which may record events for any account it names."""
        if not _SERVICE_NAME.match(name):
            raise ValueError(
                f"service name {name!r} must be 2-64 lowercase letters, digits, '_' or '-', "
                "starting with a letter"
            )
        return self._new_key(PrincipalKind.SERVICE, "", name, f"service:{name}")

    def require_account(self, account_id: str) -> Account:
        """The account with this id; NotFoundError when there is none."""
        account = self._metadata.get_account(account_id)
        if account is None:
            raise NotFoundError(f"account {account_id} does not exist")
        return account

    def account_exists(self, account_id: str) -> bool:
        """True when an account with this id exists."""
        return self._metadata.get_account(account_id) is not None

    def find_user(self, account_id: str, user_name: str) -> RamUser | None:
        """The RAM user of this name in the account, or None."""
        return self._metadata.get_user(account_id, user_name)

    def list_accounts(self) -> list[Account]:
        """Every account."""
        return self._metadata.list_accounts()

    def find_key(self, access_key_id: str) -> AccessKey | None:
        """The access key with this id as the store holds it now (any status), or None."""
        return self._metadata.get_access_key(access_key_id)

    def request_key(self) -> RequestKey:
        """The signing key of one request, to be read once by its signature check."""
        return RequestKey(self)

    def caller_for(self, access_key_id: str) -> Caller:
        """The caller an active key authenticates; InvalidAccessKeyId.NotFound or .Inactive."""
        return caller_of(self.find_key(access_key_id), access_key_id)

    def active_caller(self, access_key_id: str) -> Caller | None:
        """The caller an active key authenticates, or None for a deleted or disabled key."""
        key = self.find_key(access_key_id)
        return Caller.from_key(key) if key is not None and key.active else None

    def create_key(self, account_id: str, user_name: str | None = None) -> Credentials:
        """A new key for the account's root, or for one of its RAM users (host administration:
        how an account whose keys were all deleted gets one again)."""
        self.require_account(account_id)
        if user_name is None:
            return self._new_key(PrincipalKind.ROOT, account_id, "root", account_id)
        user = self.find_user(account_id, user_name)
        if user is None:
            raise NotFoundError(f"RAM user {user_name} does not exist in account {account_id}")
        return self._new_key(PrincipalKind.RAM_USER, account_id, user_name, user.user_id)

    def _new_key(self, kind: str, account_id: str, name: str, principal_id: str) -> Credentials:
        for _ in range(5):
            key = AccessKey(
                access_key_id=new_access_key_id(),
                secret=new_access_key_secret(),
                kind=kind,
                account_id=account_id,
                name=name,
                principal_id=principal_id,
                created_at=int(time.time()),
            )
            try:
                self._metadata.create_access_key(key)
            except ConflictError:
                continue
            return Credentials(
                account_id=account_id,
                access_key_id=key.access_key_id,
                access_key_secret=key.secret,
                user_name=name if kind == PrincipalKind.RAM_USER else None,
                service_name=name if kind == PrincipalKind.SERVICE else None,
            )
        raise ConflictError("could not generate a unique access key id")


class RequestKey:
    """The key one request is signed with: read from the store once, by the signature check,
    and then asked for the caller, so a request costs one read of its key."""

    def __init__(self, accounts: AccountService) -> None:
        self._accounts = accounts
        self._key: AccessKey | None = None

    def secret_of(self, access_key_id: str) -> str | None:
        """The key's secret whatever its status (so that only a caller who holds the secret
        learns that a key is disabled), or None for an unknown key."""
        self._key = self._accounts.find_key(access_key_id)
        return None if self._key is None else self._key.secret

    def caller(self, access_key_id: str) -> Caller:
        """The caller behind the key `secret_of` read; InvalidAccessKeyId.Inactive when it is
        disabled."""
        key = (
            self._key
            if self._key is not None and self._key.access_key_id == access_key_id
            else None
        )
        return caller_of(key, access_key_id)


def caller_of(key: AccessKey | None, access_key_id: str) -> Caller:
    """The caller `key` authenticates; InvalidAccessKeyId.NotFound without a key,
    InvalidAccessKeyId.Inactive for a disabled one."""
    if key is None:
        raise InvalidAccessKeyIdNotFound(f"The access key {access_key_id!r} does not exist.")
    if not key.active:
        raise InvalidAccessKeyIdInactive(
            f"The access key {access_key_id!r} is disabled (Inactive); enable it with "
            "UpdateAccessKey (Status=Active) or sign with another key."
        )
    return Caller.from_key(key)
