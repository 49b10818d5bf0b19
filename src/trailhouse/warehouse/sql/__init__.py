"""MaxCompute SQL: the sqlglot dialect that reads it and its translation to the engines' SQL."""

from __future__ import annotations

from trailhouse.warehouse.sql.dialect import InvalidSql, MaxCompute, UnsupportedSql, to_duckdb

__all__ = ["InvalidSql", "MaxCompute", "UnsupportedSql", "to_duckdb"]
