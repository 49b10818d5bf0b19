"""Detections and insights under load: PutEvents throughput with every starter rule and insight
type enabled ÷ with none, same server, same run; and, at a steady paced rate (5,000 events/s by
default), how long after an event is accepted its finding is visible through ListFindings.

One `trailhouse serve` on a fresh data directory, two fresh accounts: `off` (nothing enabled)
and `on` (the ten starter rules and the four insight types). The throughput rounds send the
shared generator's events (`gen_events.py`, as `ingest_lookup.py` does, with its load
processes) as fast as they are accepted, alternating off, on, on, off … so drift on the shared
machine falls on both (after one uncounted warm-up round each). The latency run paces batches
of 100 events into `on` and, every 0.5 s, puts one planted event (`AuthorizeSecurityGroup` open
to 0.0.0.0/0) into a batch; a watcher polls ListFindings every 20 ms and notes when each
planted event's finding shows. See bench/README.md.
"""

from __future__ import annotations

import argparse
import operator
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import orjson

from _events import DEFAULT_GEN_DIR, TimeWindow, batches, make_generator, owned, well_run
from _report import Row, lt, summary
from _servers import Credentials, real_server, run_load, start_server, stop
from _trail_phase import profile_window, sampled_server
from ingest_lookup import load_figures
from trailhouse.client import RpcClient
from trailhouse.events.validation import format_event_time
from trailhouse.runtime import open_services
from trailhouse.settings import Settings

TARGET_RATIO = 0.9
TARGET_P99_S = 2.0
PROBE_RULE = "actiontrail_security_group_open"
INSIGHT_TYPES = ("ApiCallRateInsight", "ApiErrorRateInsight", "IpInsight", "AkInsight")


