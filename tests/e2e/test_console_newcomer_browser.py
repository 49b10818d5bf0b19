"""The console's first hour (issue 22) in a real headless Chromium against a real
`trailhouse serve --demo`: the RAM roles pages, Event history without the console's own reads,
the wizard marking an invalid trail name, and numbers people can read."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_support import DESKTOP, PHONE, Screenshots, Server, open_page, sign_in

from trailhouse.client import RpcClient
from trailhouse.errors import RequestFailed

ROLE = f"e2e-delivery-{uuid.uuid4().hex[:6]}"
DELIVERY_POLICY = "AliyunActionTrailDeliveryPolicy"
OTHER_ACCOUNT = "5555666677778888"
# Digits in exponent notation (1.2e-05) or a float's long tail (0.30000000000000004).
UNREADABLE = re.compile(r"\d[eE][-+]?\d|\d\.\d{9,}")


def _trust(*accounts: str) -> str:
    return json.dumps(
        {
            "Version": "1",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Principal": {"Service": [f"{a}@actiontrail.aliyuncs.com" for a in accounts]},
                }
            ],
        }
    )


@pytest.fixture(scope="module")
def desktop(playwright_browser: Any, demo_server: Server) -> Iterator[Any]:
    """A 1280 px wide browser context signed in with the demo account's root key."""
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


@pytest.fixture(scope="module")
def api(demo_server: Server) -> Iterator[RpcClient]:
    """The signed API with the demo account's root key."""
    assert demo_server.root is not None
    root = demo_server.root
    with RpcClient(demo_server.url, root.access_key_id, root.access_key_secret) as client:
        yield client


def _accept_next_dialog(page: Any) -> None:
    page.wait_for_selector("dialog[open]")
    page.click("dialog[open] [data-confirm]")


def test_a_role_is_listed_edited_detached_and_deleted(
    desktop: Any, demo_server: Server, api: RpcClient, shots: Screenshots
) -> None:
    assert demo_server.root is not None
    account = demo_server.root.account_id
    api.call("CreateRole", {"RoleName": ROLE, "AssumeRolePolicyDocument": _trust(account)})
    api.call(
        "AttachPolicyToRole",
        {"RoleName": ROLE, "PolicyType": "System", "PolicyName": DELIVERY_POLICY},
    )
    page = desktop.new_page()
    open_page(page, f"{demo_server.url}/console/roles")
    assert page.get_attribute("nav.mainnav a[aria-current=page]", "href") == "/console/roles"
    row = page.inner_text(f"#roles tr:has(a[data-role='{ROLE}'])")
    assert account in row and DELIVERY_POLICY in row
    shots.take(page, "40-roles")

    page.click(f"a[data-role='{ROLE}']")
    page.wait_for_selector("body[data-complete='1']")
    assert page.inner_text("#role-arn") == f"acs:ram::{account}:role/{ROLE}"
    # The ARN may wrap after its separators, never inside a word.
    assert page.eval_on_selector("#role-arn", "e => e.querySelectorAll('wbr').length") >= 3
    assert json.loads(page.input_value("#trust-policy")) == json.loads(_trust(account))
    shots.take(page, "41-role")

    page.fill("#trust-policy", '{"Statement": ')
    page.click("#save-trust")
    page.wait_for_selector("#trust-error [data-code=MalformedPolicyDocument]")
    assert page.get_attribute("#trust-policy", "aria-invalid") == "true"
    assert page.input_value("#trust-policy") == '{"Statement": '  # what was typed is kept
    shots.take(page, "42-role-trust-refused")

    page.fill("#trust-policy", _trust(account, OTHER_ACCOUNT))
    page.click("#save-trust")
    page.wait_for_selector(f"#trust-summary >> text=/{OTHER_ACCOUNT}/")
    trusted = json.loads(
        api.call("GetRole", {"RoleName": ROLE})["Role"]["AssumeRolePolicyDocument"]
    )
    services = trusted["Statement"][0]["Principal"]["Service"]
    assert services == [
        f"{account}@actiontrail.aliyuncs.com",
        f"{OTHER_ACCOUNT}@actiontrail.aliyuncs.com",
    ]

    page.click("#delete-role")
    _accept_next_dialog(page)
    page.wait_for_selector("#delete-error [data-code='DeleteConflict.Role.Policy']")
    shots.take(page, "43-role-delete-refused")

    page.click(f"[data-policy={DELIVERY_POLICY}] [data-action=detach]")
    _accept_next_dialog(page)
    page.wait_for_selector("#attach-delivery")
    assert api.call("GetRole", {"RoleName": ROLE})["Role"]["AttachedPolicies"] == []

    page.click("#delete-role")
    _accept_next_dialog(page)
    page.wait_for_url("**/console/roles")
    page.wait_for_selector("body[data-complete='1']")
    assert page.query_selector(f"a[data-role='{ROLE}']") is None
    with pytest.raises(RequestFailed) as gone:
        api.call("GetRole", {"RoleName": ROLE})
    assert gone.value.code == "EntityNotExist.Role"
    page.close()


