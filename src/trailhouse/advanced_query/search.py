"""Running an advanced query's search statement over an account's own recorded events
(LookupAdvancedQueryEvents, trailhouse's own action), newest first, a page at a time. Like
LookupEvents it never shows data events (`events/visibility.py`).

Each call reads at most `max_scanned` events of the account in the window; a page may so hold
fewer matches than asked, with a NextToken to go on. A token is bound to the query that issued
it and carries the window the first page resolved, as LookupEvents' tokens do.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

import orjson

from trailhouse.advanced_query.statements import InvalidStatement, parse
from trailhouse.events.lookup import DEFAULT_WINDOW_SECONDS
from trailhouse.events.model import Direction, LookupPosition, LookupQuery
from trailhouse.events.recorder import with_recorder
from trailhouse.events.visibility import shown_in
from trailhouse.store.ports import EventLog

PAGE = 500
DEFAULT_MAX_SCANNED = 10_000


class InvalidSearch(ValueError):
    """A parameter is wrong; `parameter` names it and the message says what is allowed."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """A search: the statement, the window (None: the last 7 days), how many matches."""

    account_id: str
    statement: str
    start: int | None
    end: int | None
    max_results: int
    next_token: str | None = None


@dataclass(frozen=True, slots=True)
class SearchPage:
    """Matching events as LookupEvents shows them, the window searched, the next token."""

    bodies: list[bytes]
    start: int
    end: int
    scanned: int
    next_token: str | None


class EventSearch:
    """Runs search statements over the event log's index of one account."""

    def __init__(
        self,
        log: EventLog,
        retention_days: int,
        slack_seconds: int,
        max_scanned: int = DEFAULT_MAX_SCANNED,
    ) -> None:
        self._log = log
        self._retention = retention_days * 86400
        self._slack = slack_seconds
        self._max_scanned = max_scanned

    def search(self, request: SearchRequest, now: int) -> SearchPage:
        """One page of the account's events the statement selects."""
        try:
            statement = parse(request.statement)
        except InvalidStatement as error:
            raise InvalidSearch("QuerySql", f"QuerySql is not a valid statement: {error}") from None
        if statement.analytic is not None:
            raise InvalidSearch(
                "QuerySql",
                "QuerySql has an analytic statement after '|', which this action does not run; "
                "send the search statement alone, or analyse the events delivered to a trail's "
                "table with SubmitSqlJob",
            )
        question = _fingerprint(request)
        if request.next_token:
            after, start, end = _decode(request.next_token, question)
        else:
            after = None
            end = request.end if request.end is not None else now
            start = request.start if request.start is not None else end - DEFAULT_WINDOW_SECONDS
            self._check_window(start, end, now)
        shows = shown_in(None, None)  # as LookupEvents: no data events
        found: list[bytes] = []
        scanned = 0
        last: LookupPosition | None = after
        more = True  # stays True when the scan budget runs out
        while scanned < self._max_scanned:
            page = self._log.lookup(
                LookupQuery(
                    account_id=request.account_id,
                    start=start,
                    end=end,
                    direction=Direction.BACKWARD,
                    conditions=(),
                    limit=min(PAGE, self._max_scanned - scanned),
                    after=last,
                )
            )
            full = False
            for index, event in enumerate(page.events):
                scanned += 1
                last = LookupPosition(event.event_time, event.seq)
                if not shows(event):
                    continue
                if statement.matches(orjson.loads(event.body), event.body.decode("utf-8")):
                    found.append(with_recorder(event.body, event.recorder))
                    full = len(found) == request.max_results
                    if full:
                        more = index + 1 < len(page.events) or page.next_position is not None
                        break
            if full:
                break
            if page.next_position is None:
                more = False
                break
        token = _encode(last, start, end, question) if more and last is not None else None
        return SearchPage(found, start, end, scanned, token)

    def _check_window(self, start: int, end: int, now: int) -> None:
        if start > end:
            raise InvalidSearch("StartTime", "StartTime must not be later than EndTime")
        if start < now - self._retention - self._slack:
            days = self._retention // 86400
            raise InvalidSearch(
                "StartTime",
                f"StartTime is more than {days} days ago; only the last {days} days of events "
                "can be searched (deliver older events to a trail)",
            )


def _fingerprint(request: SearchRequest) -> str:
    parts = [
        request.account_id,
        request.statement,
        str(request.start),
        str(request.end),
        str(request.max_results),
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _encode(position: LookupPosition, start: int, end: int, question: str) -> str:
    raw = orjson.dumps(
        {"t": position.event_time, "s": position.seq, "w": [start, end], "q": question}
    )
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str, question: str) -> tuple[LookupPosition, int, int]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        values = [data["t"], data["s"], *data["w"]]
        if len(values) != 4 or any(type(v) is not int for v in values):
            raise ValueError(values)
        issued_for = data["q"]
    except (binascii.Error, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise InvalidSearch(
            "NextToken", "NextToken is not a token this server issued; drop it to start over"
        ) from None
    if issued_for != question:
        raise InvalidSearch(
            "NextToken",
            "NextToken belongs to a query with other parameters; repeat the QuerySql, "
            "StartTime, EndTime and MaxResults of the call that returned it",
        )
    return LookupPosition(values[0], values[1]), values[2], values[3]
