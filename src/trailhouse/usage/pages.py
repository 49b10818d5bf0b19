"""Pages of a computed list with an opaque NextToken bound to the question that issued it."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import orjson

T = TypeVar("T")


class InvalidToken(ValueError):
    """The token was not issued by this server for this question; the message says why."""


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of items and the token of the next (None on the last page)."""

    items: list[T]
    next_token: str | None


def fingerprint(*parts: str) -> str:
    """A short digest of the question a token is bound to."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def page_of(items: Sequence[T], token: str | None, size: int, question: str) -> Page[T]:
    """The page `token` points to (the first without one) of `size` items."""
    offset = _offset(token, question) if token else 0
    shown = list(items[offset : offset + size])
    following = offset + size
    next_token = _token(following, question) if following < len(items) else None
    return Page(shown, next_token)


def _token(offset: int, question: str) -> str:
    raw = orjson.dumps({"o": offset, "q": question})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _offset(token: str, question: str) -> int:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset, issued_for = data["o"], data["q"]
    except (binascii.Error, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise InvalidToken(
            "NextToken is not a token this server issued; drop it to start over"
        ) from None
    if type(offset) is not int or offset < 0:
        raise InvalidToken("NextToken is not a token this server issued; drop it to start over")
    if issued_for != question:
        raise InvalidToken(
            "NextToken belongs to a call with other parameters; repeat the AccessKey, "
            "ServiceName and PageSize of the call that returned it"
        )
    return offset
