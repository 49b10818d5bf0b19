"""The warehouse catalog, writer and jobs with their metadata in PostgreSQL (as when scaled out)."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import logged_events, open_test_warehouse, root

from trailhouse.warehouse.model import JobStatus

pytestmark = pytest.mark.postgres


def test_batches_commit_once_and_answer_sql(tmp_path: Path, postgres_url: str) -> None:
    tw = open_test_warehouse(tmp_path / "data", database_url=postgres_url)
    try:
        events = logged_events(1200, days=3)
        tw.append(events[:600])
        tw.append(events[600:])
        tw.append(events[:600])  # a replay: already committed, nothing added
        assert sum(p.rows for p in tw.warehouse.catalog.list_partitions(tw.table)) == 1200
        job = tw.warehouse.jobs.submit(
            root(), tw.project, "SELECT COUNT(DISTINCT event_id) FROM actiontrail_audit_trail"
        )
        done = tw.warehouse.jobs.wait(root(), job.job_id, timeout=60)
        assert done.status == JobStatus.TERMINATED
        assert tw.warehouse.jobs.result(root(), job.job_id).rows == [[1200]]
    finally:
        tw.close()
