"""The trailhouse error tree.

    TrailhouseError
    ├── SettingsError                 bad configuration; the process refuses to start
    ├── StoreError              (T)   a storage adapter failed (disk, database)
    │   ├── StoreUnavailable    (T)   the store is closed or shutting down
    │   └── DiskError           (T)   the disk refused a write: nothing of it was stored
    │       ├── DiskFull        (T)   no space left (ENOSPC, EDQUOT, SQLITE_FULL, SQLSTATE 53100)
    │       └── DiskFailed      (T)   the storage failed (EIO, SQLITE_IOERR)
    ├── ConflictError                 an entity that must be unique already exists
    │   └── VersionConflict     (T)   a document changed since it was read (retry the decision)
    ├── NotFoundError                 a named entity does not exist (CLI / services)
    ├── ApiError                      answered to API callers as the JSON error envelope
    │   ├── MissingParameter, InvalidParameter, MalformedBody, RequestEntityTooLarge,
    │   │   InvalidActionNotFound, UnsupportedHttpMethod, ThrottlingUser (T)
    │   ├── JSON nested too deeply: MalformedBodyTooDeep, InvalidParameterTooDeep
    │   ├── signature and key errors: IncompleteSignature, SignatureDoesNotMatch,
    │   │   InvalidTimeStampExpired, SignatureNonceUsed, InvalidAccessKeyIdNotFound,
    │   │   InvalidAccessKeyIdInactive, ContentSha256Mismatch
    │   ├── RAM users and keys: EntityNotExistUser, EntityNotExistUserAccessKey
    │   ├── NoPermission
    │   ├── trail rules (reference §1.7): InvalidTrailNameException, TrailAlreadyExistsException,
    │   │   TrailNotFoundException, MaximumNumberOfTrailsExceededException,
    │   │   InvalidBucketNameException, InvalidPrefixException, InvalidRegionException,
    │   │   InsufficientMaxComputePolicyException, EntityNotExistRole, EntityAlreadyExistsRole,
    │   │   EntityNotExistPolicy, MalformedPolicyDocument, DeleteConflictRole,
    │       DeleteConflictRolePolicy
    │   ├── warehouse (MaxCompute-style codes): SqlParseError, SqlSemanticError, TableNotFound,
    │   │   ProjectNotFound, JobNotFound, NoAvailableQuota, QuotaExceeded (T), JobCancelled
    │   │   ├── SqlParseError ── SqlTooLong, SqlTooDeep, SqlTooComplex (limits, same code)
    │   │   ├── SqlSemanticError ── SqlArgumentTypeError, SqlArgumentCountError (own codes)
    │   │   └── JobTimedOut (a job's status only: it ran past sql_job_seconds)
    │   ├── delivery history jobs (in delivery/history.py): DeliveryHistoryJobNotFound,
    │   │   DeliveryHistoryJobRunning
    │   ├── advanced queries (in advanced_query/errors.py): EntityNotExistAdvancedQueryTemplate,
    │   │   EntityNotExistAdvancedQueryHistory, LimitExceededAdvancedQueryTemplate,
    │   │   EntityNotExistScene
    │   ├── daily counts (in usage/errors.py): InvalidParameterCombination, InvalidQueryParameter
    │   ├── the web console's own (in console/errors.py): SessionExpired, InvalidCsrfToken,
    │   │   SignInFailed
    │   └── InternalError, ServiceUnavailable (T), DiskFullUnavailable (T),
    │       DiskFailedUnavailable (T)
    ├── RequestFailed           (T?)  a server answered a client call with an error envelope
    └── DeliveryError
        ├── TransientError      (T)   retried with backoff (disk full, warehouse busy)
        └── TerminalError             reported in the trail status; delivery of that trail stops

Each `ApiError` subclass carries its wire `code` and `http_status` as class attributes and a
message that tells the caller what to fix.

(T) marks the transient classes: their `transient` class attribute is True, so trying the same
thing again later may succeed; every other error is terminal until a person changes something.
`trailhouse.retry.classify` reads it (RequestFailed decides per answer: `retryable`).
"""

from __future__ import annotations

import errno
from typing import ClassVar


class TrailhouseError(Exception):
    """Root of every error trailhouse raises on purpose."""

    # Whether trying the same operation again later may succeed (see trailhouse.retry).
    transient: ClassVar[bool] = False


class SettingsError(TrailhouseError):
    """A setting is unknown or has a value of the wrong type."""


class StoreError(TrailhouseError):
    """A storage adapter could not complete an operation."""

    transient = True  # a busy, closing or full store; the same write may pass later


class StoreUnavailable(StoreError):
    """The store is closed or shutting down and accepts no more work."""


