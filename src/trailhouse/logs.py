"""Logging for the long-running commands: plain lines for a terminal, JSON lines for collectors.

With `log_format = json` every record is one JSON object per line: `time` (ISO 8601 UTC with
milliseconds), `level`, `logger`, `message`, any `extra={...}` fields given to the call, and
`exception` when there is one, so that log collectors need no parsing rules.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from trailhouse.errors import SettingsError
from trailhouse.settings import Settings

_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# What every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's copy of the message with terminal colours
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        moment = time.gmtime(record.created)
        document: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", moment) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        document.update((key, value) for key, value in vars(record).items() if key not in _STANDARD)
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(document, default=str).decode()


def configure_logging(settings: Settings) -> None:
    """Send the process's log to stderr at `log_level`, as text or JSON (`log_format`)."""
    handler = logging.StreamHandler()
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    elif settings.log_format == "text":
        handler.setFormatter(logging.Formatter(_TEXT))
    else:
        raise SettingsError(f"log_format {settings.log_format!r}: use text or json")
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler], force=True)
