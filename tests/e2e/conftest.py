"""The end-to-end tests' fixtures; helpers live in `e2e_support`."""

from __future__ import annotations

import pytest
from e2e_support import SCREENSHOTS, SHOTS, demo_server, playwright_browser, shots

__all__ = ["demo_server", "playwright_browser", "shots"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Name the screenshots folder and the measured page load times."""
    if not SHOTS.taken:
        return
    terminalreporter.write_line(f"console screenshots ({len(SHOTS.taken)}): {SCREENSHOTS}")
    if SHOTS.timings:
        shown = ", ".join(f"{page} {ms} ms" for page, ms in SHOTS.timings.items())
        terminalreporter.write_line(f"console pages ready after: {shown}")
