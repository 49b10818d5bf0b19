"""Delivery authority through the real services: each rule holds when a trail is created, at
each delivery session (the engine records the refusal in the trail's state) and at each batch
write (the writer refuses it), also when the setup breaks after the trail was created."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from delivery_support import REGION, account, drain, record

from older_releases import stored_trail
from trailhouse.delivery.destination import writer_role
from trailhouse.delivery.state import read_state
from trailhouse.errors import ApiError, NoPermission
from trailhouse.iam.arns import parse_project_arn
from trailhouse.iam.principals import Caller
from trailhouse.iam.roles import (
    DELIVERY_POLICY,
    SERVICE_LINKED_POLICY,
    SERVICE_LINKED_ROLE,
    delivery_principal,
    service_linked_role_arn,
    trust_policy_for_services,
)
from trailhouse.runtime import Services, open_services
from trailhouse.settings import Settings
from trailhouse.trails.model import Destinations, Trail
from trailhouse.trails.service import TrailSpec
from trailhouse.warehouse.model import project_name, table_name

ROLE = "DeliveryRole"


@dataclass(frozen=True)
class World:
    """Source account A (whose trails deliver), project account B, and a third account C."""

    services: Services
    a: str
    caller: Caller
    b: str
    c: str

    def role(self, account_id: str, trusted: str, *policies: str, name: str = ROLE) -> str:
        """A role trusting one service principal and carrying `policies`; its ARN."""
        role = self.services.roles.create_role(account_id, name, trust_policy_for_services(trusted))
        for policy in policies:
            self.services.roles.attach_policy(account_id, name, policy)
        return role.arn

    def project(self, account_id: str, *, create: bool = True) -> str:
        """The ARN of the account's delivery project, created there unless told not to."""
        name = project_name(account_id)
        if create:
            self.services.warehouse.catalog.ensure_project(account_id, REGION, name)
        return f"acs:odps:{REGION}:{account_id}:project/{name}"


def _world(services: Services) -> World:
    a, caller = account(services)
    return World(services, a, caller, account(services)[0], account(services)[0])


@dataclass(frozen=True)
class Case:
    """A destination (made by `destination`) and what each moment says of it."""

    destination: Callable[[World], Destinations]
    refusal: Callable[[World], str] | None  # what every moment refuses with; None: delivered
    code: str = ""  # CreateTrail's error code; "" when creation accepts the destination
    breaks: Callable[[World], None] | None = None  # after a trail was created and delivered
    writes: bool = True  # False: there is no project to hand the writer


def _own_project(w: World) -> Destinations:
    # The account's first trail: its service-linked role does not exist yet.
    assert w.services.roles.find_role(w.a, SERVICE_LINKED_ROLE) is None
    return Destinations(max_compute_project_arn=w.project(w.a, create=False))


def _own_role(w: World) -> Destinations:
    return Destinations(
        max_compute_project_arn=w.project(w.a),
        max_compute_write_role_arn=w.role(w.a, delivery_principal(w.a), DELIVERY_POLICY),
    )


def _b_role(
    trusted: Callable[[World], str], *policies: str, project: bool = True
) -> Callable[[World], Destinations]:
    """B's project (created there unless told not to) through a role of B."""

    def destination(w: World) -> Destinations:
        return Destinations(
            max_compute_project_arn=w.project(w.b, create=project),
            max_compute_write_role_arn=w.role(w.b, trusted(w), *policies),
        )

    return destination


def _trust_message(w: World, role_arn: str) -> str:
    principal = delivery_principal(w.a)
    role_account = role_arn.split(":")[3]
    return (
        f"the role {role_arn} does not trust {principal}: add it to the role's trust policy, "
        f'e.g. {{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {{"Service": '
        f'["{principal}"]}}}} (in account {role_account}: trailhouse role update --role-name '
        f"{ROLE} --trust-policy @policy.json, or --trusted-account {w.a} to trust this account "
        "alone)"
    )


