"""A PyODPS Logview link (`<server>/logview/?h=…&p=<project>&i=<instance id>&token=…`) opens the
console's SQL workbench on that job, after signing in: its SQL, its figures, and its rows or its
error, in a real headless Chromium against `trailhouse serve --demo`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from e2e_support import DESKTOP, Server, open_page, sign_in

from trailhouse.client import RpcClient

PROJECT = "actiontrail_1234567890123456"


@pytest.fixture(scope="module")
def desktop(playwright_browser: Any, demo_server: Server) -> Iterator[Any]:
    context = playwright_browser.new_context(viewport=DESKTOP)
    errors: list[str] = []
    context.on("weberror", lambda error: errors.append(str(error.error)))
    page = context.new_page()
    assert demo_server.root is not None
    sign_in(page, demo_server.url, demo_server.root)
    page.close()
    yield context
    context.close()
    assert errors == [], f"script errors in the pages: {errors}"


def submitted(server: Server, sql: str) -> str:
    assert server.root is not None
    keys = server.root
    with RpcClient(server.url, keys.access_key_id, keys.access_key_secret) as rpc:
        job_id: str = rpc.call("SubmitSqlJob", {"Project": PROJECT, "Sql": sql})["JobId"]
        for _ in range(100):
            if rpc.call("GetSqlJob", {"JobId": job_id})["Job"]["Status"] != "Running":
                break
            time.sleep(0.1)
    return job_id


def logview(server: Server, job_id: str) -> str:
    query = {"h": f"{server.url}/api", "p": PROJECT, "i": job_id, "token": "x"}
    return f"{server.url}/logview/?{urlencode(query)}"


def test_a_logview_link_opens_the_job(desktop: Any, demo_server: Server) -> None:
    sql = "SELECT event_name, COUNT(*) AS calls FROM actiontrail_demo GROUP BY event_name"
    job_id = submitted(demo_server, sql + ";")
    page = desktop.new_page()
    open_page(page, logview(demo_server, job_id))
    assert page.url.endswith(f"/console/sql?project={PROJECT}&job={job_id}")
    page.wait_for_selector("#result-table")
    assert page.get_attribute("#job-card", "data-status") == "Terminated"
    assert job_id in page.inner_text("#job-card")
    assert page.input_value("#sql-editor") == sql
    page.close()


def test_a_stopped_job_shows_why(desktop: Any, demo_server: Server) -> None:
    assert demo_server.root is not None
    keys = demo_server.root
    sql = (
        "SELECT COUNT(*) FROM actiontrail_demo a CROSS JOIN actiontrail_demo b "
        "CROSS JOIN actiontrail_demo c CROSS JOIN actiontrail_demo d"
    )
    with RpcClient(demo_server.url, keys.access_key_id, keys.access_key_secret) as rpc:
        job_id = rpc.call("SubmitSqlJob", {"Project": PROJECT, "Sql": sql})["JobId"]
        assert rpc.call("CancelSqlJob", {"JobId": job_id})["Job"]["Status"] == "Cancelled"
    page = desktop.new_page()
    open_page(page, logview(demo_server, job_id))
    page.wait_for_selector("#sql-error")
    assert page.get_attribute("#job-card", "data-status") == "Cancelled"
    assert "cancelled" in page.inner_text("#sql-error")
    page.close()


def test_a_link_that_is_not_logviews_is_refused(desktop: Any, demo_server: Server) -> None:
    page = desktop.new_page()
    answer = page.goto(f"{demo_server.url}/logview/?p=..%2Fx&i=1")
    assert answer is not None and answer.status == 400
    assert "needs p=<project> and i=<instance id>" in page.inner_text("body")
    page.close()
