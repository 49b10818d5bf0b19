"""JSON path columns: each text leaf of the events' JSON in a Parquet column of its own, beside the
verbatim `event` text, so GET_JSON_OBJECT on a path no typed column holds reads one small column
instead of parsing every event (issue 18, item 7).

The writer and compaction call `shred` on a file's `event` column. Every path of `.key` steps
(keys of letters, digits and `_`) whose value is JSON text in some row gets a column named
`column_name(path)`, holding that text in the rows where the value is text and NULL elsewhere.
Each file also records a `JsonLayout`: the paths that are an object in some row (`objects`), and
those that hold anything else that GET_JSON_OBJECT renders, or that were not shredded
(`others`: numbers, booleans, arrays, text with a NUL, paths past `MAX_COLUMNS`, a name clash;
"" when an event could not be shredded at all, e.g. a key given twice: such a file gets no path
columns). JSON null is absent, as GET_JSON_OBJECT answers NULL for both.

So, in a shredded file, the column of a path P holds exactly what GET_JSON_OBJECT(event, P)
returns in every row (`answers`) when P is neither in `objects` nor `others` and no proper prefix
of P is in `others`: the value is then text (the column has it) or missing (NULL), a prefix that
is text or null leaving P missing. Any other path, and every file from before shredding, is
answered by parsing the JSON as before: the planner uses the columns only when every file the
query reads answers the path (docs/warehouse.md, "JSON path columns").

The columns are not columns of the table: `SELECT *`, ListTables and the tunnel never show them.
The typed columns' paths of the writing schema version are not shredded (the typed column holds
them); `JsonLayout.version` records that version.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa

from trailhouse.warehouse.schema import schema_of

# Where a file's layout is recorded in its Parquet key-value metadata, for readers other than
# trailhouse (the catalog's file document records it too, for the planner).
LAYOUT_KEY = b"trailhouse.json_columns"
COLUMN_PREFIX = "__json_"
# At most this many path columns per file (the most frequent paths); the rest are `others`.
MAX_COLUMNS = 512
# A path the columns may answer: `.key` steps, each key an ASCII identifier (those of real audit
# events; a value under any other key is left to the JSON, and a query naming it reads the text).
PATH = re.compile(r"\$(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
# `"` then `:`, outside escapes: counts each object key at least once (a string value that
# starts with `:` counts as well, which only sends the event to the slower exact check).
_KEY_ENDS = re.compile(rb'"\s*:')
_QUOTE_GAP = re.compile(rb'"\s')
_ESCAPES = re.compile(rb"\\.", re.DOTALL)
ROOT = ""


@dataclass(frozen=True, slots=True)
class JsonLayout:
    """What a file's path columns answer: `version` is the schema version whose typed paths were
    left to the typed columns (0: the file has no path columns); `objects` and `others` as in
    the module docstring, as dotted paths without `$.`."""

    version: int
    objects: tuple[str, ...]
    others: tuple[str, ...]


NO_LAYOUT = JsonLayout(0, (), ())


def _unreadable(version: int) -> JsonLayout:
    """The layout of a file with an event shredding cannot read: every path read from JSON."""
    return JsonLayout(version, (), (ROOT,))


def column_name(path: str) -> str:
    """The Parquet column of a path (dotted, without `$.`): a short hash, so that any key fits
    every engine's column names (Spark matches names without regard to case)."""
    return COLUMN_PREFIX + hashlib.blake2b(path.encode(), digest_size=8).hexdigest()


# Events shredded at once: their parsed text is Python strings, several times the JSON's size,
# so a file's events are shredded in slices of this many and each slice's text is kept as Arrow
# arrays (docs/storage.md, "Memory").
SLICE_ROWS = 2_000


class _Node:
    """A key met under a path: its dotted path, whether a column may hold it, what it held
    (`rows` and `values` in the slice being shredded, `chunks` of the slices before)."""

    __slots__ = (
        "children",
        "chunks",
        "column",
        "count",
        "named",
        "nul",
        "object",
        "other",
        "path",
        "rows",
        "values",
    )

    def __init__(self, path: str, named: bool, column: bool) -> None:
        self.path = path
        self.named = named  # an ASCII identifier: a path a query can name
        self.column = column  # named, and not a typed column's path
        self.object = False
        self.other = False
        self.nul = False  # some text value holds a NUL
        self.count = 0  # rows where the value is text, in the slices before
        self.rows: list[int] = []
        self.values: list[str] = []
        self.chunks: dict[int, pa.Array] = {}  # slice number -> the slice's text, NULL elsewhere
        self.children: dict[str, _Node] = {}


