"""One `Settings` object, read once at start-up and passed explicitly to every service.

Precedence, lowest first: the defaults below < a TOML file (`--config`, else
`<data_dir>/trailhouse.toml` when it exists) < `TRAILHOUSE_<FIELD>` environment variables <
command-line flags. Every field carries its help text, which `trailhouse settings` prints.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trailhouse.errors import SettingsError

ENV_PREFIX = "TRAILHOUSE_"


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    """Everything trailhouse can be configured with; immutable once read."""

    data_dir: Path = _setting(
        Path("./trailhouse-data"), "Folder for the embedded store (SQLite, event log, warehouse)."
    )
    database_url: str = _setting(
        "",
        "Empty for the embedded SQLite store under data_dir, or postgresql://… to share one "
        "PostgreSQL between several trailhouse processes.",
    )
    host: str = _setting("127.0.0.1", "Address the HTTP server listens on.")
    port: int = _setting(8080, "Port the HTTP server listens on.")
    region: str = _setting(
        "cn-hangzhou", "Region this server records events for when a request names none."
    )
    regions: str = _setting(
        "cn-hangzhou,cn-shanghai,cn-beijing,ap-southeast-1,us-west-1,eu-central-1",
        "The regions this installation serves, comma-separated; `region` must be one of them.",
    )
    region_ports: str = _setting(
        "",
        "Extra listening ports that each serve one region, e.g. cn-shanghai=8081,us-west-1=8082 "
        "(the main port serves `region`). The official SDK sends no region, so a region is "
        "reached through its own port, or by a RegionId parameter on any port.",
    )
    retention_days: int = _setting(
        90, "Days of event history kept searchable by LookupEvents before the purge."
    )
    findings_retention_days: int = _setting(
        90,
        "Days detection findings are kept (ListFindings) before the purge; insight events "
        "follow retention_days, as the event history does.",
    )
    retention_hold_days: int = _setting(
        7,
        "Days past retention_days that events an enabled trail has not delivered yet are kept; "
        "after that they are deleted and counted as lost in the trail's status.",
    )
    purge_interval_seconds: float = _setting(
        3600.0, "How often the server purges events older than retention_days."
    )
    clock_skew_seconds: int = _setting(
        900, "Largest difference between a request's signed time and the server clock."
    )
    max_events_per_call: int = _setting(1000, "Most events one PutEvents call may carry.")
    max_body_bytes: int = _setting(5 * 1024 * 1024, "Largest PutEvents request body, in bytes.")
    max_event_bytes: int = _setting(256 * 1024, "Largest single event, in bytes of JSON.")
    switch_interval_ms: float = _setting(
        1.0,
        "How long, in ms, the server's busy background threads (the observers of insights "
        "and detections, the indexer) may keep Python's GIL from a request thread waiting for "
        "it (sys.setswitchinterval; Python's default is 5): each PutEvents waits for it many "
        "times between its I/O (docs/detections.md).",
    )
    lookup_rate_per_second: float = _setting(
        50.0,
        "LookupEvents calls allowed per account per second (ActionTrail allows 2); 0 turns the "
        "limit off.",
    )
    group_commit_seconds: float = _setting(
        0.002,
        "How long the event log waits to gather concurrent PutEvents calls into one fsync.",
    )
    log_segment_bytes: int = _setting(
        64 * 1024 * 1024,
        "Size past which the embedded event log starts a new segment file; purges delete "
        "whole segments.",
    )
    tail_mb: int = _setting(
        128,
        "MB of memory at most for acknowledged events the embedded index has not reached yet, "
        "kept so that LookupEvents finds them at once (~680 B per 1.3 KB event); near it, "
        "PutEvents waits for the index to make room (docs/storage.md).",
    )
    index_mmap_mb: int = _setting(
        16,
        "MB of each embedded day file that each of its connections maps (SQLite mmap_size): "
        "mapped pages count in the server's resident memory; past them, pages are read into "
        "SQLite's own cache (16 MB per connection). The indexer's connection maps nothing and "
        "has 16 MB plus this much as its cache instead: more indexes a large day with less CPU "
        '(docs/storage.md, "Memory").',
    )
    index_process: bool = _setting(
        True,
        "Write the embedded day files in a process of its own, so that indexing does not hold "
        "the server's GIL while PutEvents waits for it (off: on the server's indexer thread; "
        'docs/storage.md, "The index process").',
    )
    log_level: str = _setting("info", "Logging level: debug, info, warning or error.")
    log_format: str = _setting(
        "text", "Log lines as text, or json: one JSON object per line for log collectors."
    )
    warehouse_dir: str = _setting(
        "", "Folder of the warehouse's Parquet files; empty means <data_dir>/warehouse."
    )
    sql_engine: str = _setting("duckdb", "Engine that runs MaxCompute SQL: duckdb or spark.")
    spark_master: str = _setting(
        "local[2]",
        "Spark master for the spark engine: local[N], spark://host:port, or sc://host:port "
        "for Spark Connect.",
    )
    payg_quota_regions: str = _setting(
        "",
        "Comma-separated regions where accounts have a pay-as-you-go MaxCompute quota; empty "
        "means every region this server serves.",
    )
    payg_threads: int = _setting(2, "Threads one SQL job gets under a pay-as-you-go quota.")
    payg_memory_gb: float = _setting(4.0, "Memory one SQL job gets under a pay-as-you-go quota.")
    payg_concurrency: int = _setting(
        2, "SQL jobs of one pay-as-you-go quota that run at once; the rest wait in its queue."
    )
    sql_queue_limit: int = _setting(
        32, "SQL jobs that may wait in one quota's queue before new ones are refused."
    )
    sql_result_rows: int = _setting(10_000, "Most rows a SQL job keeps as its result.")
    sql_memory_budget_gb: float = _setting(
        0.0,
        "Memory all running SQL jobs of this process may hold together; a job whose quota's "
        "memory does not fit waits in its queue. 0 means half of this machine's memory.",
    )
    sql_job_seconds: float = _setting(
        1800.0, "Longest a SQL job may run (queue time not counted) before it is stopped."
    )
    sql_plan_seconds: float = _setting(
        10.0,
        "Longest the planning of one SQL statement (parse, resolve, fold constants, bind) may "
        "take before the statement is refused.",
    )
    sql_plan_concurrency: int = _setting(
        2, "SQL statements planned at once; others wait for a planner up to sql_plan_seconds."
    )
    storage_price_per_gb_day: float = _setting(
        0.0006, "USD per GB-day of warehouse storage beyond the free allowance."
    )
    storage_free_gb: float = _setting(1.0, "GB of storage per project that is not billed.")
    sql_price_per_gb: float = _setting(
        0.0438, "USD per GB of input scanned by SQL, before the complexity factor."
    )
    cu_price_per_month: float = _setting(22.0, "USD per CU per month of a subscription quota.")
    delivery_enabled: bool = _setting(
        True, "Run the delivery engine inside `trailhouse serve` (off: run `trailhouse deliver`)."
    )
    delivery_flush_seconds: float = _setting(
        1.0, "A trail's batch is committed once its oldest event has waited this long."
    )
    delivery_batch_events: int = _setting(50_000, "Most events read from the log per batch.")
    delivery_batch_mb: float = _setting(
        16.0,
        "Most event JSON (MB) read from the log per batch, whatever the events' size: a batch "
        "holds several times this in memory while it is written.",
    )
    delivery_encode_process_events: int = _setting(
        1_000,
        "Delivery batches of at least this many events have their Parquet file encoded in a "
        "helper process, so that delivery does not hold the server's GIL while PutEvents waits "
        "for it (0: always in the server).",
    )
    delivery_encode_niceness: int = _setting(
        10,
        "How much nicer than the server the encoder's helper runs: when PutEvents keeps every "
        "core busy, delivery yields and catches up later (0: same priority, delivery keeps its "
        "pace and PutEvents pays for it).",
    )
    delivery_poll_seconds: float = _setting(
        0.2, "How often an idle delivery engine looks for new events."
    )
    delivery_retry_seconds: float = _setting(
        5.0, "How soon a trail whose delivery failed is tried again."
    )
    delivery_session_seconds: float = _setting(
        60.0,
        "How long a trail's destination check (project, role trust, delivery policy) holds "
        "before it is made again.",
    )
    delivery_lease_seconds: float = _setting(
        15.0,
        "How long a delivery worker's lease on a trail lasts unrenewed: when a worker dies, "
        "another takes its trails within about this long.",
    )
    webhook_allow_private: bool = _setting(
        False,
        "Let findings webhooks post to loopback and private addresses (127.0.0.0/8, 10.0.0.0/8, "
        "172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, fc00::/7, ::1): on for a receiver inside "
        "your network. Link-local and cloud metadata addresses are refused all the same.",
    )
    detections_process: bool = _setting(
        True,
        "Evaluate detection rules and insights in a helper process, started once some account "
        "enables one, so that they do not hold the server's GIL while PutEvents waits for it "
        "(off: on the server's observer thread).",
    )
    detections_process_timeout_seconds: float = _setting(
        60.0,
        "A detections helper that has not answered a batch within this many seconds is "
        "killed and the batch asked again of a new one (then evaluated in the server).",
    )
    insights_bucket_seconds: int = _setting(
        60, "Insights count each series per bucket of this many seconds of eventTime (a minute)."
    )
    insights_baseline_buckets: int = _setting(
        1440, "Insights compare a bucket with the mean of this many buckets before it (a day)."
    )
    insights_min_baseline_buckets: int = _setting(
        60, "Buckets of history a series needs before an insight may start on it (an hour)."
    )
    insights_factor: float = _setting(
        4.0, "A bucket is unusual above this many times its baseline's mean (and its spread)."
    )
    insights_min_count: int = _setting(
        15, "A rate insight starts only on a bucket with more than this many calls or errors."
    )
    insights_idle_seconds: float = _setting(
        120.0, "A series idle this long (wall clock) closes its bucket and ends its insight."
    )
    digest_interval_seconds: float = _setting(
        3600.0, "Each trail's signed digest covers this long an interval (empty ones too)."
    )
    digest_grace_seconds: float = _setting(
        30.0, "How long after an interval ends its digest is made, so late commits are in it."
    )
    signing_key_days: float = _setting(
        90.0, "Days a region's digest signing key is used before a new one replaces it."
    )
    compaction_min_files: int = _setting(
        32, "A partition with this many small files old enough is merged into one file."
    )
    compaction_age_seconds: float = _setting(
        7200.0, "Files are compacted once they are this old (after their digest, normally)."
    )
    compaction_grace_seconds: float = _setting(
        600.0, "How long replaced files stay for queries planned before the swap."
    )
    compaction_interval_seconds: float = _setting(600.0, "How often partitions are checked.")
    storage_sample_seconds: float = _setting(
        3600.0, "How often each project's stored bytes are sampled for billing."
    )
    console_session_seconds: int = _setting(
        8 * 3600,
        "How long a web console sign-in lasts, in seconds; then the user signs in again "
        "(the session cookie's Max-Age, checked by the server too).",
    )
    console_signin_per_minute: int = _setting(
        20,
        "Console sign-in attempts allowed per source address per minute (an IPv6 address "
        "counts by its /64), shared by every process of the store; 0 turns the limit off.",
    )
    console_signin_failures: int = _setting(
        5,
        "Failed console sign-ins allowed per AccessKey ID within console_signin_window_seconds; "
        "then sign-in with that key is refused until the window ends. 0 turns the lock off.",
    )
    console_signin_window_seconds: int = _setting(
        900,
        "The window of failed console sign-ins per AccessKey ID: it opens at the first failure, "
        "locks the key after console_signin_failures, and its failures are recorded as one "
        "aggregated ConsoleSignin event when it ends.",
    )

    @property
    def warehouse_path(self) -> Path:
        """Where the warehouse's projects live."""
        return Path(self.warehouse_dir) if self.warehouse_dir else self.data_dir / "warehouse"

    @classmethod
    def load(
        cls,
        overrides: Mapping[str, Any] | None = None,
        *,
        config_file: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Read the file, then the environment, then `overrides` (CLI flags); later wins."""
        environ = os.environ if environ is None else environ
        overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
        values: dict[str, Any] = {}
        from_env = _from_environment(environ)
        data_dir = Path(overrides.get("data_dir") or from_env.get("data_dir") or _DEFAULT_DATA_DIR)
        if config_file is None and (data_dir / "trailhouse.toml").is_file():
            config_file = data_dir / "trailhouse.toml"
        if config_file is not None:
            values.update(_from_file(config_file))
        values.update(from_env)
        values.update(overrides)
        return cls(**{name: _coerce(name, raw) for name, raw in values.items()})

    def describe(self) -> list[tuple[str, Any, str]]:
        """Each field as (name, current value, help text), for `trailhouse settings`."""
        return [
            (f.name, getattr(self, f.name), f.metadata["help"]) for f in dataclasses.fields(self)
        ]


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
_DEFAULT_DATA_DIR: Path = _FIELDS["data_dir"].default  # type: ignore[assignment]


def _from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    return {
        name: environ[ENV_PREFIX + name.upper()]
        for name in _FIELDS
        if environ.get(ENV_PREFIX + name.upper())
    }


def _from_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc}") from exc
    unknown = sorted(set(raw) - set(_FIELDS))
    if unknown:
        raise SettingsError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    return raw


def _coerce(name: str, raw: Any) -> Any:
    if name not in _FIELDS:
        raise SettingsError(f"unknown setting {name!r}")
    kind: type = type(_FIELDS[name].default)
    try:
        if kind is Path:
            return Path(raw)
        if kind is bool and isinstance(raw, str):
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        return kind(raw)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"setting {name}={raw!r} is not a valid {kind.__name__}") from exc
