"""Findings sent to an account's webhook: signed with HMAC-SHA256, kept in a durable outbox
written in the same commit as the finding, and retried on the delivery retry policy
(`retry.delivery_policy`: doubling to a minute, never given up) until the receiver answers 2xx.

Where a webhook may post is `egress.py`'s decision (no link-local or metadata address ever; no
loopback or private one unless the operator allows it), checked when it is set and again at
each send, which connects to the very address it checked. Each entry goes to the account's
webhook as it is when sent: a webhook moved to a new address
takes the waiting findings with it; a webhook deleted drops them. Delivery is at least once: a
receiver recognises a repeat by `X-Trailhouse-Delivery` (the finding's id). The signature is
`v1=` and the hex HMAC-SHA256, keyed by the webhook's secret, of
`<X-Trailhouse-Timestamp>.<body>`.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import secrets
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import msgspec

from trailhouse.detections.egress import Egress, EgressRefused, pinned_connection
from trailhouse.errors import VersionConflict
from trailhouse.retry import RetryPolicy
from trailhouse.store.ports import DocumentWrite, MetadataStore

WEBHOOK_KIND = "detection-webhook"
OUTBOX_KIND = "detection-outbox"
WEBHOOK_NAME = "findings"
SEND_SECONDS = 5.0
MAX_URL = 2048


class InvalidWebhook(ValueError):
    """The webhook's URL is not one trailhouse can call."""


class Webhook(msgspec.Struct, frozen=True):
    """Where an account's findings go, and the secret their signatures are keyed by."""

    url: str
    secret: str
    created_ms: int


class OutboxItem(msgspec.Struct, frozen=True):
    """A finding waiting to reach the webhook: its body, attempts so far and the next one."""

    finding_id: str
    body: str
    attempts: int
    next_at: float
    last_error: str


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Trailhouse-Signature of a body sent at `timestamp`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


