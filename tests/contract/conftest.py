"""The contract suite runs once per storage adapter: every test here takes `stores`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from trailhouse.settings import Settings
from trailhouse.store import Stores, open_stores


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """Settings selecting each adapter in turn."""
    if request.param == "sqlite":
        return settings
    url = request.getfixturevalue("postgres_url")
    return Settings.load({"data_dir": settings.data_dir, "database_url": url}, environ={})


@pytest.fixture
def stores(store_settings: Settings) -> Iterator[Stores]:
    """Opened stores of one adapter, closed after the test."""
    opened = open_stores(store_settings)
    try:
        yield opened
    finally:
        opened.close()
