"""Writes each trail's signed digests, one per interval, also for intervals with no events.

Digest n of a trail lists the data files of its table committed in [start, end): path, SHA-256,
rows, bytes, seq range, min/max eventTime. It links to digest n-1 by its SHA-256 and signature,
and is signed with the region's current key. It is written twice: as a JSON file in the table's
`_digests/<account id>/<trail name>` folder (`digest_path`: trails of two accounts may deliver
into one table), and as a row of the table `<table>_digest` (whose `event` column holds it),
committed with the trail's digest state in one transaction. The state (sequence, end, SHA-256)
is also kept in the metadata store and shown in GetTrailStatus, and signed with the time as an
anchor (`anchor.py`, `DigestAnchors`), so a deleted tail of digests is noticed: the newest digest
in the warehouse must be the one the status or an anchor names.

A digest is made once its interval ended `digest_grace_seconds` ago: a file is stamped with
its commit time just before the commit, so a late commit still lands in the right interval.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from trailhouse.delivery.destination import writer_role
from trailhouse.delivery.state import read_state
from trailhouse.durable import replace_file
from trailhouse.errors import ApiError, InvalidParameter, TerminalError, VersionConflict
from trailhouse.events.model import LoggedEvent
from trailhouse.events.recorder import TRAILHOUSE
from trailhouse.iam.arns import parse_project_arn
from trailhouse.integrity.anchor import SignedAnchor, anchor_path, make_anchor
from trailhouse.integrity.digest import FORMAT_VERSION, SignedDigest, digest_path, sign
from trailhouse.integrity.keys import SigningKeys
from trailhouse.settings import Settings
from trailhouse.store.documents import encode, read
from trailhouse.store.ports import DocumentWrite, MetadataStore
from trailhouse.trails.model import Trail
from trailhouse.trails.service import TrailService
from trailhouse.warehouse.model import DataFile, digest_table_name, table_scope
from trailhouse.warehouse.service import Warehouse

log = logging.getLogger(__name__)

DIGEST_STATE_KIND = "digest-state"
_MOST_PER_PASS = 48


@dataclass(frozen=True, slots=True)
class DigestState:
    """The newest digest of a trail, kept outside the warehouse."""

    account_id: str
    trail_name: str
    sequence: int
    interval_end: int
    sha256: str
    signature: str
    key_id: str
    path: str


def read_digest_state(metadata: MetadataStore, trail: Trail) -> tuple[DigestState | None, int]:
    """The trail's newest digest state and its version (None, 0 before the first digest)."""
    return read(metadata, DigestState, DIGEST_STATE_KIND, trail.account_id, trail.name)


class DigestAnchors:
    """Signs the anchor of a trail's newest digest, now."""

    def __init__(
        self, metadata: MetadataStore, keys: SigningKeys, clock: Callable[[], float] = time.time
    ) -> None:
        self._metadata = metadata
        self._keys = keys
        self._clock = clock

    def anchor(self, trail: Trail) -> SignedAnchor:
        """The trail's anchor (sequence 0 before its first digest); InvalidParameter when the
        trail does not deliver into a MaxCompute project, so has no digests."""
        project = parse_project_arn(trail.destinations.max_compute_project_arn, "odps")
        if project is None:
            raise InvalidParameter(
                f"The trail {trail.name} does not deliver to MaxCompute, so it has no digests."
            )
        state, _ = read_digest_state(self._metadata, trail)
        return make_anchor(
            trail.arn,
            project.region,
            state.sequence if state else 0,
            state.sha256 if state else "",
            state.interval_end if state else 0,
            self._keys.current(project.region),
            int(self._clock()),
        )


