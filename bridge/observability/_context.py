"""The request id that ties together every log line of one call, across threads."""

from __future__ import annotations

import re
import uuid

import structlog

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def new_request_id() -> str:
    return uuid.uuid4().hex


def bind_request_id(candidate: str | None) -> str:
    """Bind the caller's request id (if it looks like an id) or a new one, and return it.

    A caller-supplied id is kept only when it is short and made of id characters, so a
    header cannot smuggle arbitrary text (or personal data) into every log line.
    """
    request_id = candidate if candidate and _SAFE_ID.match(candidate) else new_request_id()
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    return request_id


def current_request_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("request_id")
    return value if isinstance(value, str) else None
