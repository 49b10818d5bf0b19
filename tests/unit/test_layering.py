"""Edges call services, never stores: no module of `api/`, `cli/`, `console/`, `odps_api/` or
`maxcompute_openapi/` imports `trailhouse.store`, touches a `.stores` attribute, or reads the
status documents itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "src" / "trailhouse"
EDGES = ("api", "cli", "console", "odps_api", "maxcompute_openapi")
# A trail's status is read by `trailhouse.trail_status` alone; an edge asks it.
STATUS_READERS = {
    "trailhouse.delivery.state": {"read_state"},
    "trailhouse.delivery.leases": {"read_lease", "read_leases", "live_workers"},
    "trailhouse.integrity.digester": {"read_digest_state"},
}


def reach_ins(source: str) -> list[str]:
    """What a module does that only services may: import the store, use `.stores`, or read
    status documents without the read model."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            readers = STATUS_READERS.get(node.module, set())
            found += [
                f"line {node.lineno}: imports {node.module}.{alias.name}"
                for alias in node.names
                if alias.name in readers
            ]
        elif isinstance(node, ast.Attribute) and node.attr == "stores":
            found.append(f"line {node.lineno}: uses .stores")
            continue
        else:
            continue
        stores = [
            m for m in modules if m == "trailhouse.store" or m.startswith("trailhouse.store.")
        ]
        found += [f"line {node.lineno}: imports {stores[0]}"] if stores else []
    return found


def edge_modules() -> list[Path]:
    return sorted(path for edge in EDGES for path in (SOURCE / edge).rglob("*.py"))


def test_the_edges_are_found() -> None:
    names = {path.relative_to(SOURCE).as_posix() for path in edge_modules()}
    assert {
        "api/handlers/trails.py",
        "api/metrics.py",
        "cli/serve.py",
        "console/routes.py",
        "odps_api/catalog.py",
        "maxcompute_openapi/catalog.py",
    } <= names


@pytest.mark.parametrize(
    "path", edge_modules(), ids=lambda path: path.relative_to(SOURCE).as_posix()
)
def test_an_edge_calls_services_not_stores(path: Path) -> None:
    assert reach_ins(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("source", "reach_in"),
    [
        ("from trailhouse.store import open_metadata", "imports trailhouse.store"),
        ("from trailhouse.store.ports import PrincipalKind", "imports trailhouse.store.ports"),
        ("import trailhouse.store.documents", "imports trailhouse.store.documents"),
        ("from trailhouse import store", "imports trailhouse.store"),
        ("services.stores.metadata.commit([])", "uses .stores"),
        ("x = ctx.services.stores", "uses .stores"),
        (
            "from trailhouse.delivery.state import read_state",
            "imports trailhouse.delivery.state.read_state",
        ),
        (
            "from trailhouse.integrity.digester import read_digest_state",
            "imports trailhouse.integrity.digester.read_digest_state",
        ),
    ],
)
def test_each_kind_of_reach_in_is_caught(source: str, reach_in: str) -> None:
    assert [found.split(": ", 1)[1] for found in reach_ins(source)] == [reach_in]


def test_services_and_their_enums_are_fine() -> None:
    assert (
        reach_ins(
            "from trailhouse.iam.principals import PrincipalKind\n"
            "from trailhouse.trail_status import TrailStatus\n"
            "from trailhouse.storage_things import x\n"
            "services.trail_status.status(trail)\n"
        )
        == []
    )
