"""The RPC wire protocol: request ids, JSON responses and the error envelope the SDK reads.

Success is HTTP 200 with a PascalCase JSON object holding `RequestId`; an error is HTTP 4xx/5xx
with `{RequestId, HostId, Code, Message}` (reference §5.3). Throttling adds the
`x-acs-retry-after` header so the SDK raises its ThrottlingException.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from starlette.responses import Response

from trailhouse.errors import ApiError, ThrottlingUser

JSON_CONTENT_TYPE = "application/json;charset=utf-8"


def new_request_id() -> str:
    """An upper-case UUID, the shape of Alibaba Cloud request ids."""
    return str(uuid.uuid4()).upper()


def json_response(body: dict[str, Any], status: int = 200) -> Response:
    """A JSON response; values may be `orjson.Fragment`s of already-serialised JSON."""
    return Response(orjson.dumps(body), status_code=status, media_type=JSON_CONTENT_TYPE)


def error_response(error: ApiError, request_id: str, host: str) -> Response:
    """The JSON error envelope for `error`."""
    response = json_response(
        {"RequestId": request_id, "HostId": host, "Code": error.code, "Message": error.message},
        status=error.http_status,
    )
    if isinstance(error, ThrottlingUser):
        response.headers["x-acs-retry-after"] = str(error.retry_after_ms)
    return response
