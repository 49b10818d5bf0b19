"""The delivery tests' services: real stores in a temporary folder, no waiting between passes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from trailhouse.runtime import Services, open_services
from trailhouse.settings import Settings


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    settings = Settings.load(
        {
            "data_dir": tmp_path / "data",
            "delivery_flush_seconds": 0.0,
            "delivery_retry_seconds": 0.0,  # retried at the next pass: tests need not wait
            "delivery_session_seconds": 0.0,  # destination checked at every pass
        },
        environ={},
    )
    opened = open_services(settings)
    yield opened
    opened.close()
