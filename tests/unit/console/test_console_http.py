"""The console over HTTP: sign-in, cookies, CSRF, expiry, sign-out, pages and assets."""

from __future__ import annotations

import time

from console_support import BROWSER, Console, ConsoleFactory, csrf_of


def _cookie_header(answer: object, name: str) -> str:
    headers = answer.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    found = [h for h in headers if h.startswith(f"{name}=")]
    assert found, headers
    return str(found[0])


def test_a_page_without_a_session_redirects_to_sign_in_and_back(console: Console) -> None:
    answer = console.client.get("/console/sql?project=p", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/signin?next=/console/sql%3Fproject%3Dp"


def test_the_sign_in_page_sets_a_strict_httponly_csrf_cookie(console: Console) -> None:
    answer = console.client.get("/console/signin")
    assert answer.status_code == 200
    cookie = _cookie_header(answer, "th_signin_csrf").lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/console" in cookie
    assert csrf_of(answer.text) in _cookie_header(answer, "th_signin_csrf")
    assert "script-src 'self'" in answer.headers["content-security-policy"]


def test_signing_in_sets_a_session_cookie_that_expires(console: Console) -> None:
    answer = console.sign_in_answer(console.root.access_key_id, console.root.access_key_secret)
    assert answer.status_code == 200
    assert answer.json()["Next"] == "/console/trails"
    cookie = _cookie_header(answer, "th_console").lower()
    for attribute in ("httponly", "samesite=strict", "path=/console", "max-age=28800"):
        assert attribute in cookie
    page = console.client.get("/console/trails")
    assert page.status_code == 200
    assert f'data-account="{console.root.account_id}"' in page.text


def test_sign_in_needs_the_sign_in_pages_csrf_token(console: Console) -> None:
    console.client.get("/console/signin")
    answer = console.client.post(
        "/console/signin",
        json={
            "AccessKeyId": console.root.access_key_id,
            "AccessKeySecret": console.root.access_key_secret,
        },
        headers={"X-CSRF-Token": "forged"},
    )
    assert answer.status_code == 403
    assert answer.json()["Code"] == "InvalidCsrfToken"


def test_a_wrong_secret_is_refused_and_recorded_in_the_account(console: Console) -> None:
    answer = console.sign_in_answer(console.alice.access_key_id, "wrong-secret")
    assert answer.status_code == 401
    assert answer.json()["Code"] == "SignInFailed"
    assert answer.json()["Message"] == "the AccessKey ID or AccessKey secret is wrong"
    assert "th_console=" not in str(answer.headers.get_list("set-cookie"))
    (event,) = console.events("ConsoleSignin", 1)
    assert event["errorCode"] == "SignInFailed"
    assert event["userIdentity"]["userName"] == "alice"
    assert event["eventType"] == "ConsoleSignin"
    assert event["userAgent"] == BROWSER


def test_an_unknown_key_gets_the_same_refusal(console: Console) -> None:
    answer = console.sign_in_answer("LTAI5tNOSUCHKEY000000000", "x")
    assert answer.status_code == 401
    assert answer.json()["Message"] == "the AccessKey ID or AccessKey secret is wrong"


def test_a_service_key_cannot_sign_in(console: Console) -> None:
    answer = console.sign_in_answer(
        console.service.access_key_id, console.service.access_key_secret
    )
    assert answer.status_code == 401
    assert "service key" in answer.json()["Message"]


def test_a_successful_sign_in_is_an_event_of_the_account(console: Console) -> None:
    console.sign_in(console.alice)
    (event,) = console.events("ConsoleSignin", 1)
    assert "errorCode" not in event
    assert event["userIdentity"]["accessKeyId"] == console.alice.access_key_id
    assert event["additionalEventData"]["loginAccount"] == "alice"


def test_api_calls_need_the_sessions_csrf_token(console: Console) -> None:
    csrf = console.sign_in(console.root)
    missing = console.api("DescribeTrails", {}, None)
    assert missing.status_code == 403
    assert missing.json()["Code"] == "InvalidCsrfToken"
    wrong = console.api("DescribeTrails", {}, csrf[:-1] + ("A" if csrf[-1] != "A" else "B"))
    assert wrong.status_code == 403
    ok = console.api("DescribeTrails", {}, csrf)
    assert ok.status_code == 200
    assert ok.json()["TrailList"] == []
    assert ok.headers["cache-control"] == "no-store"


def test_api_calls_without_a_session_answer_session_expired(console: Console) -> None:
    answer = console.api("DescribeTrails", {}, "anything")
    assert answer.status_code == 401
    assert answer.json()["Code"] == "SessionExpired"


def test_an_expired_session_is_refused_and_pages_go_back_to_sign_in(
    console_factory: ConsoleFactory,
) -> None:
    console = console_factory(console_session_seconds=1)
    answer = console.sign_in_answer(console.root.access_key_id, console.root.access_key_secret)
    assert "max-age=1" in _cookie_header(answer, "th_console").lower()
    token = console.client.cookies["th_console"]
    csrf = csrf_of(console.client.get("/console/events").text)
    assert console.api("DescribeTrails", {}, csrf).status_code == 200
    time.sleep(1.1)
    # A browser drops the cookie at its Max-Age; one that keeps sending it is refused anyway.
    console.client.cookies.clear()
    cookie = {"Cookie": f"th_console={token}", "X-CSRF-Token": csrf}
    expired = console.client.post("/console/api/DescribeTrails", json={}, headers=cookie)
    assert expired.status_code == 401
    assert expired.json()["Code"] == "SessionExpired"
    page = console.client.get("/console/events", headers=cookie, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/console/signin?next=/console/events&expired=1"
    assert console.client.get("/console/signin?expired=1").text.count("expired-notice") == 1


def test_sign_out_ends_the_session(console: Console) -> None:
    csrf = console.sign_in(console.root)
    refused = console.client.post("/console/signout", headers={"X-CSRF-Token": "forged"})
    assert refused.status_code == 403
    answer = console.client.post("/console/signout", headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 200
    assert "th_console=" in str(answer.headers.get_list("set-cookie"))
    assert console.api("DescribeTrails", {}, csrf).json()["Code"] == "SessionExpired"
    assert console.events("ConsoleSignout", 1)


def test_sign_in_returns_only_to_console_pages(console: Console) -> None:
    for target, expected in (
        ("/console/sql?project=x", "/console/sql?project=x"),
        ("https://evil.example/", "/console/trails"),
        ("//evil.example/console/", "/console/trails"),
        ("/console//evil", "/console/trails"),
        ("/console/signin", "/console/trails"),
    ):
        console.client.cookies.clear()
        token = csrf_of(console.client.get("/console/signin").text)
        answer = console.client.post(
            "/console/signin",
            json={
                "AccessKeyId": console.root.access_key_id,
                "AccessKeySecret": console.root.access_key_secret,
                "Next": target,
            },
            headers={"X-CSRF-Token": token},
        )
        assert answer.json()["Next"] == expected


def test_every_page_renders_for_a_signed_in_caller(console: Console) -> None:
    console.sign_in(console.alice)
    for path, script in (
        ("/console/trails", "trails.js"),
        ("/console/trails/new", "wizard.js"),
        ("/console/trails/my-trail", "trail.js"),
        ("/console/events", "events.js"),
        ("/console/sql", "sql.js"),
        ("/console/billing", "billing.js"),
    ):
        answer = console.client.get(path)
        assert answer.status_code == 200, path
        assert f"/console/static/js/pages/{script}" in answer.text
        assert "RAM user alice" in answer.text
        assert answer.headers["x-frame-options"] == "DENY"
    assert 'data-trail="my-trail"' in console.client.get("/console/trails/my-trail").text
    assert console.client.get("/console/nowhere").status_code == 404


def test_a_trail_name_in_the_address_is_escaped(console: Console) -> None:
    console.sign_in(console.root)
    answer = console.client.get('/console/trails/x"><script>alert(1)</script>')
    assert "<script>alert(1)</script>" not in answer.text
    assert "&lt;script&gt;" in answer.text


def test_assets_are_served_from_the_package(console: Console) -> None:
    for path, kind in (
        ("/console/static/console.css", "text/css"),
        ("/console/static/js/api.js", "javascript"),
        ("/console/static/js/charts.js", "javascript"),
        ("/console/static/favicon.svg", "image/svg+xml"),
    ):
        answer = console.client.get(path)
        assert answer.status_code == 200, path
        assert kind in answer.headers["content-type"]


def test_signing_in_again_ends_the_previous_session(console: Console) -> None:
    csrf = console.sign_in(console.root)
    first = console.client.cookies["th_console"]
    # A browser still holding the first session signs in (e.g. in another tab) as alice.
    console.client.cookies.clear()
    token = csrf_of(console.client.get("/console/signin").text)
    answer = console.client.post(
        "/console/signin",
        json={
            "AccessKeyId": console.alice.access_key_id,
            "AccessKeySecret": console.alice.access_key_secret,
        },
        headers={"X-CSRF-Token": token, "Cookie": f"th_signin_csrf={token}; th_console={first}"},
    )
    assert answer.status_code == 200, answer.text
    assert console.client.cookies["th_console"] != first
    stale = console.client.post(
        "/console/api/DescribeTrails",
        json={},
        headers={"Cookie": f"th_console={first}", "X-CSRF-Token": csrf},
    )
    assert stale.json()["Code"] == "SessionExpired"
