"""GET /metrics: Prometheus text with API, ingest, delivery, storage and job figures."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson

from server_process import free_port, start_serving
from trailhouse.client import RpcClient
from trailhouse.metrics import Counters, Family, labels, render

LINE = re.compile(r'^[a-z_]+(\{([a-z_]+="[^"]*",?)*\})? -?[0-9.e+-]+$')


def test_render_groups_families_and_escapes_labels() -> None:
    counter = Family("x_total", "counter", "Things.")
    counters = Counters()
    counters.add(counter, code="OK")
    counters.add(counter, 2, code='we"ird')
    text = render(counters.samples())
    assert text.splitlines() == [
        "# HELP x_total Things.",
        "# TYPE x_total counter",
        'x_total{code="OK"} 1',
        'x_total{code="we\\"ird"} 2',
    ]
    assert labels(b="2", a="1") == (("a", "1"), ("b", "2"))


def test_a_server_reports_its_figures(tmp_path: Path) -> None:
    """A real server, scraped as an operator's Prometheus would."""

    data_dir = tmp_path / "data"
    created = orjson.loads(
        subprocess.run(
            [sys.executable, "-m", "trailhouse", "account", "create", "--data-dir", str(data_dir)],
            capture_output=True,
            check=True,
        ).stdout
    )
    port = free_port()
    server = start_serving(
        [
            sys.executable,
            "-m",
            "trailhouse",
            "serve",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
        ],
        port,
        tmp_path / "serve.log",
    )
    try:
        account = created["AccountId"]
        with RpcClient(
            f"http://127.0.0.1:{port}", created["AccessKeyId"], created["AccessKeySecret"]
        ) as rpc:
            arn = f"acs:odps:cn-hangzhou:{account}:project/actiontrail_{account}"
            rpc.call("CreateTrail", {"Name": "metric-trail", "MaxComputeProjectArn": arn})
            rpc.call("StartLogging", {"Name": "metric-trail"})
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            event = {
                "eventId": "m-1",
                "eventVersion": "1",
                "eventTime": now,
                "eventName": "Ping",
                "eventType": "ApiCall",
                "eventRW": "Write",
                "eventSource": "x.aliyuncs.com",
                "serviceName": "X",
                "acsRegion": "cn-hangzhou",
                "sourceIpAddress": "10.0.0.1",
                "userAgent": "test",
                "requestId": "r-1",
                "userIdentity": {
                    "type": "root-account",
                    "principalId": account,
                    "accountId": account,
                },
            }
            answer = rpc.call("PutEvents", body={"Events": [event, {"eventName": "broken"}]})
            assert answer["Accepted"] == 1
            deadline = time.monotonic() + 30
            while rpc.call("GetTrailStatus", {"Name": "metric-trail"})["DeliveredEvents"] < 1:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = reply.read().decode()
    finally:
        server.terminate()
        server.wait(30)
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert all(LINE.match(line) for line in samples), [s for s in samples if not LINE.match(s)]
    assert "trailhouse_events_accepted_total 1" in samples
    assert any(s.startswith("trailhouse_events_refused_total{code=") for s in samples)
    assert 'trailhouse_api_requests_total{action="PutEvents",code="OK"} 1' in samples
    trail = f'account="{account}",trail="metric-trail"'
    assert f"trailhouse_trail_logging{{{trail}}} 1" in samples
    (delivered,) = [
        s for s in samples if s.startswith(f"trailhouse_trail_delivered_events{{{trail}}}")
    ]
    assert int(delivered.split()[-1]) >= 1
    assert any(s.startswith("trailhouse_project_storage_bytes{") for s in samples)
    assert any(s.startswith("trailhouse_event_log_last_seq ") for s in samples)
