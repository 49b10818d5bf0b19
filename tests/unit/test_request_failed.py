"""What a client shows of a server's refusal (`errors.RequestFailed`): the CLI prints it."""

from __future__ import annotations

from trailhouse.errors import RequestFailed


def test_a_maxcompute_message_that_begins_with_its_code_shows_the_code_once() -> None:
    failed = RequestFailed(
        404, "ODPS-0130131", "ODPS-0130131:[1,15] Table not found - table p.t cannot be resolved"
    )
    assert str(failed) == "ODPS-0130131:[1,15] Table not found - table p.t cannot be resolved"


def test_any_other_message_is_prefixed_by_its_code_and_request_id() -> None:
    failed = RequestFailed(400, "InvalidParameter", "MaxResults must be 1-50", "REQ-1")
    assert str(failed) == "InvalidParameter: MaxResults must be 1-50 (request id REQ-1)"
