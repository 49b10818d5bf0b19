"""MaxCompute's type names as PyODPS reads them in a schema (`array<string>`, `map<string,bigint>`,
`struct<a:int,b:string>`, `decimal(10,2)`, `bigint` …), parsed into a tree so that a result's
nested values can be put on the tunnel in their own types (`tunnel_wire.encoder_of`,
`instance_tunnel`) rather than as JSON text in a STRING column.
"""

from __future__ import annotations

from dataclasses import dataclass

ARRAY, MAP, STRUCT = "array", "map", "struct"


@dataclass(frozen=True, slots=True)
class Kind:
    """One MaxCompute type: a scalar's name (lower case, `decimal(p,s)` with its figures), or
    ARRAY of `parts[0]`, MAP of `parts[0]` to `parts[1]`, STRUCT of `fields` typed `parts`."""

    name: str
    parts: tuple[Kind, ...] = ()
    fields: tuple[str, ...] = ()

    @property
    def nested(self) -> bool:
        """Whether this is an ARRAY, a MAP or a STRUCT."""
        return self.name in (ARRAY, MAP, STRUCT)


def parse_kind(text: str) -> Kind:
    """The type a MaxCompute type name stands for (ValueError when it is not one)."""
    text = text.strip()
    head, bracket, rest = text.partition("<")
    name = head.strip().lower()
    if not bracket:
        return Kind(name)
    if not rest.endswith(">"):
        raise ValueError(f"not a MaxCompute type: {text!r}")
    inner = split_top(rest[:-1], ",")
    if name == ARRAY and len(inner) == 1:
        return Kind(ARRAY, (parse_kind(inner[0]),))
    if name == MAP and len(inner) == 2:
        return Kind(MAP, (parse_kind(inner[0]), parse_kind(inner[1])))
    if name == STRUCT and inner:
        fields, parts = [], []
        for field in inner:
            field_name, colon, field_type = field.partition(":")
            if not colon:
                raise ValueError(f"a STRUCT field needs its type: {field!r}")
            fields.append(field_name.strip().strip("`"))
            parts.append(parse_kind(field_type))
        return Kind(STRUCT, tuple(parts), tuple(fields))
    raise ValueError(f"not a MaxCompute type: {text!r}")


def split_top(text: str, separator: str) -> list[str]:
    """`text` split at each `separator` outside <…>, (…) and `…` (a type's own commas)."""
    parts: list[str] = []
    depth, quoted, start = 0, False, 0
    for index, char in enumerate(text):
        if char == "`":
            quoted = not quoted
        elif quoted:
            continue
        elif char in "<(":
            depth += 1
        elif char in ">)":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return [part.strip() for part in parts]
