"""Two trails, of two accounts, delivering into one table: each keeps its own digest chain.

Account A's trail `audit-trail` delivers into A's project; account B's trail of the same name
delivers there too, through a role in A (cross-account delivery). Both write the table
`actiontrail_audit_trail`, so digests named by sequence alone would overwrite each other.
Releases before per-trail folders kept one chain in `_digests/`; verify still reads that.
Trail creation now refuses a second trail of a table (`trails/collisions.py`), so B's trail is
stored as an older release let it be created: tables shared that way must still verify.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import orjson
from integrity_support import INTERVAL, REGION, Delivered, copy, digests, published_keys

from older_releases import stored_trail
from trailhouse.demo import DemoEvents
from trailhouse.iam.roles import DELIVERY_POLICY, trust_policy_for_services
from trailhouse.integrity.digest import SignedDigest, legacy_digest_path
from trailhouse.integrity.digester import Digester, read_digest_state
from trailhouse.integrity.verify import verify_folder
from trailhouse.runtime import Services, open_services
from trailhouse.settings import Settings
from trailhouse.trails.model import Destinations, Trail
from trailhouse.trails.service import TrailSpec
from trailhouse.warehouse.model import project_name

TRAIL = "audit-trail"


def _account(services: Services) -> tuple[str, str]:
    credentials = services.accounts.create_account()
    return credentials.account_id, credentials.access_key_id


def _deliver(services: Services, key_id: str, seed: int) -> None:
    caller = services.accounts.caller_for(key_id)
    now = int(time.time())
    events = DemoEvents(caller.account_id, seed=seed).between(now - 2 * 86400, now, 150)
    assert not services.ingest.put_events(caller, [orjson.dumps(e) for e in events]).failed
    engine = services.delivery_engine()
    while engine.run_once():
        pass


def _trail(services: Services, account_id: str, destinations: Destinations) -> Trail:
    services.trails.create(account_id, REGION, TrailSpec(name=TRAIL, destinations=destinations))
    return services.start_logging(account_id, TRAIL)


def test_two_accounts_trails_in_one_table_each_keep_a_chain(tmp_path: Path) -> None:
    settings = Settings.load(
        {
            "data_dir": tmp_path / "data",
            "delivery_flush_seconds": 0.0,
            "digest_interval_seconds": INTERVAL,
        },
        environ={},
    )
    services = open_services(settings)
    try:
        owner, owner_key = _account(services)
        source, source_key = _account(services)
        project_arn = f"acs:odps:{REGION}:{owner}:project/{project_name(owner)}"
        mine = _trail(services, owner, Destinations(max_compute_project_arn=project_arn))
        _deliver(services, owner_key, seed=1)
        services.roles.create_role(
            owner, "DeliveryRole", trust_policy_for_services(f"{source}@actiontrail.aliyuncs.com")
        )
        services.roles.attach_policy(owner, "DeliveryRole", DELIVERY_POLICY)
        theirs = stored_trail(
            services,
            source,
            TRAIL,
            REGION,
            Destinations(
                max_compute_project_arn=project_arn,
                max_compute_write_role_arn=f"acs:ram::{owner}:role/deliveryrole",
            ),
        )
        _deliver(services, source_key, seed=2)
        digester = Digester(
            settings,
            services.stores.metadata,
            services.trails,
            services.warehouse,
            services.signing_keys,
            clock=lambda: time.time() + 700,
        )
        assert digester.run_once() >= 20
        table_dir = (
            settings.warehouse_path / REGION / project_name(owner) / "actiontrail_audit_trail"
        )
        keys = published_keys(services)

        for trail in (mine, theirs):
            state, _ = read_digest_state(services.stores.metadata, trail)
            assert state is not None and state.sequence >= 10
            folder = table_dir / "_digests" / trail.account_id / TRAIL
            first = SignedDigest.from_json((folder / "digest-0000000001.json").read_bytes())
            assert first.digest["trailArn"] == trail.arn
            one = verify_folder(table_dir, keys, expect_latest=(state.sequence, state.sha256))
            assert one.ok, one.problems
        report = verify_folder(table_dir, keys)
        assert report.ok, report.problems
        assert report.rows == 300  # each file counted once, though both chains list it
        assert not (table_dir / legacy_digest_path(1)).exists()

        # A digest moved into the other trail's folder is out of place.
        copy = tmp_path / "copy"
        shutil.copytree(table_dir, copy)
        mine_first = copy / "_digests" / owner / TRAIL / "digest-0000000001.json"
        theirs_first = copy / "_digests" / source / TRAIL / "digest-0000000001.json"
        a, b = mine_first.read_bytes(), theirs_first.read_bytes()
        mine_first.write_bytes(b)
        theirs_first.write_bytes(a)
        problems = verify_folder(copy, keys).problems
        assert len(problems) == 2 and all("(swapped)" in p for p in problems), problems
    finally:
        services.close()


def test_digests_in_the_old_shared_folder_still_verify(
    delivered: Delivered, tmp_path: Path
) -> None:
    """An install from before per-trail folders: the first digests in `_digests/`, the rest in
    the trail's folder, as after an upgrade."""
    folder = copy(delivered, tmp_path)
    placed = digests(folder)
    for path in placed[:4]:
        sequence = SignedDigest.from_json(path.read_bytes()).digest["sequence"]
        path.rename(folder / legacy_digest_path(sequence))
    report = verify_folder(folder, delivered.keys, expect_latest=delivered.latest)
    assert report.ok, report.problems
    assert report.digests == len(placed)

    # The old folder is no hiding place: a digest there under another sequence's name is caught.
    first, second = folder / legacy_digest_path(1), folder / legacy_digest_path(2)
    a, b = first.read_bytes(), second.read_bytes()
    first.write_bytes(b)
    second.write_bytes(a)
    problems = verify_folder(folder, delivered.keys).problems
    assert any("digest-0000000001.json" in p and "(swapped)" in p for p in problems), problems
