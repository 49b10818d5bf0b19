"""A real server killed at each named durable step (`trailhouse.faults.POINTS`) starts again
having lost and doubled nothing; a point without a case here fails the suite."""

from __future__ import annotations

import ast
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from compat_support import Server
from crash_findings import check_findings_once, enable_crash_rule
from crash_support import (
    NEW_DAYS_SECONDS,
    PURGE_ENV,
    RECENT_SECONDS,
    ArmedRun,
    Prepare,
    Store,
    check_after_crash,
    copy_store,
    kill_cli,
    prepare,
)
from test_crash_points_writes import WRITE_CASES

import trailhouse
from older_releases import day_files_as_format
from trailhouse import faults

log = logging.getLogger(__name__)


def _old_index_format(store: Store) -> None:
    """The index was built by an older release: it is deleted and rebuilt when opened."""
    state = store.data_dir / "events" / "state.json"
    saved = json.loads(state.read_text())
    state.write_text(json.dumps({**saved, "index_format": 1}))


def _format_2_index(store: Store) -> None:
    """The index was built before events kept their recorder: each day file gains the column
    in place when opened (a kill between files must leave them all upgradable)."""
    day_files_as_format(store.data_dir / "events", 2)


def _format_3_index(store: Store) -> None:
    """The index was built before LookupEvents' derived keys: each day file gains their rows in
    place when opened, from the stored bodies (a kill between files must leave them all
    upgradable)."""
    day_files_as_format(store.data_dir / "events", 3)


def _format_4_index(store: Store) -> None:
    """The index was built with the id hashes in an index on `events`: each day file gains its
    recent tables in place when opened (a kill between files must leave them all
    upgradable)."""
    day_files_as_format(store.data_dir / "events", 4)


@dataclass(frozen=True)
class Case:
    """How to reach one crash point: its hit, the settings of that run, and what to set up."""

    hit: int = 1
    env: Mapping[str, str] = field(default_factory=dict)
    setup: Prepare | None = None
    seconds: tuple[int, int] = RECENT_SECONDS  # how old the events sent are
    check: Callable[[Server, Store], None] | None = None  # the point's own work, after restart


HELPER_ENV = {"TRAILHOUSE_DELIVERY_ENCODE_PROCESS_EVENTS": "1"}
# Findings made by the server itself: the kill lands in its own commit of them.
IN_SERVER_DETECTIONS = {"TRAILHOUSE_DETECTIONS_PROCESS": "false"}

CASES: dict[str, Case] = {
    # The first segment exists already: the first hit is a roll (segments of 20 kB).
    "log.segment.created": Case(),
    "log.append.written": Case(hit=3),
    "log.append.synced": Case(hit=3),
    "log.segment.sealed": Case(),
    "dictionary.staged": Case(),  # trained on the first 2,000 events this process appends
    "index.day_file.staged": Case(seconds=NEW_DAYS_SECONDS),
    "index.day_file.created": Case(seconds=NEW_DAYS_SECONDS),
    "index.transaction.committed": Case(hit=3),
    "index.synced": Case(hit=2),
    "state.staged": Case(hit=2),
    "state.saved": Case(hit=2),
    "index.rebuild.dropped": Case(setup=_old_index_format),
    "index.recorder_column.added": Case(setup=_format_2_index),
    "index.derived_rows.day_added": Case(setup=_format_3_index),
    "index.derived_rows.added": Case(setup=_format_3_index),
    "index.recent_tables.day_added": Case(setup=_format_4_index),
    "index.recent_tables.added": Case(setup=_format_4_index),
    "purge.rule_saved": Case(env=PURGE_ENV),
    "purge.day_dropped": Case(env=PURGE_ENV),
    "purge.segments_dropped": Case(env=PURGE_ENV),
    # Every batch's file made by the encoder's helper process, which the kill must not outlive.
    "warehouse.file.staged": Case(hit=2, env=HELPER_ENV),
    "warehouse.file.renamed": Case(hit=2, env=HELPER_ENV),
    "warehouse.manifest.committed": Case(hit=2, env=HELPER_ENV),
    "compaction.staged": Case(),
    "compaction.renamed": Case(),
    "compaction.swapped": Case(),
    "compaction.swept": Case(),
    "digest.staged": Case(),
    "digest.written": Case(),
    "anchor.staged": Case(),
    # A rule fires on every event sent. Committed by the server (in-process evaluation), and
    # recorded by the server from the evaluation helper's answer.
    "finding.committed": Case(
        hit=2, env=IN_SERVER_DETECTIONS, setup=enable_crash_rule, check=check_findings_once
    ),
    "finding.recorded": Case(hit=2, setup=enable_crash_rule, check=check_findings_once),
}
# Reached outside a running server: creating a new store's metadata schema.
CLI_CASES = {"migration.applied"}
# Users' writes (SQL write jobs, tunnel uploads) have a harness of their own:
# test_crash_points_writes.py, whose WRITE_CASES name the points they kill at.


def test_every_crash_point_has_a_case_and_every_call_names_a_known_point() -> None:
    assert set(CASES) | CLI_CASES | set(WRITE_CASES) == set(faults.POINTS), (
        "a crash point without a case here, or a case for no point"
    )
    called: set[str] = set()
    for path in Path(trailhouse.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "point":
                argument = node.args[0]
                if isinstance(argument, ast.Constant):
                    called.add(str(argument.value))
                else:  # only durable.py passes on the names its callers give it
                    assert path.name == "durable.py", f"{path}: name a point literally"
            elif (
                isinstance(func, ast.Name)
                and func.id in {"place_file", "replace_file"}
                and path.name != "durable.py"
            ):
                for keyword in node.keywords:
                    if keyword.arg in {"staged", "placed"}:
                        assert isinstance(keyword.value, ast.Constant), f"{path}: a literal name"
                        called.add(str(keyword.value.value))
    assert called == set(faults.POINTS), "every point is called, and only points in POINTS"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return prepare(tmp_path_factory.mktemp("crash-template") / "data")


@pytest.mark.slow
@pytest.mark.parametrize("point", sorted(CASES))
def test_killed_at_the_point_starts_again_without_loss_or_duplicates(
    point: str, prepared: Store, tmp_path: Path
) -> None:
    case = CASES[point]
    store = copy_store(prepared, tmp_path / "data")
    if case.setup is not None:
        case.setup(store)
    before = len(store.ledger.acknowledged)
    run = ArmedRun(store, point, case.hit, case.env, case.seconds)
    run.run()
    unknown = len(store.ledger.unknown)
    startup = check_after_crash(store, tmp_path, case.env, case.check)
    log.info(
        "%s: %d events acknowledged in the killed run, %d batches unknown, restart %.1f s",
        point,
        len(store.ledger.acknowledged) - before,
        unknown,
        startup,
    )


@pytest.mark.slow
def test_killed_while_creating_a_new_store_starts_again(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    kill_cli(data_dir, "migration.applied", "account", "create")
    store = prepare(data_dir)  # the same store, used as if nothing had happened
    check_after_crash(store, tmp_path, {})
