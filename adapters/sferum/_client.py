"""SferumClient: the three ``educationSchool.*`` calls of a telemedicine chat, through the delivery path.

Each call is ``POST /method/<name>``, form-encoded, with ``access_token`` and ``v`` in the
form body. Answers come VK-style, always with HTTP 200: ``{"response": …}`` or
``{"error": {"error_code", "error_msg", "request_params"}}``. This module builds the forms and
reads the answers; it never retries or times anything itself:

- codes 6, 9, 29 (rate limits: the call was not processed) are handed back to ``Upstream`` as
  a ``RetryAnswer`` counted like HTTP 429, so they are retried with back-off for every call —
  6 after a second, since it is a per-second limit; once the budget is spent
  ``bridge.delivery.UpstreamBusy`` (an ``UpstreamUnavailable``) comes out;
- code 10 (internal error: the call may or may not have been processed) is counted like
  HTTP 500: retried only for ``addChatUsers``, which may be repeated (users already in the chat
  are fine), never for ``createChat`` (a second chat) or ``callStart`` (a second call);
- any other code is ``SferumApiError(code, message)``.

``createChat`` is not repeated after an ambiguous network failure either (no idempotency key
in the protocol), exactly like ``MaxBot.send_message``. Neither the token nor a phone is
logged or put in an error text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from adapters.sferum._types import (
    CHAT_ROLES,
    ERROR_INTERNAL,
    ERROR_TOO_MANY,
    MEMBER_ROLES,
    TRANSIENT_ERRORS,
    CallStarted,
    ChatUser,
    SferumAnswerInvalid,
    SferumApiError,
    SferumChat,
    SferumRequestInvalid,
    UsersAdded,
    normalise_phone,
)
from bridge.delivery import RetryAnswer, Upstream, new_idempotency_key
from bridge.observability import get_logger, mask_text

DEFAULT_API_VERSION = "5.199"
"""Sent as ``v``. An assumption: the one public client sends no ``v``; 5.199 is VK's current version."""

CHAT_TYPE = "telemedicine"
_PER_SECOND_WAIT = 1.0  # error 6 is a per-second limit: the next second is free again

_log = get_logger("adapters.sferum")


class SferumClient:
    def __init__(self, upstream: Upstream, token: str, *, api_version: str = DEFAULT_API_VERSION) -> None:
        if not token:
            raise ValueError("Sferum access token is empty")
        self._upstream = upstream
        self._token = token
        self._api_version = api_version

    def __repr__(self) -> str:  # never show the token
        return f"SferumClient(upstream={self._upstream.name!r}, api_version={self._api_version!r})"

    def create_chat(self, title: str) -> SferumChat:
        """``educationSchool.createChat`` with ``type=telemedicine``: a new consultation chat."""
        if not title or not title.strip():
            raise SferumRequestInvalid("chat_title", "is empty")
        answer = self._call("educationSchool.createChat", {"type": CHAT_TYPE, "chat_title": title},
                            repeatable=False)
        try:
            return SferumChat(chat_id=int(answer["chat_id"]), invite_link=str(answer["invite_link"]),
                              all_can_post=bool(answer.get("all_can_post", False)))
        except (KeyError, TypeError, ValueError):
            raise SferumAnswerInvalid("educationSchool.createChat", "no chat_id or invite_link") from None

    def add_chat_users(self, chat_id: int, users: Sequence[ChatUser]) -> UsersAdded:
        """``educationSchool.addChatUsers``: phones normalised to ``79XXXXXXXXX`` and checked before sending."""
        if not users:
            raise SferumRequestInvalid("users", "give at least one user")
        entries: list[dict[str, str]] = []
        seen: dict[str, int] = {}
        for index, user in enumerate(users):
            where = f"users[{index}]"
            phone = normalise_phone(user.phone, f"{where}.phone")
            if phone in seen:
                raise SferumRequestInvalid(f"{where}.phone", f"repeats users[{seen[phone]}].phone")
            seen[phone] = index
            if user.chat_role not in CHAT_ROLES:
                raise SferumRequestInvalid(f"{where}.chat_role", f"must be one of {', '.join(CHAT_ROLES)}")
            if user.member_role not in MEMBER_ROLES:
                raise SferumRequestInvalid(f"{where}.member_role", f"must be one of {', '.join(MEMBER_ROLES)}")
            entries.append({"phone": phone, "chat_role": user.chat_role, "member_role": user.member_role})
        form = {"chat_id": str(int(chat_id)), "users": json.dumps(entries, separators=(",", ":"))}
        answer = self._call("educationSchool.addChatUsers", form, repeatable=True)
        added = UsersAdded(failed=_phones(answer.get("failed_users")), queued=_phones(answer.get("queued_users")))
        if added.failed:
            _log.warning("sferum.users_not_added", chat_id=int(chat_id), failed=len(added.failed),
                         queued=len(added.queued))
        return added

    def call_start(self, chat_id: int) -> CallStarted:
        """``educationSchool.callStart``: starts the video call in the chat and gives its join link."""
        answer = self._call("educationSchool.callStart", {"chat_id": str(int(chat_id))}, repeatable=False)
        try:
            return CallStarted(join_link=str(answer["join_link"]), call_id=str(answer["call_id"]),
                               chat_id=int(answer.get("chat_id", chat_id)))
        except (KeyError, TypeError, ValueError):
            raise SferumAnswerInvalid("educationSchool.callStart", "no join_link or call_id") from None

    # --- plumbing -------------------------------------------------------------------------

    def _call(self, method: str, params: Mapping[str, str], *, repeatable: bool) -> dict[str, Any]:
        """POST the form; return ``response``. ``repeatable``: the call may be repeated after an ambiguous failure."""
        form = {**params, "access_token": self._token, "v": self._api_version}
        response = self._upstream.request("POST", f"/method/{method}", data=form, retry_answer=_transient,
                                          idempotency_key=new_idempotency_key() if repeatable else None)
        body = _json(response)
        if body is None:
            raise SferumAnswerInvalid(method, "the answer is not a JSON object")
        error = body.get("error")
        if isinstance(error, dict):
            code = _error_code(error)
            if code is None:
                raise SferumAnswerInvalid(method, "an error without an error_code")
            _log.warning("sferum.refused", method=method, code=code)
            raise SferumApiError(code, self._clean(str(error.get("error_msg", ""))), method)
        answer = body.get("response")
        if not isinstance(answer, dict):
            raise SferumAnswerInvalid(method, "no response object in the answer")
        return answer

    def _clean(self, text: str) -> str:
        return mask_text(text.replace(self._token, "***"))


def _transient(response: httpx.Response) -> RetryAnswer | None:
    """The delivery path's ``retry_answer``: VK error codes that mean "not now"."""
    body = _json(response)
    error = body.get("error") if body is not None else None
    code = _error_code(error) if isinstance(error, dict) else None
    if code is None or code not in TRANSIENT_ERRORS:
        return None
    reason = f"VK error {code}"
    if code == ERROR_INTERNAL:
        return RetryAnswer(reason, status=500)
    return RetryAnswer(reason, status=429, retry_after=_PER_SECOND_WAIT if code == ERROR_TOO_MANY else None)


def _json(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _error_code(error: Mapping[str, Any]) -> int | None:
    try:
        return int(error["error_code"])
    except (KeyError, TypeError, ValueError):
        return None


def _phones(items: Any) -> tuple[str, ...]:
    """``failed_users`` / ``queued_users``: phones, or objects with a ``phone`` (read either)."""
    if not isinstance(items, list):
        return ()
    return tuple(str(item.get("phone", "")) if isinstance(item, dict) else str(item) for item in items)
