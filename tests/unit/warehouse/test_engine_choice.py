"""Choosing the SQL engine by setting, and a clear error when the Spark extra is missing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from trailhouse.errors import SettingsError
from trailhouse.settings import Settings
from trailhouse.warehouse.sql.engines import open_engine


def test_duckdb_is_the_default_engine(tmp_path: Path) -> None:
    engine = open_engine(Settings.load({"data_dir": tmp_path}, environ={}))
    assert engine.name == "duckdb"


def test_spark_without_pyspark_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on a machine without the extra: importing pyspark fails.
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.delitem(sys.modules, "trailhouse.warehouse.sql.spark", raising=False)
    settings = Settings.load({"data_dir": tmp_path, "sql_engine": "spark"}, environ={})
    with pytest.raises(SettingsError, match=r"pip install 'trailhouse\[spark\]'"):
        open_engine(settings)


def test_an_unknown_engine_is_refused(tmp_path: Path) -> None:
    settings = Settings.load({"data_dir": tmp_path, "sql_engine": "presto"}, environ={})
    with pytest.raises(SettingsError, match="use duckdb or spark"):
        open_engine(settings)
