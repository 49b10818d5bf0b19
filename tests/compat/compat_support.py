"""Shared by the compatibility suite: a real server, keys, SDK clients, the CLI."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_actiontrail20200706.client import Client
from alibabacloud_tea_openapi import models as openapi_models
from alibabacloud_tea_openapi import utils_models
from darabonba.runtime import RuntimeOptions

from server_process import free_port, start_serving
from trailhouse.client import RpcClient
from trailhouse.iam.signatures import sign_request_v3
from trailhouse.warehouse.model import project_name

ACCOUNT_A = "1111222233334444"
ACCOUNT_B = "5555666677778888"
REGION = "cn-hangzhou"  # the server's default region


def trailhouse(*arguments: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run the trailhouse command (with `env` added to the environment) and decode its JSON."""
    done = subprocess.run(
        [sys.executable, "-m", "trailhouse", *arguments],
        env=None if env is None else {**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@dataclass
class Server:
    """A running trailhouse server and the credentials made for the tests."""

    data_dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def start(self, *extra: str, env: Mapping[str, str] | None = None) -> None:
        """Start the server; `env` adds environment variables (e.g. TRAILHOUSE_REGION_PORTS)."""
        command = [sys.executable, "-m", "trailhouse", "serve", "--data-dir", str(self.data_dir)]
        self.process = start_serving(
            [*command, "--port", str(self.port), *extra],
            self.port,
            self.data_dir.parent / "server.log",
            None if env is None else {**os.environ, **env},
        )

    def stop(self) -> int:
        """SIGTERM the server and return its exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(timeout=60)
        self.process = None
        return status


@dataclass(frozen=True)
class Keys:
    account_id: str
    access_key_id: str
    access_key_secret: str


@dataclass(frozen=True)
class Fixture:
    server: Server
    root: Keys
    alice: Keys
    other: Keys
    service: Keys


def _keys(document: dict[str, Any]) -> Keys:
    return Keys(document["AccountId"], document["AccessKeyId"], document["AccessKeySecret"])


@pytest.fixture(scope="session")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixture]:
    """One server for the compatibility suite, with two accounts, a RAM user and a service key."""
    data_dir = tmp_path_factory.mktemp("compat") / "data"
    root = _keys(
        trailhouse("account", "create", "--data-dir", str(data_dir), "--account-id", ACCOUNT_A)
    )
    alice = _keys(
        trailhouse(
            "user",
            "create",
            "--data-dir",
            str(data_dir),
            "--account-id",
            ACCOUNT_A,
            "--user-name",
            "alice",
        )
    )
    other = _keys(
        trailhouse("account", "create", "--data-dir", str(data_dir), "--account-id", ACCOUNT_B)
    )
    service = _keys(trailhouse("service", "create", "ingest-bot", "--data-dir", str(data_dir)))
    server = Server(data_dir, free_port())
    # test_detections's webhook receiver is on 127.0.0.1, which only an operator may allow.
    server.start(env={"TRAILHOUSE_WEBHOOK_ALLOW_PRIVATE": "true"})
    try:
        yield Fixture(server, root, alice, other, service)
    finally:
        assert server.stop() == 0


def run_sql_job(
    server: Server, keys: Keys, project: str, sql: str, timeout: float = 60
) -> tuple[dict[str, Any], list[str], list[list[Any]]]:
    """Submit a SQL job, wait for it to end, and read every row of its result (none unless it
    Terminated): the job, the column names and the rows."""
    with RpcClient(server.url, keys.access_key_id, keys.access_key_secret, timeout=60) as rpc:
        job_id = rpc.call("SubmitSqlJob", {"Project": project, "Sql": sql})["JobId"]
        deadline = time.monotonic() + timeout
        while True:
            job: dict[str, Any] = rpc.call("GetSqlJob", {"JobId": job_id})["Job"]
            if job["Status"] in {"Terminated", "Failed", "Cancelled"}:
                break
            assert time.monotonic() < deadline, job
            time.sleep(0.05)
        columns: list[str] = []
        rows: list[list[Any]] = []
        offset: int | None = 0 if job["Status"] == "Terminated" else None
        while offset is not None:
            page = rpc.call(
                "GetSqlJobResult", {"JobId": job_id, "Offset": str(offset), "MaxResults": "10000"}
            )
            columns = page["Columns"]
            rows.extend(page["Rows"])
            offset = page["NextOffset"]
        return job, columns, rows


def sdk(server: Server, keys: Keys, *, signature: str | None = None) -> Client:
    """The official ActionTrail client, pointed at the test server."""
    config = openapi_models.Config(
        access_key_id=keys.access_key_id,
        access_key_secret=keys.access_key_secret,
        endpoint=server.endpoint,
        protocol="http",
        region_id="cn-hangzhou",
    )
    if signature:
        config.signature_algorithm = signature
    return Client(config)


def put_events(client: Client, events: list[dict[str, Any]]) -> dict[str, Any]:
    """PutEvents through the SDK's generic call path, as any non-generated action is called."""
    params = utils_models.Params(
        action="PutEvents",
        version="2020-07-06",
        protocol="HTTP",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="json",
        body_type="json",
    )
    request = utils_models.OpenApiRequest(body={"Events": events})
    answer: dict[str, Any] = client.call_api(params, request, RuntimeOptions())
    return answer["body"]


@dataclass(frozen=True)
class Regional:
    """A server whose main port serves cn-hangzhou and whose extra ports serve other regions."""

    server: Server
    region_ports: dict[str, int]

    def endpoint(self, region: str) -> str:
        """host:port reaching `region` (the main port for the server's default region)."""
        if region == "cn-hangzhou":
            return self.server.endpoint
        return f"127.0.0.1:{self.region_ports[region]}"

    def new_account(self) -> Keys:
        """A fresh account (written to the metadata while the server runs)."""
        return _keys(trailhouse("account", "create", "--data-dir", str(self.server.data_dir)))

    def new_user(self, account_id: str, user_name: str) -> Keys:
        """A fresh RAM user of `account_id`, without any policy."""
        return _keys(
            trailhouse(
                "user",
                "create",
                "--data-dir",
                str(self.server.data_dir),
                "--account-id",
                account_id,
                "--user-name",
                user_name,
            )
        )


@pytest.fixture(scope="session")
def regional(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Regional]:
    """A second server, for trail tests, with cn-shanghai and ap-southeast-1 on their own ports;
    tests make their own accounts on it (`new_account`) so that trail quotas never collide."""
    data_dir = tmp_path_factory.mktemp("regional") / "data"
    trailhouse("account", "create", "--data-dir", str(data_dir))  # creates the store
    region_ports = {"cn-shanghai": free_port(), "ap-southeast-1": free_port()}
    server = Server(data_dir, free_port())
    server.start(
        env={
            "TRAILHOUSE_REGION_PORTS": ",".join(f"{r}={p}" for r, p in region_ports.items()),
        }
    )
    try:
        yield Regional(server, region_ports)
    finally:
        assert server.stop() == 0


def sdk_at(endpoint: str, keys: Keys) -> Client:
    """The official ActionTrail client, pointed at one region port (`host:port`)."""
    config = openapi_models.Config(
        access_key_id=keys.access_key_id,
        access_key_secret=keys.access_key_secret,
        endpoint=endpoint,
        protocol="http",
        region_id="cn-hangzhou",
    )
    return Client(config)


def run_cli(
    *arguments: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the trailhouse command with `env` as its whole environment."""
    return subprocess.run(
        [sys.executable, "-m", "trailhouse", *arguments],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def cli_environment(server: Server, config_dir: Path, keys: Keys | None = None) -> dict[str, str]:
    """This process's environment without credentials or trailhouse settings, pointed at
    `server`, with profiles in `config_dir` and, when given, `keys` as the credentials."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ALIBABA_CLOUD_", "TRAILHOUSE_"))
    }
    env["TRAILHOUSE_CONFIG"] = str(config_dir / "config.json")
    env["TRAILHOUSE_ENDPOINT"] = server.url
    if keys is not None:
        env["ALIBABA_CLOUD_ACCESS_KEY_ID"] = keys.access_key_id
        env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] = keys.access_key_secret
    return env


