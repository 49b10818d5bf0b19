"""Run `trailhouse serve` with a sampling profiler inside it, for the benchmarks' `--profile`.

Usage: `python bench/_sampled_server.py OUT serve --data-dir D --port P`. py-spy is not
installed here, so a thread samples `sys._current_frames()` every `INTERVAL` seconds. SIGUSR1
starts a window (counts reset); SIGUSR2 ends it and writes `OUT` (text): each thread's CPU
seconds in the window (from `/proc/self/task/<tid>/stat`, exact), the cyclic garbage
collector's runs and CPU seconds per generation (`gc.callbacks`), then the share of busy
samples by leaf function and by function anywhere on the stack. A sample of a thread waiting
(a condition, a queue, `select`) is idle and not counted. Sampling takes the GIL, so shares
are approximate; the per-thread CPU is not.
"""

from __future__ import annotations

import collections
import gc
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

INTERVAL = 0.005
_IDLE_LEAVES = {
    ("threading.py", "wait"),
    ("threading.py", "_wait_for_tstate_lock"),
    ("selectors.py", "select"),
    ("queue.py", "get"),
    ("base_events.py", "_run_once"),  # the event loop between callbacks (selector waits)
}
_TICKS = os.sysconf("SC_CLK_TCK")


def _where(frame: FrameType) -> tuple[str, str]:
    code = frame.f_code
    return (os.path.basename(code.co_filename), code.co_name)


def _thread_cpu() -> dict[str, float]:
    """CPU seconds of each live Python thread, by name (same-named threads added up)."""
    found: dict[str, float] = collections.defaultdict(float)
    for thread in threading.enumerate():
        tid = thread.native_id
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = thread.name.split("_")[0] if thread.name.startswith("AnyIO") else thread.name
        found[name.rstrip("0123456789-() ")] += (int(fields[11]) + int(fields[12])) / _TICKS
    return found


class Sampler:
    """Stack samples of every thread but its own, within windows the signals open and close."""

    def __init__(self, out: Path) -> None:
        self._out = out
        self._on = False
        self._leaf: collections.Counter[str] = collections.Counter()
        self._inclusive: collections.Counter[str] = collections.Counter()
        self._by_thread: collections.Counter[str] = collections.Counter()
        self._samples = 0
        self._cpu_start: dict[str, float] = {}
        self._process_start = 0.0
        self._wall_start = 0.0
        self._windows = 0
        # Time spent in the cyclic garbage collector, per generation, within the window.
        self._gc_seconds: collections.Counter[int] = collections.Counter()
        self._gc_runs: collections.Counter[int] = collections.Counter()
        self._gc_began = 0.0
        gc.callbacks.append(self._gc)
        threading.Thread(target=self._run, name="bench-sampler", daemon=True).start()

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_began = time.thread_time()
        elif self._on:
            self._gc_seconds[info["generation"]] += time.thread_time() - self._gc_began
            self._gc_runs[info["generation"]] += 1

    def start(self, *_: object) -> None:
        self._leaf.clear()
        self._inclusive.clear()
        self._by_thread.clear()
        self._samples = 0
        self._gc_seconds.clear()
        self._gc_runs.clear()
        self._cpu_start = _thread_cpu()
        times = os.times()
        self._process_start = times.user + times.system
        self._wall_start = time.monotonic()
        self._on = True

    def stop(self, *_: object) -> None:
        self._on = False
        cpu = _thread_cpu()
        times = os.times()
        wall = time.monotonic() - self._wall_start
        process = times.user + times.system - self._process_start
        lines = [f"window {wall:.1f} s, process CPU {process:.1f} s ({process / wall:.2f} cores)"]
        lines.append("thread CPU seconds in the window (share of the process's CPU):")
        deltas = {name: cpu[name] - self._cpu_start.get(name, 0.0) for name in cpu}
        for name, seconds in sorted(deltas.items(), key=lambda kv: -kv[1]):
            if seconds > 0:
                lines.append(f"  {seconds:8.2f} s {seconds / max(process, 1e-9):6.1%}  {name}")
        collected = ", ".join(
            f"gen{g}: {self._gc_runs[g]} runs {self._gc_seconds[g]:.2f} s" for g in range(3)
        )
        lines.append(f"garbage collector CPU in the window: {collected}")
        busy = max(self._samples, 1)
        lines.append(f"busy samples: {self._samples}; by thread:")
        lines += [f"  {n / busy:6.1%}  {k}" for k, n in self._by_thread.most_common(20)]
        lines.append("by leaf function (self):")
        lines += [f"  {n / busy:6.1%}  {k}" for k, n in self._leaf.most_common(45)]
        lines.append("by function anywhere on the stack (inclusive):")
        lines += [f"  {n / busy:6.1%}  {k}" for k, n in self._inclusive.most_common(90)]
        path = self._out.with_name(f"{self._out.name}.{self._windows}")
        path.write_text("\n".join(lines) + "\n")
        self._windows += 1

    def _run(self) -> None:
        me = threading.get_ident()
        names = {}
        while True:
            time.sleep(INTERVAL)
            if not self._on:
                continue
            if len(names) != threading.active_count():
                names = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if ident == me or _where(frame) in _IDLE_LEAVES:
                    continue
                self._samples += 1
                name = names.get(ident, "?")
                self._by_thread[name.rstrip("0123456789-() ")] += 1
                file, func = _where(frame)
                self._leaf[f"{file}:{func}"] += 1
                seen = set()
                current: FrameType | None = frame
                while current is not None:
                    key = "{}:{}".format(*_where(current))
                    if key not in seen:
                        seen.add(key)
                        self._inclusive[key] += 1
                    current = current.f_back


def main() -> int:
    """Start the sampler, then run the trailhouse command given after OUT."""
    out = Path(sys.argv[1])
    sampler = Sampler(out)
    signal.signal(signal.SIGUSR1, sampler.start)
    signal.signal(signal.SIGUSR2, sampler.stop)
    from trailhouse.cli import main as trailhouse

    return trailhouse(sys.argv[2:])


if __name__ == "__main__":
    raise SystemExit(main())
