"""Compaction keeps the proof: digests list compacted files with what they replace, and
`verify` accounts for every row before and after the replaced files are swept."""

from __future__ import annotations

import time
from pathlib import Path

from integrity_support import REGION, deliver_demo_events, published_keys

from trailhouse.integrity.digest import SignedDigest
from trailhouse.integrity.digester import Digester
from trailhouse.integrity.verify import verify_folder, verify_rows
from trailhouse.runtime import open_services
from trailhouse.settings import Settings
from trailhouse.warehouse.model import project_name


def test_digests_before_and_after_compaction_verify(tmp_path: Path) -> None:
    settings = Settings.load(
        {
            "data_dir": tmp_path / "data",
            "delivery_flush_seconds": 0.0,
            "digest_interval_seconds": 2,
            "digest_grace_seconds": 0.2,
            "compaction_min_files": 3,
            "compaction_age_seconds": 0,
        },
        environ={},
    )
    services = open_services(settings)
    try:
        # five batches: several files in each day
        trail = deliver_demo_events(services, "tight-trail", batches=5, per_batch=120, days=1)
        account_id = trail.account_id
        digester = Digester(
            settings,
            services.stores.metadata,
            services.trails,
            services.warehouse,
            services.signing_keys,
        )
        time.sleep(2.5)
        assert digester.run_once() >= 1  # the small files are listed
        assert services.warehouse.compactor.run_once() >= 1
        time.sleep(2.5)
        assert digester.run_once() >= 1  # the compacted files, with what they replace
        table_dir = (
            settings.warehouse_path / REGION / project_name(account_id) / "actiontrail_tight_trail"
        )
        keys = published_keys(services)
        signed = [
            SignedDigest.from_json(p.read_bytes())
            for p in sorted((table_dir / "_digests").rglob("*.json"))
        ]
        assert any(f.get("replaces") for d in signed for f in d.digest["files"])

        report = verify_folder(table_dir, keys)  # replaced files still on disk
        assert report.ok, report.problems
        assert report.rows == 600

        table = services.warehouse.catalog.get_table(
            services.warehouse.catalog.get_project(REGION, project_name(account_id)),
            "actiontrail_tight_trail",
        )
        assert services.warehouse.writer.sweep(table, older_than_seconds=-1)
        report = verify_folder(table_dir, keys)  # and once they are swept
        assert report.ok, report.problems
        assert report.rows == 600

        per_day: dict[str, int] = {}
        for stats in services.warehouse.catalog.list_partitions(table):
            per_day[stats.ds] = stats.rows
        assert verify_rows(signed, keys, per_day).ok

        compacted = next(table_dir.glob("ds=*/part-compacted-*.parquet"))
        compacted.unlink()
        problems = verify_folder(table_dir, keys).problems
        assert any(compacted.name in p and "missing (deleted)" in p for p in problems)
    finally:
        services.close()
