"""Every IAM name rule matches the whole name: a trailing newline (which a `$` anchor lets
through) is refused, and nothing is stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from trailhouse.iam.accounts import AccountService
from trailhouse.iam.roles import RoleService
from trailhouse.settings import Settings
from trailhouse.store import open_metadata

TRUST = '{"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": ["actiontrail.aliyuncs.com"]}}], "Version": "1"}'  # noqa: E501


def test_user_service_and_role_names_refuse_a_trailing_newline(tmp_path: Path) -> None:
    metadata = open_metadata(Settings.load({"data_dir": tmp_path}, environ={}))
    try:
        accounts = AccountService(metadata)
        account = accounts.create_account().account_id
        with pytest.raises(ValueError, match="user name"):
            accounts.create_user(account, "alice\n")
        with pytest.raises(ValueError, match="service name"):
            accounts.create_service("recorder\n")
        with pytest.raises(ValueError, match="role name"):
            RoleService(metadata).create_role(account, "Delivery\n", TRUST, "")
        assert accounts.find_user(account, "alice\n") is None
        assert accounts.find_user(account, "alice") is None
        accounts.create_user(account, "alice")
        RoleService(metadata).create_role(account, "Delivery", TRUST, "")
    finally:
        metadata.close()