def _policy_message(role_arn: str, account_id: str, role_name: str) -> str:
    return (
        f"the role {role_arn} does not carry the policy {DELIVERY_POLICY}: attach it in account "
        f"{account_id} (trailhouse role attach-policy --policy-name {DELIVERY_POLICY} "
        f"--role-name {role_name})"
    )


def _b_role_arn(w: World) -> str:
    return f"acs:ram::{w.b}:role/{ROLE.lower()}"


INSUFFICIENT = "InsufficientMaxComputePolicyException"
CASES = {
    "service-linked role of a first trail": Case(_own_project, None),
    "service-linked role without its policy": Case(
        _own_project,
        lambda w: _policy_message(service_linked_role_arn(w.a), w.a, SERVICE_LINKED_ROLE),
        INSUFFICIENT,
        breaks=lambda w: w.services.roles.detach_policy(
            w.a, SERVICE_LINKED_ROLE, SERVICE_LINKED_POLICY
        ),
    ),
    "same-account role that stops trusting ActionTrail": Case(
        _own_role,
        lambda w: _trust_message(w, f"acs:ram::{w.a}:role/{ROLE.lower()}"),
        INSUFFICIENT,
        breaks=lambda w: w.services.roles.update_trust_policy(
            w.a, ROLE, trust_policy_for_services("ecs.aliyuncs.com")
        ),
    ),
    "cross-account role whose policy is detached": Case(
        _b_role(lambda w: delivery_principal(w.a), DELIVERY_POLICY),
        lambda w: _policy_message(_b_role_arn(w), w.b, ROLE),
        INSUFFICIENT,
        breaks=lambda w: w.services.roles.detach_policy(w.b, ROLE, DELIVERY_POLICY),
    ),
    "cross-account role that does not trust the source": Case(
        _b_role(lambda w: delivery_principal(w.c), DELIVERY_POLICY),
        lambda w: _trust_message(w, _b_role_arn(w)),
        INSUFFICIENT,
    ),
    "role of a third account": Case(
        lambda w: Destinations(
            max_compute_project_arn=w.project(w.b),
            max_compute_write_role_arn=w.role(w.c, delivery_principal(w.a), DELIVERY_POLICY),
        ),
        lambda w: (
            f"MaxComputeWriteRoleArn must be a role of the project's account {w.b}, not of {w.c}"
        ),
        "InvalidParameter",
    ),
    "role that does not exist": Case(
        lambda w: Destinations(
            max_compute_project_arn=w.project(w.b),
            max_compute_write_role_arn=f"acs:ram::{w.b}:role/nosuchrole",
        ),
        lambda w: (
            f"the role nosuchrole does not exist in account {w.b}: create it there "
            "(trailhouse role create)"
        ),
        "EntityNotExist.Role",
    ),
    "another account's project without a role": Case(
        lambda w: Destinations(max_compute_project_arn=w.project(w.b)),
        lambda w: (
            f"delivery to another account ({w.b}) needs MaxComputeWriteRoleArn: a role in "
            f"that account that trusts {delivery_principal(w.a)} and carries {DELIVERY_POLICY}"
        ),
        "InvalidParameter",
    ),
    # Creation does not look for the project: the other account may create it afterwards.
    "project missing in another account": Case(
        _b_role(lambda w: delivery_principal(w.a), DELIVERY_POLICY, project=False),
        lambda w: (
            f"the project {project_name(w.b)} does not exist in {REGION}: account {w.b} "
            "must create it (trailhouse warehouse project create) before delivery can write into it"
        ),
        writes=False,
    ),
}


def _create(w: World, name: str, destinations: Destinations) -> Trail:
    w.services.trails.create(w.a, REGION, TrailSpec(name=name, destinations=destinations))
    return w.services.start_logging(w.a, name)


def _stored(w: World, name: str, destinations: Destinations) -> Trail:
    """A trail as a store may hold it without today's creation checks (an older version's)."""
    return stored_trail(w.services, w.a, name, REGION, destinations)


