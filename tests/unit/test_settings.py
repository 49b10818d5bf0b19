"""Settings precedence: defaults < file < environment < flags, with errors that name the setting."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from trailhouse.errors import SettingsError
from trailhouse.settings import Settings


def test_defaults() -> None:
    settings = Settings.load(environ={})
    assert settings.port == 8080
    assert settings.retention_days == 90
    assert settings.database_url == ""


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    (tmp_path / "trailhouse.toml").write_text(
        'port = 9000\nretention_days = 30\nregion = "cn-beijing"\n'
    )
    environ = {"TRAILHOUSE_PORT": "9100", "TRAILHOUSE_RETENTION_DAYS": "45"}
    settings = Settings.load({"data_dir": tmp_path, "port": 9200}, environ=environ)
    assert settings.port == 9200
    assert settings.retention_days == 45
    assert settings.region == "cn-beijing"


def test_data_dir_from_the_environment_finds_its_file(tmp_path: Path) -> None:
    (tmp_path / "trailhouse.toml").write_text("port = 9300\n")
    settings = Settings.load(environ={"TRAILHOUSE_DATA_DIR": str(tmp_path)})
    assert (settings.data_dir, settings.port) == (tmp_path, 9300)


def test_unknown_settings_and_bad_values_are_named(tmp_path: Path) -> None:
    (tmp_path / "trailhouse.toml").write_text("colour = 'blue'\n")
    with pytest.raises(SettingsError, match="unknown setting"):
        Settings.load({"data_dir": tmp_path}, environ={})
    with pytest.raises(SettingsError, match="port='eighty' is not a valid int"):
        Settings.load(environ={"TRAILHOUSE_PORT": "eighty"})


def test_every_setting_has_help() -> None:
    assert all(help_text for _, _, help_text in Settings.load(environ={}).describe())


def test_the_server_sets_its_gil_switch_interval() -> None:
    # A request thread waits at most this long for the GIL behind the observers (issue 21).
    from trailhouse.runtime import apply_switch_interval

    before = sys.getswitchinterval()
    try:
        apply_switch_interval(Settings.load(environ={}))
        assert sys.getswitchinterval() == pytest.approx(0.001)
        apply_switch_interval(Settings.load(environ={"TRAILHOUSE_SWITCH_INTERVAL_MS": "2.5"}))
        assert sys.getswitchinterval() == pytest.approx(0.0025)
        with pytest.raises(SettingsError, match=r"switch_interval_ms=0\.0 must be above 0"):
            apply_switch_interval(Settings.load(environ={"TRAILHOUSE_SWITCH_INTERVAL_MS": "0"}))
    finally:
        sys.setswitchinterval(before)