def say(message: str) -> None:
    """Progress on stderr, so stdout holds only the figures."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def arguments() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per load round")
    parser.add_argument("--rounds", type=int, default=2, help="off/on round pairs (ABBA order)")
    parser.add_argument("--load-procs", type=int, default=2)
    parser.add_argument("--load-threads", type=int, default=4)
    parser.add_argument("--rate", type=float, default=5000.0, help="paced events/s for latency")
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    parser.add_argument(
        "--pace-threads",
        type=int,
        default=16,
        help="sending threads of the paced run: enough that a slow answer does not hold the "
        "schedule back (at 5,000 events/s each of 16 threads may take 320 ms a batch)",
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/trailhouse-bench-detections"))
    parser.add_argument("--port", type=int, default=18787)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--gen-dir", type=Path, default=DEFAULT_GEN_DIR)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the server's stacks: one window per counted round and one for the paced "
        "run, written to WORKDIR/profile.N (N in the order run)",
    )
    return parser.parse_args()


def prepare(data_dir: Path) -> tuple[Credentials, Credentials]:
    """A fresh store with the `off` and `on` accounts; `on` has everything enabled."""
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    services = open_services(Settings.load({"data_dir": data_dir}, environ={}))
    try:
        made = [services.accounts.create_account() for _ in range(2)]
        off, on = (Credentials(m.account_id, m.access_key_id, m.access_key_secret) for m in made)
        now_ms = int(time.time() * 1000)
        for rule in services.detections.list_rules(on.account_id):
            services.detections.set_enabled(on.account_id, rule.rule_id, True, now_ms)
        for kind in INSIGHT_TYPES:
            services.insights.enable(on.account_id, kind)
    finally:
        services.close()
    return off, on


def throughput(
    args: argparse.Namespace,
    endpoint: str,
    off: Credentials,
    on: Credentials,
    sampled: subprocess.Popen[Any] | None = None,
) -> Any:
    """Accepted events/s of each account over its rounds (each counted round a profile window
    of `sampled`, when given)."""
    rates: dict[str, list[float]] = {"off": [], "on": []}
    # Accepted events over the round and the wait until they were all evaluated, and the wait.
    evaluated: dict[str, list[float]] = {"off": [], "on": []}
    lags: dict[str, list[float]] = {"off": [], "on": []}
    # A warm-up round each, not counted: the `on` account's first-seen baselines learn the
    # generator's keys and addresses (about a thousand pairs), as a real account's have.
    order = ["off", "on"] + ["off", "on", "on", "off"] * args.rounds
    for number, label in enumerate(order[: 2 + 2 * args.rounds]):
        credentials = on if label == "on" else off
        counted = number >= 2
        profile_window(sampled if counted else None, start=True)
        results = run_load(
            endpoint,
            credentials,
            processes=args.load_procs,
            threads=args.load_threads,
            seconds=args.seconds,
            probe=False,
            workdir=args.workdir,
            gen_dir=args.gen_dir,
            label=f"{label}{number}",
        )
        profile_window(sampled if counted else None, start=False)
        figures = load_figures(results)
        # The observers work behind the answers: a round is over when its events are evaluated
        # too. Waiting here also starts each round with nothing queued from the one before.
        behind = wait_observed(args.port)
        elapsed = figures["accepted"] / figures["rate"] if figures["rate"] else 0.0
        say(
            f"round {number} ({label}): {figures['rate']:,.0f} events/s, "
            f"{figures['failed']} failed, {figures['errors']} errors; evaluated {behind:.1f} s "
            "after the load ended"
        )
        if counted:
            rates[label].append(figures["rate"])
            evaluated[label].append(figures["accepted"] / (elapsed + behind) if elapsed else 0.0)
            lags[label].append(behind)
    return rates, evaluated, lags


def _planted(account_id: str) -> dict[str, Any]:
    return {
        "eventId": f"probe-{uuid.uuid4()}",
        "eventVersion": "1",
        "eventTime": format_event_time(int(time.time())),
        "eventSource": "ecs.aliyuncs.com",
        "eventName": "AuthorizeSecurityGroup",
        "eventType": "ApiCall",
        "eventRW": "Write",
        "acsRegion": "cn-hangzhou",
        "serviceName": "Ecs",
        "requestId": str(uuid.uuid4()),
        "sourceIpAddress": "203.0.113.66",
        "userIdentity": {"type": "ram-user", "principalId": "7", "accountId": account_id},
        "requestParameters": {"SecurityGroupId": "sg-bench", "SourceCidrIp": "0.0.0.0/0"},
        "recipientAccountId": account_id,
    }


class Watcher(threading.Thread):
    """Polls ListFindings and notes when each planted event's finding first shows."""

    def __init__(self, endpoint: str, on: Credentials) -> None:
        super().__init__(daemon=True)
        self.client = RpcClient(f"http://{endpoint}", on.key_id, on.secret, timeout=30)
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            page = self.client.call("ListFindings", {"RuleId": PROBE_RULE, "MaxResults": "200"})
            now = time.monotonic()
            for finding in page["Findings"]:
                for event_id in finding["EventIds"]:
                    self.seen.setdefault(event_id, now)
            time.sleep(0.02)
        self.client.close()


