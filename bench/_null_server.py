"""Serve trailhouse's real HTTP stack over an event log that stores nothing.

Usage: `python bench/_null_server.py --data-dir D --port P`. Accounts and keys live in the
data directory's real metadata store (create them with `trailhouse account create`); only the
event log is replaced, so the figure is the HTTP + signature + parse + validation ceiling.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

from _null_log import NullEventLog
from trailhouse.api.server import run_server
from trailhouse.events.ingest import IngestService
from trailhouse.events.lookup import LookupService
from trailhouse.runtime import open_services
from trailhouse.settings import Settings
from trailhouse.store import Stores


def main() -> int:
    """Run the null server until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--database-url", default="")
    arguments = parser.parse_args()
    settings = Settings.load(
        {
            "data_dir": arguments.data_dir,
            "database_url": arguments.database_url,
            "port": arguments.port,
            "host": arguments.host,
            "lookup_rate_per_second": 0.0,
            "purge_interval_seconds": 86400.0,
            "log_level": "warning",
        },
        environ={},
    )
    logging.basicConfig(level=logging.WARNING)
    # Every service as `trailhouse serve` builds it, then the event path re-pointed at the
    # null log: whatever services are added later, only the storage step differs.
    real = open_services(settings)
    real.stores.events.close()
    log = NullEventLog()
    services = dataclasses.replace(
        real,
        stores=Stores(events=log, metadata=real.stores.metadata),
        ingest=IngestService(settings, log, real.accounts.account_exists),
        lookup=LookupService(log, settings.retention_days, settings.clock_skew_seconds),
    )
    url = f"http://{settings.host}:{settings.port}"
    run_server(services, on_started=lambda: print(f"null server on {url}", flush=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
