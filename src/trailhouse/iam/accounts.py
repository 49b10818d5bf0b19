"""Accounts, RAM users and service keys: creating them and resolving the key behind a request.

A secret is returned once, by the call that creates it, and is never logged.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

from trailhouse.errors import ConflictError, NotFoundError
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
        self._keys: dict[str, AccessKey] = {}
        self._lock = threading.Lock()

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
        """The access key with this id, cached (keys are immutable once created)."""
        key = self._keys.get(access_key_id)
        if key is None:
            key = self._metadata.get_access_key(access_key_id)
            if key is not None:
                with self._lock:
                    self._keys[access_key_id] = key
        return key

    def secret_of(self, access_key_id: str) -> str | None:
        """The secret that signs requests of this key, or None for an unknown key."""
        key = self.find_key(access_key_id)
        return None if key is None else key.secret

    def caller_for(self, access_key_id: str) -> Caller:
        """The caller a verified request came from."""
        key = self.find_key(access_key_id)
        if key is None:
            raise NotFoundError(f"access key {access_key_id} does not exist")
        return Caller.from_key(key)

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
