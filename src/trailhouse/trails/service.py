"""Trail lifecycle: create, update, delete, describe, start and stop, with every rule enforced.

Whether delivery may write the MaxCompute project a trail names is decided by
`iam/delivery_authority.py`: here when a trail is created or its destination changes, and with
the same rules at each delivery session and each batch write. Here a refusal is an API error.

Writes go through optimistic document commits: each create or delete also rewrites the account's
list of trail names, so two concurrent creates cannot both pass the uniqueness and per-region
checks; a conflict re-reads and decides again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import TypeVar

from trailhouse.errors import (
    ApiError,
    EntityNotExistRole,
    InsufficientMaxComputePolicyException,
    InvalidParameter,
    MaximumNumberOfTrailsExceededException,
    NoPermission,
    TrailAlreadyExistsException,
    TrailNotFoundException,
)
from trailhouse.iam import delivery_authority
from trailhouse.iam.arns import parse_project_arn
from trailhouse.iam.delivery_authority import Delivery, Moment, Rule
from trailhouse.iam.organizations import OrganizationService
from trailhouse.iam.roles import RoleService
from trailhouse.regions import Regions
from trailhouse.retry import retry_on_conflict
from trailhouse.store.documents import decode, encode, read
from trailhouse.store.ports import DocumentWrite, MetadataStore
from trailhouse.trails import rules
from trailhouse.trails.collisions import TableClaims
from trailhouse.trails.global_events import GlobalEventsStorage
from trailhouse.trails.model import (
    ORGANIZATION_TRAIL_KIND,
    TRAIL_KIND,
    TRAIL_NAMES_KIND,
    Destinations,
    OrganizationTrailPointer,
    Trail,
    TrailNames,
    TrailStatus,
)

MAX_TRAILS_PER_REGION = 5
# What CreateTrail and UpdateTrail answer when delivery authority refuses the destination.
_CREATION_ERRORS: dict[Rule, type[ApiError]] = {
    Rule.WRITE_ROLE: InvalidParameter,
    Rule.ROLE_ARN: InvalidParameter,
    Rule.ROLE_ACCOUNT: InvalidParameter,
    Rule.ROLE_EXISTS: EntityNotExistRole,
    Rule.TRUST: InsufficientMaxComputePolicyException,
    Rule.POLICY: InsufficientMaxComputePolicyException,
}
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class TrailSpec:
    """What CreateTrail asks for (None = not given, so the default applies)."""

    name: str
    event_rw: str | None = None
    trail_region: str | None = None
    is_organization_trail: bool = False
    destinations: Destinations = Destinations()


@dataclass(frozen=True, slots=True)
class TrailChanges:
    """What UpdateTrail changes: fields left None keep their value; "" clears a destination."""

    event_rw: str | None = None
    trail_region: str | None = None
    oss_bucket_name: str | None = None
    oss_key_prefix: str | None = None
    oss_write_role_arn: str | None = None
    sls_project_arn: str | None = None
    sls_write_role_arn: str | None = None
    max_compute_project_arn: str | None = None
    max_compute_write_role_arn: str | None = None


@dataclass(frozen=True, slots=True)
class TrailView:
    """A trail as one region sees it: shadow when it lives in another region."""

    trail: Trail
    shadow: bool


class TrailService:
    """Manages the trails of accounts and organizations."""

    def __init__(
        self,
        metadata: MetadataStore,
        regions: Regions,
        roles: RoleService,
        organizations: OrganizationService,
        tables_of: Callable[[str], tuple[str, ...]],
    ) -> None:
        """`tables_of` names the tables a trail of a name writes in its project (the
        warehouse's mapping): no two trails of one project may share one."""
        self._metadata = metadata
        self._claims = TableClaims(metadata, tables_of)
        self._regions = regions
        self._roles = roles
        self._organizations = organizations
        self.global_events = GlobalEventsStorage(metadata, regions)

    def create(self, account_id: str, region: str, spec: TrailSpec) -> Trail:
        """Create a trail in `region` (its home region), in status Fresh."""
        rules.check_name(spec.name)
        event_rw = rules.check_event_rw(spec.event_rw or rules.DEFAULT_EVENT_RW)
        trail_region = rules.check_trail_region(spec.trail_region or "All", self._regions)
        rules.check_destinations(spec.destinations, self._regions)
        rules.check_project_account(spec.destinations)
        self._check_delivery_access(account_id, spec.destinations)
        organization_id = ""
        if spec.is_organization_trail:
            organization = self._organizations.of_account(account_id)
            if organization is None or organization.management_account_id != account_id:
                raise NoPermission(
                    f"only the management account of an organization may create a multi-account "
                    f"trail, and account {account_id} is not one"
                )
            organization_id = organization.organization_id
        now = int(time.time())
        trail = Trail(
            account_id=account_id,
            name=spec.name,
            home_region=region,
            trail_region=trail_region,
            event_rw=event_rw,
            organization_id=organization_id,
            destinations=spec.destinations,
            status=TrailStatus.FRESH.value,
            create_time=now,
            update_time=now,
        )
        return self._retrying(lambda: self._create_once(trail))

    def update(self, account_id: str, name: str, changes: TrailChanges) -> Trail:
        """Change a trail's settings; fields not given keep their value."""

        def attempt() -> Trail:
            trail, version = self._own(account_id, name)
            destinations = replace(
                trail.destinations,
                **{
                    field.name: getattr(changes, field.name)
                    for field in fields(Destinations)
                    if getattr(changes, field.name) is not None
                },
            )
            rules.check_destinations(destinations, self._regions)
            if destinations.max_compute_project_arn != trail.destinations.max_compute_project_arn:
                rules.check_project_account(destinations)
            if destinations != trail.destinations:
                self._check_delivery_access(account_id, destinations)
            updated = replace(
                trail,
                event_rw=rules.check_event_rw(changes.event_rw)
                if changes.event_rw is not None
                else trail.event_rw,
                trail_region=rules.check_trail_region(changes.trail_region, self._regions)
                if changes.trail_region is not None
                else trail.trail_region,
                destinations=destinations,
                update_time=int(time.time()),
            )
            claims = self._claims.moved(trail, updated)
            self._metadata.commit([self._trail_write(updated, version), *claims])
            return updated

        return self._retrying(attempt)

    def delete(self, account_id: str, name: str) -> Trail:
        """Delete one of the account's trails (members cannot delete their organization's)."""

        def attempt() -> Trail:
            trail, version = self._own(account_id, name)
            names, names_version = self._names(account_id)
            writes = [
                DocumentWrite(TRAIL_KIND, account_id, name, None, version),
                DocumentWrite(
                    TRAIL_NAMES_KIND,
                    account_id,
                    "",
                    encode(TrailNames(tuple(n for n in names.names if n != name))),
                    names_version,
                ),
                *self._claims.release(trail),
            ]
            if trail.is_organization_trail:
                _, pointer_version = self._organization_pointer(trail.organization_id)
                writes.append(
                    DocumentWrite(
                        ORGANIZATION_TRAIL_KIND, trail.organization_id, "", None, pointer_version
                    )
                )
            self._metadata.commit(writes)
            return trail

        return self._retrying(attempt)

    def set_logging(
        self,
        account_id: str,
        name: str,
        enabled: bool,
        with_writes: Callable[[Trail, Trail], list[DocumentWrite]] | None = None,
    ) -> Trail:
        """StartLogging (status Enable) or StopLogging (status Disable), committed together
        with `with_writes(before, after)` (the delivery session's change).

        StartLogging on a trail that logs, or StopLogging on a stopped one, changes nothing,
        not even its StartLoggingTime or StopLoggingTime (`docs/trails.md`)."""

        def attempt() -> Trail:
            trail, version = self._own(account_id, name)
            status = TrailStatus.ENABLE if enabled else TrailStatus.DISABLE
            if trail.status == status.value:
                return trail
            now = int(time.time())
            if enabled:
                updated = replace(trail, status=status.value, start_logging_time=now)
            else:
                updated = replace(trail, status=status.value, stop_logging_time=now)
            extra = with_writes(trail, updated) if with_writes is not None else []
            self._metadata.commit([self._trail_write(updated, version), *extra])
            return updated

        return self._retrying(attempt)

    def change(self, account_id: str, name: str, change: Callable[[Trail], Trail]) -> Trail:
        """Replace one of the account's own trails by `change(trail)`, committed only over the
        version read (the data event selector's actions, `trails/data_events.py`)."""

        def attempt() -> Trail:
            trail, version = self._own(account_id, name)
            changed = change(trail)
            self._metadata.commit([self._trail_write(changed, version)])
            return changed

        return self._retrying(attempt)

    def get(self, account_id: str, name: str, organization: bool = False) -> Trail:
        """A trail the account owns or, with `organization`, its organization's trail."""
        trail, _ = read(self._metadata, Trail, TRAIL_KIND, account_id, name)
        if trail is None and organization:
            shared = self._organization_trail(account_id)
            trail = shared if shared is not None and shared.name == name else None
        if trail is None:
            raise TrailNotFoundException(f"the trail {name} does not exist in account {account_id}")
        return trail

    def describe(
        self,
        account_id: str,
        region: str,
        names: list[str] | None,
        include_shadow: bool,
        include_organization: bool,
    ) -> list[TrailView]:
        """The trails `region` shows the account, by name (reference §1.3 DescribeTrails)."""
        owned = [
            decode(Trail, document.body)
            for document in self._metadata.list_documents(TRAIL_KIND, account_id)
        ]
        if include_organization:
            shared = self._organization_trail(account_id)
            if shared is not None and shared.account_id != account_id:
                owned.append(shared)
        views = []
        for trail in sorted(owned, key=lambda t: t.name):
            if names is not None and trail.name not in names:
                continue
            if trail.is_organization_trail and not include_organization:
                continue
            if trail.home_region == region:
                views.append(TrailView(trail, shadow=False))
            elif include_shadow and trail.covers_region(region):
                views.append(TrailView(trail, shadow=True))
        return views

    def all_trails(self) -> list[Trail]:
        """Every trail of every account, enabled or not (delivery drains stopped ones)."""
        return [decode(Trail, d.body) for d in self._metadata.list_documents(TRAIL_KIND)]

    def fenced(self, selects: Callable[[Trail], bool]) -> list[tuple[Trail, DocumentWrite]]:
        """Every trail `selects`, each with a check-only write that fails a commit should the
        trail change or go meanwhile (so a decision about those trails commits only as read)."""
        found = []
        for document in self._metadata.list_documents(TRAIL_KIND):
            trail = decode(Trail, document.body)
            if selects(trail):
                found.append((trail, DocumentWrite.check(document)))
        return found

    def _create_once(self, trail: Trail) -> Trail:
        account_id = trail.account_id
        names, names_version = self._names(account_id)
        if trail.name in names.names:
            raise TrailAlreadyExistsException(
                f"a trail named {trail.name} already exists in account {account_id}; "
                "trail names are unique per account"
            )
        writes = [
            DocumentWrite(TRAIL_KIND, account_id, trail.name, encode(trail), 0),
            DocumentWrite(
                TRAIL_NAMES_KIND,
                account_id,
                "",
                encode(TrailNames((*names.names, trail.name))),
                names_version,
            ),
            *self._claims.claim(trail),
        ]
        if trail.is_organization_trail:
            existing, _ = self._organization_pointer(trail.organization_id)
            if existing is not None:
                raise MaximumNumberOfTrailsExceededException(
                    f"organization {trail.organization_id} already has a multi-account trail "
                    f"({existing.name}); an organization may have one"
                )
            pointer = OrganizationTrailPointer(account_id, trail.name)
            writes.append(
                DocumentWrite(
                    ORGANIZATION_TRAIL_KIND, trail.organization_id, "", encode(pointer), 0
                )
            )
        else:
            in_region = [
                t
                for t in self._owned(account_id)
                if t.home_region == trail.home_region and not t.is_organization_trail
            ]
            if len(in_region) >= MAX_TRAILS_PER_REGION:
                raise MaximumNumberOfTrailsExceededException(
                    f"account {account_id} already has {len(in_region)} single-account trails in "
                    f"{trail.home_region}, the most a region allows; delete one or use another "
                    "region"
                )
        linked_role = self._roles.service_linked_role_write(account_id)
        if linked_role is not None:
            writes.append(linked_role)
        self._metadata.commit(writes)
        return trail

    def _check_delivery_access(self, account_id: str, destinations: Destinations) -> None:
        """Refuse a MaxCompute destination that delivery could not write, naming what is
        missing: `iam/delivery_authority.py`'s rules, as each session and each write asks them."""
        if not destinations.max_compute_project_arn:
            return
        project = parse_project_arn(destinations.max_compute_project_arn, "odps")
        assert project is not None  # checked by rules.check_destinations
        delivery = Delivery(account_id, project.account_id, destinations.max_compute_write_role_arn)
        refused = delivery_authority.refusal(delivery, self._roles, Moment.CREATE)
        if refused is not None:
            raise _CREATION_ERRORS[refused.rule](refused.message)

    def _own(self, account_id: str, name: str) -> tuple[Trail, int]:
        trail, version = read(self._metadata, Trail, TRAIL_KIND, account_id, name)
        if trail is not None:
            return trail, version
        shared = self._organization_trail(account_id)
        if shared is not None and shared.name == name:
            raise NoPermission(
                f"the trail {name} is the multi-account trail of organization "
                f"{shared.organization_id}; only its management account "
                f"{shared.account_id} may change it"
            )
        raise TrailNotFoundException(f"the trail {name} does not exist in account {account_id}")

    def owned(self, account_id: str) -> list[Trail]:
        """Every trail the account owns, in any region."""
        return self._owned(account_id)

    def _owned(self, account_id: str) -> list[Trail]:
        return [
            decode(Trail, document.body)
            for document in self._metadata.list_documents(TRAIL_KIND, account_id)
        ]

    def _names(self, account_id: str) -> tuple[TrailNames, int]:
        names, version = read(self._metadata, TrailNames, TRAIL_NAMES_KIND, account_id, "")
        return names or TrailNames(()), version

    def _organization_pointer(self, organization_id: str) -> tuple[Trail | None, int]:
        pointer, version = read(
            self._metadata, OrganizationTrailPointer, ORGANIZATION_TRAIL_KIND, organization_id, ""
        )
        if pointer is None:
            return None, 0
        trail, _ = read(self._metadata, Trail, TRAIL_KIND, pointer.account_id, pointer.name)
        return trail, version

    def _organization_trail(self, account_id: str) -> Trail | None:
        organization = self._organizations.of_account(account_id)
        if organization is None:
            return None
        trail, _ = self._organization_pointer(organization.organization_id)
        return trail

    @staticmethod
    def _trail_write(trail: Trail, version: int) -> DocumentWrite:
        return DocumentWrite(TRAIL_KIND, trail.account_id, trail.name, encode(trail), version)

    @staticmethod
    def _retrying(attempt: Callable[[], R]) -> R:
        return retry_on_conflict(attempt, what="the account's trails")
