"""A helper child for test_helper_process.py: answers each request with its bytes reversed,
after sleeping the seconds a request `sleep:<seconds>` names (how a child that hangs looks)."""

from __future__ import annotations

import time

from trailhouse.helper_process import serve


def answer(request: bytes) -> bytes:
    if request.startswith(b"sleep:"):
        time.sleep(float(request.split(b":", 1)[1]))
    return request[::-1]


if __name__ == "__main__":
    serve(answer)
