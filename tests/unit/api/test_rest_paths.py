"""The REST edges' shared path matcher and marker pages (`api/rest.py`)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from trailhouse.api import rest


@pytest.mark.parametrize(
    ("pattern", "segments", "names"),
    [
        (("projects",), ("projects",), ()),
        (("projects", "*"), ("projects", "p"), ("p",)),
        (("projects", "*", "tables", "*"), ("projects", "p", "tables", "t"), ("p", "t")),
        (("projects", "*"), ("projects",), None),
        (("projects", "*"), ("projects", "p", "tables"), None),
        (("projects", "*", "tables"), ("projects", "p", "schemas"), None),
        (("projects", "*"), ("projects", ""), None),
        (("projects", "*", "tables"), ("projects", "", "tables"), None),
    ],
)
def test_a_path_matches_its_pattern_and_yields_its_names(
    pattern: tuple[str, ...], segments: tuple[str, ...], names: tuple[str, ...] | None
) -> None:
    assert rest.path_names(pattern, segments) == names


def test_pages_follow_their_markers_to_the_end() -> None:
    items = [f"n{i}" for i in range(7)]
    seen: list[str] = []
    marker = ""
    while True:
        page, marker = rest.page_after(items, str, marker, 3, "marker")
        seen += page
        if not marker:
            break
    assert seen == items


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: rest.page_after(["a"], str, "%%%", 3, "Marker"),
            "marker '%%%' is not one this server returned; pass the Marker of the previous page "
            "unchanged",
        ),
        (
            lambda: rest.whole("0", "maxItem", 10, 1, 100),
            "maxItem '0': use a whole number from 1 to 100",
        ),
        (
            lambda: rest.whole("x", "maxitems", 10, 1, 100),
            "maxitems 'x': use a whole number from 1 to 100",
        ),
    ],
)
def test_bad_parameters_are_refused_saying_what_to_fix(
    call: Callable[[], object], message: str
) -> None:
    with pytest.raises(rest.BadParameter) as caught:
        call()
    assert str(caught.value) == message
