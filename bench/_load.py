"""The PutEvents load process: threads with keep-alive clients send pre-serialised batches.

Started by `ingest_lookup.py`; prints `ready` once its batches are built, starts on a line on
stdin, and writes its figures as JSON to `--out`. Each batch is serialised once; every use of it
prefixes the event ids with the run, process and round, so every event sent is a new event.
One process may also probe index lag: how long an acknowledged event takes to be searchable.
"""

from __future__ import annotations

import argparse
import calendar
import collections
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from _events import DEFAULT_GEN_DIR, TimeWindow, batches, make_generator, owned
from trailhouse.client import RpcClient
from trailhouse.errors import RequestFailed


@dataclass(frozen=True, slots=True)
class Batch:
    """A serialised `{"Events": [...]}` body and its last event (for lag probes)."""

    body: bytes
    last_event_id: str
    last_event_time: int


@dataclass
class Ack:
    """The most recently acknowledged event: its id, time, and when the ack came back."""

    event_id: str = ""
    event_time: int = 0
    acked_at: float = 0.0


@dataclass
class ThreadFigures:
    """What one sending thread saw."""

    accepted: int = 0
    failed: int = 0
    errors: int = 0
    requests: int = 0
    latencies: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)


# Stands for the moment of sending in a live batch's events (`live_body`).
LIVE_TIME = b"1970-01-01T00:00:00Z"


def build_batches(
    gen_dir: Path,
    seed: int,
    stream: int,
    account_id: str,
    count: int,
    size: int,
    days: float,
    live: bool = False,
) -> list[Batch]:
    """`count` serialised batches of `size` recent events; `live`, each event's time left to
    be the moment its batch is sent (`live_body`)."""
    window = TimeWindow.last_days(int(time.time()), days)
    generator = make_generator(gen_dir, seed, window, stream=stream)
    events = owned(generator.batch(count * size), account_id)
    if live:
        for event in events:
            event["eventTime"] = LIVE_TIME.decode()
    out = []
    for chunk in batches(events, size):
        last = chunk[-1]
        out.append(
            Batch(
                body=orjson.dumps({"Events": chunk}),
                last_event_id=str(last["eventId"]),
                last_event_time=_epoch(str(last["eventTime"])),
            )
        )
    return out


def _epoch(text: str) -> int:
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def _prefixed(batch: Batch, prefix: bytes) -> bytes:
    return batch.body.replace(b'"eventId":"', b'"eventId":"' + prefix)


def live_body(body: bytes, now: int) -> bytes:
    """`body` with its events' times set to `now`, as a producer sends what just happened."""
    return body.replace(LIVE_TIME, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)).encode())


def send_loop(
    client: RpcClient,
    pool: list[Batch],
    stream: int,
    run: str,
    first: int,
    step: int,
    deadline: float,
    figures: ThreadFigures,
    latest: Ack,
    lock: threading.Lock,
    live: bool,
) -> None:
    """Send batches `first`, `first + step`, ... of the endless stream until `deadline`; `live`,
    with the events' times set to the moment each batch is sent."""
    number = first
    while time.monotonic() < deadline:
        batch = pool[number % len(pool)]
        prefix = f"{run}-p{stream}r{number // len(pool)}-"
        body = _prefixed(batch, prefix.encode())
        now = int(time.time())
        if live:
            body = live_body(body, now)
        begun = time.perf_counter()
        try:
            answer = client.call("PutEvents", body=orjson.Fragment(body))
        except RequestFailed as failure:
            figures.errors += 1
            if len(figures.error_samples) < 5:
                figures.error_samples.append(str(failure))
            time.sleep(0.05)
            number += step
            continue
        finished = time.perf_counter()
        figures.latencies.append(finished - begun)
        figures.requests += 1
        figures.accepted += int(answer.get("Accepted", 0))
        figures.failed += len(answer.get("Failed") or [])
        if figures.failed and len(figures.error_samples) < 5 and answer.get("Failed"):
            figures.error_samples.append(str(answer["Failed"][0]))
        with lock:
            latest.event_id = prefix + batch.last_event_id
            latest.event_time = now if live else batch.last_event_time
            latest.acked_at = time.monotonic()
        number += step


def _lookup_params(event_id: str, event_time: int) -> dict[str, str]:
    return {
        "StartTime": _format(event_time - 120),
        "EndTime": _format(event_time + 120),
        "MaxResults": "1",
        "LookupAttribute.1.Key": "EventId",
        "LookupAttribute.1.Value": event_id,
    }


def is_searchable(client: RpcClient, event_id: str, event_time: int) -> bool:
    """Whether LookupEvents finds the event by its id now."""
    try:
        return bool(client.call("LookupEvents", _lookup_params(event_id, event_time)).get("Events"))
    except RequestFailed:
        return False


def wait_searchable(client: RpcClient, event_id: str, event_time: int, timeout: float) -> bool:
    """Poll LookupEvents by EventId until the event is found; False on timeout."""
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if is_searchable(client, event_id, event_time):
            return True
        time.sleep(0.01)
    return False


