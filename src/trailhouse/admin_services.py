"""The services an administration command needs, over the metadata store alone.

Kept apart from `trailhouse.runtime` so that `trailhouse account create`, `user create`, `keys`
and `ram` start without loading the server's modules (the warehouse, SQL engines, delivery): a
command that only writes a document to the metadata store starts several times faster.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from trailhouse.iam.access_keys import AccessKeyService
from trailhouse.iam.accounts import AccountService
from trailhouse.iam.console_sessions import SessionStore
from trailhouse.iam.organizations import OrganizationService
from trailhouse.iam.roles import RoleService
from trailhouse.settings import Settings
from trailhouse.store import open_metadata, upgrade_schema
from trailhouse.store.migrations import SchemaStatus
from trailhouse.store.ports import MetadataStore

if TYPE_CHECKING:
    from trailhouse.warehouse.metering import Metering


@dataclass(frozen=True, slots=True)
class AdminServices:
    """The services an administration command calls, over the metadata store alone.

    SQLite lets one process hold the event log, and a running server holds it; accounts, RAM
    roles, organizations and bills live in the metadata store, which processes share.
    """

    settings: Settings
    accounts: AccountService
    access_keys: AccessKeyService
    roles: RoleService
    organizations: OrganizationService
    _metadata: MetadataStore

    @contextlib.contextmanager
    def metering(self) -> Iterator[Metering]:
        """The warehouse's metering (bills), closed with its warehouse afterwards."""
        # The warehouse loads here, for `trailhouse bill` alone (see the module docstring).
        from trailhouse.regions import Regions
        from trailhouse.warehouse.service import open_warehouse

        warehouse = open_warehouse(
            self.settings, self._metadata, self.roles, tuple(Regions(self.settings).ids())
        )
        try:
            yield warehouse.metering
        finally:
            warehouse.close()


@contextlib.contextmanager
def open_admin_services(settings: Settings) -> Iterator[AdminServices]:
    """Open the metadata store alone and build the administration services over it."""
    metadata = open_metadata(settings)
    try:
        roles = RoleService(metadata)
        yield AdminServices(
            settings=settings,
            accounts=AccountService(metadata),
            access_keys=AccessKeyService(
                metadata, SessionStore(metadata, settings.console_session_seconds)
            ),
            roles=roles,
            organizations=OrganizationService(metadata),
            _metadata=metadata,
        )
    finally:
        metadata.close()


def upgrade_stores(settings: Settings) -> SchemaStatus:
    """Bring the stores' schema to this trailhouse's version (`trailhouse db upgrade`)."""
    return upgrade_schema(settings)