class DiskError(StoreError):
    """The disk under the data directory refused a write; the write was not stored, in part or
    whole. `errno` is the system's error number (0 when a database reported it)."""

    def __init__(self, message: str, error_number: int = 0) -> None:
        super().__init__(message)
        self.errno = error_number


class DiskFull(DiskError):
    """No space is left on the disk (or in the quota) that holds the data directory."""


class DiskFailed(DiskError):
    """The storage failed to read or write (an I/O error)."""


# The system errors that mean a full disk; every other OSError of a write is a failed disk.
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def disk_error(exc: OSError, what: str) -> StoreError:
    """The store error for an OSError raised while `what` was written: DiskFull for a full
    disk, DiskFailed for an I/O error, a plain StoreError otherwise."""
    code = exc.errno or 0
    if code in _FULL_ERRNOS:
        return DiskFull(f"{what}: the disk is full ({exc.strerror or exc})", code)
    if code == errno.EIO:
        return DiskFailed(f"{what}: the storage failed ({exc.strerror or exc})", code)
    return StoreError(f"{what}: {exc}")


class ConflictError(TrailhouseError):
    """An entity that must be unique (account, user, key) already exists."""


class VersionConflict(ConflictError):
    """A control-plane document changed (or appeared) since it was read; nothing was written."""

    transient = True  # read again and decide again


class NotFoundError(TrailhouseError):
    """A named entity (account, user, key) does not exist."""


class ApiError(TrailhouseError):
    """An error answered to an API caller: wire code, HTTP status and a message."""

    code: ClassVar[str] = "InternalError"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MissingParameter(ApiError):
    code = "MissingParameter"
    http_status = 400


class InvalidParameter(ApiError):
    code = "InvalidParameter"
    http_status = 400


class MalformedBody(ApiError):
    code = "MalformedBody"
    http_status = 400


class RequestEntityTooLarge(ApiError):
    code = "RequestEntityTooLarge"
    http_status = 413


class MalformedBodyTooDeep(ApiError):
    """A JSON request body whose arrays and objects nest deeper than trailhouse reads."""

    code = "MalformedBody.TooDeep"
    http_status = 400


class InvalidParameterTooDeep(ApiError):
    """A parameter holding JSON (or flattened form fields) nested deeper than trailhouse reads."""

    code = "InvalidParameter.TooDeep"
    http_status = 400


class InvalidActionNotFound(ApiError):
    code = "InvalidAction.NotFound"
    http_status = 404


class UnsupportedHttpMethod(ApiError):
    code = "UnsupportedHTTPMethod"
    http_status = 405


class ThrottlingUser(ApiError):
    code = "Throttling.User"
    http_status = 429
    transient = True

    def __init__(self, message: str, retry_after_ms: int) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


class IncompleteSignature(ApiError):
    code = "IncompleteSignature"
    http_status = 400


class SignatureDoesNotMatch(ApiError):
    code = "SignatureDoesNotMatch"
    http_status = 400


class InvalidTimeStampExpired(ApiError):
    code = "InvalidTimeStamp.Expired"
    http_status = 400


class SignatureNonceUsed(ApiError):
    code = "SignatureNonceUsed"
    http_status = 400


class InvalidAccessKeyIdNotFound(ApiError):
    code = "InvalidAccessKeyId.NotFound"
    http_status = 404


class InvalidAccessKeyIdInactive(ApiError):
    """A request signed with a disabled (Inactive) access key."""

    code = "InvalidAccessKeyId.Inactive"
    http_status = 400


class EntityNotExistUser(ApiError):
    code = "EntityNotExist.User"
    http_status = 404


class EntityNotExistUserAccessKey(ApiError):
    """No such key for this user or account (whether it does not exist or is someone else's)."""

    code = "EntityNotExist.User.AccessKey"
    http_status = 404


class ContentSha256Mismatch(ApiError):
    code = "InvalidParameter.ContentSHA256"
    http_status = 400


class NoPermission(ApiError):
    code = "NoPermission"
    http_status = 403


class InvalidTrailNameException(ApiError):
    code = "InvalidTrailNameException"
    http_status = 400


class TrailAlreadyExistsException(ApiError):
    code = "TrailAlreadyExistsException"
    http_status = 400


class TrailNotFoundException(ApiError):
    code = "TrailNotFoundException"
    http_status = 404


class MaximumNumberOfTrailsExceededException(ApiError):
    code = "MaximumNumberOfTrailsExceededException"
    http_status = 403


class InvalidBucketNameException(ApiError):
    code = "InvalidBucketNameException"
    http_status = 400


