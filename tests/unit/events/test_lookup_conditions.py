"""LookupEvents conditions as ActionTrail reads them: a key given twice keeps its later value."""

from __future__ import annotations

from trailhouse.events.lookup import last_value_per_key
from trailhouse.events.model import LookupKey


def test_a_key_given_twice_keeps_its_later_value_and_other_keys_stay() -> None:
    conditions = (
        (LookupKey.EVENT_TYPE, "ApiCall"),
        (LookupKey.SERVICE_NAME, "Ecs"),
        (LookupKey.EVENT_TYPE, "ConsoleOperation"),
    )
    assert last_value_per_key(conditions) == (
        (LookupKey.SERVICE_NAME, "Ecs"),
        (LookupKey.EVENT_TYPE, "ConsoleOperation"),
    )


def test_different_keys_are_all_kept() -> None:
    conditions = ((LookupKey.USER, "alice"), (LookupKey.ROLE_NAME, "ops"))
    assert last_value_per_key(conditions) == conditions
    assert last_value_per_key(()) == ()
