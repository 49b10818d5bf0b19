"""The console's own refusals, answered in the API's error envelope.

ApiError (trailhouse.errors)
├── SessionExpired     401: no session, an expired one, or one that was signed out
├── CsrfTokenInvalid   403: a POST without the page's CSRF token
└── SignInFailed       401: the AccessKey pair does not sign in
"""

from __future__ import annotations

from trailhouse.errors import ApiError


class SessionExpired(ApiError):
    code = "SessionExpired"
    http_status = 401


class CsrfTokenInvalid(ApiError):
    code = "InvalidCsrfToken"
    http_status = 403


class SignInFailed(ApiError):
    code = "SignInFailed"
    http_status = 401
