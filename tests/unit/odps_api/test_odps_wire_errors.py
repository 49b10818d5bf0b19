"""Every refusal reaches PyODPS as the MaxCompute code and HTTP status its exception classes
expect, with a message that starts with MaxCompute's number; a failure that is not a refusal is
left to the caller to log and answer InternalServerError."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest
from odps import errors as odps_errors

from trailhouse import errors
from trailhouse.iam import odps_signatures as sig
from trailhouse.odps_api import render
from trailhouse.odps_api.errors import wire_error

CASES = [
    (errors.ProjectNotFound("ODPS-0420111:Project not found - 'p'"), "NoSuchObject", 404),
    (errors.TableNotFound("ODPS-0130131:Table not found - p.t"), "NoSuchObject", 404),
    (errors.NoPermission("ODPS-0130013:Authorization exception - no"), "NoPermission", 403),
    (errors.NoPermission("only the root key"), "NoPermission", 403),
    (errors.InvalidAccessKeyIdInactive("disabled"), "InvalidParameter", 401),
    (errors.InvalidParameter("bad name"), "InvalidArgument", 400),
    (errors.DiskFull("no space"), "ServiceUnavailable", 503),
    (sig.SignatureMismatch("no"), "SignatureNotMatch", 401),
    (sig.UnknownAccessKey("no"), "InvalidParameter", 401),
    (sig.MissingAuthentication("no"), "AuthorizationRequired", 401),
    (sig.MalformedAuthentication("no"), "InvalidParameter", 400),
    (sig.RequestExpired("late", 1_000_000.0, 1_001_000.0, 900), "RequestTimeTooSkewed", 403),
]


@pytest.mark.parametrize(("failure", "pyodps_class", "status"), CASES)
def test_pyodps_raises_its_own_class(failure: Exception, pyodps_class: str, status: int) -> None:
    wire = wire_error(failure)
    assert wire is not None
    assert wire.http_status == status
    assert wire.message.startswith("ODPS-")
    body = render.error(wire.code, wire.message, "REQ", "host")
    assert ET.fromstring(body).findtext("Code") == wire.code  # noqa: S314 (our own bytes)
    # What odps.errors.parse_response reads of a response.
    answer = SimpleNamespace(content=body, text=body.decode(), headers={}, status_code=status)
    raised = odps_errors.parse_response(answer)
    assert type(raised).__name__ == pyodps_class
    assert isinstance(raised, odps_errors.ServerDefinedException)
    assert raised.request_id == "REQ"


def test_a_skew_refusal_carries_the_times_pyodps_reads() -> None:
    wire = wire_error(sig.RequestExpired("late", 1_000_000.0, 1_001_000.0, 900))
    assert wire is not None
    raised = odps_errors.RequestTimeTooSkewed(wire.message)
    assert raised.max_interval_date == 900_000
    assert raised.expire_date is not None and raised.now_date is not None


def test_a_bug_is_not_a_refusal() -> None:
    assert wire_error(KeyError("x")) is None
    assert wire_error(errors.InternalError("internal")) is None
