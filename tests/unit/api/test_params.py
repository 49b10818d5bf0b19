"""Query-parameter parsing: booleans in any case, ranges, times, flattened lists."""

from __future__ import annotations

from typing import Any

import pytest

from trailhouse.api import params
from trailhouse.errors import InvalidParameter, MissingParameter


@pytest.mark.parametrize(
    ("text", "value"), [("True", True), ("false", False), ("TRUE", True), ("", False)]
)
def test_booleans_are_case_insensitive(text: str, value: bool) -> None:
    assert params.boolean({"Flag": text}, "Flag", default=False) is value


def test_bad_boolean_names_the_parameter() -> None:
    with pytest.raises(InvalidParameter, match="IsOrganizationTrail must be true or false"):
        params.boolean({"IsOrganizationTrail": "yes"}, "IsOrganizationTrail", default=False)


def test_required_and_integer_ranges() -> None:
    with pytest.raises(MissingParameter, match="the parameter Name is required"):
        params.required({}, "Name")
    assert params.integer({}, "MaxResults", 20, 1, 50) == 20
    with pytest.raises(InvalidParameter, match="from 1 to 50, not 0"):
        params.integer({"MaxResults": "0"}, "MaxResults", 20, 1, 50)


def test_indexed_lists_are_read_in_index_order() -> None:
    query = {
        "LookupAttribute.2.Key": "User",
        "LookupAttribute.2.Value": "alice",
        "LookupAttribute.1.Key": "EventName",
        "LookupAttribute.1.Value": "ConsoleSignin",
        "Other.1.Key": "x",
    }
    assert params.indexed_list(query, "LookupAttribute") == [
        {"Key": "EventName", "Value": "ConsoleSignin"},
        {"Key": "User", "Value": "alice"},
    ]


def test_unflatten_rebuilds_the_sdks_form_fields() -> None:
    form = {
        "Events.10.eventName": "Tenth",
        "Events.2.eventName": "Second",
        "Events.1.eventName": "First",
        "Events.1.userIdentity.type": "ram-user",
        "Events.1.tags.1": "a",
        "Events.1.tags.2": "b",
        **{f"Events.{n}.eventName": f"E{n}" for n in range(3, 10)},
        "Action": "PutEvents",
    }
    events = params.unflatten(form, "Events")
    assert events is not None
    assert len(events) == 10
    assert events[0] == {
        "eventName": "First",
        "userIdentity": {"type": "ram-user"},
        "tags": ["a", "b"],
    }
    assert events[1]["eventName"] == "Second"
    assert events[9]["eventName"] == "Tenth"
    assert params.unflatten({"Action": "x"}, "Events") is None
    with pytest.raises(InvalidParameter, match="numbered from 1"):
        params.unflatten({"Events.a": "x"}, "Events")


FULLWIDTH_2025 = "\uff12\uff10\uff12\uff15"


@pytest.mark.parametrize(
    ("read", "message"),
    [
        (
            lambda: params.integer({"MaxResults": "\uff12\uff10"}, "MaxResults", 20, 1, 50),
            "MaxResults must be an integer from 1 to 50 in ASCII digits",
        ),
        (
            lambda: params.integer({"MaxResults": "\u0662\u0660"}, "MaxResults", 20, 1, 50),
            "in ASCII digits",
        ),
        (lambda: params.integer({"MaxResults": " 20"}, "MaxResults", 20, 1, 50), "ASCII digits"),
        (lambda: params.integer({"MaxResults": "2_0"}, "MaxResults", 20, 1, 50), "ASCII digits"),
        (lambda: params.integer({"MaxResults": "20\n"}, "MaxResults", 20, 1, 50), "ASCII digits"),
        (
            lambda: params.optional_timestamp(
                {"StartTime": f"{FULLWIDTH_2025}-01-01T00:00:00Z"}, "StartTime"
            ),
            "must be UTC in the format YYYY-MM-DDThh:mm:ssZ with ASCII digits 0-9",
        ),
        (
            lambda: params.optional_timestamp({"EndTime": "2025-01-01T00:00:00Z\n"}, "EndTime"),
            "EndTime '2025-01-01T00:00:00Z\\n' must be UTC",
        ),
    ],
)
def test_numbers_and_times_take_ascii_digits_only(read: Any, message: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        read()
    assert message in refused.value.message
    assert refused.value.code == "InvalidParameter"


def test_non_ascii_digits_are_not_list_indexes() -> None:
    query = {"LookupAttribute.\uff11.Key": "User", "LookupAttribute.1.Key": "EventName"}
    assert params.indexed_list(query, "LookupAttribute") == [{"Key": "EventName"}]
    # "²" passes str.isdigit() but int("²") raises: it stays a key, never a list index.
    assert params.unflatten({"Events.1.a.\u00b2": "x"}, "Events") == [{"a": {"\u00b2": "x"}}]


def test_other_digits_are_refused_in_days_signed_times_and_account_ids() -> None:
    from trailhouse.iam.principals import is_account_id
    from trailhouse.iam.signing import parse_timestamp
    from trailhouse.warehouse.metering import check_day

    with pytest.raises(InvalidParameter, match="write the day as YYYYMMDD"):
        check_day(f"{FULLWIDTH_2025}0101", "StartDay")
    assert check_day("20250101", "StartDay") == "20250101"
    assert parse_timestamp(f"{FULLWIDTH_2025}-01-01T00:00:00Z") is None
    assert parse_timestamp("2025-01-01T00:00:00Z") == 1735689600
    assert not is_account_id("\uff11" * 16)
    assert is_account_id("1" * 16)
