"""The console's own refusals, answered in the API's error envelope.

ApiError (trailhouse.errors)
├── SessionExpired     401: no session, an expired one, or one that was signed out
├── CsrfTokenInvalid   403: a POST without the page's CSRF token
├── SignInFailed       401: the AccessKey pair does not sign in
└── ThrottlingUser     (trailhouse.errors)
    └── SignInThrottled  429: too many attempts from the address, or failures for the key
"""

from __future__ import annotations

from trailhouse.errors import ApiError, ThrottlingUser


class SessionExpired(ApiError):
    code = "SessionExpired"
    http_status = 401


class CsrfTokenInvalid(ApiError):
    code = "InvalidCsrfToken"
    http_status = 403


class SignInFailed(ApiError):
    code = "SignInFailed"
    http_status = 401


class SignInThrottled(ThrottlingUser):
    """Refused before the secret is checked; `retry_after_ms` says when to try again."""

    code = "SignInThrottled"
    http_status = 429

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message, retry_after_ms=retry_after_seconds * 1000)
        self.retry_after_seconds = retry_after_seconds
