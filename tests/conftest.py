"""Fixtures shared by every suite: settings on a temporary data directory, a PostgreSQL schema;
and, in CI, a skip for a missing system package is a failure (`system_packages.py`)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from security_suite import REPOSITORY, security_modules
from system_packages import fail_in_ci
from trailhouse.settings import Settings

POSTGRES_URL = os.environ.get("TRAILHOUSE_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for an embedded store in a fresh temporary data directory."""
    return Settings.load({"data_dir": tmp_path / "data"}, environ={})


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A database URL whose search_path is a fresh schema, dropped after the test."""
    psycopg = pytest.importorskip("psycopg")
    schema = f"th_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True)
    except psycopg.OperationalError as exc:  # pragma: no cover - depends on the machine
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc}")
    with admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of a module docs/security.md names with `security`."""
    named = security_modules()
    for item in items:
        if item.path.relative_to(REPOSITORY).as_posix() in named:
            item.add_marker(pytest.mark.security)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """In CI (`CI` set), a test skipped for a missing system package fails instead."""
    report = yield
    fail_in_ci(report, os.environ)
    return report
