"""What a failure while running an action is answered with: disk errors get their own 503 codes."""

from __future__ import annotations

import errno

import pytest

from trailhouse.api.dispatch import api_error
from trailhouse.errors import (
    DiskFailed,
    DiskFull,
    InvalidParameter,
    StoreError,
    StoreUnavailable,
    disk_error,
)


@pytest.mark.parametrize(
    ("failure", "code", "status", "says"),
    [
        (DiskFull("metadata store: the disk is full"), "ServiceUnavailable.DiskFull", 503, "full"),
        (
            disk_error(OSError(errno.ENOSPC, "No space left on device"), "event log append"),
            "ServiceUnavailable.DiskFull",
            503,
            "nothing of it was stored",
        ),
        (
            disk_error(OSError(errno.EDQUOT, "Disk quota exceeded"), "event log append"),
            "ServiceUnavailable.DiskFull",
            503,
            "full",
        ),
        (
            disk_error(OSError(errno.EIO, "Input/output error"), "event log append"),
            "ServiceUnavailable.StorageFailure",
            503,
            "I/O error",
        ),
        (
            DiskFailed("metadata store: disk I/O error"),
            "ServiceUnavailable.StorageFailure",
            503,
            "",
        ),
        (StoreError("metadata store: database is locked"), "InternalError", 500, "PutEvents"),
        (StoreUnavailable("the event log is closed"), "InternalError", 500, "internal error"),
        (RuntimeError("bug"), "InternalError", 500, "internal error"),
        (InvalidParameter("bad"), "InvalidParameter", 400, "bad"),
    ],
)
def test_failures_map_to_their_api_error(
    failure: Exception, code: str, status: int, says: str
) -> None:
    error = api_error(failure, "PutEvents")
    assert (error.code, error.http_status) == (code, status)
    assert says in error.message


def test_other_system_errors_are_plain_store_errors() -> None:
    error = disk_error(OSError(errno.EACCES, "Permission denied"), "event log append")
    assert type(error) is StoreError
    assert str(error) == "event log append: [Errno 13] Permission denied"
