"""The detection actions' API errors (drawn in `trailhouse/errors.py`'s tree).

These actions are trailhouse's own; their codes follow RAM's `EntityNotExist.*`,
`EntityAlreadyExist.*` and `LimitExceeded.*` naming, as the advanced query errors do
(docs/api.md)."""

from __future__ import annotations

from trailhouse.errors import ApiError


class EntityNotExistDetectionRule(ApiError):
    code = "EntityNotExist.DetectionRule"
    http_status = 404


class EntityNotExistFindingWebhook(ApiError):
    code = "EntityNotExist.FindingWebhook"
    http_status = 404


class EntityAlreadyExistDetectionRule(ApiError):
    code = "EntityAlreadyExist.DetectionRule"
    http_status = 409


class LimitExceededDetectionRule(ApiError):
    code = "LimitExceeded.DetectionRule"
    http_status = 403


class OperationFailedDetectionHistory(ApiError):
    """The rule's SQL job over the history failed; the message carries the job's error."""

    code = "OperationFailed.DetectionHistory"
    http_status = 400