def latency(args: argparse.Namespace, endpoint: str, on: Credentials) -> dict[str, Any]:
    """Pace `args.rate` events/s into `on`; accepted → finding visible for the planted ones."""
    window = TimeWindow.last_days(int(time.time()), 1)
    generator = make_generator(args.gen_dir, args.seed, window, stream=99)
    # A well-run account's traffic: its findings are the planted ones (and a key's first-seen
    # address now and then), as at a steady 5,000 events/s in real life.
    events = well_run(owned(generator.batch(20_000), on.account_id))
    pool = [orjson.dumps({"Events": chunk}) for chunk in batches(events, 100)]
    per_second = args.rate / 100.0
    threads = args.pace_threads
    acked: dict[str, tuple[float, float]] = {}  # planted id → (sent, acknowledged)
    request_seconds: list[float] = []
    accepted = [0]
    lock = threading.Lock()
    begun = time.monotonic()
    cpu_begun = time.process_time()
    deadline = begun + args.latency_seconds
    watcher = Watcher(endpoint, on)
    watcher.start()

    def sender(first: int) -> None:
        client = RpcClient(f"http://{endpoint}", on.key_id, on.secret, timeout=30)
        number = first
        try:
            while True:
                due = begun + number / per_second
                if due >= deadline:
                    return
                time.sleep(max(0.0, due - time.monotonic()))
                body = pool[number % len(pool)].replace(
                    b'"eventId":"', f'"eventId":"n{number}-'.encode()
                )
                planted = ""
                if number % max(1, int(per_second / 2)) == 0:  # every 0.5 s
                    event = _planted(on.account_id)
                    planted = event["eventId"]
                    body = body[:-2] + b"," + orjson.dumps(event) + b"]}"
                sent = time.monotonic()
                answer = client.call("PutEvents", body=orjson.Fragment(body))
                done = time.monotonic()
                with lock:
                    request_seconds.append(done - sent)
                    accepted[0] += int(answer.get("Accepted", 0))
                    if planted:
                        acked[planted] = (sent, done)
                number += threads
        finally:
            client.close()

    workers = [threading.Thread(target=sender, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - begun
    # The harness's own ceiling: its CPU per batch (signing, sending, reading the answer, the
    # watcher's polls) bounds how many batches one core of it could pace.
    cpu = time.process_time() - cpu_begun
    requests = max(len(request_seconds), 1)
    settle = time.monotonic() + 30
    while time.monotonic() < settle and not set(acked) <= set(watcher.seen):
        time.sleep(0.05)
    watcher.stop.set()
    watcher.join()
    lags = sorted(
        max(0.0, watcher.seen[i] - done) for i, (_, done) in acked.items() if i in watcher.seen
    )
    return {
        "rate": accepted[0] / elapsed,
        "harness_cpu_ms": cpu / requests * 1000,
        "harness_ceiling": 100 * requests / cpu if cpu else None,
        "probes": len(acked),
        "found": len(lags),
        "p50": _pct(lags, 0.5),
        "p99": _pct(lags, 0.99),
        "max": lags[-1] if lags else None,
        "request_p50": _pct(sorted(request_seconds), 0.5),
        "request_p99": _pct(sorted(request_seconds), 0.99),
    }


def wait_observed(port: int) -> float:
    """Wait until the server has evaluated every event it stored (`/metrics`); how long, to the
    moment the poll that showed nothing waiting was sent (on the busy machine a /metrics answer
    took up to 4 s, which would count as evaluation)."""
    begun = time.monotonic()
    while True:
        asked = time.monotonic()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as answer:
            text = answer.read().decode()
        pending = [
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith("trailhouse_observer_pending_events")
        ]
        if not pending or pending[0] == 0:
            return asked - begun
        time.sleep(0.2)


def count_findings(endpoint: str, on: Credentials) -> int:
    """All the findings of the `on` account."""
    found, token = 0, ""
    with RpcClient(f"http://{endpoint}", on.key_id, on.secret, timeout=60) as client:
        while True:
            params = {"MaxResults": "200", **({"NextToken": token} if token else {})}
            page = client.call("ListFindings", params)
            found += len(page["Findings"])
            token = page.get("NextToken", "")
            if not token:
                return found


def helper_memory(server_pid: int) -> dict[str, int] | None:
    """The evaluation helper's resident memory now and at its peak (kB, from /proc), or None
    when the server has none (`detections_process` off, or a server from before it)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
            if parent != server_pid or b"trailhouse.evaluation" not in command:
                continue
            fields = dict(
                line.split(":", 1) for line in (stat.parent / "status").read_text().splitlines()
            )
        except (OSError, ValueError, IndexError):
            continue  # ended meanwhile
        ticks = stat.read_text().rsplit(")", 1)[1].split()[11:13]  # utime, stime
        found = {key: int(fields[key].split()[0]) for key in ("VmRSS", "VmHWM")}
        return {**found, "cpu_ms": sum(map(int, ticks)) * 1000 // os.sysconf("SC_CLK_TCK")}
    return None


def _pct(values: list[float], q: float) -> float | None:
    return values[min(len(values) - 1, int(q * len(values)))] if values else None


def main() -> int:
    """Run the benchmark and print its summary."""
    args = arguments()
    args.workdir.mkdir(parents=True, exist_ok=True)
    data_dir = args.workdir / "data"
    off, on = prepare(data_dir)
    endpoint = f"127.0.0.1:{args.port}"
    command = (
        sampled_server(data_dir, args.port, args.workdir / "profile")
        if args.profile
        else real_server(data_dir, args.port)
    )
    server = start_server(command, args.port, args.workdir / "server.log")
    sampled = server if args.profile else None
    try:
        say(f"throughput: {args.rounds} pair(s) of {args.seconds:g} s rounds, off/on alternating")
        rates, evaluated, lags = throughput(args, endpoint, off, on, sampled)
        say(f"latency: {args.rate:,.0f} events/s paced for {args.latency_seconds:g} s")
        profile_window(sampled, start=True)
        paced = latency(args, endpoint, on)
        profile_window(sampled, start=False)
        findings = count_findings(endpoint, on)
        helper = helper_memory(server.pid)
    finally:
        stop(server)
    off_rate = sum(rates["off"]) / len(rates["off"])
    on_rate = sum(rates["on"]) / len(rates["on"])
    print(f"rounds off: {', '.join(f'{r:,.0f}' for r in rates['off'])} events/s")
    print(f"rounds on:  {', '.join(f'{r:,.0f}' for r in rates['on'])} events/s")
    print(
        "evaluated after the load ended (s): "
        f"off {', '.join(f'{w:.1f}' for w in lags['off'])}; "
        f"on {', '.join(f'{w:.1f}' for w in lags['on'])}"
    )
    off_evaluated = sum(evaluated["off"]) / len(evaluated["off"])
    on_evaluated = sum(evaluated["on"]) / len(evaluated["on"])
    print(
        f"paced run: {paced['rate']:,.0f} events/s accepted (asked {args.rate:,.0f}), "
        f"{paced['found']}/{paced['probes']} planted events found, max {paced['max']} s; "
        f"findings made in the on account over the run: {findings:,}"
    )
    print(
        "the evaluation helper process: "
        + (
            f"{helper['VmRSS'] / 1024:,.0f} MB resident at the end, "
            f"{helper['VmHWM'] / 1024:,.0f} MB at its peak; {helper['cpu_ms'] / 1000:.1f} s of "
            "CPU over the run"
            if helper
            else "none (evaluated in the server)"
        )
    )
    ceiling = paced["harness_ceiling"]
    print(
        f"the pacing harness ({args.pace_threads} threads) used {paced['harness_cpu_ms']:.2f} ms "
        f"of its own CPU a batch of 100: one core of it paces at most "
        f"{ceiling:,.0f} events/s"
        if ceiling
        else "the pacing harness used no measurable CPU"
    )
    print(
        summary(
            [
                Row(
                    "PutEvents, detections on",
                    on_rate,
                    "events/s",
                    off_rate,
                    "detections off",
                    TARGET_RATIO * off_rate,
                ),
                Row(
                    "…counting the wait until evaluated",
                    on_evaluated,
                    "events/s",
                    off_evaluated,
                    "detections off, likewise",
                    TARGET_RATIO * off_evaluated,
                ),
                Row(
                    "accepted → finding visible p50",
                    paced["p50"],
                    "s",
                    paced["request_p50"],
                    "PutEvents request p50",
                ),
                Row(
                    "accepted → finding visible p99",
                    paced["p99"],
                    "s",
                    paced["request_p99"],
                    "PutEvents request p99",
                    TARGET_P99_S,
                    lt,
                ),
            ]
        )
    )
    print("(a shared machine: 2 cores, other helpers' work beside it; read the ratios)")
    return 0 if operator.ge(on_rate, TARGET_RATIO * off_rate) else 1


if __name__ == "__main__":
    raise SystemExit(main())
