"""How deeply the JSON that callers send may nest, checked on its raw text before a parser sees it.

Parsers recurse: msgspec raises RecursionError near 1,000 levels, orjson refuses 1,024 and
cannot write back more than 255, and our own walks over a document recurse too. So every JSON
document a caller sends is measured first, without recursion, and refused with its own code.
"""

from __future__ import annotations

import re

# One event's JSON: ActionTrail events nest a few levels; 64 leaves room for any real payload.
MAX_EVENT_DEPTH = 64
# Any other JSON a caller sends: a request body, a JSON parameter, a policy document.
MAX_DOCUMENT_DEPTH = 128

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
_OPENERS = frozenset(b"[{")


def nests_deeper_than(text: bytes | str, limit: int) -> bool:
    """True when the arrays and objects of JSON `text` nest more than `limit` levels deep."""
    raw = text.encode() if isinstance(text, str) else text
    if raw.count(b"[") + raw.count(b"{") <= limit:  # the common case costs two scans in C
        return False
    depth = 0
    for byte in _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS):
        if byte in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False
