"""The README's walkthrough ("The first hour") works as written.

Every ```sh block that follows a `<!-- walkthrough -->` comment is run, command by command and
in order, through bash against a real `trailhouse serve --demo`: in a fresh directory that holds
the data directory `./trailhouse-data` and a `.venv` (a link to this interpreter's environment,
as `make` makes one). The only substitutions are the three the README names: the demo's root
AccessKey pair for `YOUR_ACCESS_KEY_ID` and `YOUR_ACCESS_KEY_SECRET`, and a free port for `8080`.
Each command must succeed and print every `# shows:` line written under it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from compat_support import Server

from server_process import free_port

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = "<!-- walkthrough -->"
# Steps whose effect later steps need: variable assignments, kept as a prelude.
ASSIGNMENT = re.compile(r"^(export )?[A-Z_][A-Z0-9_]*=")


@dataclass
class Step:
    """One command of the walkthrough (with its continuation lines) and what it shows."""

    command: str
    shows: list[str] = field(default_factory=list)


def walkthrough_blocks(text: str) -> list[str]:
    """The ```sh blocks right after a walkthrough marker, in order."""
    return re.findall(re.escape(MARKER) + r"\n```sh\n(.*?)```", text, flags=re.DOTALL)


def steps_of(block: str) -> list[Step]:
    """Commands as a shell reads them: a line ending in a backslash goes on, a heredoc runs
    to its delimiter, an open quote or loop until bash finds the command complete; `# shows: X`
    lines belong to the command above."""
    steps: list[Step] = []
    lines = block.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.strip():
            continue
        if line.startswith("# shows: "):
            steps[-1].shows.append(line.removeprefix("# shows: "))
            continue
        if line.startswith("#"):
            continue
        command = [line]
        heredoc = re.search(r"<<'?(\w+)'?", line)
        while index < len(lines) and (
            command[-1].endswith("\\")
            or (heredoc and command[-1] != heredoc[1])
            or not _complete("\n".join(command))
        ):
            command.append(lines[index])
            index += 1
        steps.append(Step("\n".join(command)))
    return steps


def _complete(command: str) -> bool:
    """Whether bash reads `command` as whole (no quote, loop or brace left open)."""
    checked = subprocess.run(
        ["bash", "-n", "-c", command], capture_output=True, text=True, timeout=10, check=False
    )
    return checked.returncode == 0


def test_the_parser_reads_continuations_heredocs_loops_and_shows() -> None:
    block = (
        "export A=1\n# a comment\necho one \\\n  two\n# shows: one two\n"
        "cat <<EOF\nx\n# not a comment here\nEOF\n# shows: x\n"
        "until true\ndo sleep 1; done\n"
        'echo "a\nb"\n'
    )
    assert steps_of(block) == [
        Step("export A=1"),
        Step("echo one \\\n  two", ["one two"]),
        Step("cat <<EOF\nx\n# not a comment here\nEOF", ["x"]),
        Step("until true\ndo sleep 1; done"),
        Step('echo "a\nb"'),
    ]


@pytest.fixture(scope="module")
def demo_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Server]]:
    """A directory laid out as the repository after `make demo`, with its server running."""
    here = tmp_path_factory.mktemp("readme")
    venv = Path(sys.prefix)
    assert (venv / "bin" / "trailhouse").exists(), f"no trailhouse script in {venv}/bin"
    (here / ".venv").symlink_to(venv, target_is_directory=True)
    server = Server(here / "trailhouse-data", free_port())
    server.start("--demo")
    try:
        yield here, server
    finally:
        assert server.stop() == 0


def test_every_walkthrough_command_works_as_written(demo_directory: tuple[Path, Server]) -> None:
    here, server = demo_directory
    root = json.loads((server.data_dir / "demo-credentials.json").read_text())["root"]
    substitutions = {
        "YOUR_ACCESS_KEY_ID": root["AccessKeyId"],
        "YOUR_ACCESS_KEY_SECRET": root["AccessKeySecret"],
        "127.0.0.1:8080": f"127.0.0.1:{server.port}",
    }
    text = README.read_text(encoding="utf-8")
    steps = [step for block in walkthrough_blocks(text) for step in steps_of(block)]
    # The story, in order: events, a trail, events put, arriving, SQL, the bill.
    story = [
        "events lookup",
        "trail create",
        "trail start",
        "events put",
        "until",  # see them arrive
        "trail status",
        "SELECT event_name, user_name",
        "bill --data-dir ./trailhouse-data",
    ]
    positions = [next(i for i, s in enumerate(steps) if part in s.command) for part in story]
    assert positions == sorted(positions), [s.command for s in steps]
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ALIBABA_CLOUD_", "TRAILHOUSE_"))
    }
    prelude: list[str] = []
    for step in steps:
        command = step.command
        for placeholder, value in substitutions.items():
            command = command.replace(placeholder, value)
        assert "YOUR_" not in command, command
        done = subprocess.run(
            ["bash", "-c", "\n".join(["set -e", *prelude, command])],
            cwd=here,
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"{step.command}\n{done.stdout}\n{done.stderr}"
        for shown in step.shows:
            assert shown in done.stdout, f"{step.command}\ndoes not show {shown!r}:\n{done.stdout}"
        if ASSIGNMENT.match(command):
            prelude.append(command)
