"""GetGovernanceMetrics in ActionTrail's wire shape, over `usage/governance.py`."""

from __future__ import annotations

import time
from typing import Any

import orjson

from trailhouse.api.actions import ActionContext


def get_governance_metrics(ctx: ActionContext) -> dict[str, Any]:
    """GetGovernanceMetrics: each check's score, and its columns and rows as JSON text."""
    checks = ctx.services.governance.checks(ctx.caller.account_id, int(time.time()))
    return {
        "Data": {
            "AccountId": ctx.caller.account_id,
            "GovernanceMetrics": [
                {
                    "GovernanceItem": check.item,
                    "GovernanceScore": str(check.score),
                    "ColumnsSchema": orjson.dumps(
                        {
                            "Columns": [{"Name": c.name, "Type": c.type} for c in check.columns],
                            "Rows": check.rows,
                        }
                    ).decode(),
                }
                for check in checks
            ],
        }
    }
