"""The scheduled intake of applications (seed 002 §2: once a day the registry takes the region's
applications from the federal service).

The window runs from the end of the last successful run (the watermark), less a look-back, to now:
a task that becomes visible at ЕГИСЗ a little after the moment it carries (a commit that lands
late, a clock ahead of the upstream's) falls inside the next run's window instead of behind the
watermark, where no run would ever ask for it. Tasks come a
page at a time and each page is upserted in one transaction, so memory stays bounded however
many applications the window holds; the cursor (which MO, which page) is recorded after every
page, so an interrupted run resumes where it stopped, and a page taken twice changes nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.egisz._applications import Applications, parse_moment
from adapters.egisz._client import AttachmentUpstream
from bridge.scheduling import Interrupted, JobContext, JobRuns
from bridge.store import Store

JOB = "egisz.intake"


class Intake:
    def __init__(self, store: Store, upstream: AttachmentUpstream, applications: Applications,
                 mo_oids: tuple[str, ...], page_size: int = 500, first_window: timedelta = timedelta(days=1),
                 lookback: timedelta = timedelta(hours=1)) -> None:
        self._store = store
        self._upstream = upstream
        self._applications = applications
        self._mo_oids = mo_oids
        self._page_size = page_size
        self._first_window = first_window
        self._lookback = lookback

    def window(self, runs: JobRuns, now: datetime) -> tuple[datetime | None, datetime | None]:
        """From the watermark (the last successful run's end) less the look-back, to now."""
        last = runs.last_success(JOB)
        if last is not None and last.window_to is not None:
            since = last.window_to - self._lookback
        else:
            since = now - self._first_window
        return since, now

    def run(self, context: JobContext) -> int:
        since, until = context.window
        if since is None or until is None:
            raise ValueError("intake needs a window")
        position: dict[str, Any] = json.loads(context.cursor) if context.cursor else {"mo": 0, "cursor": None}
        processed = max(context.run.processed, 0)
        for index in range(int(position["mo"]), len(self._mo_oids)):
            cursor: str | None = position["cursor"] if index == position["mo"] else None
            while True:
                if context.stopping.is_set():
                    raise Interrupted(JOB)
                page = self._upstream.fetch_page(self._mo_oids[index], since, until, cursor, self._page_size)
                with self._store.session() as session:
                    self._applications.upsert_page(session, page.items)
                    session.commit()
                processed += len(page.items)
                cursor = page.next_cursor
                context.heartbeat(json.dumps({"mo": index, "cursor": cursor}), processed)
                if not cursor:
                    break
        return processed


def parse_window(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """A window given by a person (ДД.ММ.ГГГГ or ISO): whole days, ``until`` inclusive."""
    def one(value: str | None, end: bool) -> datetime | None:
        if not value:
            return None
        value = value.strip()
        try:
            moment = datetime.strptime(value, "%d.%m.%Y").replace(tzinfo=UTC)
            return moment + timedelta(days=1) if end else moment
        except ValueError:
            return parse_moment(value)

    return one(since, False), one(until, True)