class Shredder:
    """Shreds a file's events slice by slice (`add`), then gives its path columns and layout
    (`finish`): the same columns and layout as `shred` gives for all the events at once."""

    def __init__(self, typed: Iterable[str], version: int) -> None:
        self._skip = frozenset(path[2:] for path in typed)
        self._version = version
        self._top: _Node | None = _Node(ROOT, True, False)  # None: an event cannot be read
        self._slices: list[int] = []  # each slice's number of rows

    def add(self, events: Sequence[bytes | str | None]) -> None:
        """Shred the next slice of events (JSON text, UTF-8 bytes or str)."""
        self._slices.append(len(events))
        top = self._top
        if top is None:
            return
        nul = False  # some event may hold text with a NUL (JSON writes it escaped, `\u0000`)
        for row, text in enumerate(events):
            if text is None:
                continue
            try:
                event = orjson.loads(text)
            except orjson.JSONDecodeError:
                self._top = None
                return
            if type(event) is not dict:
                self._top = None  # GET_JSON_OBJECT of `$.x` in a non-object
                return
            keys = _flatten(event, top, row, self._skip)
            body = text.encode() if isinstance(text, str) else text
            if _repeats_a_key(body, keys):
                self._top = None  # the engines read the first, orjson the last
                return
            nul = nul or b"\\u0000" in body
        number = len(self._slices) - 1
        for node in _walk(top):
            if not node.rows:
                continue
            if nul and not node.nul:
                node.nul = any("\x00" in value for value in node.values)
            values: list[str | None] = [None] * len(events)
            for row, value in zip(node.rows, node.values, strict=True):
                values[row] = value
            node.chunks[number] = pa.array(values, pa.string())
            node.count += len(node.rows)
            node.rows, node.values = [], []

    def finish(self) -> tuple[dict[str, pa.Array | pa.ChunkedArray], JsonLayout]:
        """The path columns of every event added (one chunk per slice) and the file's layout."""
        top = self._top
        if top is None:
            return {}, _unreadable(self._version)
        nodes = list(_walk(top))
        objects = {node.path for node in nodes if node.object}
        others = {node.path for node in nodes if node.other}
        # Text with a NUL: left to the JSON, as the engines' strings may end there.
        others.update(node.path for node in nodes if node.nul)
        texts = {node.path: node for node in nodes if node.count}
        kept = sorted(texts, key=lambda path: -texts[path].count)[:MAX_COLUMNS]
        others.update(set(texts).difference(kept))
        names: dict[str, str] = {}
        for path in sorted(kept):
            name = column_name(path)
            if name in names:  # two paths, one hash: neither is answered from a column
                others.update((path, names[name]))
            names[name] = path
        columns: dict[str, pa.Array | pa.ChunkedArray] = {}
        for name, path in sorted(names.items()):
            if path in others or path in objects:  # never answered from a column: not written
                continue
            columns[name] = self._column(texts[path])
        layout = JsonLayout(self._version, tuple(sorted(objects)), tuple(sorted(others)))
        return columns, layout

    def _column(self, node: _Node) -> pa.Array | pa.ChunkedArray:
        """A node's text in every row: its slices' chunks, NULL in slices it was not met."""
        chunks = [
            chunk if (chunk := node.chunks.get(number)) is not None else pa.nulls(rows, pa.string())
            for number, rows in enumerate(self._slices)
        ]
        return chunks[0] if len(chunks) == 1 else pa.chunked_array(chunks, pa.string())


def shred(
    events: Sequence[bytes | str | None], typed: Iterable[str], version: int
) -> tuple[dict[str, pa.Array | pa.ChunkedArray], JsonLayout]:
    """The path columns of these events (JSON text, one per row, UTF-8 bytes or str) and the
    file's layout.

    `typed` are the typed columns' paths (`$.a.b`) of schema `version`, which are not shredded.
    A file with an event shredding cannot read exactly (not JSON, not an object, a key given
    twice) gets no path columns at all: every path of it is read from the JSON.
    """
    shredder = Shredder(typed, version)
    for offset in range(0, len(events), SLICE_ROWS):
        shredder.add(events[offset : offset + SLICE_ROWS])
    return shredder.finish()


def _walk(node: _Node) -> Iterator[_Node]:
    for child in node.children.values():
        yield child
        yield from _walk(child)


