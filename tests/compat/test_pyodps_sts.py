"""PyODPS with STS credentials (`odps.accounts.StsAccount`): trailhouse issues no STS tokens (it
has no AssumeRole), so a request carrying one is refused as invalid credentials, saying to sign
with an AccessKey pair, rather than the token being silently ignored."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from compat_support import Fixture
from odps import ODPS, errors
from odps.accounts import StsAccount
from pyodps_support import Warehouse, client, endpoint, make_warehouse, pyodps_state

ACCOUNT = "7777000012340043"
TABLE = "actiontrail_pyodps_sts_plover"


@pytest.fixture(scope="module")
def warehouse(running: Fixture) -> Iterator[Warehouse]:
    made = make_warehouse(running.server, ACCOUNT, TABLE, events=5)
    with pyodps_state():
        yield made


def test_an_sts_token_is_refused_and_the_same_key_without_one_works(
    running: Fixture, warehouse: Warehouse
) -> None:
    keys = warehouse.root
    account = StsAccount(keys.access_key_id, keys.access_key_secret, "CAIS-some-token")
    sts = ODPS(account=account, project=warehouse.project, endpoint=endpoint(running.server))
    with pytest.raises(errors.ODPSError) as refused:
        sts.get_table(TABLE).reload()
    assert refused.value.code == "InvalidParameter"
    assert "ODPS-0410051" in str(refused.value) and "no STS tokens" in str(refused.value)
    assert "AliyunAccount" in str(refused.value)
    plain = client(running.server, keys, warehouse.project)
    assert plain.get_table(TABLE).record_num == warehouse.rows
