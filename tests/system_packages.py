"""System packages some tests need (Java for Spark, Debian's Chromium for the browser tests).

Where one is missing, the test is skipped with a reason that names the Debian package and the
command that installs it, so `make test` works for a user who is not root. In CI (the `CI`
environment variable is set) such a skip is a failure instead: `tests/conftest.py` turns every
skip whose reason starts with `MISSING` into one, so CI always runs every test.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

MISSING = "missing system package"


def missing_reason(package: str, needed_for: str) -> str:
    """The skip reason for a missing Debian package: which, what for, and how to install it."""
    return (
        f"{MISSING} {package} ({needed_for}): install it with "
        f"`sudo apt-get install {package}` (make test does when run as root)"
    )


def require_java() -> None:
    """Skip (a failure in CI) unless a Java runtime is on PATH or JAVA_HOME is set."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip(missing_reason("openjdk-17-jre-headless", "Spark needs Java 17 or newer"))


def require_chromium(path: Path) -> None:
    """Skip (a failure in CI) unless the Chromium the browser tests drive is at `path`."""
    if not path.exists():
        pytest.skip(missing_reason("chromium", f"the browser tests drive {path}"))


def is_missing_package_skip(report: pytest.TestReport) -> bool:
    """Whether a test report is a skip for a missing system package."""
    if not report.skipped or not isinstance(report.longrepr, tuple):
        return False
    reason = str(report.longrepr[2])
    return reason.removeprefix("Skipped: ").startswith(MISSING)


def fail_in_ci(report: pytest.TestReport, environ: dict[str, str] | os._Environ[str]) -> None:
    """In CI, turn a skip for a missing system package into a failure that says so."""
    if environ.get("CI") and is_missing_package_skip(report):
        assert isinstance(report.longrepr, tuple)
        reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = f"CI runs every test, and this one was skipped: {reason}"
