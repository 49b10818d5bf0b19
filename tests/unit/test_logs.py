"""Log lines as JSON for collectors, with the fields a call passes in `extra`."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

import orjson
import pytest

from server_process import free_port, start_serving
from trailhouse.errors import SettingsError
from trailhouse.logs import JsonFormatter, configure_logging
from trailhouse.settings import Settings


def test_a_record_becomes_one_json_object() -> None:
    record = logging.LogRecord("trailhouse.x", logging.WARNING, "f.py", 1, "%d lost", (3,), None)
    record.trail = "audit-trail"
    line = JsonFormatter().format(record)
    document = orjson.loads(line)
    assert document["level"] == "warning" and document["logger"] == "trailhouse.x"
    assert document["message"] == "3 lost" and document["trail"] == "audit-trail"
    assert document["time"].endswith("Z") and "\n" not in line


def test_an_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="use text or json"):
        configure_logging(Settings.load({"data_dir": tmp_path, "log_format": "xml"}, environ={}))


def test_a_server_logs_json_lines(tmp_path: Path) -> None:
    """A real server with log_format json: every line it writes parses, uvicorn's too."""
    port = free_port()
    command = [sys.executable, "-m", "trailhouse", "serve", "--data-dir", str(tmp_path)]
    environment = {**os.environ, "TRAILHOUSE_LOG_FORMAT": "json"}
    log = tmp_path / "serve.log"
    server = start_serving([*command, "--port", str(port)], port, log, environment)
    server.send_signal(signal.SIGTERM)
    assert server.wait(60) == 0
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    # stdout (the one "trailhouse is serving" announcement) shares the file; stderr is the log
    logged = [line for line in lines if not line.startswith("trailhouse is serving")]
    assert len(logged) == len(lines) - 1
    documents = [orjson.loads(line) for line in logged]
    assert not any("color_message" in d for d in documents)
    assert any(d["message"] == "trailhouse stopped" for d in documents)
    assert any(d["logger"].startswith("uvicorn") for d in documents)
