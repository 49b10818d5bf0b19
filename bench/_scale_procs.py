"""The scale benchmark's processes and schemas: every one it starts is torn down at the end.

A `Cluster` starts `trailhouse serve` and `trailhouse deliver` processes (each in its own process
group, so a kill reaches whatever they started), runs the CLI against a fresh PostgreSQL schema,
and on `close()` stops every process still running and drops every schema it created, whatever
happened before. CPU accounting reads `/proc` (psutil is not a dependency).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg import sql

from _servers import SERVER_ENV, Credentials, python, wait_healthy

TICK = os.sysconf("SC_CLK_TCK")


def say(message: str) -> None:
    """Progress on stderr, so stdout holds only the figures."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def schema_url(base: str, schema: str) -> str:
    """`base` with its search_path set to `schema` (as docs/deploy.md selects a schema)."""
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}options=-csearch_path%3D{schema}"


class Cluster:
    """The processes and schemas of one benchmark run; `close()` removes them all."""

    def __init__(self, database_url: str, workdir: Path, tag: str) -> None:
        self.database_url = database_url
        self.workdir = workdir
        # Each run's process logs, in place of the last run's.
        self.logs = workdir / "logs"
        shutil.rmtree(self.logs, ignore_errors=True)
        self.logs.mkdir(parents=True)
        # libpq's application_name for every connection the run's processes open, so that
        # their PostgreSQL backends can be found in pg_stat_activity (CPU accounting).
        self.tag = tag
        self._processes: list[subprocess.Popen[Any]] = []
        self._schemas: dict[str, str] = {}  # URL → schema name

    # --- schemas ------------------------------------------------------------------------------

    def new_schema(self, label: str) -> str:
        """Create a fresh schema; the URL that selects it."""
        name = f"th_scale_{label}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        url = schema_url(self.database_url, name)
        self._schemas[url] = name
        return url

    def drop_schema(self, url: str) -> None:
        """Drop the schema `url` selects (the processes using it must be gone)."""
        name = self._schemas.pop(url, None)
        if name is not None:
            with psycopg.connect(self.database_url, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name))
                )

    def drop_schemas(self) -> None:
        """Drop every schema this run created and has not dropped yet."""
        for url in list(self._schemas):
            self.drop_schema(url)

    # --- processes ----------------------------------------------------------------------------

    def env(self, url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of a trailhouse process of this run on `url`."""
        return {
            **os.environ,
            **SERVER_ENV,
            "TRAILHOUSE_DATABASE_URL": url,
            "PGAPPNAME": self.tag,
            **(extra or {}),
        }

    def cli(self, url: str, data_dir: Path, *arguments: str) -> dict[str, Any]:
        """Run `trailhouse <arguments> --data-dir <data_dir>` on `url`; its JSON answer."""
        command = [python(), "-m", "trailhouse", *arguments, "--data-dir", str(data_dir)]
        done = subprocess.run(
            command, env=self.env(url), capture_output=True, check=False, timeout=300
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(arguments)} failed: {done.stderr.decode()[-2000:]}")
        text = done.stdout.strip()
        return orjson.loads(text) if text.startswith(b"{") else {}

    def create_account(self, url: str, data_dir: Path) -> Credentials:
        """A new account on `url`, made with `trailhouse account create`."""
        made = self.cli(url, data_dir, "account", "create")
        return Credentials(made["AccountId"], made["AccessKeyId"], made["AccessKeySecret"])

    def spawn(
        self, command: Sequence[str], log_path: Path, env: dict[str, str], **popen: Any
    ) -> subprocess.Popen[Any]:
        """Start a process in a process group of its own, remembered for `close()`."""
        log = log_path.open("ab")
        try:
            process = subprocess.Popen(
                list(command),
                stdout=popen.pop("stdout", log),
                stderr=log,
                env=env,
                start_new_session=True,
                **popen,
            )
        finally:
            log.close()
        self._processes.append(process)
        return process

    def serve(
        self, url: str, data_dir: Path, port: int, extra_env: dict[str, str] | None = None
    ) -> subprocess.Popen[Any]:
        """`trailhouse serve --no-delivery` on `port`, once /health answers."""
        command = [python(), "-m", "trailhouse", "serve", "--data-dir", str(data_dir)]
        command += ["--port", str(port), "--no-delivery"]
        log_path = self.logs / f"serve-{port}.log"
        process = self.spawn(command, log_path, self.env(url, extra_env))
        wait_healthy(process, port, log_path)
        return process

    def deliver(
        self, url: str, data_dir: Path, extra_env: dict[str, str], label: str, hostname: str = ""
    ) -> subprocess.Popen[Any]:
        """`trailhouse deliver`; with `hostname`, in a UTS namespace of its own (as on another
        host: the other workers cannot see that its process is gone)."""
        command = [python(), "-m", "trailhouse", "deliver", "--data-dir", str(data_dir)]
        if hostname:
            # unshare execs sh, which execs python: the Popen's pid is the worker's.
            command = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', hostname]
            command += [python(), "-m", "trailhouse", "deliver", "--data-dir", str(data_dir)]
        log_path = self.logs / f"deliver-{label}.log"
        return self.spawn(command, log_path, self.env(url, extra_env))

    def stop(self, processes: Iterable[subprocess.Popen[Any]], timeout: float = 60.0) -> None:
        """SIGTERM the processes' groups, wait, then SIGKILL whatever is left."""
        chosen = [p for p in processes if p.poll() is None]
        for process in chosen:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in chosen:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
        for process in chosen:
            _signal_group(process, signal.SIGKILL)  # anything the process left in its group

    def close(self) -> None:
        """Stop every process of the run and drop its schemas."""
        try:
            self.stop(self._processes)
        finally:
            self._processes.clear()
            self.drop_schemas()


def _signal_group(process: subprocess.Popen[Any], number: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, number)


def can_unshare() -> bool:
    """Whether this user may start a process in a UTS namespace of its own (root may)."""
    try:
        done = subprocess.run(["unshare", "--uts", "true"], capture_output=True, check=False)
    except FileNotFoundError:
        return False
    return done.returncode == 0


# --- CPU accounting ---------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (all its threads); None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores: not idle, not waiting on IO)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle, iowait = fields[3], fields[4]
    return (sum(fields[:8]) - idle - iowait) / TICK


def postgres_pids() -> dict[int, str]:
    """Every process named postgres, with its command line (backends show their client)."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def tagged_backends(database_url: str, tag: str) -> set[int]:
    """The PostgreSQL backends whose application_name is `tag` (this run's processes)."""
    with psycopg.connect(database_url, autocommit=True, application_name="scale-monitor") as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (tag,)
        ).fetchall()
    return {int(pid) for (pid,) in rows}


@dataclass(frozen=True, slots=True)
class CpuSample:
    """CPU seconds so far of the processes of interest, and of the whole machine, at `at`."""

    at: float
    machine: float
    servers: dict[int, float]
    postgres: dict[int, float]
    mine: frozenset[int]  # this run's backends among `postgres`
    load: dict[int, float]


def sample_cpu(
    database_url: str, tag: str, servers: Iterable[int], load: Iterable[int] = ()
) -> CpuSample:
    """CPU so far of `servers`, `load`, every postgres process, and the machine."""
    mine = tagged_backends(database_url, tag)
    return CpuSample(
        at=time.monotonic(),
        machine=machine_busy_seconds(),
        servers=_cpu_of(servers),
        postgres=_cpu_of(postgres_pids()),
        mine=frozenset(mine),
        load=_cpu_of(load),
    )


def _cpu_of(pids: Iterable[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        seconds = cpu_seconds(pid)
        if seconds is not None:
            out[pid] = seconds
    return out


@dataclass(frozen=True, slots=True)
class CpuUse:
    """CPU seconds used between two samples, by who used them."""

    seconds: float  # wall time between the samples
    servers: float
    postgres_ours: float  # backends of this run's connections
    postgres_other: float  # other postgres processes: WAL writer, checkpointer, other clients
    load: float
    machine: float

    def cores(self, value: float) -> float:
        """`value` CPU seconds as cores kept busy over the interval."""
        return value / self.seconds if self.seconds else 0.0


def cpu_between(before: CpuSample, after: CpuSample, load_seconds: float | None = None) -> CpuUse:
    """What each group used from `before` to `after`. Processes that started in between count
    from zero; those that ended in between are missed. `load_seconds` replaces the load's
    figure when it was taken another way (rusage of reaped children)."""
    mine = before.mine | after.mine
    ours = sum(
        _delta(before.postgres, after.postgres, pid) for pid in after.postgres if pid in mine
    )
    everything = sum(_delta(before.postgres, after.postgres, pid) for pid in after.postgres)
    load = sum(_delta(before.load, after.load, pid) for pid in after.load)
    return CpuUse(
        seconds=after.at - before.at,
        servers=sum(_delta(before.servers, after.servers, pid) for pid in after.servers),
        postgres_ours=ours,
        postgres_other=everything - ours,
        load=load if load_seconds is None else load_seconds,
        machine=after.machine - before.machine,
    )


def _delta(before: dict[int, float], after: dict[int, float], pid: int) -> float:
    return after[pid] - before.get(pid, 0.0)
