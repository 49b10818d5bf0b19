"""A helper process spoken to over a pipe: CPU-bound Python work done off the server's GIL.

The file encoder (`warehouse/encoder.py`) and the evaluation of insights and detections
(`evaluation.py`) each run a child `python -m <module>` that reads length-prefixed requests on
its stdin and writes one answer for each on its stdout. The child is started on the first
request, runs niced as asked, ignores Ctrl-C (its server decides when it stops) and ends when
its stdin closes: it never outlives the server, even one killed with `kill -9`, whose end of
the pipe the kernel closes. A child that died is reaped and replaced by the next request; what
to do with the request it died on is its caller's decision. A caller that gives `ask` a timeout
has a child that does not answer in time killed (`_Watchdog`), so a hung child is a dead one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

_LENGTH = struct.Struct("<Q")


class HelperProcess:
    """One child `python -m module *arguments`, started when first asked; not thread-safe (the
    caller holds a lock or asks from one thread)."""

    def __init__(
        self,
        module: str,
        arguments: Sequence[str] = (),
        first: bytes | None = None,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self._command = [sys.executable, "-m", module, *arguments]
        self._first = first  # sent to each child as it starts, unanswered (its settings)
        self._environment = dict(environment or {})  # the child's, over the server's own
        self._child: subprocess.Popen[bytes] | None = None
        self._watchdog: _Watchdog | None = None

    def ask(self, request: bytes | Sequence[bytes], timeout: float | None = None) -> bytes:
        """Send `request` (bytes, or parts sent one after another as one message) and wait for
        its answer (the wait releases the GIL); a child that ended since the last request is
        replaced first. EOFError or OSError when the child dies meanwhile, TimeoutError (an
        OSError) when it gave no answer within `timeout` seconds and was killed: the caller
        stops it (`stop`) and decides what becomes of the request."""
        if timeout is None:
            return self._ask(request)
        if self._watchdog is None:
            self._watchdog = _Watchdog()
        with self._watchdog.armed(self, timeout):
            try:
                return self._ask(request)
            except (EOFError, OSError) as failed:
                if self._watchdog.fired:
                    raise TimeoutError(f"no answer within {timeout:g} s") from failed
                raise

    def _ask(self, request: bytes | Sequence[bytes]) -> bytes:
        child = self._child
        if child is not None and child.poll() is not None:
            self.stop()  # ended since the last request: its pipes are closed, it is reaped
            child = None
        if child is None:
            child = self._child = _start(self._command, self._environment)
            if self._first is not None:
                assert child.stdin is not None
                send(child.stdin, self._first)
        assert child.stdin is not None
        assert child.stdout is not None
        send(child.stdin, request)
        return receive(child.stdout)

    def pid(self) -> int | None:
        """The child's process id while it runs (for tests and benchmarks)."""
        child = self._child
        return child.pid if child is not None and child.poll() is None else None

    def kill(self) -> None:
        """Kill the child at once (it hung): the request waiting on it fails with EOFError."""
        child = self._child
        if child is not None:
            with contextlib.suppress(OSError):
                child.kill()

    def running(self) -> bool:
        """Whether a child was started and has not been stopped (it may have died since)."""
        return self._child is not None

    def stop(self) -> None:
        """Close the child's pipe, so that it ends by itself, and reap it."""
        child, self._child = self._child, None
        if child is None:
            return
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):  # a dead child's pipe refuses the flush
                    stream.close()
        try:
            child.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


class _Watchdog:
    """One thread that kills a helper whose answer is overdue, armed around each `ask` (a
    thread of its own for every request would cost more than most requests)."""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._helper: HelperProcess | None = None
        self._deadline = 0.0
        self.fired = False
        threading.Thread(target=self._watch, name="helper-watchdog", daemon=True).start()

    @contextlib.contextmanager
    def armed(self, helper: HelperProcess, seconds: float) -> Iterator[None]:
        """Kill `helper`'s child unless the block ends within `seconds`."""
        with self._wake:
            self._helper, self._deadline, self.fired = helper, time.monotonic() + seconds, False
            self._wake.notify()
        try:
            yield
        finally:
            with self._wake:
                self._helper = None

    def _watch(self) -> None:
        with self._wake:
            while True:
                if self._helper is None:
                    self._wake.wait()
                    continue
                overdue = self._deadline - time.monotonic()
                if overdue > 0:
                    self._wake.wait(overdue)
                    continue
                self.fired = True
                self._helper.kill()
                self._helper = None


def _start(command: list[str], environment: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """The child, importing this same trailhouse (its source first on PYTHONPATH)."""
    source = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, **environment}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH", "")]))
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)


def send(stream: IO[bytes], payload: bytes | Sequence[bytes]) -> None:
    """Write one message (its length, then its bytes: `payload`, or its parts one after another,
    never joined in memory) and flush it."""
    parts = [payload] if isinstance(payload, bytes) else payload
    stream.write(_LENGTH.pack(sum(map(len, parts))))
    for part in parts:
        stream.write(part)
    stream.flush()


def receive(stream: IO[bytes]) -> bytes:
    """The next message on the stream; EOFError when it ended (the other side is gone)."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        raise EOFError("the pipe closed")
    (size,) = _LENGTH.unpack(head)
    payload = stream.read(size)
    if len(payload) < size:
        raise EOFError("the pipe closed mid-message")
    return payload


def serve(
    answer: Callable[[bytes], bytes],
    niceness: int = 0,
    requests: IO[bytes] | None = None,
    answers: IO[bytes] | None = None,
    after: Callable[[], object] | None = None,
) -> None:
    """The child's loop: answer each request (stdin to stdout by default) until the pipe
    closes; `after` runs once each answer is sent (giving memory back)."""
    requests = requests if requests is not None else sys.stdin.buffer
    answers = answers if answers is not None else sys.stdout.buffer
    with contextlib.suppress(ValueError):  # not the main thread (tests): nothing to ignore
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when this ends
    if niceness > 0:
        with contextlib.suppress(OSError):
            os.nice(niceness)
    while True:
        try:
            request = receive(requests)
        except EOFError:
            return
        reply = answer(request)
        del request
        try:
            send(answers, reply)
        except BrokenPipeError:
            return
        del reply
        if after is not None:
            after()
