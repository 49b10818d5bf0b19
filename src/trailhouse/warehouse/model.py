"""What the warehouse holds: projects, their members and quotas, tables, partitions, data files.

Every one of them is a control-plane document, so a change commits all-or-nothing with the
versions it read. A data file is its own document (created once, never rewritten), so committing
a batch costs the same however many files a table already has, and a replayed batch collides
with its own earlier commit instead of being counted twice.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from trailhouse.warehouse.json_columns import NO_LAYOUT, JsonLayout
from trailhouse.warehouse.schema import FIRST_VERSION
from trailhouse.warehouse.sql.timezones import LEGACY_ZONE

PROJECT_KIND = "wh-project"
TABLE_KIND = "wh-table"
PARTITION_KIND = "wh-partition"
FILE_KIND = "wh-file"
QUOTA_KIND = "wh-quota"
JOB_KIND = "wh-job"
RUNNER_KIND = "wh-sql-runner"
STORAGE_SAMPLE_KIND = "wh-storage-sample"
# A job's or upload's commit into a user's table, named by its id (warehouse/job_writes.py).
WRITE_KIND = "wh-write"
# How far signed digests list a table's files (`Catalog.digested_until`).
DIGESTED_KIND = "wh-digested"

PROJECT_PREFIX = "actiontrail_"
PAYG_QUOTA = "pay-as-you-go"


class Role:
    """Project roles. Admin may read, write and manage members; Reader may only query."""

    ADMIN = "Admin"
    READER = "Reader"
    ALL = (ADMIN, READER)


class Privilege:
    """What a caller asks of a project; a refusal names the privilege it lacked."""

    SELECT = "Select"
    WRITE = "Write"
    MANAGE = "Manage"


_TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}\Z")
_PARTITION = re.compile(r"^[0-9]{8}\Z")
# `actiontrail_<account id>`: the only names the reserved prefix allows.
_DELIVERY_PROJECT = re.compile(r"^actiontrail_(?P<account>[0-9]{16})\Z")
# A trail's digests are rows of its table's companion (integrity/digester.py).
DIGEST_TABLE_SUFFIX = "_digest"


def project_name(account_id: str) -> str:
    """The delivery project of an account: `actiontrail_<account id>`."""
    return f"{PROJECT_PREFIX}{account_id}"


def table_name(trail_name: str) -> str:
    """The table a trail delivers into: `actiontrail_<trail name>` with hyphens as underscores.

    MaxCompute table names allow only letters, digits and underscores; trail names also allow
    hyphens (trail `prod-audit` → table `actiontrail_prod_audit`).
    """
    return f"{PROJECT_PREFIX}{trail_name.replace('-', '_')}".lower()


def digest_table_name(table: str) -> str:
    """The table holding the signed digests of `table`'s files: `<table>_digest`."""
    return f"{table}{DIGEST_TABLE_SUFFIX}"


def trail_tables(trail_name: str) -> tuple[str, str]:
    """Every table a trail of this name writes in its project: its table and its digest table.

    Two trails of one project must not share any of them (trail `a-b` and `a_b` map to one
    table, and trail `x_digest`'s table is trail `x`'s digest table).
    """
    table = table_name(trail_name)
    return table, digest_table_name(table)


def delivery_project_account(name: str) -> str | None:
    """The account a delivery project name belongs to (`actiontrail_<id>` → `<id>`), else None."""
    found = _DELIVERY_PROJECT.match(name)
    return found.group("account") if found else None


def is_table_name(name: str) -> bool:
    """True for a valid MaxCompute table name."""
    return bool(_TABLE_NAME.match(name))


def is_partition(ds: str) -> bool:
    """True for a `ds` value of the form YYYYMMDD."""
    return bool(_PARTITION.match(ds))


def table_scope(region: str, project: str, table: str) -> str:
    """The document scope of a table's partitions (and the folder of its files)."""
    return f"{region}/{project}/{table}"


def partition_scope(region: str, project: str, table: str, ds: str) -> str:
    """The document scope of one partition's data files."""
    return f"{table_scope(region, project, table)}/ds={ds}"


@dataclass(frozen=True, slots=True)
class Member:
    """A principal that belongs to a project with a role.

    `principal` is an account id (that account's root and, through their policies, its RAM
    users), `<account id>/<user name>` for one RAM user, or a role ARN.
    """

    principal: str
    role: str
    added_at: int


@dataclass(frozen=True, slots=True)
class Project:
    """A MaxCompute-style project in one region, owned by one account and bound to one quota."""

    region: str
    name: str
    owner: str
    quota: str
    members: tuple[Member, ...]
    created_at: int
    # The project's `odps.sql.timezone` (an IANA name): its region's default at creation, then
    # what its owner sets. "" for a project created before projects had one (see time_zone).
    timezone: str = ""

    @property
    def time_zone(self) -> str:
        """The zone its jobs' datetimes are shown in (UTC for a project older than zones)."""
        return self.timezone or LEGACY_ZONE

    @property
    def is_delivery_project(self) -> bool:
        """True for an `actiontrail_*` project, which accepts writes from delivery only."""
        return self.name.startswith(PROJECT_PREFIX)

    @property
    def arn(self) -> str:
        """`acs:odps:<region>:<owner>:project/<name>`."""
        return f"acs:odps:{self.region}:{self.owner}:project/{self.name}"

    def role_of(self, principal: str) -> str | None:
        """The role this exact principal holds, or None."""
        for member in self.members:
            if member.principal == principal:
                return member.role
        return None


