"""Query parameters and cursors of ``GET /api/AttachMO/v1/tasks``, and the walk over a lazy batch.

Tasks are ordered by ``(update_date, id)``; a cursor is the last key handed out, bound to the
query (MO and window) it came from, so it cannot be replayed against another query. Replies do
not move ``update_date`` (it dates the application's last change on the patient's side), so a
reply that lands between two pages never moves a task across the cursor.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from adapters.egisz.sandbox._generator import MO_OID, Batch

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "BadParameter", "Query", "batch_keys", "parse_query"]

DEFAULT_LIMIT, MAX_LIMIT = 100, 1000


class BadParameter(Exception):
    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail

    def body(self) -> dict[str, str]:
        return {"detail": self.detail, "field": self.field}


@dataclass(frozen=True)
class Query:
    mo: str
    start: int          # epoch seconds: a task is in the window when start <= ts < end
    end: int
    limit: int
    after: tuple[int, str] | None

    @property
    def _fingerprint(self) -> str:
        return hashlib.sha256(f"{self.mo}|{self.start}|{self.end}".encode()).hexdigest()[:16]

    def cursor(self, key: tuple[int, str]) -> str:
        raw = json.dumps({"t": key[0], "i": key[1], "q": self._fingerprint}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def with_cursor(self, cursor: str) -> Query:
        try:
            data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            key = (int(data["t"]), str(data["i"]))
            fingerprint = data["q"]
        except (ValueError, TypeError, KeyError, binascii.Error):
            raise BadParameter("cursor", "cursor is not one this service issued") from None
        if fingerprint != self._fingerprint:
            raise BadParameter("cursor", "cursor belongs to another query (mo, from, to)")
        return Query(self.mo, self.start, self.end, self.limit, key)


def _moment(params: Mapping[str, str], field: str) -> int:
    value = params.get(field)
    if not value:
        raise BadParameter(field, f"{field} is required (ISO 8601 with a UTC offset)")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadParameter(field, f"{field} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise BadParameter(field, f"{field} must carry a UTC offset, e.g. 2026-11-20T00:00:00+03:00")
    # Task times are whole seconds: ts >= x and ts < x both hold exactly when they hold for ceil(x).
    return math.ceil(moment.timestamp())


def parse_query(params: Mapping[str, str]) -> Query:
    """The query of a tasks request; raises BadParameter (HTTP 400) naming the first bad parameter."""
    mo = params.get("mo")
    if not mo:
        raise BadParameter("mo", "mo is required (the MO's OID)")
    if not MO_OID.match(mo):
        raise BadParameter("mo", "mo must be an MO OID 1.2.643.5.1.13.13.12.2.<region>.<n>")
    start, end = _moment(params, "from"), _moment(params, "to")
    if start >= end:
        raise BadParameter("to", "to must be later than from")
    raw_limit = params.get("limit") or str(DEFAULT_LIMIT)
    if not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise BadParameter("limit", f"limit must be an integer within 1..{MAX_LIMIT}")
    query = Query(mo, start, end, int(raw_limit), None)
    cursor = params.get("cursor")
    return query.with_cursor(cursor) if cursor else query


def batch_keys(batch: Batch, query: Query) -> Iterator[tuple[int, str, int]]:
    """``(ts, id, index)`` of the batch's tasks for the query, from the cursor on, in order: O(log n) to start."""
    indices = batch.indices(query.mo)
    position = bisect_left(indices, (query.start, ""), key=batch.sort_key)
    if query.after is not None:
        position = max(position, bisect_right(indices, query.after, key=batch.sort_key))
    for index in indices[position:]:
        ts = batch.ts(index)
        if ts >= query.end:
            return
        yield ts, batch.task_id(index), index