def test_the_wizard_links_to_the_role_page_which_creates_or_fixes_the_role(
    desktop: Any, demo_server: Server, api: RpcClient, shots: Screenshots
) -> None:
    assert demo_server.root is not None
    account = demo_server.root.account_id
    page = desktop.new_page()
    open_page(page, f"{demo_server.url}/console/trails/new")
    page.fill("#field-name", "cross-account-link")
    page.click("#next")
    page.check("input[name=destination][value=another]")
    assert page.get_attribute("#roles-link", "href") == f"/console/roles?trust={account}"
    missing = f"e2e-missing-{uuid.uuid4().hex[:6]}"
    page.fill("#field-roleArn", f"acs:ram::{OTHER_ACCOUNT}:role/{missing}")
    assert page.get_attribute("#roles-link", "href") == f"/console/roles/{missing}?trust={account}"

    # Here one console plays both accounts: the role is made in the signed-in one.
    page.click("#roles-link")
    page.wait_for_selector("body[data-complete='1']")
    assert page.get_attribute("#page [role=alert]", "data-code") == "EntityNotExist.Role"
    assert page.input_value("#role-name") == missing
    assert page.input_value("#trusted-accounts") == account
    shots.take(page, "49-role-missing-offers-create")
    page.click("#create-role-submit")
    page.wait_for_url(f"**/console/roles/{missing}")
    page.wait_for_selector("#trust-summary")
    created = api.call("GetRole", {"RoleName": missing})["Role"]
    assert created["AttachedPolicies"] == [DELIVERY_POLICY]
    assert json.loads(created["AssumeRolePolicyDocument"]) == json.loads(_trust(account))

    open_page(page, f"{demo_server.url}/console/roles/{missing}?trust={OTHER_ACCOUNT}")
    assert OTHER_ACCOUNT in page.inner_text("#trust-missing")
    page.click("#add-trusted")
    page.click("#save-trust")
    page.wait_for_selector(f"#trust-summary >> text=/{OTHER_ACCOUNT}/")
    assert page.query_selector("#trust-missing") is None
    fixed = api.call("GetRole", {"RoleName": missing})["Role"]["AssumeRolePolicyDocument"]
    assert json.loads(fixed) == json.loads(_trust(account, OTHER_ACCOUNT))
    page.close()


def test_event_history_hides_the_consoles_own_reads_until_asked(
    desktop: Any, demo_server: Server, api: RpcClient, shots: Screenshots
) -> None:
    assert demo_server.root is not None
    page = desktop.new_page()
    for _ in range(3):  # each view of Trails reads DescribeTrails through the console
        open_page(page, f"{demo_server.url}/console/trails")
    for _ in range(22):
        api.call("DescribeTrails")
    open_page(page, f"{demo_server.url}/console/events")
    page.select_option("select[name=pageSize]", "20")
    page.select_option("select[name=key-0]", "EventName")
    page.fill("input[name=value-0]", "DescribeTrails")
    page.click("#add-condition")
    page.select_option("select[name=key-1]", "EventAccessKeyId")
    page.fill("input[name=value-1]", demo_server.root.access_key_id)
    page.click("#search")
    # A full first page of the signed calls, though console reads are newer than all of them.
    page.wait_for_selector("#result-count >> text=/^20 events loaded, more match$/")
    assert not page.is_checked("#show-console-reads")
    assert page.query_selector("#event-table .badge:text-is('console')") is None
    page.click("#load-more")
    page.wait_for_selector("#result-count >> text=/^22 events$/")
    label = page.inner_text("#console-reads")
    hidden = int(re.search(r"\((\d+) hidden\)", label).group(1))  # type: ignore[union-attr]
    assert hidden >= 3, label
    shots.take(page, "44-event-history-console-reads-hidden")

    page.check("#show-console-reads")
    page.wait_for_selector("text=Searching…", state="detached")
    while page.query_selector("#load-more"):
        page.click("#load-more")
        page.wait_for_selector("text=Searching…", state="detached")
    count = int(page.inner_text("#result-count").split()[0])
    assert count == 22 + hidden
    page.click("#event-table tbody tr.clickable:has(.badge:text-is('console')) >> nth=0")
    detail = json.loads(page.inner_text("#event-table tr.detail-row:not([hidden]) pre"))
    assert detail["eventType"] == "ApiCall"
    assert detail["userAgent"] == "actiontrail.console.aliyun.com"
    assert detail["additionalEventData"]["callVia"] == "console"
    assert "Chrome" in detail["additionalEventData"]["browserUserAgent"]
    shots.take(page, "45-event-history-console-reads-shown")
    page.uncheck("#show-console-reads")  # the page keeps the choice; leave the default
    page.close()


