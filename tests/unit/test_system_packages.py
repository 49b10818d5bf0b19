"""A test that needs a missing system package is skipped, naming the package and the command
that installs it; in CI (`CI` set) that skip is a failure, so CI runs every test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from system_packages import MISSING, fail_in_ci, missing_reason

REPOSITORY = Path(__file__).resolve().parents[2]
# One test that starts a Spark session (the `spark_engine` fixture needs Java first).
SPARK_TEST = "tests/unit/warehouse/test_spark_engine.py::test_regression_to_date_of_a_compact_date"


def _run_without_java(ci: str | None) -> subprocess.CompletedProcess[str]:
    """Run the Spark test with no Java on PATH and no JAVA_HOME, CI set or not."""
    environ = {
        k: v for k, v in os.environ.items() if k not in {"CI", "JAVA_HOME", "PYTEST_ADDOPTS"}
    }
    environ["PATH"] = str(Path(sys.executable).parent)  # the venv: Python, no java
    if ci is not None:
        environ["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", SPARK_TEST],
        cwd=REPOSITORY,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_java_a_spark_test_is_skipped_naming_the_package_and_command() -> None:
    result = _run_without_java(ci=None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
    assert "missing system package openjdk-17-jre-headless" in result.stdout
    assert "sudo apt-get install openjdk-17-jre-headless" in result.stdout


def test_in_ci_that_skip_is_a_failure() -> None:
    result = _run_without_java(ci="true")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 error" in result.stdout or "1 failed" in result.stdout
    assert "CI runs every test, and this one was skipped" in result.stdout
    assert "sudo apt-get install openjdk-17-jre-headless" in result.stdout


def _skip_report(reason: str) -> pytest.TestReport:
    return pytest.TestReport(
        "tests/x.py::test_x",
        ("tests/x.py", 1, "test_x"),
        {},
        "skipped",
        ("tests/x.py", 1, f"Skipped: {reason}"),
        "setup",
    )


@pytest.mark.parametrize(
    ("reason", "environ", "outcome"),
    [
        (missing_reason("chromium", "the browser tests"), {"CI": "true"}, "failed"),
        (missing_reason("chromium", "the browser tests"), {}, "skipped"),
        (missing_reason("chromium", "the browser tests"), {"CI": ""}, "skipped"),
        ("thread priorities are set on Linux only", {"CI": "true"}, "skipped"),
    ],
)
def test_only_missing_package_skips_fail_and_only_in_ci(
    reason: str, environ: dict[str, str], outcome: str
) -> None:
    report = _skip_report(reason)
    fail_in_ci(report, environ)
    assert report.outcome == outcome
    if outcome == "failed":
        assert MISSING in str(report.longrepr)
