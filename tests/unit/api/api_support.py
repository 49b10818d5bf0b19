"""What the in-process API tests share: the app served through a Starlette TestClient, and one
signed call through it."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

from starlette.exceptions import StarletteDeprecationWarning

from trailhouse.api.app import create_app
from trailhouse.api.audit import AuditWriter
from trailhouse.iam.accounts import Credentials
from trailhouse.iam.signing import sign_request_v3
from trailhouse.runtime import Services

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient


@contextlib.contextmanager
def served_app(services: Services, account: str) -> Iterator[tuple[TestClient, Credentials]]:
    """The app over `services` (an unexpected error answered, not raised) and the root key of a
    new account `account`; the audit writer and `services` closed after."""
    audit = AuditWriter(services.ingest)
    root = services.accounts.create_account(account)
    with TestClient(create_app(services, audit), raise_server_exceptions=False) as client:
        yield client, root
    audit.close()
    services.close()


def signed_post(client: Any, who: Credentials, action: str, body: bytes = b"") -> Any:
    """POST `action` with `body`, signed (V3) with `who`'s key, as the SDKs sign it."""
    query, headers = sign_request_v3(
        "POST",
        "testserver",
        action,
        "2020-07-06",
        {},
        body,
        who.access_key_id,
        who.access_key_secret,
        content_type="application/json" if body else None,
    )
    return client.post(f"/?{query}", headers=headers, content=body)