def test_an_invalid_trail_name_is_marked_as_an_error(
    desktop: Any, demo_server: Server, shots: Screenshots
) -> None:
    page = desktop.new_page()
    open_page(page, f"{demo_server.url}/console/trails/new")
    page.fill("#field-name", "Bad Name!")
    assert page.get_attribute("#field-name", "aria-invalid") == "true"
    red = page.eval_on_selector("#name-rule", "e => getComputedStyle(e).color")
    border = page.eval_on_selector("#field-name", "e => getComputedStyle(e).borderTopColor")
    assert red == border == "rgb(198, 40, 40)"  # --bad
    shots.take(page, "46-create-trail-invalid-name")
    page.click("#next")
    page.click("#next")
    summary = page.inner_text("#summary")
    assert "actiontrail_bad" not in summary.lower()
    assert "(shown once the trail name is valid)" in summary
    page.click("#previous")
    page.click("#previous")
    page.fill("#field-name", "good-name-1")
    assert page.get_attribute("#field-name", "aria-invalid") == "false"
    assert page.eval_on_selector("#name-rule", "e => getComputedStyle(e).color") != red
    page.click("#next")
    page.click("#next")
    assert "actiontrail_good_name_1" in page.inner_text("#summary")
    page.close()


def test_numbers_are_plain_decimals_and_words_agree_with_counts(
    desktop: Any, demo_server: Server, shots: Screenshots
) -> None:
    page = desktop.new_page()
    open_page(page, f"{demo_server.url}/console/billing")
    text = page.inner_text("#page")
    assert not UNREADABLE.search(text), UNREADABLE.search(text)
    titles = page.eval_on_selector_all("#bill-table [title]", "es => es.map(e => e.title)")
    assert titles and not any(UNREADABLE.search(t) for t in titles), titles
    open_page(page, f"{demo_server.url}/console/sql")
    text = page.inner_text("#page")
    assert not UNREADABLE.search(text)
    assert not re.search(r"\b1 partitions\b|\b1 rows\b", text)
    sizes = re.findall(r"\d+(?:\.\d+)? (?:bytes?|KB|MB|GB)", text)
    assert sizes, text[:500]
    shots.take(page, "47-sql-sizes")
    page.close()


def test_the_roles_page_fits_a_phone(
    playwright_browser: Any, demo_server: Server, api: RpcClient, shots: Screenshots
) -> None:
    assert demo_server.root is not None
    name = f"phone-role-with-a-long-name-{uuid.uuid4().hex[:8]}"
    api.call(
        "CreateRole",
        {"RoleName": name, "AssumeRolePolicyDocument": _trust(demo_server.root.account_id)},
    )
    context = playwright_browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    sign_in(page, demo_server.url, demo_server.root)
    for shot, path in (("roles", "/console/roles"), ("role", f"/console/roles/{name}")):
        open_page(page, demo_server.url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} scrolls sideways at phone width ({width} px)"
        shots.take(page, f"48-phone-{shot}")
    context.close()


FORMATS = [
    ("usd", 0, "$0.00"),
    ("usd", 0.0000012, "$0.0000012"),
    ("usd", 0.0000123456, "$0.000012"),
    ("usd", 0.0123, "$0.0123"),
    ("usd", 0.1, "$0.10"),
    ("usd", 1234.5, "$1,234.50"),
    ("decimal", 1.2e-5, "0.000012"),
    ("decimal", 0.30000000000000004, "0.3"),
    ("decimal", 123456.789, "123,457"),
    ("bytes", 1, "1 byte"),
    ("bytes", 512, "512 bytes"),
    ("bytes", 2048, "2.00 KB"),
    ("bytes", 1536000, "1.46 MB"),
    ("bytes", 5e9, "4.66 GB"),
]


def test_number_formats_are_plain(desktop: Any, demo_server: Server) -> None:
    """The console's formats, run in the browser from the module the pages use."""
    page = desktop.new_page()
    open_page(page, f"{demo_server.url}/console/roles")
    shown = page.evaluate(
        """async (cases) => {
            const ui = await import("/console/static/js/ui.js");
            return cases.map(([name, value]) => ui[name](value));
        }""",
        [[name, value] for name, value, _ in FORMATS],
    )
    assert shown == [expected for _, _, expected in FORMATS]
    words = page.evaluate(
        """async () => {
            const ui = await import("/console/static/js/ui.js");
            return [ui.plural(1, "partition"), ui.plural(2, "partition"), ui.plural(1200, "row")];
        }"""
    )
    assert words == ["1 partition", "2 partitions", "1,200 rows"]
    wrapped = page.evaluate(
        """async () => {
            const ui = await import("/console/static/js/ui.js");
            const span = ui.breakable("acs:ram::123:role/a-b");
            return [span.textContent, span.innerHTML];
        }"""
    )
    assert wrapped == [
        "acs:ram::123:role/a-b",
        "acs:<wbr>ram:<wbr>:<wbr>123:<wbr>role/<wbr>a-<wbr>b",
    ]
    page.close()
