"""The packages depend inward only, as docs/architecture.md draws them.

Each package of `src/trailhouse` may import only the packages its layer allows; a new import
that points outward (the warehouse importing trails, a service importing the API) fails here,
naming the file and the import, before it becomes a cycle nobody meant.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "trailhouse"

BASE = {
    "settings",
    "errors",
    "durable",
    "faults",
    "retry",
    "background",
    "metrics",
    "jsonlimits",
    "memory",
    "helper_process",
}
# package → the trailhouse packages it may import (besides itself and the base modules).
ALLOWED: dict[str, set[str]] = {
    "store": {"events"},  # the log stores and returns events' value types (events/model.py)
    "regions": set(),
    "iam": {"store"},
    "events": {"iam", "store"},
    "trails": {"iam", "regions", "store"},
    "warehouse": {"events", "iam", "store"},
    "delivery": {"events", "iam", "store", "trails", "warehouse"},
    "integrity": {"delivery", "events", "iam", "store", "trails", "warehouse"},
    # A trail's status reads delivery's state and leases and the digester's state.
    "trail_status": {"delivery", "integrity", "store", "trails"},
    # What the recorded events say: key usage and counts (usage), saved and run statements.
    "usage": {"events", "iam", "store", "trails"},
    "advanced_query": {"events", "store"},
    # Insights: computed over recorded events, delivered by trails whose selector asks.
    "insights": {"events", "store", "trails"},
    # Sigma rules over events as they arrive, and over the warehouse's history (its SQL jobs).
    "detections": {"events", "iam", "store", "warehouse"},
    # Insights and detections over arriving events, in their helper process or the server.
    "evaluation": {"detections", "events", "insights", "logs", "store"},
}


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [(node.lineno, name) for name in names if name.startswith("trailhouse.")]
    return found


def _package(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


@pytest.mark.parametrize("package", sorted(ALLOWED) + sorted(BASE))
def test_a_package_imports_only_what_its_layer_allows(package: str) -> None:
    allowed = ALLOWED.get(package, set()) | BASE | {package}
    module = SRC / f"{package}.py"
    files = [module] if module.exists() else sorted((SRC / package).rglob("*.py"))
    assert files or package in BASE, f"{package} is neither a module nor a package"
    outward = [
        f"{path.relative_to(SRC)}:{line} imports {name}"
        for path in files
        for line, name in _imports(path)
        if name.split(".")[1] not in allowed
    ]
    assert not outward, f"{package} may import only {sorted(allowed)}: " + "; ".join(outward)


def test_every_package_has_a_layer() -> None:
    packages = {_package(path) for path in SRC.rglob("*.py")}
    edges = {
        "api",
        "console",
        "cli",
        "odps_api",
        "maxcompute_openapi",
        "runtime",
        "admin_services",
        "producers",
        "client",
        "profiles",
        "demo",
        "logs",
    }
    unplaced = packages - set(ALLOWED) - BASE - edges - {"__init__", "__main__"}
    assert not unplaced, f"place {sorted(unplaced)} in a layer (here and in docs/architecture.md)"


def _module_name(path: Path) -> str:
    parts = ("trailhouse", *path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path, modules: set[str]) -> set[str]:
    """The trailhouse modules `path` imports when it is loaded (not inside functions)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in modules}


def test_no_module_imports_itself_back() -> None:
    paths = {_module_name(path): path for path in SRC.rglob("*.py")}
    graph = {name: _top_level_imports(path, set(paths)) for name, path in paths.items()}
    cycles = []
    for start in sorted(graph):
        stack, seen = [(start, (start,))], set()
        while stack:
            name, trail = stack.pop()
            for target in sorted(graph[name]):
                if target == start:
                    cycles.append(" → ".join((*trail, start)))
                elif target not in seen and target > start:  # each cycle once, from its least
                    seen.add(target)
                    stack.append((target, (*trail, target)))
    assert not cycles, "import cycles: " + "; ".join(cycles)


def test_no_module_is_over_800_lines() -> None:
    long = [
        f"{path.relative_to(SRC)} ({lines} lines)"
        for path in sorted(SRC.rglob("*.py"))
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > 800
    ]
    assert not long, "split these modules: " + ", ".join(long)
