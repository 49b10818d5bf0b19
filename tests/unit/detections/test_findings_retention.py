"""Findings are kept `findings_retention_days` (90 by default) and insight events
`retention_days`, each deleted by the server's purge step (`Services.purge_signals`), every
account's alike; a finding purged while its webhook is down is still sent."""

from __future__ import annotations

import time
from pathlib import Path

from trailhouse.detections.engine import Match
from trailhouse.insights.detector import Signal
from trailhouse.runtime import open_services
from trailhouse.settings import Settings

ALICE, BOB = "1000000000000001", "2000000000000002"
DAY = 86400


def _insight(account: str, moment: int) -> Signal:
    return Signal(
        account,
        "AkInsight",
        "LTAI5tkey",
        "Start",
        moment,
        f"s{moment}",
        20.0,
        1.0,
        60,
        1,
        20,
        "cn-hangzhou",
    )


def test_the_purge_step_deletes_old_findings_and_insight_events(tmp_path: Path) -> None:
    settings = Settings.load(
        {
            "data_dir": tmp_path / "data",
            "findings_retention_days": 30,
            "retention_days": 90,
            "webhook_allow_private": True,
        },
        environ={},
    )
    services = open_services(settings)
    try:
        detections = services.detections
        rule = detections.get_rule(ALICE, "actiontrail_trail_stopped")
        now = time.time()
        detections.webhooks.set(BOB, "http://127.0.0.1:9/down", 1)
        made = {}
        for account in (ALICE, BOB):
            for age_days in (31, 29, 0):
                match = Match(rule, account, (f"e-{account}-{age_days}",))
                made[(account, age_days)] = detections.findings.add(
                    match, int((now - age_days * DAY) * 1000)
                ).finding_id
        services.insights.enable(ALICE, "AkInsight")
        services.insights._record(  # as the detector's signals are recorded
            [_insight(ALICE, int(now) - 91 * DAY), _insight(ALICE, int(now) - 89 * DAY)], now
        )

        assert services.purge_signals(now) == (1, 2)

        for account in (ALICE, BOB):
            kept = {f.finding_id for f in detections.findings.list(account, limit=200)[0]}
            assert kept == {made[(account, 29)], made[(account, 0)]}
        moments = [e.event_time for e in services.insights.events(ALICE, 0, int(now))]
        assert moments == [int(now) - 89 * DAY]
        waiting = {item.finding_id for item in detections.webhooks.pending(BOB)}
        assert made[(BOB, 31)] in waiting  # its webhook is down: still to be sent
        assert services.purge_signals(now) == (0, 0)
    finally:
        services.close()
