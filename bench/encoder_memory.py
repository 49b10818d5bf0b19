"""The file encoder's helper process alone: its memory and CPU on delivery-sized batches.

Draws `--mb` MB of event JSON from the shared generator (the delivery benchmark's events), then
encodes it `--batches` times through `FileEncoder` with the helper at the caller's priority,
sampling the helper every 20 ms: its resident, anonymous and proportional (PSS) memory at start,
between batches and at its peak, and its CPU seconds per batch. The caller's own encoding is
replaced by a failure, so a helper that did not answer shows as an error, never as a figure.
Compare two trees by PYTHONPATH: `PYTHONPATH=src .venv/bin/python bench/encoder_memory.py`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from _events import DEFAULT_GEN_DIR, load_generator_class
from trailhouse.warehouse import encoder as encoder_module
from trailhouse.warehouse.encoder import FileEncoder


def memory(pid: int) -> dict[str, float]:
    """VmRSS, VmHWM and RssAnon (status) and Pss (smaps_rollup) of a process, in MB."""
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(":", 1)[0]
        if key in {"VmRSS", "VmHWM", "RssAnon"}:
            found[key] = int(line.split()[1]) / 1024
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            found["Pss"] = int(line.split()[1]) / 1024
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bodies_of(gen_dir: Path, megabytes: float, seed: int) -> list[bytes]:
    """At least `megabytes` MB of event JSON from the shared generator."""
    generator = load_generator_class(gen_dir)(
        seed=seed, start=dt.datetime.now(dt.UTC) - dt.timedelta(days=1), days=1
    )
    bodies: list[bytes] = []
    size = 0
    while size < megabytes * 1024 * 1024:
        for event in generator.batch(1000):
            bodies.append(orjson.dumps(event))
            size += len(bodies[-1])
    return bodies


def _not_here(*_: Any) -> None:
    raise SystemExit("the helper did not encode a batch (the caller was asked to)")


def main() -> int:
    """Run the batches and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=float, default=16.0, help="MB of JSON per batch")
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--gen-dir", type=Path, default=DEFAULT_GEN_DIR)
    args = parser.parse_args()
    bodies = bodies_of(args.gen_dir, args.mb, args.seed)
    recorded_by: list[str | None] = [None] * len(bodies)
    size = sum(map(len, bodies))
    print(f"{len(bodies):,} events, {size / 1e6:.1f} MB of JSON per batch")
    encoder = FileEncoder(process_from=1, niceness=0)
    encoder_module.encode = _not_here  # type: ignore[assignment]  # the helper, or nothing
    samples: list[dict[str, float]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.02):
            pid = encoder.helper_pid()
            if pid is not None:
                try:
                    samples.append(memory(pid))
                except OSError:
                    continue

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.perf_counter()
    encoder.encode(bodies[:1000], recorded_by[:1000])
    first = time.perf_counter() - started
    pid = encoder.helper_pid()
    assert pid is not None
    time.sleep(0.5)
    at_start = memory(pid)
    cpu = cpu_seconds(pid)
    walls = []
    for _ in range(args.batches):
        began = time.perf_counter()
        encoded = encoder.encode(bodies, recorded_by)
        walls.append(time.perf_counter() - began)
        time.sleep(0.5)
    cpu = (cpu_seconds(pid) - cpu) / args.batches
    between = memory(pid)
    stop.set()
    watcher.join()
    encoder.close()
    print(
        f"file: {len(encoded.data) / 1e6:.1f} MB; first 1,000 events (start included) {first:.2f} s"
    )
    print(f"batch wall seconds: {' '.join(f'{wall:.2f}' for wall in walls)}")
    print(f"helper CPU per batch: {cpu:.3f} s")
    print("helper memory, MB:      resident  anonymous   PSS")
    for name, figures in [
        ("after a 1,000-event batch", at_start),
        ("between batches", between),
    ]:
        print(
            f"  {name:26} {figures['VmRSS']:7.0f} {figures['RssAnon']:9.0f} {figures['Pss']:7.0f}"
        )
    peak = {key: max(sample[key] for sample in samples) for key in ("VmRSS", "RssAnon", "Pss")}
    print(
        f"  {'peak (sampled every 20 ms)':26} {peak['VmRSS']:7.0f} {peak['RssAnon']:9.0f} "
        f"{peak['Pss']:7.0f}   (VmHWM {between['VmHWM']:.0f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
