"""The security suite: the test modules docs/security.md names, read from the page itself."""

from __future__ import annotations

import re
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
SECURITY_PAGE = REPOSITORY / "docs" / "security.md"


def security_modules() -> set[str]:
    """The test modules docs/security.md names (repository-relative paths)."""
    text = SECURITY_PAGE.read_text(encoding="utf-8")
    return set(re.findall(r"`(tests/[\w/]+\.py)`", text))
