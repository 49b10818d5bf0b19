"""The HTML of each console page: a shell with the navigation, the region selector and the
signed-in identity; the page's script module fills it from `/console/api/<Action>`.

Pages are plain HTML, CSS and JavaScript modules committed under `static/`, so nothing is built
or downloaded. Values reach the scripts through `data-` attributes and `<meta>` tags, never
inline scripts, which the Content-Security-Policy forbids.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from trailhouse.iam.principals import Caller, PrincipalKind
from trailhouse.regions import Region

STATIC = "/console/static"

# Pages are documents that must never be framed or run scripts from elsewhere.
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True, slots=True)
class Page:
    """A console page: its title, script module and the navigation entry it belongs to."""

    name: str
    title: str
    script: str
    nav: str


TRAILS = Page("trails", "Trails", "trails.js", "trails")
CREATE_TRAIL = Page("create-trail", "Create Trail", "wizard.js", "trails")
TRAIL = Page("trail", "Trail", "trail.js", "trails")
EVENTS = Page("events", "Event history", "events.js", "events")
SQL = Page("sql", "SQL workbench", "sql.js", "sql")
BILLING = Page("billing", "Billing", "billing.js", "billing")
KEYS = Page("keys", "Access keys", "keys.js", "keys")
ROLES = Page("roles", "RAM roles", "roles.js", "roles")
ROLE = Page("role", "RAM role", "roles.js", "roles")
DETECTIONS = Page("detections", "Detections", "detections.js", "detections")
SIGNIN = Page("signin", "Sign in", "signin.js", "")

NAVIGATION = (
    ("trails", "Trails", "/console/trails"),
    ("events", "Event history", "/console/events"),
    ("sql", "SQL workbench", "/console/sql"),
    ("billing", "Billing", "/console/billing"),
    ("detections", "Detections", "/console/detections"),
    ("keys", "Access keys", "/console/keys"),
    ("roles", "Roles", "/console/roles"),
)

_SIMPLE = {
    "trails": TRAILS,
    "trails/new": CREATE_TRAIL,
    "events": EVENTS,
    "sql": SQL,
    "billing": BILLING,
    "keys": KEYS,
    "roles": ROLES,
    "detections": DETECTIONS,
}


def page_for(path: str) -> tuple[Page, dict[str, str]] | None:
    """The page at `/console/<path>` and the values it carries (a trail's name), or None."""
    path = path.strip("/")
    if path in _SIMPLE:
        return _SIMPLE[path], {}
    prefix, _, name = path.partition("/")
    if prefix == "trails" and name and "/" not in name:
        return TRAIL, {"trail": name}
    if prefix == "roles" and name and "/" not in name:
        return ROLE, {"role": name}
    return None


@dataclass(frozen=True, slots=True)
class Shell:
    """What every signed-in page shows around its content."""

    caller: Caller
    csrf_token: str
    regions: list[Region]
    default_region: str
    expires_at: float


def render_page(page: Page, shell: Shell, values: Mapping[str, str]) -> str:
    """The HTML document of a signed-in page."""
    caller = shell.caller
    data = {
        "page": page.name,
        "account": caller.account_id,
        "kind": caller.kind,
        "user": caller.name,
        "default-region": shell.default_region,
        "session-expires": str(int(shell.expires_at)),
        **values,
    }
    options = "".join(
        f'<option value="{_e(r.region_id)}">{_e(r.local_name)} ({_e(r.region_id)})</option>'
        for r in shell.regions
    )
    regions_json = orjson.dumps([r.region_id for r in shell.regions]).decode()
    navigation = "".join(
        f'<a href="{href}"{" aria-current=page" if key == page.nav else ""}>{_e(label)}</a>'
        for key, label, href in NAVIGATION
    )
    body = f"""<header class="topbar">
  <div class="topbar-start">
    <a class="brand" href="/console/trails" aria-label="trailhouse console home">
      <span class="brand-mark" aria-hidden="true"></span>trailhouse</a>
    <label class="region-picker"><span class="visually-hidden">Region</span>
      <select id="region" data-regions="{_e(regions_json)}">{options}</select></label>
  </div>
  <nav class="mainnav" aria-label="Console">{navigation}</nav>
  <div class="identity">
    <span class="who" title="{_e(caller.access_key_id)}">{_e(_identity(caller))}</span>
    <button type="button" id="signout" class="link-button">Sign out</button>
  </div>
</header>
<main id="main" class="page-{_e(page.name)}">
  <div id="page" aria-live="polite"><p class="muted">Loading…</p></div>
</main>"""
    return _document(page, shell.csrf_token, data, body)


def render_signin(csrf_token: str, next_path: str, expired: bool) -> str:
    """The sign-in page; `expired` says the user was sent here by an ended session."""
    notice = (
        '<p class="notice" id="expired-notice">Your session has ended. Sign in again to '
        "continue where you were: what you typed is kept.</p>"
        if expired
        else ""
    )
    body = f"""<main class="signin">
  <form id="signin-form" class="card signin-card" novalidate>
    <h1><span class="brand-mark" aria-hidden="true"></span>trailhouse console</h1>
    <p class="muted">Sign in with an AccessKey pair: an account's root key, or a RAM user's.</p>
    {notice}
    <label for="access-key-id">AccessKey ID</label>
    <input id="access-key-id" name="AccessKeyId" autocomplete="username" required
      spellcheck="false" autocapitalize="off">
    <label for="access-key-secret">AccessKey secret</label>
    <input id="access-key-secret" name="AccessKeySecret" type="password"
      autocomplete="current-password" required>
    <p class="field-error" id="signin-error" role="alert"></p>
    <button type="submit" class="primary">Sign in</button>
    <p class="hint">Keys come from <code>trailhouse account create</code> or
      <code>trailhouse user create</code>; <code>make demo</code> prints the demo's.</p>
  </form>
</main>"""
    return _document(SIGNIN, csrf_token, {"page": "signin", "next": next_path}, body)


def render_not_found(path: str) -> str:
    """A page for an unknown console address."""
    body = f"""<main class="signin"><div class="card signin-card">
  <h1>Not found</h1><p>There is no console page at <code>{_e(path)}</code>.</p>
  <p><a href="/console/trails">Go to Trails</a></p></div></main>"""
    return _document(Page("missing", "Not found", "", ""), "", {"page": "missing"}, body)


def _document(page: Page, csrf_token: str, data: Mapping[str, str], body: str) -> str:
    attributes = " ".join(f'data-{name}="{_e(value)}"' for name, value in data.items())
    script = (
        f'<script type="module" src="{STATIC}/js/pages/{page.script}"></script>'
        if page.script
        else ""
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{_e(csrf_token)}">
<title>{_e(page.title)} · trailhouse console</title>
<link rel="icon" href="{STATIC}/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="{STATIC}/console.css">
{script}
</head>
<body {attributes}>
{body}
</body>
</html>
"""


def _identity(caller: Caller) -> str:
    if caller.kind == PrincipalKind.ROOT:
        return f"Root account {caller.account_id}"
    return f"RAM user {caller.name} · {caller.account_id}"


def _e(value: str) -> str:
    return html.escape(value, quote=True)
