"""The one CSV writer of SQL results (`warehouse/result_csv.py`): a cell a spreadsheet would run
as a formula stays text (OWASP's CSV injection list), a plain number keeps its sign, and a cell
holding a quote, comma or line break (a bare CR too) is quoted."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from trailhouse.warehouse import result_csv


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+SUM(1,1)", '"\'+SUM(1,1)"'),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(1,1)", '"\'@SUM(1,1)"'),
        ("\t=1", "'\t=1"),
        ("\r=1", '"\'\r=1"'),
        ("-5", "-5"),
        ("+1.5e3", "+1.5e3"),
        ("-١", "'-١"),  # only ASCII digits make a plain number
        (-5, "-5"),
        (2.5, "2.5"),
        (True, "true"),
        (None, ""),
        ("a=b", "a=b"),
        ('say "hi"', '"say ""hi"""'),
        ("a\rb", '"a\rb"'),
    ],
)
def test_each_cell_is_written_so_a_spreadsheet_shows_it_as_text(value: Any, cell: str) -> None:
    assert result_csv.csv_cell(value) == cell


def test_the_lines_read_back_as_the_spreadsheet_texts() -> None:
    rows = [["=1+1", -5, None], ["x,y", "@a", "line\nbreak"]]
    text = "".join(result_csv.csv_lines(["a", "b", "c"], rows))
    assert text.endswith("\r\n")
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["a", "b", "c"],
        ["'=1+1", "-5", ""],
        ["x,y", "'@a", "line\nbreak"],
    ]
