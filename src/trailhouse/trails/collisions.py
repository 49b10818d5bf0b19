"""No two trails write the same table of a project, whoever owns them.

A trail writes two tables of its MaxCompute project: its own and its digest table. Which ones
is the warehouse's decision (`warehouse.model.trail_tables`), handed to the trail service when
it is built, since trails do not import the warehouse. Trail `a-b` and `a_b` map to one table,
trail `x_digest`'s table is trail `x`'s digest table, and a trail of account A delivering into
account B's project with B's trail's name would write B's table: each is refused, naming the
trail that holds the table.

Each held table is also a claim document, written in the commit that creates (or re-aims) the
trail with "must not exist yet", so two concurrent creations of colliding trails, even of two
accounts, cannot both commit; the loser re-reads and is refused. Trails from before claims
existed are found by looking at every trail, which the check does as well.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from trailhouse.errors import TrailAlreadyExistsException
from trailhouse.iam.arns import parse_project_arn
from trailhouse.store.documents import decode, encode, read
from trailhouse.store.ports import DocumentWrite, MetadataStore
from trailhouse.trails.model import TRAIL_KIND, Trail

TABLE_CLAIM_KIND = "trail-table"


@dataclass(frozen=True, slots=True)
class TableClaim:
    """The trail that holds a table (document scope `<region>/<project>`, name the table)."""

    account_id: str
    trail_name: str


# (`<region>/<project>`, table)
Address = tuple[str, str]


class TableClaims:
    """Which trail holds which table; refuses a trail whose tables another trail holds."""

    def __init__(self, metadata: MetadataStore, tables_of: Callable[[str], tuple[str, ...]]):
        self._metadata = metadata
        self._tables_of = tables_of

    def addresses(self, trail: Trail) -> set[Address]:
        """The tables the trail writes (none without a MaxCompute destination)."""
        ref = parse_project_arn(trail.destinations.max_compute_project_arn, "odps")
        if ref is None:
            return set()
        scope = f"{ref.region}/{ref.name.lower()}"
        return {(scope, table) for table in self._tables_of(trail.name)}

    def claim(self, trail: Trail) -> list[DocumentWrite]:
        """The writes that make `trail` the holder of its tables, to commit with it; raises
        TrailAlreadyExistsException naming another trail that holds or writes one of them."""
        wanted = self.addresses(trail)
        if not wanted:
            return []
        for document in self._metadata.list_documents(TRAIL_KIND):
            other = decode(Trail, document.body)
            if _same(other, trail):
                continue
            shared = wanted & self.addresses(other)
            if shared:
                _refuse(trail, min(shared), other.account_id, other.name)
        writes = []
        for scope, table in sorted(wanted):
            held, _ = read(self._metadata, TableClaim, TABLE_CLAIM_KIND, scope, table)
            if held is None:
                mine = TableClaim(trail.account_id, trail.name)
                writes.append(DocumentWrite(TABLE_CLAIM_KIND, scope, table, encode(mine), 0))
            elif (held.account_id, held.trail_name) != (trail.account_id, trail.name):
                _refuse(trail, (scope, table), held.account_id, held.trail_name)
        return writes

    def release(self, trail: Trail) -> list[DocumentWrite]:
        """The writes deleting the trail's claims, to commit with its deletion or re-aiming."""
        writes = []
        for scope, table in sorted(self.addresses(trail)):
            held, version = read(self._metadata, TableClaim, TABLE_CLAIM_KIND, scope, table)
            if held is not None and (held.account_id, held.trail_name) == (
                trail.account_id,
                trail.name,
            ):
                writes.append(DocumentWrite(TABLE_CLAIM_KIND, scope, table, None, version))
        return writes

    def moved(self, before: Trail, after: Trail) -> list[DocumentWrite]:
        """The writes moving a trail's claims when its destination changes (none otherwise)."""
        if self.addresses(before) == self.addresses(after):
            return []
        return [*self.release(before), *self.claim(after)]


def _same(one: Trail, other: Trail) -> bool:
    return (one.account_id, one.name) == (other.account_id, other.name)


def _refuse(trail: Trail, address: Address, account_id: str, name: str) -> NoReturn:
    scope, table = address
    region, project = scope.split("/", 1)
    raise TrailAlreadyExistsException(
        f"the trail {trail.name} would write table {table} of project {project} ({region}), "
        f"which trail {name} of account {account_id} already writes; trail names that differ "
        "only in '-' and '_' share a table, and <name>_digest is trail <name>'s digest table: "
        "choose another trail name"
    )
