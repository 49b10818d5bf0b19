"""The producer tests' fixtures. Their helpers live in `producers_support`, which test modules
import by that name (a module named `conftest` would clash with other suites' conftest files)."""

from producers_support import dead_endpoint, find_events, server, server_factory

__all__ = ["dead_endpoint", "find_events", "server", "server_factory"]
