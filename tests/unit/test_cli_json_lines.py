"""`trailhouse events put` reads JSON lines; a JSON array or pretty-printed JSON is told how."""

from __future__ import annotations

import io

import pytest

from trailhouse.cli.events import _batches


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (b'[{"eventName": "A"}, {"eventName": "B"}]\n', 1),  # one array on one line
        (b'[\n  {"eventName": "A"}\n]\n', 1),  # a pretty-printed array
        (b'{"eventName": "A"}\n{\n  "eventName": "B"\n}\n', 2),  # a pretty-printed event
    ],
)
def test_json_that_is_not_json_lines_gets_the_hint(text: bytes, line: int) -> None:
    with pytest.raises(ValueError, match=r"jq -c '\.\[\]'") as raised:
        list(_batches(io.BytesIO(text)))
    assert f"line {line} " in str(raised.value)
    # a pretty-printed event is not an array: `jq -c '.[]'` would print its fields
    assert "pretty-printed events with: jq -c . events.json" in str(raised.value)


def test_json_lines_are_read_one_event_per_line() -> None:
    batches = list(_batches(io.BytesIO(b'{"eventName": "A"}\n\n{"eventName": "B"}\n')))
    assert batches == [(1, [{"eventName": "A"}, {"eventName": "B"}])]


def test_a_broken_line_that_is_not_json_shaped_gets_no_hint() -> None:
    with pytest.raises(ValueError, match="line 1 is not valid JSON") as raised:
        list(_batches(io.BytesIO(b"eventName=A\n")))
    assert "jq" not in str(raised.value)
