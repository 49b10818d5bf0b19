"""The console tests' fixtures; helpers live in `console_support` (a module named conftest
would clash with other suites' conftest files)."""

from console_support import console, console_factory

__all__ = ["console", "console_factory"]