def _flatten(obj: dict[str, Any], parent: _Node, row: int, skip: frozenset[str]) -> int:
    """Record the text leaves of an object under the `parent` node; return how many keys it
    holds, nested ones included (to find keys given twice)."""
    keys = len(obj)
    children = parent.children
    for key, value in obj.items():
        node = children.get(key)
        if node is None:
            path = f"{parent.path}.{key}" if parent.path else key
            named = parent.named and key.isidentifier() and key.isascii()
            node = children[key] = _Node(path, named, named and path not in skip)
        kind = type(value)
        if kind is str:
            if node.column:  # text with a NUL is found in `shred`, once per column
                node.rows.append(row)
                node.values.append(value)
        elif kind is dict:
            node.object = True
            keys += _flatten(value, node, row, skip)
        elif kind is list:
            node.other = True
            keys += _keys_in(value)
        elif value is not None:
            node.other = True
    return keys


def _repeats_a_key(text: bytes, keys: int) -> bool:
    """Whether an object of the event gives a key twice, `keys` being the keys the parse kept
    (a key given twice is kept once).

    Each key ends with `"` and then `:`, and `":` appears nowhere else but after an escaped `\\"`
    in text. So when no `"` is followed by whitespace (where a key end could hide from the
    count), as in compact JSON, counting `":` gives the keys written plus any such escapes, and
    equal to `keys` means no key repeats: the common case, two scans of the bytes. Otherwise the
    escapes are removed and the key ends counted again, and only a mismatch runs the exact (slow)
    check.
    """
    if text.count(b'":') == keys and _QUOTE_GAP.search(text) is None:
        return False
    return _key_ends(text) != keys and _duplicated(text)


def _key_ends(text: bytes) -> int:
    """How many `"` followed by `:` the text has outside escapes: at least its key count."""
    plain = _ESCAPES.sub(b"", text) if b"\\" in text else text
    if _QUOTE_GAP.search(plain) is not None:
        return len(_KEY_ENDS.findall(plain))
    return plain.count(b'":')


def _keys_in(value: Any) -> int:
    """The object keys inside a value, at any depth."""
    if isinstance(value, dict):
        return len(value) + sum(_keys_in(child) for child in value.values())
    if isinstance(value, list):
        return sum(_keys_in(child) for child in value)
    return 0


class _Duplicate(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _Duplicate
    return result


def _duplicated(text: bytes) -> bool:
    """Whether an object of the event gives a key twice (the exact, slower check)."""
    try:
        json.loads(text, object_pairs_hook=_no_duplicates)
    except _Duplicate:
        return True
    except ValueError:
        return True  # not JSON Python reads as orjson does: left to the JSON
    return False


def with_columns(
    table: pa.Table, typed: Iterable[str], version: int
) -> tuple[pa.Table, JsonLayout]:
    """The table (a file's rows, `event` among them) with its path columns after its own and
    the layout in its key-value metadata; the layout, for the file's document."""
    shredder = Shredder(typed, version)
    events = table.column("event")
    for offset in range(0, len(events), SLICE_ROWS):
        # As UTF-8 bytes: no Python str is built per event, and bytes are scanned faster.
        shredder.add(events.slice(offset, SLICE_ROWS).cast(pa.binary()).to_pylist())
    return appended(table, *shredder.finish())


def appended(
    table: pa.Table, columns: dict[str, pa.Array | pa.ChunkedArray], layout: JsonLayout
) -> tuple[pa.Table, JsonLayout]:
    """The table with these path columns after its own and the layout in its metadata."""
    for name, array in columns.items():
        table = table.append_column(pa.field(name, pa.string()), array)
    metadata = {**(table.schema.metadata or {}), LAYOUT_KEY: layout_metadata(columns, layout)}
    return table.replace_schema_metadata(metadata), layout


def layout_metadata(columns: dict[str, pa.Array | pa.ChunkedArray], layout: JsonLayout) -> bytes:
    """The layout and each column's path, as the file's key-value metadata records them."""
    return orjson.dumps(
        {
            "version": layout.version,
            "objects": layout.objects,
            "others": layout.others,
            "columns": sorted(columns),
        }
    )


def answers(path: str, layouts: Sequence[JsonLayout]) -> str | None:
    """The path column that holds GET_JSON_OBJECT(event, path) in every file of these layouts,
    or None when a file has no path columns or cannot say (the query reads the JSON then).

    `path` is written `$.a.b`; a typed column's path of a layout's version is never shredded."""
    if not layouts or not PATH.fullmatch(path):
        return None
    dotted = path[2:]
    steps = dotted.split(".")
    prefixes = {ROOT, *(".".join(steps[:n]) for n in range(1, len(steps)))}
    for layout in layouts:
        if layout.version == 0 or dotted in layout.objects or dotted in layout.others:
            return None
        if path in schema_of(layout.version).column_for_path:
            return None
        if not prefixes.isdisjoint(layout.others):
            return None
    return column_name(dotted)
