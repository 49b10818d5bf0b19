"""Warehouse commands: `sql`, `warehouse ls|project|grant|revoke|jobs`, `quota`, and `bill`.

`sql`, `warehouse` and `quota` talk to a server with the caller's key, so the project's members
and roles decide what each person sees. `bill` is administration on the server host: it reads
the data directory, like `account create`, and can show every account.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import sys
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from trailhouse.admin_services import open_admin_services
from trailhouse.cli.common import (
    add_output_option,
    add_store_options,
    load_settings,
    print_json,
    print_table,
)
from trailhouse.cli.numbers import count, decimal, duration, money, size, usage
from trailhouse.cli.trails import call, client_command
from trailhouse.settings import Settings
from trailhouse.warehouse import result_csv
from trailhouse.warehouse.model import Role

if TYPE_CHECKING:
    from trailhouse.warehouse.metering import Metering

_FINAL = ("Terminated", "Failed", "Cancelled")
_PAGE = 10_000
# The job is asked for again after 10 ms, then twice as long each time, at most every 100 ms:
# a query of 100 ms no longer waits up to another 100 ms for the next poll.
_FIRST_POLL_SECONDS = 0.01
_POLL_SECONDS = 0.1


def register(commands: Any) -> None:
    """Add the warehouse commands."""
    sql = commands.add_parser("sql", help="run MaxCompute SQL in a project and print the result")
    sql.add_argument("query", metavar="SQL", help="one SELECT statement, or COST SQL <statement>")
    sql.add_argument("-p", "--project", required=True, help="project the query runs in")
    sql.add_argument(
        "--format", choices=("table", "json", "csv"), default="table", help="output format"
    )
    client_command(sql, _sql)

    warehouse = commands.add_parser("warehouse", help="projects, tables, members and SQL jobs")
    actions = warehouse.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "ls", help="list projects, a project's tables, or a table's partitions"
    )
    listing.add_argument("project", nargs="?", help="list this project's tables")
    listing.add_argument("table", nargs="?", help="list this table's partitions")
    client_command(listing, _ls, "table", "json")

    project = actions.add_parser(
        "project", help="create a project (e.g. for other accounts' trails), or delete one"
    )
    project.add_argument("verb", choices=("create", "delete", "set"))
    project.add_argument("name", help="project name, e.g. actiontrail_<account id>")
    project.add_argument("--quota", default="", help="quota to bind (default: the region's first)")
    project.add_argument(
        "--timezone",
        default="",
        help="with set: the project's odps.sql.timezone, e.g. Asia/Shanghai, Europe/Berlin, UTC",
    )
    client_command(project, _project, "table", "json")

    grant = actions.add_parser("grant", help="add a project member with a role")
    grant.add_argument("project")
    grant.add_argument("principal", help="an account id, <account id>/<user name>, or a role ARN")
    grant.add_argument("--role", choices=Role.ALL, default=Role.READER)
    client_command(grant, _grant, "table", "json")

    revoke = actions.add_parser("revoke", help="remove a project member")
    revoke.add_argument("project")
    revoke.add_argument("principal")
    client_command(revoke, _revoke, "table", "json")

    jobs = actions.add_parser("jobs", help="recent SQL jobs, newest first")
    jobs.add_argument("--project", default="")
    jobs.add_argument("--limit", type=int, default=20)
    client_command(jobs, _jobs, "table", "json")

    quota = commands.add_parser("quota", help="compute quotas of the account")
    quota_actions = quota.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = quota_actions.add_parser("create", help="buy a subscription quota of N CU")
    create.add_argument("--name", required=True)
    create.add_argument("--cu", type=int, required=True, help="1 CU = 1 core + 4 GB")
    client_command(create, _quota_create, "table", "json")
    quota_list = quota_actions.add_parser("list", help="the account's quotas")
    client_command(quota_list, _quota_list, "table", "json")

    bill = commands.add_parser("bill", help="daily charges by project and type (on the host)")
    bill.add_argument("--account", help="one account (default: every account)")
    bill.add_argument("--from", dest="first_day", help="first day, YYYYMMDD (default: the 1st)")
    bill.add_argument("--to", dest="last_day", help="last day, YYYYMMDD (default: today)")
    add_output_option(bill, "table", "json", "csv")
    add_store_options(bill)
    bill.set_defaults(run=_bill)


def _sql(arguments: argparse.Namespace) -> int:
    submitted = call(
        arguments, "SubmitSqlJob", {"Project": arguments.project, "Sql": arguments.query}
    )
    job_id = submitted["JobId"]
    try:
        job = wait_for_job(arguments, job_id)
    except KeyboardInterrupt:
        call(arguments, "CancelSqlJob", {"JobId": job_id})
        print(f"\ncancelled job {job_id}", file=sys.stderr)
        return 130
    if job["Status"] != "Terminated":
        print(
            f"trailhouse: job {job_id} {job['Status']}: {job['ErrorCode']}: {job['ErrorMessage']}",
            file=sys.stderr,
        )
        return 1
    columns, rows = all_rows(arguments, job_id)
    _print_rows(arguments.format, columns, rows)
    if arguments.format == "table":
        print(_summary(job), file=sys.stderr)
    return 0


def wait_for_job(arguments: argparse.Namespace, job_id: str) -> dict[str, Any]:
    """Poll the job until it ends, drawing a progress line when stderr is a terminal."""
    show = sys.stderr.isatty()
    pause = _FIRST_POLL_SECONDS
    while True:
        job: dict[str, Any] = call(arguments, "GetSqlJob", {"JobId": job_id})["Job"]
        if job["Status"] in _FINAL:
            if show:
                sys.stderr.write("\r\033[K")
            return job
        if show:
            sys.stderr.write("\r\033[K" + _progress_line(job))
            sys.stderr.flush()
        time.sleep(pause)
        pause = min(pause * 2, _POLL_SECONDS)


def _progress_line(job: dict[str, Any]) -> str:
    if job["Status"] == "Waiting":
        return f"job {job['JobId']}: waiting for quota {job['Quota']} ({job['QueueSeconds']:.1f} s)"
    done = int(job["Progress"] * 30)
    return (
        f"job {job['JobId']}: [{'#' * done}{'.' * (30 - done)}] {job['Progress']:4.0%} "
        f"{job['RunSeconds']:.1f} s"
    )


def all_rows(arguments: argparse.Namespace, job_id: str) -> tuple[list[str], list[list[Any]]]:
    """Every row of a finished job, page by page, and its column names."""
    rows: list[list[Any]] = []
    offset = 0
    while True:
        page = call(
            arguments,
            "GetSqlJobResult",
            {"JobId": job_id, "Offset": str(offset), "MaxResults": str(_PAGE)},
        )
        rows.extend(page["Rows"])
        if page["NextOffset"] is None:
            return page["Columns"], rows
        offset = page["NextOffset"]


def _print_rows(fmt: str, columns: Sequence[str], rows: list[list[Any]]) -> None:
    if fmt == "json":
        print_json({"columns": list(columns), "rows": rows})
    elif fmt == "csv":
        sys.stdout.writelines(result_csv.csv_lines(columns, rows, line_end="\n"))
    else:
        print_table(columns, [["NULL" if v is None else v for v in row] for row in rows])


def _summary(job: dict[str, Any]) -> str:
    cut = " (truncated: the job keeps at most sql_result_rows rows)" if job["Truncated"] else ""
    return (
        f"{count(job['Rows'], 'row')}{cut} · input {size(job['InputBytes'])} · complexity "
        f"{decimal(job['Complexity'])} · cost ${money(job['CostUSD'])} · "
        f"{duration(job['RunSeconds'])} · job {job['JobId']}"
    )


def _ls(arguments: argparse.Namespace) -> int:
    if arguments.table:
        answer = call(
            arguments, "ListPartitions", {"Project": arguments.project, "Table": arguments.table}
        )
        listed = answer["Partitions"]
        rows = [
            (p["Ds"], decimal(p["Files"]), decimal(p["Rows"]), size(p["Bytes"]), p["LastModified"])
            for p in listed
        ]
        headers: tuple[str, ...] = ("ds", "Files", "Rows", "Size", "LastModified")
        total = _totals(listed, "partition")
    elif arguments.project:
        answer = call(arguments, "ListTables", {"Project": arguments.project})
        listed = answer["Tables"]
        rows = [
            (
                t["Name"],
                decimal(t["Partitions"]),
                decimal(t["Rows"]),
                size(t["Bytes"]),
                t["CreateTime"],
            )
            for t in listed
        ]
        headers = ("Table", "Partitions", "Rows", "Size", "Created")
        total = _totals(listed, "table")
    else:
        answer = call(arguments, "ListProjects")
        listed = answer["Projects"]
        rows = [(p["Name"], p["Region"], p["Owner"], p["Quota"], p["CreateTime"]) for p in listed]
        headers = ("Project", "Region", "Owner", "Quota", "Created")
        total = count(len(listed), "project")
    if arguments.output == "json":
        print_json(listed)
    else:
        print_table(headers, rows)
        print(total, file=sys.stderr)
    return 0


def _totals(listed: list[dict[str, Any]], noun: str) -> str:
    """How many, with their rows and size together: "2 partitions · 1,234 rows · 1.2 MB"."""
    rows = sum(int(item["Rows"]) for item in listed)
    stored = sum(int(item["Bytes"]) for item in listed)
    return f"{count(len(listed), noun)} · {count(rows, 'row')} · {size(stored)}"


def _project(arguments: argparse.Namespace) -> int:
    if arguments.verb == "delete":
        answer = call(arguments, "DeleteProject", {"Project": arguments.name})
    elif arguments.verb == "set":
        if not arguments.timezone:
            raise SystemExit("warehouse project set: give --timezone ZONE (e.g. Asia/Shanghai)")
        answer = call(
            arguments,
            "SetProjectProperty",
            {"Project": arguments.name, "Name": "odps.sql.timezone", "Value": arguments.timezone},
        )
    else:
        answer = call(
            arguments, "CreateProject", {"Project": arguments.name, "QuotaName": arguments.quota}
        )
    _print_project(arguments, answer["Project"])
    return 0


def _grant(arguments: argparse.Namespace) -> int:
    answer = call(
        arguments,
        "SetProjectMember",
        {"Project": arguments.project, "Principal": arguments.principal, "Role": arguments.role},
    )
    _print_project(arguments, answer["Project"])
    return 0


def _revoke(arguments: argparse.Namespace) -> int:
    answer = call(
        arguments,
        "RemoveProjectMember",
        {"Project": arguments.project, "Principal": arguments.principal},
    )
    _print_project(arguments, answer["Project"])
    return 0


def _print_project(arguments: argparse.Namespace, project: dict[str, Any]) -> None:
    if arguments.output == "json":
        print_json(project)
        return
    print_table(
        ("Project", "Region", "Quota", "Time zone", "Member", "Role"),
        [
            (
                project["Name"],
                project["Region"],
                project["Quota"],
                project.get("TimeZone", ""),
                m["Principal"],
                m["Role"],
            )
            for m in project.get("Members", [])
        ],
    )


def _jobs(arguments: argparse.Namespace) -> int:
    answer = call(
        arguments, "ListSqlJobs", {"Project": arguments.project, "MaxResults": str(arguments.limit)}
    )
    if arguments.output == "json":
        print_json(answer["Jobs"])
        return 0
    print_table(
        ("JobId", "Project", "Status", "Input", "Complexity", "CostUSD", "Time", "SQL"),
        [
            (
                j["JobId"],
                j["Project"],
                j["Status"],
                size(j["InputBytes"]),
                decimal(j["Complexity"]),
                money(j["CostUSD"]),
                duration(j["RunSeconds"]),
                _shorten(j["Sql"]),
            )
            for j in answer["Jobs"]
        ],
    )
    return 0


def _shorten(sql: str, width: int = 60) -> str:
    """The SQL on one line, cut at a word boundary (never inside a name) to about `width`."""
    flat = " ".join(sql.split())
    if len(flat) <= width:
        return flat
    cut = flat[: width - 1].rpartition(" ")[0]
    if cut:
        return cut + " …"
    first, _, rest = flat.partition(" ")  # one word longer than the cell: kept whole
    return first + (" …" if rest else "")


def _quota_create(arguments: argparse.Namespace) -> int:
    answer = call(arguments, "CreateQuota", {"QuotaName": arguments.name, "Cu": str(arguments.cu)})
    _print_quotas(arguments, [answer["Quota"]])
    return 0


def _quota_list(arguments: argparse.Namespace) -> int:
    _print_quotas(arguments, call(arguments, "ListQuotas")["Quotas"])
    return 0


def _print_quotas(arguments: argparse.Namespace, quotas: list[dict[str, Any]]) -> None:
    if arguments.output == "json":
        print_json(quotas)
        return
    print_table(
        ("Quota", "Region", "Type", "CU", "Threads", "MemoryGB", "Concurrency"),
        [
            (
                q["Name"],
                q["Region"],
                q["Type"],
                q["Cu"],
                q["Threads"],
                decimal(q["MemoryGb"]),
                q["Concurrency"],
            )
            for q in quotas
        ],
    )


def _bill(arguments: argparse.Namespace) -> int:
    settings = load_settings(arguments)
    today = time.strftime("%Y%m%d", time.gmtime())
    with _metering(settings) as metering:
        lines = metering.bill(
            arguments.account, arguments.first_day or today[:6] + "01", arguments.last_day or today
        )
    records = [
        {
            "Day": b.day,
            "Account": b.account_id,
            "Region": b.region,
            "Project": b.project,
            "Item": b.item,
            "Usage": round(b.usage, 9),
            "Unit": b.unit,
            "AmountUSD": round(b.amount_usd, 6),
        }
        for b in lines
    ]
    if arguments.output == "json":
        print_json({"Bills": records, "TotalUSD": round(sum(b.amount_usd for b in lines), 6)})
    elif arguments.output == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(_BILL_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
    else:
        print_table(
            ("Day", "Account", "Region", "Project", "Item", "Usage", "AmountUSD"),
            [
                (
                    b.day,
                    b.account_id,
                    b.region,
                    b.project,
                    b.item,
                    usage(b.usage, b.unit),
                    money(b.amount_usd),
                )
                for b in lines
            ],
        )
        total = money(sum(b.amount_usd for b in lines))
        print(f"{count(len(lines), 'charge')}, total USD {total}")
    return 0


# CSV keeps the exact figures, as JSON does; the table rounds them for reading.
_BILL_COLUMNS = ("Day", "Account", "Region", "Project", "Item", "Usage", "Unit", "AmountUSD")


@contextlib.contextmanager
def _metering(settings: Settings) -> Iterator[Metering]:
    """The metering service over the data directory's stores, closed afterwards."""
    with open_admin_services(settings) as admin, admin.metering() as metering:
        yield metering
