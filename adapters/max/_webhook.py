"""Webhook bodies from MAX: checking the secret header and reading the Update.

A webhook body is one ``Update`` (no ``updates`` wrapper, unlike GET /updates). The types
the bridge acts on are typed; any other ``update_type`` comes back as ``RawUpdate`` rather
than an error, since MAX adds types without notice. Duplicates happen (MAX retries): dedupe
on ``message.mid`` / ``callback_id`` downstream.

Phone numbers (contact attachments) are kept out of ``repr`` so they cannot reach a log line.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SECRET_HEADER = "X-Max-Bot-Api-Secret"
_TEL = re.compile(r"^TEL[^:]*:(.+)$", re.MULTILINE)


class WebhookRejected(Exception):
    """The request did not come from MAX (wrong or missing secret) or is not an Update. Answer 401/400."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True, slots=True)
class MaxUser:
    user_id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    is_bot: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MaxUser:
        return cls(user_id=int(data["user_id"]), first_name=str(data.get("first_name", "")),
                   last_name=data.get("last_name"), username=data.get("username"), is_bot=bool(data.get("is_bot")))


@dataclass(frozen=True, slots=True)
class Contact:
    """A shared contact (``request_contact`` button). ``phone`` is personal data: not in repr."""

    vcf_info: str = field(repr=False)
    hash: str | None = field(repr=False)
    user: MaxUser | None

    @property
    def phone(self) -> str | None:
        """The first TEL of the vCard, digits only (e.g. ``79991234567``)."""
        found = _TEL.search(self.vcf_info.replace("\r\n", "\n"))
        if not found:
            return None
        digits = re.sub(r"\D", "", found.group(1))
        return digits or None


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    mid: str
    seq: int | None
    text: str | None
    timestamp: int
    sender: MaxUser | None
    chat_id: int | None
    chat_type: str | None
    recipient_user_id: int | None
    attachments: tuple[Mapping[str, Any], ...] = field(repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IncomingMessage:
        body = data.get("body") or {}
        recipient = data.get("recipient") or {}
        sender = data.get("sender")
        return cls(mid=str(body.get("mid", "")), seq=body.get("seq"), text=body.get("text"),
                   timestamp=int(data.get("timestamp", 0)), sender=MaxUser.from_json(sender) if sender else None,
                   chat_id=recipient.get("chat_id"), chat_type=recipient.get("chat_type"),
                   recipient_user_id=recipient.get("user_id"), attachments=tuple(body.get("attachments") or ()))

    @property
    def contact(self) -> Contact | None:
        for attachment in self.attachments:
            if attachment.get("type") == "contact":
                payload = attachment.get("payload") or {}
                info = payload.get("max_info")
                return Contact(vcf_info=str(payload.get("vcf_info") or ""), hash=payload.get("hash"),
                               user=MaxUser.from_json(info) if info else None)
        return None


@dataclass(frozen=True, slots=True)
class MessageCreated:
    timestamp: int
    message: IncomingMessage
    user_locale: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    update_type: str = "message_created"


@dataclass(frozen=True, slots=True)
class MessageEdited:
    timestamp: int
    message: IncomingMessage
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    update_type: str = "message_edited"


@dataclass(frozen=True, slots=True)
class MessageCallback:
    timestamp: int
    callback_id: str
    payload: str | None
    user: MaxUser
    message: IncomingMessage | None
    user_locale: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    update_type: str = "message_callback"


@dataclass(frozen=True, slots=True)
class BotStarted:
    timestamp: int
    chat_id: int
    user: MaxUser
    payload: str | None
    user_locale: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    update_type: str = "bot_started"


@dataclass(frozen=True, slots=True)
class BotStopped:
    timestamp: int
    chat_id: int
    user: MaxUser
    user_locale: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    update_type: str = "bot_stopped"


@dataclass(frozen=True, slots=True)
class UserAdded:
    timestamp: int
    chat_id: int
    user: MaxUser
    inviter_id: int | None
    is_channel: bool
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    update_type: str = "user_added"


@dataclass(frozen=True, slots=True)
class RawUpdate:
    """An update type we do not act on (or do not know yet), kept as MAX sent it."""

    update_type: str
    timestamp: int
    raw: Mapping[str, Any] = field(repr=False, compare=False)


Update = MessageCreated | MessageEdited | MessageCallback | BotStarted | BotStopped | UserAdded | RawUpdate


def verify_secret(headers: Mapping[str, str], secret: str) -> None:
    """Raise WebhookRejected(401) unless the secret header equals ``secret`` (constant time)."""
    given = _header(headers, SECRET_HEADER)
    if given is None or not hmac.compare_digest(given.encode(), secret.encode()):
        raise WebhookRejected("webhook secret missing or wrong", 401)


def read_webhook(headers: Mapping[str, str], body: bytes | str, secret: str | None) -> Update:
    """Check the secret (when one was set at subscription) and parse the body into an Update."""
    if secret is not None:
        verify_secret(headers, secret)
    try:
        data = json.loads(body)
    except ValueError:
        raise WebhookRejected("body is not JSON", 400) from None
    if not isinstance(data, dict):
        raise WebhookRejected("body is not an Update object", 400)
    try:
        return parse_update(data)
    except (KeyError, TypeError, ValueError):
        raise WebhookRejected("Update is missing required fields", 400) from None


def parse_update(data: Mapping[str, Any]) -> Update:
    kind = str(data.get("update_type", ""))
    ts = int(data.get("timestamp", 0))
    locale = data.get("user_locale")
    if kind == "message_created":
        return MessageCreated(ts, IncomingMessage.from_json(data["message"]), locale, data)
    if kind == "message_edited":
        return MessageEdited(ts, IncomingMessage.from_json(data["message"]), data)
    if kind == "message_callback":
        callback = data["callback"]
        message = data.get("message")
        return MessageCallback(ts, str(callback["callback_id"]), callback.get("payload"),
                               MaxUser.from_json(callback["user"]),
                               IncomingMessage.from_json(message) if message else None, locale, data)
    if kind == "bot_started":
        return BotStarted(ts, int(data["chat_id"]), MaxUser.from_json(data["user"]), data.get("payload"), locale, data)
    if kind == "bot_stopped":
        return BotStopped(ts, int(data["chat_id"]), MaxUser.from_json(data["user"]), locale, data)
    if kind == "user_added":
        inviter = data.get("inviter_id")
        return UserAdded(ts, int(data["chat_id"]), MaxUser.from_json(data["user"]),
                         int(inviter) if inviter is not None else None, bool(data.get("is_channel")), data)
    return RawUpdate(kind, ts, data)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None
