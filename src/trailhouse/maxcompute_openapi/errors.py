"""The OpenAPI's errors: MaxCompute's code, the HTTP status, and a message that says what to fix,
answered as a JSON body the SDK's `ClientException`/`ServerException` reads.

    ApiError
    └── OpenApiError
        ├── NoSuchObject         404  project, table, quota or job absent
        ├── NoPermission         403  no privilege on the project, or a service key
        ├── InvalidParameter     400  a bad query or body parameter
        ├── MethodNotAllowed     405  a write, or a call not served
        ├── ServiceUnavailable   503  storage trouble, retry
        └── InternalServerError  500  a bug, logged

Signature refusals keep the API gateway's codes (`SignatureDoesNotMatch`, `IncompleteSignature`,
`InvalidAccessKeyId.NotFound`, ...), as Alibaba's gateway answers them for every product.
"""

from __future__ import annotations

from typing import Any, ClassVar

from trailhouse import errors


class OpenApiError(errors.ApiError):
    """An error answered to the MaxCompute OpenAPI SDK."""

    code: ClassVar[str] = "InvalidParameter"
    http_status: ClassVar[int] = 400


class NoSuchObject(OpenApiError):
    code = "NoSuchObject"
    http_status = 404


class NoPermission(OpenApiError):
    code = "NoPermission"
    http_status = 403


class InvalidParameter(OpenApiError):
    code = "InvalidParameter"
    http_status = 400


class MethodNotAllowed(OpenApiError):
    code = "MethodNotAllowed"
    http_status = 405


class ServiceUnavailable(OpenApiError):
    code = "ServiceUnavailable"
    http_status = 503


class InternalServerError(OpenApiError):
    code = "InternalServerError"
    http_status = 500


def wire_error(exc: Exception) -> errors.ApiError | None:
    """The error a refusal is answered with; None for a failure that is not a refusal (a bug:
    the caller logs it and answers InternalServerError)."""
    if isinstance(exc, OpenApiError):
        return exc
    if isinstance(
        exc,
        errors.ProjectNotFound | errors.TableNotFound | errors.JobNotFound | errors.NotFoundError,
    ):
        return NoSuchObject(_message(exc))
    if isinstance(exc, errors.NoAvailableQuota):
        return NoSuchObject(_message(exc))
    if isinstance(exc, errors.NoPermission):
        return NoPermission(exc.message)
    if isinstance(exc, errors.InvalidParameter | errors.MissingParameter):
        return InvalidParameter(exc.message)
    if isinstance(exc, errors.DiskError | errors.StoreError):
        return ServiceUnavailable("the server's storage is unavailable for a moment; retry later")
    if isinstance(exc, errors.ApiError):  # the signature's and the gateway's own refusals
        return exc
    return None


def _message(exc: Exception) -> str:
    return exc.message if isinstance(exc, errors.ApiError) else str(exc)


def error_body(error: errors.ApiError, request_id: str, host: str) -> dict[str, Any]:
    """The error body: the gateway's fields (`Code`, `Message`, which the SDK's exception
    carries) and MaxCompute's own (`httpCode`, `errorCode`, `errorMsg`, as the response models
    name them)."""
    return {
        "RequestId": request_id,
        "HostId": host,
        "Code": error.code,
        "Message": error.message,
        "requestId": request_id,
        "httpCode": error.http_status,
        "errorCode": error.code,
        "errorMsg": error.message,
    }
