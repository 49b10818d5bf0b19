"""What the in-process API tests share: one signed call through a Starlette TestClient."""

from __future__ import annotations

from typing import Any

from trailhouse.iam.accounts import Credentials
from trailhouse.iam.signing import sign_request_v3


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
