"""Projects, members, tables, partitions and the committed files of each: the warehouse catalog.

Only files listed here exist for readers; a Parquet file in a table's folder that the catalog
does not list (a batch that crashed before its commit) is invisible and swept later.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import replace

from trailhouse.errors import (
    InvalidParameter,
    NoPermission,
    ProjectNotFound,
    SqlSemanticError,
    TableNotFound,
    VersionConflict,
)
from trailhouse.iam.principals import Caller, PrincipalKind
from trailhouse.iam.roles import service_linked_role_arn
from trailhouse.retry import retry_on_conflict
from trailhouse.store.documents import decode, encode, read
from trailhouse.store.ports import Document, DocumentWrite, MetadataStore
from trailhouse.warehouse import access
from trailhouse.warehouse.model import (
    DIGESTED_KIND,
    FILE_KIND,
    PARTITION_KIND,
    PROJECT_KIND,
    PROJECT_PREFIX,
    TABLE_KIND,
    WRITE_KIND,
    DataFile,
    Digested,
    Member,
    PartitionStats,
    Privilege,
    Project,
    Role,
    Table,
    delivery_project_account,
    is_table_name,
    partition_scope,
    table_scope,
)
from trailhouse.warehouse.quotas import QuotaService
from trailhouse.warehouse.schema import current
from trailhouse.warehouse.sql.timezones import canonical_zone, region_zone, unknown_zone_message
from trailhouse.warehouse.user_tables import TableShape, check_columns, shape_of


def check_project_name(owner: str, name: str) -> None:
    """Refuse a project name `owner` may not take: not a MaxCompute name, or one of the reserved
    `actiontrail_*` names, which are `actiontrail_<account id>` and belong to that account only
    (its trails' delivery project, created by delivery or by its owner's CreateProject)."""
    if not is_table_name(name):
        raise InvalidParameter(
            f"project name {name!r}: use letters, digits and underscores; start with a letter"
        )
    if not name.lower().startswith(PROJECT_PREFIX):
        return
    account = delivery_project_account(name.lower())
    if account is None:
        raise InvalidParameter(
            f"project name {name}: the prefix {PROJECT_PREFIX} is reserved for delivery projects, "
            f"named {PROJECT_PREFIX}<16-digit account id>; choose a name without it"
        )
    if account != owner:
        raise InvalidParameter(
            f"project name {name} is reserved for account {account}'s trails; account {owner} "
            f"may create only {PROJECT_PREFIX}{owner}, or a name without {PROJECT_PREFIX}"
        )


def table_exists(project: Project, name: str) -> SqlSemanticError:
    """The error for a CREATE TABLE whose table exists."""
    return SqlSemanticError(
        f"Semantic analysis exception - table {project.name}.{name} already exists; drop it "
        "first (DROP TABLE), write into it (INSERT), or use CREATE TABLE IF NOT EXISTS"
    )


def _deletion(document: Document) -> DocumentWrite:
    """The write deleting `document`, provided it is unchanged."""
    return DocumentWrite(document.kind, document.scope, document.name, None, document.version)


class Catalog:
    """Reads and changes the warehouse's projects, tables and partitions."""

    def __init__(
        self,
        metadata: MetadataStore,
        quotas: QuotaService,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._metadata = metadata
        self._quotas = quotas
        self._clock = clock
        self._files: dict[str, tuple[PartitionStats, list[DataFile]]] = {}
        # Each table's partition documents as last read, and their decoded stats.
        self._partitions: dict[str, tuple[tuple[bytes, ...], list[PartitionStats]]] = {}

    # -- projects ---------------------------------------------------------------------------

    def ensure_project(self, owner: str, region: str, name: str, quota: str = "") -> Project:
        """The project of this name in the region, created for `owner` when absent.

        A new project is bound to `quota` (or the region's first quota; NoAvailableQuota names
        the regions that have one), and an `actiontrail_*` project gets the owner's
        service-linked role as its Admin. An existing project of another owner is refused, and
        so is a name reserved for another account (`check_project_name`).
        """
        check_project_name(owner, name)

        def attempt() -> Project:
            project, version = read(self._metadata, Project, PROJECT_KIND, region, name)
            if project is not None:
                if project.owner != owner:
                    raise InvalidParameter(
                        f"project {name} in {region} belongs to account {project.owner}, "
                        f"not {owner}"
                    )
                return project
            chosen = self._quotas.choose(owner, region, quota)
            now = int(self._clock())
            members = (Member(service_linked_role_arn(owner), Role.ADMIN, now),)
            zone = region_zone(region)
            project = Project(region, name, owner, chosen.name, members, now, zone)
            self._metadata.commit([self._write(project, version)])
            return project

        return retry_on_conflict(attempt, what=f"project {name}")

    def delete_project(
        self,
        caller: Caller,
        region: str,
        name: str,
        guard: Callable[[Project], list[DocumentWrite]],
    ) -> Project:
        """Delete a project and every table, partition and file document of it in one commit.

        Only the owner account's root key may (as in MaxCompute, where only the owner deletes a
        project). `guard` refuses the deletion (by raising) or returns check-only writes that
        make the commit fail should what it judged change meanwhile. The files stay on disk for
        the caller to remove: metadata is the truth, and unlisted files are invisible.
        """

        def attempt() -> Project:
            project, version = self._read_as_owner(caller, region, name, "delete project")
            writes = [*guard(project), DocumentWrite(PROJECT_KIND, region, name, None, version)]
            for table in self._metadata.list_documents(TABLE_KIND, f"{region}/{name}"):
                writes += self._table_deletion(region, name, table.name)
                writes.append(_deletion(table))
            self._metadata.commit(writes)
            return project

        deleted = retry_on_conflict(attempt, what=f"project {name}")
        prefix = table_scope(region, name, "")
        self._files = {k: v for k, v in self._files.items() if not k.startswith(prefix)}
        self._partitions = {k: v for k, v in self._partitions.items() if not k.startswith(prefix)}
        return deleted

    def _read_as_owner(
        self, caller: Caller, region: str, name: str, doing: str, hint: str = ""
    ) -> tuple[Project, int]:
        """The project and its version, for a change only the owner account's root key may make
        (`doing`, e.g. "delete project"): ProjectNotFound, or NoPermission naming the owner and
        the caller, with `hint` after."""
        project, version = read(self._metadata, Project, PROJECT_KIND, region, name)
        if project is None:
            raise ProjectNotFound(f"ODPS-0420111:Project not found - '{name}' in {region}")
        if caller.kind != PrincipalKind.ROOT or caller.account_id != project.owner:
            raise NoPermission(
                f"ODPS-0130013:Authorization exception - only the root key of the owner "
                f"account {project.owner} may {doing} {name} ({region}); "
                f"{access.caller_label(caller)} may not{hint}"
            )
        return project, version

    def _table_deletion(self, region: str, project: str, table: str) -> list[DocumentWrite]:
        """Deletes of a table's partition, file and digested documents."""
        scope = table_scope(region, project, table)
        partitions = self._metadata.list_documents(PARTITION_KIND, scope)
        found = [*partitions, *self._metadata.list_documents(DIGESTED_KIND, scope)]
        for partition in partitions:
            found += self._metadata.list_documents(
                FILE_KIND, partition_scope(region, project, table, partition.name)
            )
        return [_deletion(document) for document in found]

    def get_project(self, region: str, name: str) -> Project:
        """The project, or ProjectNotFound."""
        project, _ = read(self._metadata, Project, PROJECT_KIND, region, name)
        if project is None:
            raise ProjectNotFound(f"ODPS-0420111:Project not found - '{name}' in {region}")
        return project

    def find_project(self, name: str, region: str | None = None) -> Project:
        """The project of this name in `region`, or in the only region that has one."""
        if region:
            return self.get_project(region, name)
        found = [p for p in self.list_projects() if p.name == name]
        if len(found) == 1:
            return found[0]
        if not found:
            raise ProjectNotFound(f"ODPS-0420111:Project not found - '{name}'")
        regions = ", ".join(p.region for p in found)
        raise InvalidParameter(f"project {name} exists in several regions ({regions}); name one")

    def list_projects(self, region: str | None = None) -> list[Project]:
        """Every project (in one region, or all), by region and name."""
        return [
            decode(Project, document.body)
            for document in self._metadata.list_documents(PROJECT_KIND, region)
        ]

    def visible_projects(self, caller: Caller, region: str | None = None) -> list[Project]:
        """The projects the caller may query."""
        return [p for p in self.list_projects(region) if access.may(caller, p, Privilege.SELECT)]

    def set_member(
        self, caller: Caller, region: str, name: str, principal: str, role: str
    ) -> Project:
        """Add a member with a role, or change its role; needs the Manage privilege."""
        if role not in Role.ALL:
            raise InvalidParameter(f"role {role!r}: use one of {', '.join(Role.ALL)}")
        return self._change_members(caller, region, name, principal, role)

    def remove_member(self, caller: Caller, region: str, name: str, principal: str) -> Project:
        """Remove a member; needs the Manage privilege."""
        return self._change_members(caller, region, name, principal, None)

    def set_time_zone(self, caller: Caller, region: str, name: str, zone: str) -> Project:
        """Set the project's `odps.sql.timezone`, which its jobs' datetimes are shown in; only
        the owner account's root key may (MaxCompute's `setproject` is the owner's). An unknown
        zone name is refused naming it."""
        canonical = canonical_zone(zone)
        if canonical is None:
            raise InvalidParameter(unknown_zone_message(zone))

        def attempt() -> Project:
            project, version = self._read_as_owner(
                caller,
                region,
                name,
                "set the time zone of project",
                ". A job may set its own with SET odps.sql.timezone=<zone>;",
            )
            changed = replace(project, timezone=canonical)
            self._metadata.commit([self._write(changed, version)])
            return changed

        return retry_on_conflict(attempt, what=f"the time zone of project {name}")

    def _change_members(
        self, caller: Caller, region: str, name: str, principal: str, role: str | None
    ) -> Project:
        def attempt() -> Project:
            project, version = read(self._metadata, Project, PROJECT_KIND, region, name)
            if project is None:
                raise ProjectNotFound(f"ODPS-0420111:Project not found - '{name}' in {region}")
            access.require(caller, project, Privilege.MANAGE)
            kept = tuple(m for m in project.members if m.principal != principal)
            if role is not None:
                kept = (*kept, Member(principal, role, int(self._clock())))
            changed = replace(project, members=kept)
            self._metadata.commit([self._write(changed, version)])
            return changed

        return retry_on_conflict(attempt, what=f"the members of project {name}")

    @staticmethod
    def _write(project: Project, version: int) -> DocumentWrite:
        return DocumentWrite(PROJECT_KIND, project.region, project.name, encode(project), version)

    # -- tables and partitions ---------------------------------------------------------------

    def ensure_table(self, project: Project, name: str) -> Table:
        """The table of this name in the project, created (with the audit schema) when absent."""
        if not is_table_name(name):
            raise InvalidParameter(
                f"table name {name!r}: MaxCompute table names allow only letters, digits and "
                "underscores, starting with a letter"
            )
        scope = f"{project.region}/{project.name}"

        def attempt() -> Table:
            table, _ = read(self._metadata, Table, TABLE_KIND, scope, name)
            if table is not None:
                return table
            version = current().version
            table = Table(
                project.region, project.name, name, int(self._clock()), schema_version=version
            )
            self._metadata.commit([DocumentWrite(TABLE_KIND, scope, name, encode(table), 0)])
            return table

        return retry_on_conflict(attempt, what=f"table {name}")

    def create_user_table(self, project: Project, table: Table, if_not_exists: bool) -> bool:
        """Create a user's table (CREATE TABLE in a project of one's own); False when it exists
        and `if_not_exists`, SqlSemanticError naming it when it exists otherwise."""
        check_columns(table.columns, table.partition_keys)
        scope = f"{project.region}/{project.name}"
        if self._metadata.get_document(TABLE_KIND, scope, table.name) is not None:
            if if_not_exists:
                return False
            raise table_exists(project, table.name)
        try:
            self._metadata.commit([DocumentWrite(TABLE_KIND, scope, table.name, encode(table), 0)])
        except VersionConflict:
            if if_not_exists:
                return False
            raise table_exists(project, table.name) from None
        return True

    def drop_table(self, project: Project, name: str, if_exists: bool) -> Table | None:
        """Drop a user's table: its document, partitions and file documents in one commit (the
        files stay for the sweep). None when absent and `if_exists`; TableNotFound otherwise."""

        def attempt() -> Table | None:
            scope = f"{project.region}/{project.name}"
            document = self._metadata.get_document(TABLE_KIND, scope, name)
            if document is None:
                if if_exists:
                    return None
                raise TableNotFound(
                    f"ODPS-0130131:Table not found - table {project.name}.{name} cannot be "
                    "dropped: it does not exist (DROP TABLE IF EXISTS drops it only if it does)"
                )
            table = decode(Table, document.body)
            writes = self._table_deletion(project.region, project.name, name)
            writes += [
                _deletion(marker)
                for marker in self._metadata.list_documents(
                    WRITE_KIND, table_scope(project.region, project.name, name)
                )
            ]
            self._metadata.commit([*writes, _deletion(document)])
            return table

        return retry_on_conflict(attempt, what=f"table {name}")

    def add_partition(self, table: Table, folder: str, if_not_exists: bool) -> bool:
        """Create an empty partition of a user's table (ALTER TABLE … ADD PARTITION); False when
        it exists and `if_not_exists`, SqlSemanticError naming it otherwise."""
        scope = table_scope(table.region, table.project, table.name)
        stats, _ = self.partition(table, folder)
        if stats is None:
            empty = PartitionStats(folder, 0, 0, 0, int(self._clock()))
            try:
                self._metadata.commit(
                    [
                        DocumentWrite.check(self.table_document(table)),
                        DocumentWrite(PARTITION_KIND, scope, folder, encode(empty), 0),
                    ]
                )
                return True
            except VersionConflict:
                pass
        if if_not_exists:
            return False
        raise SqlSemanticError(
            f"Semantic analysis exception - partition {folder} of {table.project}.{table.name} "
            "already exists; use ADD IF NOT EXISTS PARTITION"
        )

    def drop_partition(self, table: Table, folder: str, if_exists: bool) -> bool:
        """Drop a user table's partition: its document and file documents in one commit (its
        files are swept later). False when absent and `if_exists`."""

        def attempt() -> bool:
            found = self._metadata.get_document(
                PARTITION_KIND, table_scope(table.region, table.project, table.name), folder
            )
            if found is None:
                if if_exists:
                    return False
                raise SqlSemanticError(
                    f"Semantic analysis exception - partition {folder} of {table.project}."
                    f"{table.name} does not exist; use DROP IF EXISTS PARTITION"
                )
            files = self._metadata.list_documents(
                FILE_KIND, partition_scope(table.region, table.project, table.name, folder)
            )
            self._metadata.commit([*(_deletion(f) for f in files), _deletion(found)])
            return True

        return retry_on_conflict(attempt, what=f"partition {folder} of {table.name}")

    def get_table(self, project: Project, name: str) -> Table:
        """The table, or TableNotFound naming it."""
        table, _ = read(
            self._metadata, Table, TABLE_KIND, f"{project.region}/{project.name}", name.lower()
        )
        if table is None:
            raise TableNotFound(
                f"ODPS-0130131:Table not found - table {project.name}.{name} cannot be resolved"
            )
        return table

    @staticmethod
    def shape(table: Table) -> TableShape:
        """The table's columns and partition keys, audit table or user's (the one answer every
        caller describing a table asks)."""
        return shape_of(table)

    def table_document(self, table: Table) -> Document:
        """The table's document as stored now, or TableNotFound (its project was deleted)."""
        document = self._metadata.get_document(
            TABLE_KIND, f"{table.region}/{table.project}", table.name
        )
        if document is None:
            raise TableNotFound(
                f"ODPS-0130131:Table not found - table {table.project}.{table.name} no longer "
                "exists (its project was deleted)"
            )
        return document

    def schema_write(self, table: Table, version: int) -> DocumentWrite | None:
        """The write moving the table to schema `version`, to commit with the first files written
        in it; None when the table is at that version or a newer one. Tables only move forward:
        their older files stay as they are and are read by name (warehouse/schema.py)."""
        if table.schema_version >= version:
            return None
        scope = f"{table.region}/{table.project}"
        found, document_version = read(self._metadata, Table, TABLE_KIND, scope, table.name)
        if found is None or found.schema_version >= version:
            return None
        moved = replace(found, schema_version=version)
        return DocumentWrite(TABLE_KIND, scope, table.name, encode(moved), document_version)

    def list_tables(self, project: Project) -> list[Table]:
        """The project's tables by name."""
        scope = f"{project.region}/{project.name}"
        return [decode(Table, d.body) for d in self._metadata.list_documents(TABLE_KIND, scope)]

    def list_partitions(self, table: Table) -> list[PartitionStats]:
        """The table's partitions, oldest first, with their file, row and byte counts."""
        scope = table_scope(table.region, table.project, table.name)
        documents = self._metadata.list_documents(PARTITION_KIND, scope)
        # Every query plans over these: decoded again only when a document changed (decoding
        # ninety partitions' stats took about as long as the rest of planning).
        bodies = tuple(document.body for document in documents)
        cached = self._partitions.get(scope)
        if cached is None or cached[0] != bodies:
            cached = (bodies, [decode(PartitionStats, body) for body in bodies])
            self._partitions[scope] = cached
        return list(cached[1])

    def partition(self, table: Table, ds: str) -> tuple[PartitionStats | None, int]:
        """One partition's stats and document version (None, 0 when it has no files yet)."""
        scope = table_scope(table.region, table.project, table.name)
        return read(self._metadata, PartitionStats, PARTITION_KIND, scope, ds)

    def digested_until(self, table: Table) -> int | None:
        """The time before which every committed file of the table is listed by a signed digest
        (None: no digest has listed any yet)."""
        scope = table_scope(table.region, table.project, table.name)
        digested, _ = read(self._metadata, Digested, DIGESTED_KIND, scope, "")
        return digested.until if digested else None

    def digested_write(self, table: Table, until: int) -> DocumentWrite:
        """The write recording that digests list the table's files committed before `until`,
        to commit with the digest itself."""
        scope = table_scope(table.region, table.project, table.name)
        digested, version = read(self._metadata, Digested, DIGESTED_KIND, scope, "")
        newest = max(until, digested.until if digested else until)
        return DocumentWrite(DIGESTED_KIND, scope, "", encode(Digested(newest)), version)

    def files(
        self, table: Table, partitions: Iterable[PartitionStats] | None = None
    ) -> list[DataFile]:
        """The committed files of the table, of every partition or only of those given.

        A partition's file list is remembered while its stats stay the same: files are only
        ever added, and every addition changes the stats in the same transaction.
        """
        chosen = self.list_partitions(table) if partitions is None else list(partitions)
        found: list[DataFile] = []
        for stats in chosen:
            scope = partition_scope(table.region, table.project, table.name, stats.ds)
            # A user's table may be overwritten (its files replaced): always read afresh.
            cached = None if table.is_user_table else self._files.get(scope)
            if cached is None or cached[0] != stats:
                listed = [
                    decode(DataFile, d.body)
                    for d in self._metadata.list_documents(FILE_KIND, scope)
                ]
                if len(listed) != stats.files:  # a commit landed in between: read it fresh
                    found.extend(listed)
                    continue
                cached = (stats, listed)
                self._files[scope] = cached
            found.extend(cached[1])
        return found

    def project_bytes(self, project: Project) -> int:
        """Bytes of committed files in all of a project's tables."""
        return sum(p.bytes for t in self.list_tables(project) for p in self.list_partitions(t))
