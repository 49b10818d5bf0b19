"""A finding is made once and its event reaches the account's history once, whatever process
dies between the two stores (findings.py): a batch evaluated again by a fresh evaluator (a new
helper, after the one evaluating it died) names the finding already made; a finding whose event
was never appended is appended by the server's pass over unrecorded findings; and what a batch
teaches the first-seen baselines commits with the findings it caused."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import orjson
import pytest

from trailhouse.detections.baselines import SEEN_KIND
from trailhouse.detections.findings import FINDING_EVENT_TYPE, FINDING_KIND, UNRECORDED_KIND
from trailhouse.detections.service import DetectionService
from trailhouse.evaluation import Arrived
from trailhouse.events.model import EventRecord
from trailhouse.events.validation import format_event_time
from trailhouse.runtime import Services, open_services
from trailhouse.settings import Settings
from trailhouse.store.ports import DocumentWrite

ACCOUNT = "1000000000000001"
OPEN_GROUP = "actiontrail_security_group_open"
NEW_IP = "actiontrail_key_new_ip"


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    opened = open_services(Settings.load({"data_dir": tmp_path / "data"}, environ={}))
    opened.accounts.create_account(ACCOUNT)
    yield opened
    opened.close()


def _arrived(name: str, ip: str, key: str = "LTAI5tKEY", moment: int | None = None) -> Arrived:
    when = int(time.time()) if moment is None else moment
    event_id = str(uuid.uuid4())
    body = orjson.dumps(
        {
            "eventId": event_id,
            "eventTime": format_event_time(when),
            "eventName": name,
            "eventType": "ApiCall",
            "serviceName": "Ecs",
            "sourceIpAddress": ip,
            "userIdentity": {"type": "ram-user", "accessKeyId": key},
            "requestParameters": {"SourceCidrIp": "0.0.0.0/0"},
        }
    )
    return Arrived(ACCOUNT, event_id, when, name, "Ecs", key, ip, "ApiCall", body)


class _Helper:
    """A detection service as the evaluation helper runs one: the events it records only go
    back to the server in its answer (which a helper that dies never gives)."""

    def __init__(self, services: Services) -> None:
        self.answered: list[EventRecord] = []
        self.service = DetectionService(
            services.stores.metadata, self._record, record_is_durable=False
        )

    def _record(self, records: Sequence[EventRecord]) -> int:
        self.answered.extend(records)
        return len(records)


def _finding_events(services: Services) -> list[dict[str, object]]:
    bodies = [orjson.loads(e.body) for e in services.stores.events.read_after(0, 10_000)]
    return [b for b in bodies if b.get("eventType") == FINDING_EVENT_TYPE]


def _documents(services: Services, kind: str) -> int:
    return len(services.stores.metadata.list_documents(kind, ACCOUNT))


def test_a_batch_evaluated_again_after_its_helper_died_makes_its_finding_once(
    services: Services,
) -> None:
    services.detections.set_enabled(ACCOUNT, OPEN_GROUP, True, 0)
    batch = [_arrived("AuthorizeSecurityGroup", "203.0.113.9")]

    dead = _Helper(services)
    dead.service.on_accepted(batch)  # commits the finding, then dies before answering
    assert _documents(services, FINDING_KIND) == 1
    assert _documents(services, UNRECORDED_KIND) == 1

    again = _Helper(services)  # its replacement is asked the same batch
    again.service.on_accepted(batch)
    assert _documents(services, FINDING_KIND) == 1  # the same finding, not a second one
    assert [e.event_type for e in again.answered] == [FINDING_EVENT_TYPE]
    assert again.answered[0].event_id == dead.answered[0].event_id

    services.ingest.record(again.answered)  # the server appends the answer, then settles
    services.detections.findings.settle(again.answered)
    assert _documents(services, UNRECORDED_KIND) == 0
    assert len(_finding_events(services)) == 1
    assert services.detections.findings.record_unsettled() == 0


def test_a_finding_whose_event_was_never_appended_is_appended_by_the_server(
    services: Services,
) -> None:
    services.detections.set_enabled(ACCOUNT, NEW_IP, True, 0)
    day_ago = int(time.time()) - 2 * 86400
    learnt = _arrived("DescribeInstances", "198.51.100.1", moment=day_ago)
    dead = _Helper(services)
    dead.service.on_accepted([learnt, _arrived("DescribeInstances", "203.0.113.77")])
    assert len(dead.answered) == 1  # the new address, found; the helper dies before answering
    assert _finding_events(services) == []

    # The batch's replacement sees the address as known (it was learnt with the finding), so
    # no match names the finding again: only the server's pass appends its event.
    again = _Helper(services)
    again.service.on_accepted([learnt, _arrived("DescribeInstances", "203.0.113.77")])
    assert again.answered == []
    assert services.detections.findings.record_unsettled() == 1
    assert len(_finding_events(services)) == 1
    assert _documents(services, UNRECORDED_KIND) == 0
    assert services.detections.findings.record_unsettled() == 0


def test_what_a_batch_teaches_the_baselines_commits_with_its_findings(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    services.detections.set_enabled(ACCOUNT, NEW_IP, True, 0)
    metadata = services.stores.metadata
    commits: list[set[str]] = []
    real_commit = metadata.commit

    def seen(writes: Sequence[DocumentWrite]) -> None:
        commits.append({w.kind for w in writes})
        real_commit(writes)

    monkeypatch.setattr(metadata, "commit", seen)
    day_ago = int(time.time()) - 2 * 86400
    services.detections.on_accepted(
        [
            _arrived("DescribeInstances", "198.51.100.1", moment=day_ago),
            _arrived("DescribeInstances", "203.0.113.77"),
        ]
    )
    found = [kinds for kinds in commits if FINDING_KIND in kinds]
    assert len(found) == 1
    assert SEEN_KIND in found[0]  # never a value learnt without the finding it caused
    assert not [kinds for kinds in commits if SEEN_KIND in kinds and FINDING_KIND not in kinds]
