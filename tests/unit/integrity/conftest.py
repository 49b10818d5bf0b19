"""One trail's table, delivered and digested once per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from integrity_support import Delivered, delivered_table


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Delivered]:
    """A trail that delivered 600 events, digested for ten minutes ahead of now."""
    yield from delivered_table(tmp_path_factory)
