"""Organizations (resource directories): a management account and its member accounts.

A multi-account trail is created by an organization's management account and covers the events
of every member; members can see it but not delete it.
"""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass, replace

from trailhouse.errors import ConflictError, NotFoundError, VersionConflict
from trailhouse.retry import retry_on_conflict
from trailhouse.store.documents import encode, read
from trailhouse.store.ports import DocumentWrite, MetadataStore

ORGANIZATION_KIND = "organization"
MEMBERSHIP_KIND = "membership"


@dataclass(frozen=True, slots=True)
class Organization:
    """A resource directory: its id (rd-…), management account and members (management included)."""

    organization_id: str
    management_account_id: str
    members: tuple[str, ...]
    created_at: int


@dataclass(frozen=True, slots=True)
class Membership:
    """Which organization an account belongs to."""

    organization_id: str


class OrganizationService:
    """Creates organizations and adds accounts to them."""

    def __init__(self, metadata: MetadataStore) -> None:
        self._metadata = metadata

    def create(self, management_account_id: str) -> Organization:
        """Create an organization managed by an account that belongs to none yet."""
        alphabet = string.ascii_lowercase + string.digits
        organization = Organization(
            organization_id="rd-" + "".join(secrets.choice(alphabet) for _ in range(6)),
            management_account_id=management_account_id,
            members=(management_account_id,),
            created_at=int(time.time()),
        )
        try:
            self._metadata.commit(
                [
                    DocumentWrite(
                        ORGANIZATION_KIND, "", organization.organization_id, encode(organization), 0
                    ),
                    self._membership(management_account_id, organization.organization_id),
                ]
            )
        except VersionConflict:
            raise ConflictError(
                f"account {management_account_id} already belongs to an organization"
            ) from None
        return organization

    def add_account(self, organization_id: str, account_id: str) -> Organization:
        """Add an account that belongs to no organization."""

        def attempt() -> Organization:
            organization, version = read(
                self._metadata, Organization, ORGANIZATION_KIND, "", organization_id
            )
            if organization is None:
                raise NotFoundError(f"organization {organization_id} does not exist")
            if account_id in organization.members:
                return organization
            updated = replace(organization, members=(*organization.members, account_id))
            try:
                self._metadata.commit(
                    [
                        DocumentWrite(
                            ORGANIZATION_KIND, "", organization_id, encode(updated), version
                        ),
                        self._membership(account_id, organization_id),
                    ]
                )
            except VersionConflict:
                if self.of_account(account_id) is not None:
                    raise ConflictError(
                        f"account {account_id} already belongs to an organization"
                    ) from None
                raise
            return updated

        return retry_on_conflict(attempt, what=f"organization {organization_id}")

    def get(self, organization_id: str) -> Organization | None:
        """The organization with this id, or None."""
        organization, _ = read(self._metadata, Organization, ORGANIZATION_KIND, "", organization_id)
        return organization

    def of_account(self, account_id: str) -> Organization | None:
        """The organization an account belongs to, or None."""
        membership, _ = read(self._metadata, Membership, MEMBERSHIP_KIND, "", account_id)
        return None if membership is None else self.get(membership.organization_id)

    @staticmethod
    def _membership(account_id: str, organization_id: str) -> DocumentWrite:
        return DocumentWrite(
            MEMBERSHIP_KIND, "", account_id, encode(Membership(organization_id)), 0
        )
