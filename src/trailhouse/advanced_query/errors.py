"""The advanced query actions' API errors (drawn in `trailhouse/errors.py`'s tree).

ActionTrail documents no specific codes for these actions; these follow RAM's
`EntityNotExist.*` and `LimitExceeded.*` naming (docs/api.md)."""

from __future__ import annotations

from trailhouse.errors import ApiError


class EntityNotExistAdvancedQueryTemplate(ApiError):
    code = "EntityNotExist.AdvancedQueryTemplate"
    http_status = 404


class EntityNotExistAdvancedQueryHistory(ApiError):
    code = "EntityNotExist.AdvancedQueryHistory"
    http_status = 404


class LimitExceededAdvancedQueryTemplate(ApiError):
    code = "LimitExceeded.AdvancedQueryTemplate"
    http_status = 403


class EntityNotExistScene(ApiError):
    code = "EntityNotExist.Scene"
    http_status = 404
