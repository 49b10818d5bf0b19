"""The security suite is what docs/security.md says it is.

Every test module the page names exists, and every module written as an attack
(`test_attack_*.py`) is named there: an attack kept as a test cannot drop out of the suite, and
the page cannot promise a test that is gone.
"""

from __future__ import annotations

from security_suite import REPOSITORY, security_modules


def test_every_module_the_page_names_exists() -> None:
    missing = sorted(path for path in security_modules() if not (REPOSITORY / path).is_file())
    assert not missing, f"docs/security.md names test modules that do not exist: {missing}"


def test_every_attack_module_is_named_on_the_page() -> None:
    attacks = {
        path.relative_to(REPOSITORY).as_posix()
        for path in (REPOSITORY / "tests").rglob("test_attack_*.py")
    }
    unnamed = sorted(attacks - security_modules())
    assert not unnamed, f"name these attack modules in docs/security.md: {unnamed}"


def test_the_page_names_a_suite_worth_running() -> None:
    assert len(security_modules()) >= 10
