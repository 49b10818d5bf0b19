"""Client commands for detection rules: `rules list|add|enable|disable|delete|test|findings`.

Each calls one of trailhouse's detection actions (docs/detections.md); `--output json` prints
the server's answer as it came.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from trailhouse.cli.common import print_confirmation, print_json, print_table
from trailhouse.cli.trails import call, client_command


def register(commands: Any) -> None:
    """Add the rules sub-commands."""
    rules = commands.add_parser(
        "rules", help="Sigma detection rules and their findings"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = rules.add_parser("list", help="the starter pack and your rules (ListDetectionRules)")
    client_command(listing, _list, "table", "json")

    add = rules.add_parser("add", help="add a Sigma rule from a YAML file (CreateDetectionRule)")
    add.add_argument("file", type=Path, help="the rule's YAML file (- for standard input)")
    client_command(add, _add, "table", "json")

    for name, action, text in (
        ("enable", "EnableDetectionRule", "run the rule on every event from now on"),
        ("disable", "DisableDetectionRule", "stop running the rule (its findings stay)"),
        ("delete", "DeleteDetectionRule", "delete a rule of your own"),
    ):
        command = rules.add_parser(name, help=f"{text} ({action})")
        command.add_argument("rule_id", metavar="RULE_ID")
        command.set_defaults(wire_action=action, verb=f"{name}d")
        client_command(command, _switch, "table", "json")

    test = rules.add_parser(
        "test",
        help="run a rule over events in a JSON file, or over a delivered table's days "
        "(TestDetectionRule)",
    )
    which = test.add_mutually_exclusive_group(required=True)
    which.add_argument("--rule-id", help="a rule of the account")
    which.add_argument("--file", type=Path, help="a rule's YAML file, not yet added")
    test.add_argument("--events", type=Path, help="a JSON file: one event or an array of them")
    test.add_argument("--project", help="the project of the table to search")
    test.add_argument("--table", help="a delivered table (actiontrail_<trail>)")
    test.add_argument("--start-day", help="first day searched, yyyymmdd (default today)")
    test.add_argument("--end-day", help="last day searched, yyyymmdd (default today)")
    client_command(test, _test, "table", "json")

    findings = rules.add_parser("findings", help="what the rules found, newest first")
    findings.add_argument("--rule-id", help="only this rule's findings")
    findings.add_argument("--max-results", type=int, default=50)
    findings.add_argument("--next-token", help="the token of the page to show")
    client_command(findings, _findings, "table", "json")


def _read(path: Path) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    return path.read_text(encoding="utf-8")


def _list(arguments: argparse.Namespace) -> int:
    answer = call(arguments, "ListDetectionRules")
    if arguments.output == "json":
        print_json(answer)
        return 0
    print_table(
        ("RuleId", "Enabled", "Severity", "Kind", "Source", "Title"),
        [
            (
                r["RuleId"],
                "yes" if r["Enabled"] else "no",
                r["Severity"],
                r["Kind"],
                "starter" if r["Starter"] else "own",
                r["Title"],
            )
            for r in answer["Rules"]
        ],
    )
    return 0


def _add(arguments: argparse.Namespace) -> int:
    answer = call(arguments, "CreateDetectionRule", {"RuleYaml": _read(arguments.file)})
    rule = answer["Rule"]
    print_confirmation(answer, arguments.output, f"added rule {rule['RuleId']} (enabled)")
    return 0


def _switch(arguments: argparse.Namespace) -> int:
    answer = call(arguments, arguments.wire_action, {"RuleId": arguments.rule_id})
    print_confirmation(answer, arguments.output, f"rule {arguments.rule_id} {arguments.verb}")
    return 0


def _test(arguments: argparse.Namespace) -> int:
    params: dict[str, str] = {}
    if arguments.rule_id:
        params["RuleId"] = arguments.rule_id
    else:
        params["RuleYaml"] = _read(arguments.file)
    if arguments.events is not None:
        params["Events"] = _read(arguments.events)
    elif arguments.table and arguments.project:
        params.update(Project=arguments.project, Table=arguments.table)
        if arguments.start_day:
            params["StartDay"] = arguments.start_day
        if arguments.end_day:
            params["EndDay"] = arguments.end_day
    else:
        raise ValueError("give --events FILE, or --project and --table to search history")
    answer = call(arguments, "TestDetectionRule", params)
    if arguments.output == "json":
        print_json(answer)
        return 0
    print_table(
        ("Match", "Events", "Group"),
        [
            (str(n), " ".join(m["EventIds"]), " ".join(m["Group"]))
            for n, m in enumerate(answer["Matches"], start=1)
        ],
    )
    print(f"{len(answer['Matches'])} matches in {answer['EventsRead']} events read")
    return 0


def _findings(arguments: argparse.Namespace) -> int:
    params = {"MaxResults": str(arguments.max_results)}
    if arguments.rule_id:
        params["RuleId"] = arguments.rule_id
    if arguments.next_token:
        params["NextToken"] = arguments.next_token
    answer = call(arguments, "ListFindings", params)
    if arguments.output == "json":
        print_json(answer)
        return 0
    print_table(
        ("Time", "Severity", "RuleId", "Events", "Title"),
        [
            (f["CreateTime"], f["Severity"], f["RuleId"], len(f["EventIds"]), f["Title"])
            for f in answer["Findings"]
        ],
    )
    if answer.get("NextToken"):
        print(f"more: --next-token {answer['NextToken']}")
    return 0
