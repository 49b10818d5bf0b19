"""Every Python block of docs/pyodps.md runs, as written, against the running server: the
placeholders a reader replaces (key, secret, project, endpoint, trail table, day, a query) are
replaced with a real account's, and nothing else is changed. A block that stops working, or a
placeholder the doc no longer has, fails here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from compat_support import Fixture
from pyodps_support import Warehouse, client, endpoint, make_warehouse, pyodps_state

from trailhouse.client import RpcClient

ACCOUNT = "7777000012340044"
TABLE = "actiontrail_pyodps_doc_avocet"
DOC = Path(__file__).resolve().parents[2] / "docs" / "pyodps.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


OWN = "avocet_results"  # the doc's "my_results": created as its shell step says


@pytest.fixture(scope="module")
def warehouse(running: Fixture) -> Iterator[Warehouse]:
    made = make_warehouse(running.server, ACCOUNT, TABLE, events=900)
    with RpcClient(running.server.url, made.root.access_key_id, made.root.access_key_secret) as rpc:
        rpc.call("CreateProject", {"Project": OWN})
    with pyodps_state():
        yield made


def _busiest_day(running: Fixture, warehouse: Warehouse) -> str:
    table = client(running.server, warehouse.root, warehouse.project).get_table(TABLE)
    counts = {str(p.partition_spec["ds"]): p.record_num for p in table.partitions}
    day = max(counts, key=lambda d: counts[d])
    assert counts[day] >= 150  # the doc reads rows 100..149 of it
    return day


def test_every_python_block_of_the_doc_runs(running: Fixture, warehouse: Warehouse) -> None:
    text = DOC.read_text()
    blocks = _BLOCK.findall(text)
    assert len(blocks) >= 2
    day = _busiest_day(running, warehouse)
    placeholders = [
        ('"LTAI..."', repr(warehouse.root.access_key_id)),
        ('"...",  # its secret', f"{warehouse.root.access_key_secret!r},  # its secret"),
        ('"actiontrail_1111222233334444"', repr(warehouse.project)),
        ('"http://127.0.0.1:8080/api"', repr(endpoint(running.server))),
        ('"SELECT ..."', repr(f"SELECT COUNT(*) AS n FROM {TABLE}")),
        ("actiontrail_my_trail", TABLE),
        ("20261205", day),
        ('"my_results"', repr(OWN)),
    ]
    used = set()
    namespace: dict[str, Any] = {}
    for index, block in enumerate(blocks):
        code = block
        for placeholder, value in placeholders:
            if placeholder in code:
                used.add(placeholder)
                code = code.replace(placeholder, value)
        exec(compile(code, f"{DOC.name} block {index + 1}", "exec"), namespace)  # noqa: S102
    assert used == {p for p, _ in placeholders}, "a placeholder the doc no longer has"
    assert namespace["inst"].is_successful()
    assert len(namespace["df"]) > 0 and len(namespace["rows"]) > 0
    assert namespace["totals"]["manual"] == 7 and sum(namespace["totals"].values()) > 7
    by_hand = sorted(namespace["by_hand"])  # read back through the table tunnel
    assert by_hand == [
        ["another", 2, "manual"],
        ["checked_by_hand", 1, "manual"],
        ["from_pandas", 4, "manual"],
    ]
