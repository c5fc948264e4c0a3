"""MaxBot: the MAX Bot API calls the bridge makes, through the delivery path.

The token goes in the ``Authorization`` header as it is (no ``Bearer``); the query
``access_token`` was switched off by MAX on 12 Feb 2026. Timeouts, retries of 429/5xx
(honouring Retry-After), the breaker, metrics and log lines all come from ``Upstream``;
this module builds requests, paces them through a ``RateLimiter`` and reads answers:

- a 4xx becomes ``MaxApiError(code, message)`` from MAX's ``{"code", "message"}`` body;
- 403 ``chat.denied`` becomes ``UserUnreachable`` (the user stopped the bot);
- HTTP 200 with ``{"success": false}`` is an error too (``PUT /messages`` answers so).

MAX defines no idempotency key, so none is sent. Whether a POST may be repeated after an
ambiguous failure (a timeout after sending, 500/502/504) is decided per endpoint on what MAX's
contract makes of a repeat, and told to ``Upstream`` with ``idempotent=`` (docs/max.md, "Retries"):
``POST /messages`` never (a repeat is a second message), ``POST /answers`` only when it carries no
one-off notification, ``POST /chats/{chatId}/members`` and ``POST /subscriptions`` always (a
member added twice is one member; subscribing a URL again updates its subscription). 429, 503
and failures to connect are retried for every call: MAX did not process them.

Neither the token nor message texts are logged here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from adapters.max._ratelimit import RateLimiter
from adapters.max._types import (
    MAX_MEMBERS_PER_CALL,
    MAX_MESSAGES_PER_CALL,
    ChatInfo,
    ChatMessage,
    MaxApiError,
    MaxRequestInvalid,
    MembersAdded,
    NewMessage,
    SentMessage,
    Subscription,
    UserUnreachable,
)
from adapters.max._webhook import Update, parse_update
from bridge.delivery import Upstream, UpstreamRejected


class MaxBot:
    def __init__(self, upstream: Upstream, token: str, limiter: RateLimiter | None = None) -> None:
        if not token:
            raise ValueError("MAX bot token is empty")
        self._upstream = upstream
        self._token = token
        self._limiter = limiter

    def __repr__(self) -> str:  # never show the token
        return f"MaxBot(upstream={self._upstream.name!r})"

    # --- messages -------------------------------------------------------------------------

    def send_message(self, message: NewMessage | str, *, user_id: int | None = None, chat_id: int | None = None,
                     disable_link_preview: bool = False) -> SentMessage:
        """POST /messages to a user (dialog) or a chat; exactly one of ``user_id`` / ``chat_id``."""
        if (user_id is None) == (chat_id is None):
            raise MaxRequestInvalid("user_id/chat_id", "give exactly one")
        body = _message(message).to_json()
        params = {"user_id": str(user_id)} if user_id is not None else {"chat_id": str(chat_id)}
        if disable_link_preview:
            params["disable_link_preview"] = "true"
        answer = self._call("POST", "/messages", params=params, json=body, user_id=user_id, chat_id=chat_id)
        return SentMessage.from_json(answer["message"])

    def edit_message(self, message_id: str, message: NewMessage | str) -> None:
        """PUT /messages: replaces text and (unless ``keep_attachments``) the keyboard."""
        body = _message(message).to_json()
        self._simple("PUT", "/messages", params={"message_id": _required(message_id, "message_id")}, json=body)

    def delete_message(self, message_id: str) -> None:
        self._simple("DELETE", "/messages", params={"message_id": _required(message_id, "message_id")})

    def messages(self, chat_id: int, count: int = 50) -> list[ChatMessage]:
        """GET /messages: the last ``count`` (1..100) messages of a chat or dialog, **newest first** as MAX gives them.

        For a dialog pass its ``chat_id`` (``bot_started.chat_id``). Used to reconcile after a
        crash: was this reminder already sent? A dialog the user stopped → ``UserUnreachable``.
        """
        if not 1 <= count <= MAX_MESSAGES_PER_CALL:
            raise MaxRequestInvalid("count", f"must be 1..{MAX_MESSAGES_PER_CALL}")
        answer = self._call("GET", "/messages", params={"chat_id": str(int(chat_id)), "count": str(count)},
                            chat_id=chat_id)
        return [ChatMessage.from_json(m) for m in answer.get("messages") or ()]

    def answer_callback(self, callback_id: str, *, notification: str | None = None,
                        message: NewMessage | str | None = None) -> None:
        """POST /answers: a one-off notification and/or a replacement of the pressed message."""
        if notification is None and message is None:
            raise MaxRequestInvalid("answer", "give a notification or a message")
        body: dict[str, Any] = {}
        if message is not None:
            body["message"] = _message(message).to_json()
        if notification is not None:
            body["notification"] = notification
        # A replacement of the message repeats harmlessly (as PUT /messages); a notification is
        # "одноразовое" and MAX documents nothing about a second answer to one callback.
        self._simple("POST", "/answers", params={"callback_id": _required(callback_id, "callback_id")}, json=body,
                     idempotent=notification is None)

    # --- chats ----------------------------------------------------------------------------

    def chat(self, chat_id: int) -> ChatInfo:
        """GET /chats/{chatId}: title, join ``link`` (None for dialogs and chats without one), participants."""
        answer = self._call("GET", "/chats/{chatId}", path_params={"chatId": str(int(chat_id))}, chat_id=chat_id)
        return ChatInfo.from_json(answer)

    def add_chat_members(self, chat_id: int, user_ids: Sequence[int]) -> MembersAdded:
        """POST /chats/{chatId}/members (the bot must be admin with ``add_remove_members``)."""
        ids = list(dict.fromkeys(int(u) for u in user_ids))
        if not 1 <= len(ids) <= MAX_MEMBERS_PER_CALL:
            raise MaxRequestInvalid("user_ids", f"give 1..{MAX_MEMBERS_PER_CALL} users")
        answer = self._call("POST", "/chats/{chatId}/members", path_params={"chatId": str(chat_id)},
                            json={"user_ids": ids}, chat_id=chat_id, idempotent=True)  # membership is a set
        failed = tuple(int(u) for u in answer.get("failed_user_ids") or ())
        reasons: dict[int, str] = {}
        for detail in answer.get("failed_user_details") or ():
            for uid in detail.get("user_ids") or ():
                reasons[int(uid)] = str(detail.get("error_code", ""))
        if answer.get("success") is False and not failed:
            raise MaxApiError("members.failed", str(answer.get("message", "")), 200)
        return MembersAdded(success=bool(answer.get("success", True)), failed_user_ids=failed,
                            failed_reasons=reasons)

    # --- updates --------------------------------------------------------------------------

    def subscribe(self, url: str, update_types: Iterable[str] | None = None, secret: str | None = None) -> None:
        body: dict[str, Any] = {"url": url}
        if update_types is not None:
            body["update_types"] = list(update_types)
        if secret is not None:
            body["secret"] = secret
        # MAX: "Чтобы обновить подписку на события, используйте текущий метод" — a repeat updates it.
        self._simple("POST", "/subscriptions", json=body, idempotent=True)

    def unsubscribe(self, url: str) -> None:
        self._simple("DELETE", "/subscriptions", params={"url": url})

    def subscriptions(self) -> list[Subscription]:
        answer = self._call("GET", "/subscriptions")
        return [Subscription(url=s["url"], time=int(s.get("time", 0)),
                             update_types=tuple(s["update_types"]) if s.get("update_types") is not None else None)
                for s in answer.get("subscriptions") or ()]

    def get_updates(self, marker: int | None = None, *, timeout: int = 5, limit: int = 100,
                    types: Iterable[str] | None = None) -> tuple[list[Update], int | None]:
        """GET /updates (long polling; development only, MAX throttles it to 2 rps).

        Returns the updates and the marker to pass next time (kept when MAX answers none). MAX holds
        the call up to ``timeout`` seconds: keep it below the ``max`` upstream's read timeout (10 s by
        default), or the delivery path times the wait out.
        """
        params = {"timeout": str(timeout), "limit": str(limit)}
        if marker is not None:
            params["marker"] = str(marker)
        if types is not None:
            params["types"] = ",".join(types)
        answer = self._call("GET", "/updates", params=params)
        next_marker = answer.get("marker")
        return [parse_update(u) for u in answer.get("updates") or ()], (marker if next_marker is None else next_marker)

    # --- plumbing -------------------------------------------------------------------------

    def _simple(self, method: str, endpoint: str, **kwargs: Any) -> None:
        self._call(method, endpoint, **kwargs)  # _call raises on success: false

    def _call(self, method: str, endpoint: str, *, path_params: Mapping[str, str] | None = None,
              params: Mapping[str, str] | None = None, json: Any = None, idempotent: bool = False,
              user_id: int | None = None, chat_id: int | None = None) -> dict[str, Any]:
        if self._limiter is not None:
            self._limiter.acquire()
        headers = {"Authorization": self._token}
        try:
            response = self._upstream.request(method, endpoint, path_params=path_params, params=params, json=json,
                                              headers=headers, idempotent=idempotent)
        except UpstreamRejected as exc:
            code, message = _error_body(exc.body)
            if exc.status_code == 403 and code == "chat.denied":
                raise UserUnreachable(user_id, chat_id, message) from None
            raise MaxApiError(code, message, exc.status_code) from None
        try:
            answer = response.json() if response.content else {}
        except ValueError:
            raise MaxApiError("invalid.answer", "the answer is not JSON", response.status_code) from None
        if not isinstance(answer, dict):
            raise MaxApiError("invalid.answer", "the answer is not a JSON object", response.status_code)
        if answer.get("success") is False and "failed_user_ids" not in answer:
            raise MaxApiError(str(answer.get("code", "success.false")), str(answer.get("message", "")),
                              response.status_code)
        return answer


def _message(message: NewMessage | str) -> NewMessage:
    return NewMessage(text=message) if isinstance(message, str) else message


def _required(value: str, name: str) -> str:
    if not value or not value.strip():
        raise MaxRequestInvalid(name, "is empty")
    return value


def _error_body(body: bytes) -> tuple[str, str]:
    try:
        data = json.loads(body)
    except ValueError:
        return "http.error", ""
    if not isinstance(data, dict):
        return "http.error", ""
    return str(data.get("code") or data.get("error") or "http.error"), str(data.get("message", ""))
