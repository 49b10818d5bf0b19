"""A SQL result as CSV for a spreadsheet: the one writer behind the console's CSV download and
`trailhouse warehouse sql --format csv`, so that both keep a cell a spreadsheet would run as a
formula as text (OWASP's CSV injection guidance; `docs/console.md`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

# A cell starting with one of these is read by spreadsheets as a formula (or, after a tab or a
# carriage return, as one once trimmed).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A plain number (-5, +1.5e3) is a value, never a formula, and keeps its sign.
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
# A cell holding one of these is quoted (RFC 4180), a bare CR included.
_QUOTED = re.compile(r'[",\r\n]')


def spreadsheet_text(value: Any) -> str:
    """The text of one cell: "" for NULL, true/false for a boolean, and a text that starts like
    a formula prefixed with `'` so that a spreadsheet shows it as it is."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_cell(value: Any) -> str:
    """One cell as it stands in the file: its spreadsheet text, quoted when it must be."""
    text = spreadsheet_text(value)
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if _QUOTED.search(text) else text


def csv_lines(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], line_end: str = "\r\n"
) -> Iterator[str]:
    """The header line, then a line per row, each ending with `line_end`."""
    yield ",".join(csv_cell(c) for c in columns) + line_end
    for row in rows:
        yield ",".join(csv_cell(v) for v in row) + line_end
