"""CSRF protection: every POST carries a token the page was given, in `X-CSRF-Token`.

A signed-in page gets its session's token. The sign-in page, which has no session yet, gets a
fresh token that is also set as an HttpOnly cookie, and the sign-in POST must present both
(double submit), so another site cannot sign a browser into an account of its choosing.
"""

from __future__ import annotations

import hmac
import secrets

from trailhouse.console.errors import CsrfTokenInvalid

CSRF_HEADER = "x-csrf-token"
SIGNIN_COOKIE = "th_signin_csrf"


def new_token() -> str:
    """A fresh unguessable token."""
    return secrets.token_urlsafe(32)


def require_token(expected: str | None, presented: str | None) -> None:
    """CsrfTokenInvalid unless `presented` is exactly the (non-empty) `expected` token."""
    if not expected or not presented or not hmac.compare_digest(expected, presented):
        raise CsrfTokenInvalid(
            "the request lacks this page's CSRF token (header X-CSRF-Token); reload the page "
            "and try again"
        )