class Webhooks:
    """Each account's findings webhook and the outbox of findings still to send."""

    def __init__(
        self,
        metadata: MetadataStore,
        policy: RetryPolicy,
        clock: Callable[[], float] = time.time,
        egress: Egress | None = None,
    ) -> None:
        self._metadata = metadata
        self._policy = policy
        self._clock = clock
        self._egress = egress if egress is not None else Egress()

    def set(self, account_id: str, url: str, now_ms: int) -> Webhook:
        """Send the account's findings to `url` from now on, under a new secret."""
        target = _target(url)
        if target is None:
            raise InvalidWebhook(
                f"Url must be an http:// or https:// address with a host, at most {MAX_URL} "
                "characters"
            )
        try:
            self._egress.addresses(target[1], target[2])
        except EgressRefused as refused:
            raise InvalidWebhook(f"Url refused: {refused}") from None
        webhook = Webhook(url, secrets.token_urlsafe(32), now_ms)
        current = self._metadata.get_document(WEBHOOK_KIND, account_id, WEBHOOK_NAME)
        version = current.version if current is not None else 0
        body = msgspec.json.encode(webhook)
        self._metadata.commit(
            [DocumentWrite(WEBHOOK_KIND, account_id, WEBHOOK_NAME, body, version)]
        )
        return webhook

    def get(self, account_id: str) -> Webhook | None:
        """The account's webhook, if it has one."""
        document = self._metadata.get_document(WEBHOOK_KIND, account_id, WEBHOOK_NAME)
        return None if document is None else msgspec.json.decode(document.body, type=Webhook)

    def delete(self, account_id: str) -> bool:
        """Stop sending, and drop the findings still waiting to be sent (they stay listed)."""
        document = self._metadata.get_document(WEBHOOK_KIND, account_id, WEBHOOK_NAME)
        if document is None:
            return False
        waiting = self._metadata.list_documents(OUTBOX_KIND, account_id)
        self._metadata.commit(
            [
                DocumentWrite(WEBHOOK_KIND, account_id, WEBHOOK_NAME, None, document.version),
                *(DocumentWrite(OUTBOX_KIND, account_id, d.name, None, d.version) for d in waiting),
            ]
        )
        return True

    def outbox_writes(self, account_id: str, finding_id: str, body: bytes) -> list[DocumentWrite]:
        """The outbox entry of a new finding, to commit with the finding (none without a
        webhook)."""
        webhook = self.get(account_id)
        if webhook is None:
            return []
        item = OutboxItem(finding_id, body.decode(), 0, 0.0, "")
        encoded = msgspec.json.encode(item)
        return [DocumentWrite(OUTBOX_KIND, account_id, finding_id, encoded, 0)]

    def pending(self, account_id: str) -> list[OutboxItem]:
        """The account's findings not yet accepted by its webhook, oldest first."""
        return [
            msgspec.json.decode(d.body, type=OutboxItem)
            for d in self._metadata.list_documents(OUTBOX_KIND, account_id)
        ]

    def send_due(self) -> int:
        """Send every outbox entry whose time has come; how many were accepted."""
        sent = 0
        for document in self._metadata.list_documents(OUTBOX_KIND):
            item = msgspec.json.decode(document.body, type=OutboxItem)
            now = self._clock()
            if item.next_at > now:
                continue
            # Claim the entry (another process sending it too would conflict here).
            claimed = msgspec.structs.replace(item, next_at=now + 2 * SEND_SECONDS)
            try:
                self._metadata.commit(
                    [
                        DocumentWrite(
                            OUTBOX_KIND,
                            document.scope,
                            document.name,
                            msgspec.json.encode(claimed),
                            document.version,
                        )
                    ]
                )
            except VersionConflict:
                continue  # another sender has it
            webhook = self.get(document.scope)
            error = self._post(webhook, item) if webhook is not None else ""
            if not error:  # accepted, or the webhook is gone (nothing to send to)
                self._metadata.commit(
                    [
                        DocumentWrite(
                            OUTBOX_KIND, document.scope, document.name, None, document.version + 1
                        )
                    ]
                )
                sent += 1 if webhook is not None else 0
                continue
            attempts = item.attempts + 1
            failed = msgspec.structs.replace(
                item,
                attempts=attempts,
                next_at=self._clock() + self._policy.delay(attempts),
                last_error=error,
            )
            self._metadata.commit(
                [
                    DocumentWrite(
                        OUTBOX_KIND,
                        document.scope,
                        document.name,
                        msgspec.json.encode(failed),
                        document.version + 1,
                    )
                ]
            )
        return sent

    def _post(self, webhook: Webhook, item: OutboxItem) -> str:
        """Send one entry to the account's webhook as it is now; "" when the receiver
        accepted it, else why not."""
        target = _target(webhook.url)
        if target is None:
            return "not an http(s) address"
        scheme, host, port, path = target
        try:
            address = self._egress.addresses(host, port)[0]
        except EgressRefused as refused:
            return f"refused: {refused}"
        body = item.body.encode()
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "trailhouse-detections",
            "X-Trailhouse-Delivery": item.finding_id,
            "X-Trailhouse-Timestamp": timestamp,
            "X-Trailhouse-Signature": signature(webhook.secret, timestamp, body),
        }
        connection = pinned_connection(scheme, host, port, address, SEND_SECONDS)
        try:
            connection.request("POST", path, body=body, headers=headers)
            answer = connection.getresponse()
            status = answer.status
            answer.read(64 * 1024)
        except (OSError, ValueError, http.client.HTTPException) as failure:
            return f"not reached: {failure}"
        finally:
            connection.close()
        # A redirect is a failure, never followed: a webhook answers where it was set.
        return "" if 200 <= status < 300 else f"HTTP {status}"


def _target(url: str) -> tuple[str, str, int, str] | None:
    """(scheme, host, port, path with query) of an http(s) URL, or None when it is not one."""
    if len(url) > MAX_URL:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path