def _format(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def probe_loop(
    client: RpcClient,
    deadline: float,
    latest: Ack,
    lock: threading.Lock,
    lags: list[float],
    polls: list[tuple[float, bool]],
    drain_seconds: float = 300.0,
) -> None:
    """Every half second, note the latest acknowledged event; time until each is searchable.

    Probes wait in ack order and only the oldest is polled: the index follows the log's
    sequence, so a newer event never shows before an older one has had its chance. An event is
    probed once: probed again while PutEvents stalls (no new ack), its "lag" would be the time
    since that ack, searchable or not (until 2026-12-07 it was, and put 2-3 s lags on runs
    whose every poll found its event at once). After the load stops, waiting probes are drained
    for at most `drain_seconds`. Each poll's own time and whether it found its event go to
    `polls`: a lag made of polls that found the event at once is LookupEvents' latency (and
    probes queued behind it), not the index's.
    """
    pending: collections.deque[tuple[str, int, float]] = collections.deque()
    taken = ""  # the last event probed: while no new ack comes, it is not probed again
    next_probe = time.monotonic()
    give_up = deadline + drain_seconds
    while (now := time.monotonic()) < give_up and (now < deadline or pending):
        if now < deadline and now >= next_probe:
            next_probe = now + 0.5
            with lock:
                probe = (latest.event_id, latest.event_time, latest.acked_at)
            if probe[0] and probe[0] != taken:
                pending.append(probe)
                taken = probe[0]
        if pending:
            began = time.monotonic()
            found = is_searchable(client, pending[0][0], pending[0][1])
            polls.append((time.monotonic() - began, found))
            if found:
                lags.append(time.monotonic() - pending.popleft()[2])
                continue
        time.sleep(0.02)


def main() -> int:
    """Build batches, wait for `go`, send for --seconds, write figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--key-id", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--account-id", required=True)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--pool", type=int, default=200, help="distinct batches to cycle through")
    parser.add_argument("--days", type=float, default=1.0, help="event times: the last N days")
    parser.add_argument(
        "--times",
        choices=("live", "pool"),
        default="pool",
        help="live: every event's time is the moment its batch is sent; pool: the generated "
        "times of the last --days, the same ones again every --pool batches",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--stream", type=int, default=1, help="this process's number (ids)")
    parser.add_argument("--probe", action="store_true", help="also measure index lag")
    parser.add_argument("--gen-dir", type=Path, default=DEFAULT_GEN_DIR)
    parser.add_argument("--out", type=Path, required=True)
    arguments = parser.parse_args()

    pool = build_batches(
        arguments.gen_dir,
        arguments.seed,
        arguments.stream,
        arguments.account_id,
        arguments.pool,
        arguments.batch,
        arguments.days,
        live=arguments.times == "live",
    )
    clients = [
        RpcClient(arguments.endpoint, arguments.key_id, arguments.secret, timeout=120.0)
        for _ in range(arguments.threads + 1)
    ]
    print("ready", flush=True)
    sys.stdin.readline()

    # Ids differ from every earlier run's: a repeated id would be a duplicate, which the log
    # acknowledges without storing (and which keeps the first copy's time).
    run = format(time.time_ns() // 1_000_000, "x")
    lock = threading.Lock()
    latest = Ack()
    lags: list[float] = []
    polls: list[tuple[float, bool]] = []
    figures = [ThreadFigures() for _ in range(arguments.threads)]
    started = time.monotonic()
    deadline = started + arguments.seconds
    threads = [
        threading.Thread(
            target=send_loop,
            args=(
                clients[n],
                pool,
                arguments.stream,
                run,
                n,
                arguments.threads,
                deadline,
                figures[n],
                latest,
                lock,
                arguments.times == "live",
            ),
        )
        for n in range(arguments.threads)
    ]
    if arguments.probe:
        probe_args = (clients[-1], deadline, latest, lock, lags, polls)
        threads.append(threading.Thread(target=probe_loop, args=probe_args))
    for thread in threads:
        thread.start()
    senders = threads[: arguments.threads]
    for thread in senders:
        thread.join()
    # The rate's clock stops with the last sender, not with a probe still waiting for a lag.
    elapsed = time.monotonic() - started
    for thread in threads[arguments.threads :]:
        thread.join()
    final_lag = None
    # The last acknowledged event of the whole run: how long after its ack it shows.
    if (
        arguments.probe
        and latest.event_id
        and wait_searchable(clients[-1], latest.event_id, latest.event_time, timeout=600.0)
    ):
        final_lag = time.monotonic() - latest.acked_at
    for client in clients:
        client.close()
    result: dict[str, Any] = {
        "elapsed": elapsed,
        "accepted": sum(f.accepted for f in figures),
        "failed": sum(f.failed for f in figures),
        "errors": sum(f.errors for f in figures),
        "requests": sum(f.requests for f in figures),
        "latencies": [lat for f in figures for lat in f.latencies],
        "error_samples": [s for f in figures for s in f.error_samples][:5],
        "probe_lags": lags,
        "probe_polls": polls,
        "final_lag": final_lag,
    }
    arguments.out.write_bytes(orjson.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
