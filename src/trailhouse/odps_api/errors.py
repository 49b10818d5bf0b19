"""MaxCompute's REST errors: the wire code PyODPS maps to its exception classes, the HTTP status,
and a message that starts with MaxCompute's `ODPS-NNNNNNN` number and says what to fix.

    ApiError
    └── OdpsWireError
        ├── NoSuchObject          404  project, table, schema → odps.errors.NoSuchObject
        │   └── NoSuchPartition   404  partition              → odps.errors.NoSuchPartition
        ├── NoPermission          403                         → odps.errors.NoPermission
        ├── SignatureNotMatch     401                         → odps.errors.SignatureNotMatch
        ├── InvalidCredentials    401  unknown, disabled key  → odps.errors.InvalidParameter
        ├── AuthorizationRequired 401  no Authorization       → odps.errors.AuthorizationRequired
        ├── InvalidAuthentication 400  a malformed header     → odps.errors.InvalidParameter
        ├── RequestTimeTooSkewd   403  stale or future Date   → odps.errors.RequestTimeTooSkewed
        ├── InvalidArgument       400  a bad parameter        → odps.errors.InvalidArgument
        ├── MethodNotAllowed      405  not served (yet)       → odps.errors.MethodNotAllowed
        ├── ServiceUnavailable    503  storage trouble        → odps.errors.ServiceUnavailable
        └── InternalServerError   500  a bug, logged          → odps.errors.InternalServerError

(`RequestTimeTooSkewd` is MaxCompute's own spelling, which PyODPS matches.)
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from trailhouse import errors
from trailhouse.iam import odps_signatures as sig


class OdpsWireError(errors.ApiError):
    """An error answered to a PyODPS caller as MaxCompute's XML error body (an `ApiError`, so
    audit events record its code and message like any API error's)."""

    code: ClassVar[str] = "ODPSError"
    http_status: ClassVar[int] = 400


class NoSuchObject(OdpsWireError):
    code = "NoSuchObject"
    http_status = 404


class NoSuchPartition(NoSuchObject):
    code = "NoSuchPartition"


class NoPermission(OdpsWireError):
    code = "NoPermission"
    http_status = 403


class SignatureNotMatch(OdpsWireError):
    code = "SignatureNotMatch"
    http_status = 401


class InvalidCredentials(OdpsWireError):
    code = "InvalidParameter"
    http_status = 401


class AuthorizationRequired(OdpsWireError):
    code = "AuthorizationRequired"
    http_status = 401


class InvalidAuthentication(OdpsWireError):
    code = "InvalidParameter"
    http_status = 400


class RequestTimeTooSkewd(OdpsWireError):
    code = "RequestTimeTooSkewd"
    http_status = 403


class InvalidArgument(OdpsWireError):
    code = "InvalidArgument"
    http_status = 400


class MethodNotAllowed(OdpsWireError):
    code = "MethodNotAllowed"
    http_status = 405


class ServiceUnavailable(OdpsWireError):
    code = "ServiceUnavailable"
    http_status = 503


class InternalServerError(OdpsWireError):
    code = "InternalServerError"
    http_status = 500


def _iso(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def wire_error(exc: Exception) -> OdpsWireError | None:
    """The wire error a refusal is answered with; None for a failure that is not a refusal
    (a bug: the caller logs it and answers InternalServerError)."""
    if isinstance(exc, OdpsWireError):
        return exc
    if isinstance(exc, sig.RequestExpired):
        # MaxCompute's message; PyODPS reads max_interval_date, expire_date and now_date from it.
        limit_ms = exc.max_skew * 1000
        return RequestTimeTooSkewd(
            "ODPS-0410031:Authentication request expired - the expire time interval exceeds "
            f"the max limitation: {limit_ms} (sync the client's clock and retry), "
            f"max_interval_date:{limit_ms},expire_date:{_iso(exc.signed_at)},"
            f"now_date:{_iso(exc.now)}"
        )
    if isinstance(exc, sig.UnknownAccessKey):
        return InvalidCredentials(f"ODPS-0410051:Invalid credentials - {exc}")
    if isinstance(exc, sig.SignatureMismatch):
        return SignatureNotMatch(f"ODPS-0410042:Invalid signature value - {exc}")
    if isinstance(exc, sig.MissingAuthentication):
        return AuthorizationRequired(f"ODPS-0410001:Missing authentication parameters - {exc}")
    if isinstance(exc, sig.MalformedAuthentication):
        return InvalidAuthentication(f"ODPS-0410011:Invalid authentication parameters - {exc}")
    if isinstance(exc, errors.InvalidAccessKeyIdInactive | errors.InvalidAccessKeyIdNotFound):
        return InvalidCredentials(f"ODPS-0410051:Invalid credentials - {exc.message}")
    if isinstance(exc, errors.ProjectNotFound | errors.TableNotFound):
        return NoSuchObject(exc.message)
    if isinstance(exc, errors.NoPermission):
        message = exc.message
        if not message.startswith("ODPS-"):
            message = f"ODPS-0130013:Authorization exception - {message}"
        return NoPermission(message)
    if isinstance(exc, errors.InvalidParameter):
        return InvalidArgument(f"ODPS-0420061:Invalid parameter in HTTP request - {exc.message}")
    if isinstance(exc, errors.DiskError | errors.StoreError):
        return ServiceUnavailable(
            "ODPS-0010000:System internal error - the server's storage is unavailable for a "
            "moment; retry later"
        )
    if isinstance(exc, errors.ApiError) and exc.http_status in (429, 503):
        return ServiceUnavailable(f"ODPS-0010000:System internal error - {exc.message}")
    return None
