"""Options and output shared by the sub-commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from trailhouse.profiles import config_path, resolve
from trailhouse.settings import Settings


def add_store_options(parser: argparse.ArgumentParser) -> None:
    """Options of commands that open the store directly (administration on the server host)."""
    parser.add_argument("--data-dir", type=Path, help="data directory (default ./trailhouse-data)")
    parser.add_argument("--config", type=Path, help="settings file (TOML)")


def add_client_options(parser: argparse.ArgumentParser) -> None:
    """Options of commands that talk to a server."""
    parser.add_argument(
        "--endpoint", help="server URL (default $TRAILHOUSE_ENDPOINT, else http://127.0.0.1:8080)"
    )
    parser.add_argument("--profile", help="credentials profile stored by trailhouse configure")


def add_output_option(parser: argparse.ArgumentParser, *choices: str) -> None:
    """The --output option."""
    parser.add_argument("--output", "-o", choices=choices, default=choices[0], help="output format")


def load_settings(arguments: argparse.Namespace, **overrides: Any) -> Settings:
    """Settings from file, environment and the command's flags."""
    return Settings.load(
        {"data_dir": getattr(arguments, "data_dir", None), **overrides},
        config_file=getattr(arguments, "config", None),
    )


def print_json(value: Any) -> None:
    """Print `value` as indented JSON."""
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def print_confirmation(answer: Any, output: str, message: str) -> None:
    """What a command that changes something prints: the API's answer as JSON with
    `--output json`, else one line saying what was done."""
    if output == "json":
        print_json(answer)
    else:
        print(message)


# Error codes whose fix is in the credentials the command used.
CREDENTIAL_ERRORS = frozenset(
    {"SignatureDoesNotMatch", "InvalidAccessKeyId.NotFound", "InvalidAccessKeyId.Inactive"}
)


def credentials_source(arguments: argparse.Namespace) -> str:
    """Where a client command took its AccessKey from, and how to change it, in one sentence."""
    profile = resolve(getattr(arguments, "profile", None), getattr(arguments, "endpoint", None))
    if profile.name == "environment":
        return (
            "the AccessKey came from ALIBABA_CLOUD_ACCESS_KEY_ID and "
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET in the environment; set them to the key's ID and "
            "secret as they were printed when the key was created"
        )
    return (
        f"the AccessKey came from profile {profile.name!r} in {config_path()}; store the right "
        f"ID and secret with `trailhouse configure --profile {profile.name}`"
    )


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print rows as a plain aligned table, one line per row.

    A cell is never wrapped, cut or padded inside, so a long identifier (an ARN, an event id)
    stays whole on its row; a line break or tab inside a cell is shown as a space."""
    cells = [[_one_line("" if cell is None else str(cell)) for cell in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    sys.stdout.write("\n".join(lines) + "\n")


def _one_line(text: str) -> str:
    """The cell on one line: line breaks and tabs would break the table's rows and columns."""
    return text.translate(_LINE_BREAKS)


_LINE_BREAKS = str.maketrans(dict.fromkeys("\r\n\t\v\f\x85\u2028\u2029", " "))