def _delivered(w: World, trail: Trail) -> tuple[int, str]:
    state, _ = read_state(w.services.stores.metadata, trail)
    return state.delivered_events, state.latest_error


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_each_rule_holds_at_creation_at_each_session_and_at_each_write(
    services: Services, case: Case
) -> None:
    w = _world(services)
    destinations = case.destination(w)
    engine = services.delivery_engine()
    trail = None
    if case.breaks is not None:
        trail = _create(w, "healthy", destinations)
        record(services, w.caller, 20)
        drain(engine)
        assert _delivered(w, trail) == (20, "")
        case.breaks(w)
    refusal = case.refusal(w) if case.refusal else None

    # When a trail is created (or its destination changed): the API's own error codes.
    if case.code:
        assert refusal is not None
        with pytest.raises(ApiError) as refused:
            _create(w, "judged", destinations)
        assert (refused.value.code, refused.value.message) == (case.code, refusal)
        assert [t.name for t in services.trails.all_trails() if t.account_id == w.a] == (
            ["healthy"] if trail else []
        )
        trail = trail or _stored(w, "judged", destinations)
    else:
        trail = _create(w, "judged", destinations)

    # At each session: the engine records the refusal, and delivers nothing.
    before, _ = _delivered(w, trail)
    record(services, w.caller, 10, seed=2)
    drain(engine)
    delivered, error = _delivered(w, trail)
    if refusal is None:
        assert (delivered, error) == (before + 10, "")
    else:
        assert (delivered, error) == (before, refusal)

    # At each write: the writer refuses a batch for the trail's account through its role.
    if not case.writes:
        return
    project_ref = parse_project_arn(destinations.max_compute_project_arn, "odps")
    assert project_ref is not None
    owner = project_ref.account_id
    catalog = services.warehouse.catalog
    project = catalog.get_project(REGION, project_name(owner))
    table = catalog.ensure_table(project, table_name(trail.name))
    rows = sum(p.rows for p in catalog.list_partitions(table))
    events = services.stores.events.read_after(0, 5)

    def write() -> None:
        services.warehouse.writer.append(
            project,
            table,
            events,
            writer_role_arn=writer_role(trail, owner),
            source_account=w.a,
            source="direct",
        )

    if refusal is None:
        write()
        assert sum(p.rows for p in catalog.list_partitions(table)) == rows + 5
        return
    with pytest.raises(NoPermission) as denied:
        write()
    assert denied.value.message == (
        f"ODPS-0130013:Authorization exception - project {project.name} accepts table writes "
        f"only from ActionTrail delivery, and delivery for account {w.a} may not write into it: "
        f"{refusal}"
    )
    assert sum(p.rows for p in catalog.list_partitions(table)) == rows


def test_a_batch_is_refused_once_the_role_stops_trusting_even_within_a_session(
    tmp_path: Path,
) -> None:
    """A session checked before the change still writes nothing: each batch asks again."""
    services = open_services(
        Settings.load(
            {
                "data_dir": tmp_path / "data",
                "delivery_flush_seconds": 0.0,
                "delivery_retry_seconds": 0.0,
                "delivery_session_seconds": 3600.0,
            },
            environ={},
        )
    )
    try:
        w = _world(services)
        trail = _create(w, "own-role", _own_role(w))
        engine = services.delivery_engine()
        record(services, w.caller, 20)
        drain(engine)
        assert _delivered(w, trail) == (20, "")

        services.roles.update_trust_policy(w.a, ROLE, trust_policy_for_services("ecs.aliyuncs.com"))
        record(services, w.caller, 10, seed=2)
        engine.run_once()  # the session checked before the change is still current
        untrusted = _trust_message(w, f"acs:ram::{w.a}:role/{ROLE.lower()}")
        delivered, error = _delivered(w, trail)
        assert delivered == 20
        assert error.startswith("NoPermission: ODPS-0130013:Authorization exception - project ")
        assert error.endswith(untrusted)
        drain(engine)  # a failure ends the session: the next one is refused as it begins
        assert _delivered(w, trail) == (20, untrusted)

        services.roles.update_trust_policy(
            w.a, ROLE, trust_policy_for_services(delivery_principal(w.a))
        )
        drain(engine)
        assert _delivered(w, trail) == (30, "")
    finally:
        services.close()
