"""The SQL workbench's CSV download (`POST /console/download/sql-result`): the job's rows as the
server's one CSV writer writes them, formula-like cells kept as text, through GetSqlJobResult as
the signed-in caller (its CSRF token, its permissions and errors)."""

from __future__ import annotations

import csv
import io
import time

from console_support import BROWSER, Console

SQL = "SELECT '=cmd|\\' /C calc\\'!A0' AS a, '@SUM(1,1)' AS b, -5 AS c, '-2+3' AS d"


def _finished_job(console: Console, csrf: str) -> str:
    created = console.api("CreateProject", {"Project": "csv_download"}, csrf)
    assert created.status_code == 200, created.text
    submitted = console.api("SubmitSqlJob", {"Project": "csv_download", "Sql": SQL}, csrf)
    assert submitted.status_code == 200, submitted.text
    job_id: str = submitted.json()["JobId"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = console.api("GetSqlJob", {"JobId": job_id}, csrf).json()["Job"]
        if job["Status"] not in ("Waiting", "Running"):
            assert job["Status"] == "Terminated", job
            return job_id
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in 30 s")


def _download(console: Console, job_id: str, csrf: str | None) -> tuple[int, str, str]:
    headers = {"User-Agent": BROWSER}
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    answer = console.client.post(
        "/console/download/sql-result", json={"JobId": job_id}, headers=headers
    )
    return answer.status_code, answer.headers["content-type"], answer.text


def test_the_download_keeps_formula_cells_as_text(console: Console) -> None:
    csrf = console.sign_in(console.root)
    status, media_type, text = _download(console, _finished_job(console, csrf), csrf)
    assert status == 200 and media_type.startswith("text/csv")
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["a", "b", "c", "d"],
        ["'=cmd|' /C calc'!A0", "'@SUM(1,1)", "-5", "'-2+3"],
    ]


def test_the_download_needs_the_sessions_csrf_token_and_a_job(console: Console) -> None:
    csrf = console.sign_in(console.root)
    job_id = _finished_job(console, csrf)
    status, _, text = _download(console, job_id, None)
    assert status == 403 and "InvalidCsrfToken" in text
    status, _, text = _download(console, "no-such-job", csrf)
    assert status == 404 and "Job" in text
