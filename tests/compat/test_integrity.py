"""Digests end to end: a real server signs its trail's digests; `trailhouse keys export` and
`trailhouse verify` prove a copy of the table whole, and name what an attacker changed."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from alibabacloud_actiontrail20200706 import models
from compat_support import (
    Keys,
    Server,
    cli_environment,
    free_port,
    put_events,
    run_cli,
    sdk,
    trailhouse,
)
from factory import make_event

from trailhouse.client import RpcClient
from trailhouse.warehouse.model import project_name

REGION = "cn-hangzhou"


def test_a_live_trail_verifies_offline_and_tampering_is_named(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    created = trailhouse("account", "create", "--data-dir", str(data_dir))
    keys = Keys(created["AccountId"], created["AccessKeyId"], created["AccessKeySecret"])
    server = Server(data_dir, free_port())
    server.start(
        env={
            "TRAILHOUSE_DIGEST_INTERVAL_SECONDS": "2",
            "TRAILHOUSE_DIGEST_GRACE_SECONDS": "0.5",
            "TRAILHOUSE_DELIVERY_FLUSH_SECONDS": "0.1",
        }
    )
    env = cli_environment(server, tmp_path, keys)
    try:
        client = sdk(server, keys)
        arn = f"acs:odps:{REGION}:{keys.account_id}:project/{project_name(keys.account_id)}"
        # Write events only: the status polls below are Read calls, audited but not delivered.
        client.create_trail(
            models.CreateTrailRequest(
                name="proof-trail", max_compute_project_arn=arn, event_rw="Write"
            )
        )
        client.start_logging(models.StartLoggingRequest(name="proof-trail"))
        events = [make_event(keys.account_id, 60, eventRW="Write") for _ in range(200)]
        assert put_events(client, events)["Accepted"] == 200
        sent_at = time.time()
        rpc = RpcClient(server.url, keys.access_key_id, keys.access_key_secret)
        deadline = time.monotonic() + 60
        while True:
            status = rpc.call("GetTrailStatus", {"Name": "proof-trail"})
            end = status["LatestDigestEndTime"]
            covered = end and time.mktime(time.strptime(end, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
            if status["DeliveredEvents"] >= 200 and covered and covered > sent_at + 3:
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.3)
        rpc.close()
    finally:
        assert server.stop() == 0
    # Again without delivery, so no new digest appears while the status is compared.
    server.start(env={"TRAILHOUSE_DELIVERY_ENABLED": "false"})
    try:
        shown = run_cli("trail", "status", "proof-trail", "-o", "json", env=env)
        assert shown.returncode == 0, shown.stderr
        status = json.loads(shown.stdout)
        assert status["LatestDigestSequence"] >= 1 and status["DeliveredUpTo"]
        assert status["DeliveryTable"].endswith(".actiontrail_proof_trail")
        exported = run_cli("keys", "export", env=env)
        assert exported.returncode == 0, exported.stderr
        (tmp_path / "keys.json").write_text(exported.stdout)
        latest = f"{status['LatestDigestSequence']}:{status['LatestDigestSha256']}"
        anchored = run_cli("keys", "anchor", "proof-trail", env=env)
        assert anchored.returncode == 0, anchored.stderr
        (tmp_path / "anchor.json").write_text(anchored.stdout)
        anchor = json.loads(anchored.stdout)["anchor"]
        assert anchor["sequence"] == status["LatestDigestSequence"]
        assert anchor["digestSha256"] == status["LatestDigestSha256"]
        table_name = f"{project_name(keys.account_id)}.actiontrail_proof_trail"
        # The digests stopped with the first server, and a loaded machine takes over a minute
        # from there to the last verify below, past the default age (2 intervals + 60 s).
        # Staleness has its own tests (tests/unit/integrity/test_attack_anchor.py).
        fresh = ["--max-age", "900"]
        through_sql = run_cli(
            "verify", "--sql", table_name, "--expect-latest", latest, *fresh, env=env
        )
        assert through_sql.returncode == 0, through_sql.stdout + through_sql.stderr
        assert "OK: the table is whole" in through_sql.stdout
        anchored_sql = ["--anchor", str(tmp_path / "anchor.json"), *fresh]
        through_sql = run_cli("verify", "--sql", table_name, *anchored_sql, env=env)
        assert through_sql.returncode == 0, through_sql.stdout + through_sql.stderr
    finally:
        assert server.stop() == 0
    table = (
        data_dir / "warehouse" / REGION / project_name(keys.account_id) / "actiontrail_proof_trail"
    )
    copy = tmp_path / "copy"
    shutil.copytree(table, copy, ignore=shutil.ignore_patterns("_staging"))
    verify = ["verify", str(copy), "--keys", str(tmp_path / "keys.json"), *fresh]
    whole = run_cli(*verify, "--expect-latest", latest, env=env)
    assert whole.returncode == 0, whole.stdout + whole.stderr
    assert "OK: the table is whole" in whole.stdout
    anchored_run = run_cli(*verify, *anchored_sql, env=env)
    assert anchored_run.returncode == 0, anchored_run.stdout + anchored_run.stderr
    assert "OK: the table is whole" in anchored_run.stdout
    # The server's own heartbeat, beside the tables, vouches as well.
    heartbeat = data_dir / "warehouse" / "_anchors" / keys.account_id / "proof-trail.json"
    beside = run_cli(*verify, "--anchor", str(heartbeat), "--max-age", "0", env=env)
    assert beside.returncode == 0, beside.stdout + beside.stderr
    # Without an anchor verify refuses, unless told to go without, and then warns.
    unanchored = run_cli(*verify, env=env)
    assert unanchored.returncode != 0 and "--anchor FILE" in unanchored.stderr
    without = run_cli(*verify, "--no-anchor", env=env)
    assert without.returncode == 0, without.stdout + without.stderr
    assert "is not detected" in without.stderr
    rows = int(whole.stdout.split(" rows")[0].split()[-1])
    assert rows >= 200  # the events sent, and the trail's own Write calls (its audit events)

    victim = sorted(copy.glob("ds=*/*.parquet"))[0]
    content = bytearray(victim.read_bytes())
    content[100] ^= 0xFF
    victim.write_bytes(bytes(content))
    broken = run_cli(*verify, "--expect-latest", latest, env=env)
    assert broken.returncode == 1
    assert f"FAIL ds={victim.parent.name.removeprefix('ds=')}/{victim.name}" in broken.stdout
    assert "SHA-256 differs" in broken.stdout
