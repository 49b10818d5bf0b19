"""Managing access keys as RAM does: list a principal's keys, disable or enable one, delete one.

Whose keys a call acts on follows RAM (and IAM): a named RAM user of the caller's own account,
or, without a name, the caller itself (the root key acts on the root's keys). A key is found
only among its owner's keys, so another account's key id answers exactly like an unknown one.
Disabling or deleting a key also ends the console sessions signed in with it; requests signed
with it are refused from the next one on, in every process, because keys are never cached
(`iam/accounts.py`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from trailhouse.errors import EntityNotExistUser, EntityNotExistUserAccessKey, NotFoundError
from trailhouse.iam.console_sessions import SessionStore
from trailhouse.iam.principals import Caller, PrincipalKind
from trailhouse.store.ports import AccessKey as AccessKey  # edges import it from here
from trailhouse.store.ports import KeyStatus as KeyStatus
from trailhouse.store.ports import MetadataStore

STATUSES = (KeyStatus.ACTIVE, KeyStatus.INACTIVE)


@dataclass(frozen=True, slots=True)
class KeyOwner:
    """The principal whose keys a call lists or changes."""

    account_id: str
    kind: str
    name: str

    def owns(self, key: AccessKey) -> bool:
        """True when `key` is one of this principal's keys."""
        return (key.account_id, key.kind, key.name) == (self.account_id, self.kind, self.name)

    def describe(self) -> str:
        """The owner in words, for messages."""
        if self.kind == PrincipalKind.ROOT:
            return f"the root of account {self.account_id}"
        return f"RAM user {self.name} of account {self.account_id}"


class AccessKeyService:
    """Lists, disables, enables and deletes access keys, for callers or for the host admin."""

    def __init__(self, metadata: MetadataStore, sessions: SessionStore) -> None:
        self._metadata = metadata
        self._sessions = sessions

    def owner(self, caller: Caller, user_name: str | None) -> KeyOwner:
        """Whose keys `caller` acts on: its account's RAM user `user_name` (EntityNotExist.User
        when there is none), or without a name the caller itself."""
        if user_name:
            if self._metadata.get_user(caller.account_id, user_name) is None:
                raise EntityNotExistUser(
                    f"the RAM user {user_name} does not exist in account {caller.account_id}"
                )
            return KeyOwner(caller.account_id, PrincipalKind.RAM_USER, user_name)
        return KeyOwner(caller.account_id, caller.kind, caller.name)

    def list_keys(self, owner: KeyOwner) -> list[AccessKey]:
        """The owner's keys, ordered by id."""
        return [k for k in self._metadata.list_access_keys(owner.account_id) if owner.owns(k)]

    def list_account_keys(self, account_id: str) -> list[AccessKey]:
        """Every key of an account, root's and users' (host administration)."""
        return self._metadata.list_access_keys(account_id)

    def set_status(
        self, access_key_id: str, status: str, owner: KeyOwner | None = None
    ) -> AccessKey:
        """Make the key Active or Inactive and return it so; `owner` None is the host admin,
        who may change any key (service keys too)."""
        if status not in STATUSES:
            raise ValueError(f"status {status!r} must be one of {', '.join(STATUSES)}")
        key = self._owned(access_key_id, owner)
        if not self._metadata.set_access_key_status(access_key_id, status):
            raise self._missing(access_key_id, owner)
        if status != KeyStatus.ACTIVE:
            self._sessions.end_for_key(access_key_id)
        return dataclasses.replace(key, status=status)

    def delete(self, access_key_id: str, owner: KeyOwner | None = None) -> AccessKey:
        """Delete the key for good and return what it was. A caller may delete the key it
        signs with, as RAM allows; that request is its last."""
        key = self._owned(access_key_id, owner)
        if not self._metadata.delete_access_key(access_key_id):
            raise self._missing(access_key_id, owner)
        self._sessions.end_for_key(access_key_id)
        return key

    def _owned(self, access_key_id: str, owner: KeyOwner | None) -> AccessKey:
        key = self._metadata.get_access_key(access_key_id)
        if key is None or (owner is not None and not owner.owns(key)):
            raise self._missing(access_key_id, owner)
        return key

    @staticmethod
    def _missing(access_key_id: str, owner: KeyOwner | None) -> Exception:
        if owner is None:
            return NotFoundError(f"access key {access_key_id} does not exist")
        return EntityNotExistUserAccessKey(
            f"the access key {access_key_id} does not exist for {owner.describe()}"
        )
