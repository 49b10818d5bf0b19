"""Which Sigma field names a rule may use, and the pySigma processing pipeline that maps them
to ActionTrail's event fields (docs/detections.md lists them).

Rules name ActionTrail's own fields (`eventName`, `userIdentity.type`, `sourceIpAddress`); the
pipeline also accepts the CloudTrail spellings Sigma's cloud rules use (`sourceIPAddress`,
`awsRegion`, `eventSource`…) and maps them to ActionTrail's, so a rule ported from the Sigma
repository needs only its logsource changed.
"""

from __future__ import annotations

from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import FieldMappingTransformation

PRODUCT = "alibabacloud"
SERVICE = "actiontrail"

# ActionTrail's top-level and userIdentity fields (the event structure Alibaba documents).
FIELDS = frozenset(
    {
        "eventId",
        "eventVersion",
        "eventName",
        "eventSource",
        "eventType",
        "eventCategory",
        "eventRW",
        "eventTime",
        "serviceName",
        "sourceIpAddress",
        "userAgent",
        "requestId",
        "apiVersion",
        "acsRegion",
        "errorCode",
        "errorMessage",
        "isGlobal",
        "recipientAccountId",
        "referencedResources",
        "resourceName",
        "resourceType",
        "userIdentity.type",
        "userIdentity.principalId",
        "userIdentity.accountId",
        "userIdentity.accessKeyId",
        "userIdentity.userName",
        "userIdentity.arn",
        "userIdentity.sessionContext.attributes.mfaAuthenticated",
        "userIdentity.sessionContext.attributes.creationDate",
        "userIdentity.sessionContext.sessionIssuer.type",
        "userIdentity.sessionContext.sessionIssuer.userName",
        "userIdentity.sessionContext.sessionIssuer.arn",
    }
)
# Open maps: any key beneath these is a field.
PREFIXES = (
    "requestParameters.",
    "responseElements.",
    "additionalEventData.",
    "serviceEventData.",
    "referencedResources.",
)
# CloudTrail's spellings (as Sigma's cloud rules write them) → ActionTrail's.
ALIASES = {
    "sourceIPAddress": "sourceIpAddress",
    "awsRegion": "acsRegion",
    "eventSource": "eventSource",
    "requestID": "requestId",
    "userIdentity.sessionContext.attributes.mfaAuthenticated": (
        "userIdentity.sessionContext.attributes.mfaAuthenticated"
    ),
}


def is_known(field: str) -> bool:
    """Whether `field` (after mapping) is a field of an ActionTrail event."""
    return field in FIELDS or (field.startswith(PREFIXES) and not field.endswith("."))


def probe_events() -> list[dict[str, object]]:
    """Two events holding every named field, with values no rule names on purpose (made-up
    words, documentation addresses): a condition that matches both matches events whatever
    their values, i.e. every event (`eventId|exists: true`, `eventName|re: '.*'`)."""
    probes: list[dict[str, object]] = []
    for word, address in (("zq-probe-7f3a", "192.0.2.201"), ("XJ.PROBE.91C", "2001:db8::77")):
        event: dict[str, object] = {}
        for field in sorted(FIELDS):
            target = event
            *parents, leaf = field.split(".")
            for part in parents:
                nested = target.setdefault(part, {})
                assert isinstance(nested, dict)
                target = nested
            target[leaf] = address if leaf == "sourceIpAddress" else f"{word}-{leaf}"
        probes.append(event)
    return probes


def pipeline() -> ProcessingPipeline:
    """The pipeline that maps Sigma's field names to ActionTrail's."""
    return ProcessingPipeline(
        name="trailhouse ActionTrail field mapping",
        priority=20,
        items=[
            ProcessingItem(
                identifier="actiontrail_fields",
                transformation=FieldMappingTransformation(
                    {k: v for k, v in ALIASES.items() if k != v}
                ),
            )
        ],
    )
