"""The insight selector's document rules: a JSON array of {"InsightType": …} naming the four
types, each kept once in order; anything else is refused with what to write instead."""

from __future__ import annotations

import pytest

from trailhouse.errors import InvalidParameter
from trailhouse.trails.insight_selectors import (
    parse_insight_selectors,
    selectors_document,
)


@pytest.mark.parametrize(
    ("document", "types"),
    [
        ("", ()),
        ("[]", ()),
        ('[{"InsightType":"IpInsight"}]', ("IpInsight",)),
        (
            '[{"InsightType":"AkInsight"},{"InsightType":"ApiErrorRateInsight"},'
            '{"InsightType":"AkInsight"}]',
            ("AkInsight", "ApiErrorRateInsight"),
        ),
    ],
)
def test_a_good_document(document: str, types: tuple[str, ...]) -> None:
    assert parse_insight_selectors(document) == types


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ("{", "must be a JSON array such as"),
        ('{"InsightType":"IpInsight"}', "must be a JSON array such as"),
        ('["IpInsight"]', 'element 1 must be an object {"InsightType"'),
        ('[{"InsightType":"IpInsight","Extra":1}]', "element 1 must be an object"),
        ('[{"InsightType":"Sometimes"}]', "must be one of ApiCallRateInsight"),
        ('[{"InsightType":7}]', "not '7'"),
        ("[" + ",".join(['{"InsightType":"IpInsight"}'] * 200) + "]", "at most 4096"),
    ],
)
def test_a_bad_document_says_what_to_fix(document: str, says: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        parse_insight_selectors(document)
    assert says in refused.value.message


def test_the_answer_round_trips_and_selects_by_type() -> None:
    document = selectors_document(("ApiCallRateInsight", "IpInsight"))
    assert parse_insight_selectors(document) == ("ApiCallRateInsight", "IpInsight")
