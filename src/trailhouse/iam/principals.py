"""Who is calling: the principal behind a verified access key, and how ids and keys look."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass

# PrincipalKind is the store's vocabulary; services and edges import it from here.
from trailhouse.store.ports import AccessKey
from trailhouse.store.ports import PrincipalKind as PrincipalKind

_ALNUM = string.ascii_letters + string.digits


@dataclass(frozen=True, slots=True)
class Caller:
    """The principal a request was signed by.

    A service key has no account of its own: it records events for the account each event
    names in `recipientAccountId`.
    """

    access_key_id: str
    kind: str
    account_id: str
    name: str
    principal_id: str

    @classmethod
    def from_key(cls, key: AccessKey) -> Caller:
        """The caller that `key` authenticates."""
        return cls(key.access_key_id, key.kind, key.account_id, key.name, key.principal_id)

    @property
    def is_service(self) -> bool:
        """True for a service key, which may record events for any account."""
        return self.kind == PrincipalKind.SERVICE

    def identity(self) -> dict[str, str]:
        """The ActionTrail `userIdentity` object for events this caller causes."""
        identity = {
            "type": self.kind if not self.is_service else "aliyun-service",
            "principalId": self.principal_id,
            "accountId": self.account_id,
            "accessKeyId": self.access_key_id,
        }
        if self.kind != PrincipalKind.ROOT:
            identity["userName"] = self.name
        return identity


def new_account_id() -> str:
    """A random 16-digit account id, like Alibaba Cloud's (never starting with 0)."""
    return str(secrets.randbelow(9 * 10**15) + 10**15)


def new_principal_id() -> str:
    """A random 16-digit RAM principal id."""
    return str(secrets.randbelow(9 * 10**15) + 10**15)


def new_access_key_id() -> str:
    """An AccessKey id in Alibaba Cloud's shape: LTAI5t plus 18 letters and digits."""
    return "LTAI5t" + "".join(secrets.choice(_ALNUM) for _ in range(18))


def new_access_key_secret() -> str:
    """A 30-character AccessKey secret."""
    return "".join(secrets.choice(_ALNUM) for _ in range(30))


def is_account_id(value: str) -> bool:
    """True for a 16-digit account id."""
    return len(value) == 16 and value.isascii() and value.isdigit()