class InvalidPrefixException(ApiError):
    code = "InvalidPrefixException"
    http_status = 400


class InvalidRegionException(ApiError):
    code = "InvalidRegionException"
    http_status = 400


class InsufficientMaxComputePolicyException(ApiError):
    """The delivery role does not trust the trail's account or lacks the delivery policy."""

    code = "InsufficientMaxComputePolicyException"
    http_status = 403


class EntityNotExistRole(ApiError):
    code = "EntityNotExist.Role"
    http_status = 404


class DeleteConflictRole(ApiError):
    """A role RAM does not let DeleteRole delete (the service-linked role)."""

    code = "DeleteConflict.Role"
    http_status = 409


class DeleteConflictRolePolicy(ApiError):
    """DeleteRole of a role that still has policies attached."""

    code = "DeleteConflict.Role.Policy"
    http_status = 409


class EntityAlreadyExistsRole(ApiError):
    code = "EntityAlreadyExists.Role"
    http_status = 409


class EntityNotExistPolicy(ApiError):
    code = "EntityNotExist.Policy"
    http_status = 404


class MalformedPolicyDocument(ApiError):
    code = "MalformedPolicyDocument"
    http_status = 400


class SqlParseError(ApiError):
    """SQL text that does not parse (MaxCompute's parse exception)."""

    code = "ODPS-0130161"
    http_status = 400


class SqlTooLong(SqlParseError):
    """SQL text over MaxCompute's 2 MB statement limit (refused before parsing)."""


class SqlTooDeep(SqlParseError):
    """SQL whose parentheses, subqueries or expressions nest deeper than the planner reads."""


class SqlSemanticError(ApiError):
    """SQL that parses but names an unknown column or an unsupported function or statement."""

    code = "ODPS-0130071"
    http_status = 400


class SqlArgumentTypeError(SqlSemanticError):
    """A function or operator given arguments of types it does not take."""

    code = "ODPS-0130121"


class SqlArgumentCountError(SqlSemanticError):
    """A function given more or fewer arguments than it takes."""

    code = "ODPS-0130221"


class SqlTooComplex(SqlParseError):
    """SQL whose planning needs more time than `sql_plan_seconds` (refused, nothing runs)."""


class JobTimedOut(ApiError):
    """A job stopped after running longer than `sql_job_seconds` (MaxCompute's wording)."""

    code = "ODPS-0010000"
    http_status = 408


class TableNotFound(ApiError):
    code = "ODPS-0130131"
    http_status = 404


class ProjectNotFound(ApiError):
    code = "NoSuchProject"
    http_status = 404


class JobNotFound(ApiError):
    code = "NoSuchJob"
    http_status = 404


class NoAvailableQuota(ApiError):
    """A region where the account has no MaxCompute quota a new project could be bound to."""

    code = "NoAvailableQuota"
    http_status = 400


class QuotaExceeded(ApiError):
    """A job refused or stopped by its quota: queue full, or more memory than the quota has."""

    code = "QuotaExceeded"
    http_status = 429
    transient = True


class JobCancelled(ApiError):
    code = "JobCancelled"
    http_status = 409


class InternalError(ApiError):
    code = "InternalError"
    http_status = 500


class ServiceUnavailable(ApiError):
    code = "ServiceUnavailable"
    http_status = 503
    transient = True


class DiskFullUnavailable(ApiError):
    """A write refused because the server's data disk is full; reads still work."""

    code = "ServiceUnavailable.DiskFull"
    http_status = 503
    transient = True


class DiskFailedUnavailable(ApiError):
    """A write refused because the server's storage failed; reads may still work."""

    code = "ServiceUnavailable.StorageFailure"
    http_status = 503
    transient = True


class RequestFailed(TrailhouseError):
    """A trailhouse server answered a client's call with an error (client side of ApiError)."""

    def __init__(self, status: int, code: str, message: str, request_id: str = "") -> None:
        # MaxCompute's SQL messages begin with their own code (`ODPS-0130131:Table not found`).
        said = message if message.startswith(f"{code}:") else f"{code}: {message}"
        super().__init__(said + (f" (request id {request_id})" if request_id else ""))
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id

    @property
    def retryable(self) -> bool:
        """True for throttling, server-side failures and lost connections (status 0)."""
        return self.status in {0, 429} or self.status >= 500 or self.code == "Throttling.User"


class DeliveryError(TrailhouseError):
    """Delivery of a trail's events to its destination failed."""


class TransientError(DeliveryError):
    """A failure expected to pass (disk full, warehouse busy): retry with backoff."""

    transient = True


class TerminalError(DeliveryError):
    """A failure that needs a person (project deleted, role untrusted): report and stop."""