def project_arn(account_id: str) -> str:
    """The ARN of the account's ActionTrail project, as a trail's MaxComputeProjectArn."""
    return f"acs:odps:{REGION}:{account_id}:project/{project_name(account_id)}"


def rpc_client(server: Server, keys: Keys) -> RpcClient:
    """trailhouse's own signed client, for actions the SDK does not generate."""
    return RpcClient(server.url, keys.access_key_id, keys.access_key_secret, timeout=60)


def sql_rows(server: Server, keys: Keys, sql: str) -> list[list[Any]]:
    """The rows of `sql` run in the account's ActionTrail project (which must succeed)."""
    job, _, rows = run_sql_job(server, keys, project_name(keys.account_id), sql)
    assert job["Status"] == "Terminated", job["ErrorMessage"]
    return rows


def trail_status(server: Server, keys: Keys, name: str) -> dict[str, Any]:
    """GetTrailStatus of the account's trail."""
    with rpc_client(server, keys) as rpc:
        return rpc.call("GetTrailStatus", {"Name": name})


def wait_delivered(server: Server, keys: Keys, name: str, timeout: float = 60) -> dict[str, Any]:
    """Wait until the trail's watermark says every event accepted before now is in the table.

    (Not until the backlog is 0: each status poll is itself an audit event of the account.)
    """
    accepted_before = time.time()
    deadline = time.monotonic() + timeout
    while True:
        status = trail_status(server, keys, name)
        if status["DeliveredUpTo"] and epoch(status["DeliveredUpTo"]) >= accepted_before:
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.2)


def wait_observed(server: Server, timeout: float = 60) -> None:
    """Wait until the server has handed every stored event to insights and detections (they
    run behind PutEvents' answer): `/metrics` shows none pending."""
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as answer:
            text = answer.read().decode()
        pending = [
            line for line in text.splitlines() if line.startswith("trailhouse_observer_pending")
        ]
        if pending and float(pending[0].split()[-1]) == 0:
            return
        assert time.monotonic() < deadline, pending
        time.sleep(0.05)


def epoch(iso: str) -> float:
    """`2026-11-24T11:23:45.380Z` as epoch seconds."""
    moment = dt.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    return moment.timestamp()


def signed_raw(
    server: Server,
    keys: Keys,
    *,
    now: float | None = None,
    nonce: str | None = None,
    action: str = "LookupEvents",
    tamper: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """A V3-signed request sent raw, so that a test can choose its time and nonce, replay it,
    or tamper with its headers: the status and body of the answer."""
    query, headers = sign_request_v3(
        "POST",
        server.endpoint,
        action,
        "2020-07-06",
        {"MaxResults": "1"} if action == "LookupEvents" else {},
        b"",
        keys.access_key_id,
        keys.access_key_secret,
        now=now,
        nonce=nonce,
    )
    headers.update(tamper or {})
    connection = http.client.HTTPConnection(server.endpoint, timeout=10)
    try:
        connection.request("POST", f"/?{query}", body=b"", headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
