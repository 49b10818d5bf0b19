"""Users' own tables: the MaxCompute types their columns may have, their partition folders, and
the shape (columns and partition keys) of any table, audit or user's.

An audit table's columns are warehouse/schema.py's, partitioned by `ds`. A user's table, made by
CREATE TABLE in a project that is not `actiontrail_*`, keeps its columns in its catalog document
(`Table.columns`, `Table.partition_keys`); `shape_of` answers both alike, so the API and the
planner describe and read either without asking which it is. Partition keys are STRING, as
MaxCompute's partition columns nearly always are; a partition is the folder
`key=value[/key=value]` under the table's folder, and an unpartitioned table's files sit in the
table's folder itself (partition "").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa

from trailhouse.errors import InvalidParameter
from trailhouse.warehouse.model import Table, UserColumn, is_partition
from trailhouse.warehouse.schema import PARTITION, Column, schema_of

# MaxCompute's types a user's column may have: their DuckDB and Arrow types.
_SIMPLE: dict[str, tuple[str, pa.DataType]] = {
    "BIGINT": ("BIGINT", pa.int64()),
    "INT": ("INTEGER", pa.int32()),
    "SMALLINT": ("SMALLINT", pa.int16()),
    "TINYINT": ("TINYINT", pa.int8()),
    "DOUBLE": ("DOUBLE", pa.float64()),
    "FLOAT": ("FLOAT", pa.float32()),
    "STRING": ("VARCHAR", pa.string()),
    "BOOLEAN": ("BOOLEAN", pa.bool_()),
    "DATETIME": ("TIMESTAMP", pa.timestamp("us")),
    "DATE": ("DATE", pa.date32()),
}
_DECIMAL = re.compile(r"^DECIMAL\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\Z")
SUPPORTED_TYPES = (*_SIMPLE, "DECIMAL(p,s)")
# A partition value as a folder name can hold it: no '/', '=', quote or leading dot.
_PARTITION_VALUE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-.:]{0,127}\Z")
MAX_COLUMNS = 1200  # MaxCompute's limit on a table's columns
# A column's name: as a table's, or starting with '_' (MaxCompute names unnamed results `_c0`).
_COLUMN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}\Z")


def is_column_name(name: str) -> bool:
    """True for a name a user table's column may have."""
    return bool(_COLUMN_NAME.match(name))


def normal_type(text: str) -> str:
    """The MaxCompute type as trailhouse keeps it (upper case, DECIMAL with its precision and
    scale: a bare DECIMAL is DECIMAL(38,18)); InvalidParameter naming the supported types."""
    name = " ".join(text.upper().split())
    if name in _SIMPLE:
        return name
    found = _DECIMAL.match(name)
    if found:
        precision = int(found.group(1) or 38)
        scale = int(found.group(2) or (18 if found.group(1) is None else 0))
        if 1 <= precision <= 38 and 0 <= scale <= precision:
            return f"DECIMAL({precision},{scale})"
        raise InvalidParameter(f"type {text}: DECIMAL(p,s) needs 1 <= p <= 38 and 0 <= s <= p")
    raise InvalidParameter(
        f"type {text} is not supported in a table of one's own; use one of "
        f"{', '.join(SUPPORTED_TYPES)}"
    )


def duckdb_type(odps_type: str) -> str:
    """The DuckDB type that holds a (normal) MaxCompute type."""
    if odps_type.startswith("DECIMAL"):
        return odps_type
    return _SIMPLE[odps_type][0]


def arrow_type(odps_type: str) -> pa.DataType:
    """The Arrow type of a (normal) MaxCompute type, as its Parquet files hold it."""
    found = _DECIMAL.match(odps_type)
    if found:
        return pa.decimal128(int(found.group(1)), int(found.group(2)))
    return _SIMPLE[odps_type][1]


def check_columns(columns: Sequence[UserColumn], keys: Sequence[UserColumn]) -> None:
    """Refuse a user table's columns that MaxCompute would: no column, a bad or repeated name
    (partition keys included), an unsupported type, or a partition key that is not STRING."""
    if not columns:
        raise InvalidParameter("a table needs at least one column")
    if len(columns) > MAX_COLUMNS:
        raise InvalidParameter(f"a table has at most {MAX_COLUMNS} columns, not {len(columns)}")
    seen: set[str] = set()
    for column in (*columns, *keys):
        if not is_column_name(column.name):
            raise InvalidParameter(
                f"column name {column.name!r}: use letters, digits and underscores, starting "
                "with a letter or '_'"
            )
        if column.name.lower() in seen:
            raise InvalidParameter(f"column {column.name} is named twice; name each column once")
        seen.add(column.name.lower())
        if normal_type(column.type) != column.type:
            raise InvalidParameter(f"column {column.name}: type {column.type} is not normal")
    for key in keys:
        if key.type != "STRING":
            raise InvalidParameter(
                f"partition key {key.name} is {key.type}: trailhouse partition keys are STRING"
            )


def partition_folder(table: Table, values: Mapping[str, str]) -> str:
    """The partition folder (`key=value/…`, "" when unpartitioned) of these key values, which
    must name every partition key of the table and nothing else."""
    keys = [key.name for key in table.partition_keys]
    given = {name.lower(): value for name, value in values.items()}
    if set(given) != set(keys):
        wanted = ", ".join(f"{k}='…'" for k in keys) or "no partition (the table has none)"
        named = ", ".join(f"{k}='{v}'" for k, v in given.items()) or "none"
        raise InvalidParameter(
            f"partition {named} does not fit table {table.project}.{table.name}: name {wanted}"
        )
    for key in keys:
        if not _PARTITION_VALUE.match(given[key]):
            raise InvalidParameter(
                f"partition value {given[key]!r} of {key}: use up to 128 letters, digits, "
                "'_', '-', '.' and ':', starting with a letter, digit or '_'"
            )
    return "/".join(f"{key}={given[key]}" for key in keys)


def partition_values(name: str) -> dict[str, str]:
    """The key values of a partition: an audit table's day (`20261205` → {ds: 20261205}) or a
    user table's folder (`a=1/b=2` → {a: 1, b: 2})."""
    if is_partition(name):
        return {PARTITION.name: name}
    return dict(part.split("=", 1) for part in name.split("/") if part)


@dataclass(frozen=True, slots=True)
class TableShape:
    """What a table shows: its data columns and its partition keys, in order, each with its
    MaxCompute and Arrow type; `version` is an audit table's schema version (0 for a user's)."""

    columns: tuple[Column, ...]
    partition_keys: tuple[Column, ...]
    version: int

    @property
    def names(self) -> tuple[str, ...]:
        """The data columns' names."""
        return tuple(column.name for column in self.columns)

    @property
    def key_names(self) -> tuple[str, ...]:
        """The partition keys' names."""
        return tuple(key.name for key in self.partition_keys)

    @property
    def view_names(self) -> tuple[str, ...]:
        """The columns a query sees: the data columns, then the partition keys."""
        return (*self.names, *self.key_names)


def shape_of(table: Table) -> TableShape:
    """The columns and partition keys of a table: an audit table's schema version's, or a user
    table's own."""
    if not table.is_user_table:
        schema = schema_of(table.schema_version)
        return TableShape(schema.columns, (PARTITION,), schema.version)
    return TableShape(
        tuple(_column(c) for c in table.columns),
        tuple(_column(c) for c in table.partition_keys),
        0,
    )


def _column(column: UserColumn) -> Column:
    return Column(
        column.name,
        "",
        column.comment,
        odps_type=column.type,
        arrow_type=arrow_type(column.type),
    )
