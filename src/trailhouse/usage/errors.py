"""The daily-count actions' API errors, as ActionTrail documents them for DescribeUserLogCount
(drawn in `trailhouse/errors.py`'s tree)."""

from __future__ import annotations

from trailhouse.errors import ApiError


class InvalidParameterCombination(ApiError):
    code = "InvalidParameterCombination"
    http_status = 400


class InvalidQueryParameter(ApiError):
    code = "InvalidQueryParameter"
    http_status = 400
