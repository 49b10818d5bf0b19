"""The compatibility suite's fixtures. Its helpers live in `compat_support`, which test modules
import by that name (a module named `conftest` would clash with other suites' conftest files)."""

from compat_support import regional, running

__all__ = ["regional", "running"]
