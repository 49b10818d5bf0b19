"""The demo's hints name a trailhouse command that works as printed: `trailhouse` only when
that is the one on PATH, else the script beside the interpreter, else `python -m trailhouse`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from trailhouse.cli.serve import trailhouse_command


def _venv(root: Path) -> Path:
    """A directory laid out as a virtual environment's bin/, with python and trailhouse."""
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "trailhouse"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    return bin_dir


def test_inside_the_directory_the_script_is_named_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = _venv(tmp_path)
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert trailhouse_command(tmp_path) == ".venv/bin/trailhouse"


def test_elsewhere_the_script_is_named_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = _venv(tmp_path / "repo")
    (tmp_path / "other").mkdir()
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert trailhouse_command(tmp_path / "other") == str(bin_dir / "trailhouse")


def test_the_bare_name_only_when_path_finds_this_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = _venv(tmp_path)
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    assert trailhouse_command(tmp_path) == "trailhouse"
    other = _venv(tmp_path / "another")
    monkeypatch.setenv("PATH", f"{other}:/usr/bin:/bin")  # a different trailhouse comes first
    assert trailhouse_command(tmp_path) == ".venv/bin/trailhouse"


def test_without_a_script_the_interpreter_runs_the_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "my python" / "python3"))
    assert trailhouse_command(tmp_path) == f"'{tmp_path}/my python/python3' -m trailhouse"
