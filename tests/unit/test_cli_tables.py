"""What the trailhouse command's tables and summaries look like: identifiers whole, one line per
row, counts in the singular or plural, numbers readable (`--output json` keeps them raw)."""

from __future__ import annotations

import pytest

from trailhouse.cli.common import print_table
from trailhouse.cli.trails import readable_status
from trailhouse.cli.warehouse import _shorten, _summary

ARN = "acs:ram::1111222233334444:role/aliyunserviceroleforactiontrail-with-a-long-name"
EVENT_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


def test_a_table_keeps_long_identifiers_whole_on_their_row(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_table(
        ("EventId", "Arn", "Error"),
        [(EVENT_ID, ARN, "first line\nsecond\tline"), ("short", "x", None)],
    )
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[1].split() == [EVENT_ID, ARN, "first", "line", "second", "line"]
    assert lines[2].split() == ["short", "x"]
    # Columns line up: each column starts at the same offset on every line.
    assert lines[0].index("Arn") == lines[1].index(ARN) == lines[2].index("x")


@pytest.mark.parametrize(
    ("sql", "shown"),
    [
        ("SELECT 1", "SELECT 1"),
        (
            "SELECT event_name, COUNT(*) FROM actiontrail_prod_audit_trail_with_a_long_name "
            "WHERE ds = '20260101' GROUP BY event_name",
            "SELECT event_name, COUNT(*) FROM …",
        ),
        ("x" * 80, "x" * 80),  # one word longer than the cell: kept whole, not cut
        ("x" * 80 + " FROM t", "x" * 80 + " …"),
    ],
)
def test_sql_in_the_jobs_table_is_cut_between_words(sql: str, shown: str) -> None:
    assert _shorten(sql) == shown


def _job(rows: int, cost: float) -> dict[str, object]:
    return {
        "Rows": rows,
        "Truncated": False,
        "InputBytes": 214_016,
        "Complexity": 1.0,
        "CostUSD": cost,
        "RunSeconds": 0.0421,
        "JobId": "20260101000000000xyz",
    }


@pytest.mark.parametrize(
    ("rows", "cost", "shown"),
    [
        (1, 8.7e-06, "1 row · input 209.0 KB · complexity 1 · cost $<0.0001 · 42 ms"),
        (2, 0.0042, "2 rows · input 209.0 KB · complexity 1 · cost $0.0042 · 42 ms"),
        (12345, 3.456, "12,345 rows · input 209.0 KB · complexity 1 · cost $3.46 · 42 ms"),
    ],
)
def test_the_sql_summary_reads_plainly(rows: int, cost: float, shown: str) -> None:
    assert _summary(_job(rows, cost)) == shown + " · job 20260101000000000xyz"


def test_trail_status_counts_events_and_shows_lags_as_durations() -> None:
    answer = {
        "IsLogging": True,
        "DeliveryBacklog": 1,
        "DeliveredEvents": 12345,
        "DeliveryLostEvents": 0,
        "DeliveryLagP50Ms": 850,
        "DeliveryLagP99Ms": 1250,
        "DeliveryLagMaxMs": 185_000,
        "DeliveryCheckpoint": 12345,
    }
    assert readable_status(answer) == {
        "IsLogging": True,
        "DeliveryBacklog": "1 event",
        "DeliveredEvents": "12,345 events",
        "DeliveryLostEvents": "0 events",
        "DeliveryLagP50Ms": "850 ms",
        "DeliveryLagP99Ms": "1.25 s",
        "DeliveryLagMaxMs": "3 min 5 s",
        "DeliveryCheckpoint": 12345,  # a position, not a count
    }
    assert readable_status({"IsLogging": False}) == {"IsLogging": False}
