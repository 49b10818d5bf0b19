"""Shared by the MaxCompute OpenAPI tests: the official `alibabacloud_maxcompute20220104`
client pointed at the running server, and a warehouse with a finished SQL job and a bought
quota to read through it."""

from __future__ import annotations

from dataclasses import dataclass

from alibabacloud_maxcompute20220104.client import Client
from alibabacloud_tea_openapi import utils_models
from compat_support import Keys, Server, run_sql_job
from pyodps_support import Warehouse, make_warehouse

from trailhouse.client import RpcClient


@dataclass(frozen=True)
class Readable:
    """A warehouse of its own account, a Reader member, a finished SQL job and a bought quota."""

    warehouse: Warehouse
    job_id: str
    quota: str


def maxcompute(server: Server, keys: Keys, *, signature: str | None = None) -> Client:
    """The official MaxCompute 2022-01-04 client, as a user configures it, over plain HTTP
    (`signature="v2"`: the SDK's old ROA signature instead of its default V3)."""
    config = utils_models.Config(
        access_key_id=keys.access_key_id,
        access_key_secret=keys.access_key_secret,
        endpoint=server.endpoint,
        protocol="http",
        region_id="cn-hangzhou",
    )
    if signature:
        config.signature_algorithm = signature
    return Client(config)


def make_readable(server: Server, account_id: str, table: str, quota: str) -> Readable:
    """`make_warehouse`, its `odps_reader` user added as a Reader, one SQL job run to its end,
    and a subscription quota of 1 CU named `quota`."""
    made = make_warehouse(server, account_id, table, events=60)
    root = made.root
    with RpcClient(server.url, root.access_key_id, root.access_key_secret) as rpc:
        rpc.call(
            "SetProjectMember",
            {"Project": made.project, "Principal": f"{account_id}/odps_reader", "Role": "Reader"},
        )
        rpc.call("CreateQuota", {"QuotaName": quota, "Cu": "1"})
    sql = f"SELECT COUNT(event_id) AS n FROM {table} WHERE ds >= '20000101'"
    job, _, rows = run_sql_job(server, root, made.project, sql)
    assert job["Status"] == "Terminated" and rows == [[made.rows]], job
    return Readable(made, job["JobId"], quota)