class Digester:
    """Makes the digests that are due, for every trail that delivers into the warehouse."""

    def __init__(
        self,
        settings: Settings,
        metadata: MetadataStore,
        trails: TrailService,
        warehouse: Warehouse,
        keys: SigningKeys,
        clock: Callable[[], float] = time.time,
        owns: Callable[[Trail], bool] | None = None,
    ) -> None:
        self._owns = owns or (lambda trail: True)
        self._settings = settings
        self._metadata = metadata
        self._trails = trails
        self._warehouse = warehouse
        self._keys = keys
        self._clock = clock
        self._anchors = DigestAnchors(metadata, keys, clock)

    def run_once(self) -> int:
        """Make every digest that is due; return how many were made."""
        made = 0
        # Stopped trails too: their empty intervals keep the chain fresh, so staleness means
        # deleted digests, not a stopped trail.
        for trail in self._trails.all_trails():
            if trail.destinations.max_compute_project_arn and self._owns(trail):
                try:
                    made += self._digest_trail(trail)
                except (ApiError, TerminalError, VersionConflict, OSError) as exc:
                    log.warning(
                        "digest of trail %s/%s failed: %s", trail.account_id, trail.name, exc
                    )
        return made

    def _digest_trail(self, trail: Trail) -> int:
        delivery, _ = read_state(self._metadata, trail)
        if not delivery.table or not delivery.session_started:
            return 0  # nothing delivered yet: the chain starts with the first delivery
        interval = int(self._settings.digest_interval_seconds)
        made = 0
        while made < _MOST_PER_PASS:
            state, version = read_digest_state(self._metadata, trail)
            start = state.interval_end if state else delivery.session_started // interval * interval
            end = start + interval
            if end > self._clock() - self._settings.digest_grace_seconds:
                return made
            self._write_digest(trail, delivery.table, state, version, start, end)
            made += 1
            self._write_anchor(trail)
        return made

    def _write_anchor(self, trail: Trail) -> None:
        """The heartbeat beside the tables: the trail's newest digest, signed now."""
        path = self._settings.warehouse_path / anchor_path(trail.account_id, trail.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, self._anchors.anchor(trail).to_json(), staged="anchor.staged")

    def _write_digest(
        self,
        trail: Trail,
        table_ref: str,
        previous: DigestState | None,
        version: int,
        start: int,
        end: int,
    ) -> None:
        catalog = self._warehouse.catalog
        project_name, table_name = table_ref.split(".", 1)
        project_ref = parse_project_arn(trail.destinations.max_compute_project_arn, "odps")
        if project_ref is None:  # delivery refuses such a trail before it has a table
            raise TerminalError(f"the trail {trail.name} has no MaxCompute project ARN")
        region = project_ref.region
        project = catalog.get_project(region, project_name)
        table = catalog.get_table(project, table_name)
        table_dir = table_scope(table.region, table.project, table.name)
        files = sorted(
            (f for f in catalog.files(table) if start <= f.committed_at < end),
            key=lambda f: f.path,
        )
        sequence = (previous.sequence if previous else 0) + 1
        key = self._keys.current(region)
        digest: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "trailArn": trail.arn,
            "region": region,
            "project": project.name,
            "table": table.name,
            "sequence": sequence,
            "intervalStart": start,
            "intervalEnd": end,
            "files": [_listed(f, table_dir) for f in files],
            "previousDigestSha256": previous.sha256 if previous else "",
            "previousDigestSignature": previous.signature if previous else "",
            "keyId": key.key_id,
            "signedAt": int(self._clock()),
        }
        signed = SignedDigest(digest, sign(digest, key.private_bytes))
        path = self._settings.warehouse_path / table_dir / digest_path(trail.arn, sequence)
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, signed.to_json(), staged="digest.staged", placed="digest.written")
        new_state = DigestState(
            trail.account_id,
            trail.name,
            sequence,
            end,
            signed.sha256,
            signed.signature,
            key.key_id,
            str(path.relative_to(self._settings.warehouse_path)),
        )
        digest_table = catalog.ensure_table(project, digest_table_name(table.name))
        row = LoggedEvent(
            sequence,
            trail.account_id,
            f"digest-{sequence}",
            end,
            int(self._clock() * 1000),
            orjson.dumps({"digest": digest, "signature": signed.signature}),
            TRAILHOUSE,
        )
        state_write = DocumentWrite(
            DIGEST_STATE_KIND, trail.account_id, trail.name, encode(new_state), version
        )
        self._warehouse.writer.append(
            project,
            digest_table,
            [row],
            writer_role_arn=writer_role(trail, project.owner),
            source_account=trail.account_id,
            source=f"{trail.account_id}-{trail.name}-digest",
            extra_writes=[state_write, catalog.digested_write(table, end)],
        )


def _listed(data_file: DataFile, table_dir: str) -> dict[str, Any]:
    return {
        "path": str(Path(data_file.path).relative_to(table_dir)),
        "sha256": data_file.sha256,
        "rows": data_file.rows,
        "bytes": data_file.bytes,
        "firstSeq": data_file.first_seq,
        "lastSeq": data_file.last_seq,
        "minEventTime": data_file.min_event_time,
        "maxEventTime": data_file.max_event_time,
        "committedAt": data_file.committed_at,
        **(
            {
                "replaces": [
                    [str(Path(path).relative_to(table_dir)), sha256, rows]
                    for path, sha256, rows in data_file.replaces
                ]
            }
            if data_file.replaces
            else {}
        ),
    }