@dataclass(frozen=True, slots=True)
class UserColumn:
    """A column of a user's table: its name, MaxCompute type (BIGINT, DECIMAL(10,2), …) and
    comment (warehouse/user_tables.py reads the types)."""

    name: str
    type: str
    comment: str = ""


@dataclass(frozen=True, slots=True)
class Table:
    """A table of a project: the audit schema partitioned by `ds`, or a user's table.

    `schema_version` is the newest schema version written into an audit table
    (warehouse/schema.py): the columns it shows. A table from before versions were recorded is
    at version 1. A user's table (CREATE TABLE in a project of one's own) has its own `columns`
    and `partition_keys` (none: unpartitioned); an audit table has no `columns`.
    """

    region: str
    project: str
    name: str
    created_at: int
    comment: str = ""
    schema_version: int = FIRST_VERSION
    columns: tuple[UserColumn, ...] = ()
    partition_keys: tuple[UserColumn, ...] = ()

    @property
    def is_user_table(self) -> bool:
        """True for a table a user created, with its own columns; False for an audit table."""
        return bool(self.columns)


@dataclass(frozen=True, slots=True)
class PartitionStats:
    """One partition of a table: how many committed files, rows and bytes it holds.

    `ds` names it: the day (YYYYMMDD) of an audit table's partition; for a user's table its
    folder, `key=value[/key=value]`, or "" for an unpartitioned table's one partition.
    """

    ds: str
    files: int
    rows: int
    bytes: int
    last_modified: int


@dataclass(frozen=True, slots=True)
class Digested:
    """Every file of a table committed before `until` (epoch seconds) is listed by a digest."""

    until: int


@dataclass(frozen=True, slots=True)
class DataFile:
    """One committed Parquet file: where it is, what it holds, and the bytes of each column.

    `column_bytes` lets a query be billed for the columns it reads, as MaxCompute bills, and
    `first_seq`/`last_seq` tie the file to the event-log range it came from.
    """

    path: str
    ds: str
    rows: int
    bytes: int
    sha256: str
    first_seq: int
    last_seq: int
    min_event_time: str
    max_event_time: str
    column_bytes: dict[str, int]
    committed_at: int
    # A compacted file: the (path, sha256, rows) of the files it replaced, so digests stay
    # verifiable after those files are gone.
    replaces: tuple[tuple[str, str, int], ...] = ()
    # Every column of this schema version holds, in every row, what the writer extracts from
    # the event (a compacted file: the oldest version of the files it replaced).
    schema_version: int = FIRST_VERSION
    # What its JSON path columns answer (warehouse/json_columns.py); none in a file written
    # before they existed.
    json_layout: JsonLayout = NO_LAYOUT


@dataclass(frozen=True, slots=True)
class Quota:
    """A compute quota of an account in a region: pay-as-you-go or a subscription of CUs.

    A job runs with `threads` threads and `memory_gb` of memory; `concurrency` jobs of the
    quota run at once and the rest wait in its queue.
    """

    account_id: str
    region: str
    name: str
    kind: str
    cu: int
    threads: int
    memory_gb: float
    concurrency: int
    created_at: int

    @property
    def is_subscription(self) -> bool:
        """True for a quota bought in CUs."""
        return self.kind == "subscription"


class JobStatus:
    """A job's life: Waiting → Running → Terminated, or Failed, or Cancelled."""

    WAITING = "Waiting"
    RUNNING = "Running"
    TERMINATED = "Terminated"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    FINAL = (TERMINATED, FAILED, CANCELLED)


@dataclass(frozen=True, slots=True)
class SqlJob:
    """One SQL job as it is kept: what ran, for whom, what it read and cost, how it ended."""

    job_id: str
    account_id: str
    billed_account: str
    submitted_by: str
    region: str
    project: str
    quota: str
    engine: str
    sql: str
    kind: str
    status: str
    submitted_at: float
    started_at: float
    finished_at: float
    input_bytes: int
    complexity: float
    cost_usd: float
    partitions_read: int
    partitions_total: int
    rows: int
    truncated: bool
    error_code: str
    error_message: str
    progress: float
    # The process that runs it (see SqlJobService.heartbeat): its jobs are failed only once
    # it has stopped beating, so several processes may share one store.
    runner: str = ""

    @property
    def queue_seconds(self) -> float:
        """Time spent waiting for a slot of the quota (not billed)."""
        end = self.started_at or self.finished_at
        return max(0.0, end - self.submitted_at) if end else 0.0

    @property
    def run_seconds(self) -> float:
        """Time spent running."""
        if not self.started_at:
            return 0.0
        return max(0.0, (self.finished_at or time.time()) - self.started_at)
