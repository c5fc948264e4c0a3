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
MAX_BODY_BYTES = 1024 * 1024   # an Update is a few KiB; anything this big is not from MAX
_TEL = re.compile(r"^TEL[^:]*:(.+)$", re.MULTILINE)
_INT64 = 2**63


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
        data = _object(data)
        return cls(user_id=_int(data["user_id"]), first_name=_text(data.get("first_name")) or "",
                   last_name=_text(data.get("last_name")), username=_text(data.get("username")),
                   is_bot=bool(data.get("is_bot")))


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
        data = _object(data)
        body = _object(data.get("body") or {})
        recipient = _object(data.get("recipient") or {})
        sender = data.get("sender")
        attachments = body.get("attachments") or []
        if not isinstance(attachments, list):
            raise TypeError("attachments: expected a list")
        return cls(mid=_text(body.get("mid")) or "", seq=_opt_int(body.get("seq")), text=_text(body.get("text")),
                   timestamp=_int(data.get("timestamp", 0)), sender=MaxUser.from_json(sender) if sender else None,
                   chat_id=_opt_int(recipient.get("chat_id")), chat_type=_text(recipient.get("chat_type")),
                   recipient_user_id=_opt_int(recipient.get("user_id")),
                   attachments=tuple(_object(a) for a in attachments))

    @property
    def contact(self) -> Contact | None:
        for attachment in self.attachments:
            if attachment.get("type") == "contact":
                payload = attachment.get("payload")
                payload = payload if isinstance(payload, Mapping) else {}
                info = payload.get("max_info")
                try:
                    user = MaxUser.from_json(info) if info else None
                except (KeyError, TypeError, ValueError):
                    user = None
                return Contact(vcf_info=_text(payload.get("vcf_info")) or "", hash=_text(payload.get("hash")),
                               user=user)
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
    """Check the secret (when one was set at subscription) and parse the body into an Update.

    Anything that is not an Update of the expected shape — too big, not JSON, nested beyond the
    parser's depth, a field of the wrong type or out of range — is a WebhookRejected (413/400).
    """
    if secret is not None:
        verify_secret(headers, secret)
    if len(body) > MAX_BODY_BYTES:
        raise WebhookRejected(f"body larger than {MAX_BODY_BYTES} bytes", 413)
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise WebhookRejected("body is not JSON", 400) from None
    if not isinstance(data, dict):
        raise WebhookRejected("body is not an Update object", 400)
    try:
        return parse_update(data)
    except (KeyError, TypeError, ValueError):
        raise WebhookRejected("Update is missing required fields or has fields of the wrong type", 400) from None


def parse_update(data: Mapping[str, Any]) -> Update:
    """An Update from its JSON object; TypeError/ValueError/KeyError for a field missing or of the wrong type."""
    kind = _text(data.get("update_type")) or ""
    ts = _int(data.get("timestamp", 0))
    locale = _text(data.get("user_locale"))
    if kind == "message_created":
        return MessageCreated(ts, IncomingMessage.from_json(data["message"]), locale, data)
    if kind == "message_edited":
        return MessageEdited(ts, IncomingMessage.from_json(data["message"]), data)
    if kind == "message_callback":
        callback = _object(data["callback"])
        message = data.get("message")
        return MessageCallback(ts, _required_text(callback["callback_id"]), _text(callback.get("payload")),
                               MaxUser.from_json(callback["user"]),
                               IncomingMessage.from_json(message) if message else None, locale, data)
    if kind == "bot_started":
        return BotStarted(ts, _int(data["chat_id"]), MaxUser.from_json(data["user"]), _text(data.get("payload")),
                          locale, data)
    if kind == "bot_stopped":
        return BotStopped(ts, _int(data["chat_id"]), MaxUser.from_json(data["user"]), locale, data)
    if kind == "user_added":
        return UserAdded(ts, _int(data["chat_id"]), MaxUser.from_json(data["user"]),
                         _opt_int(data.get("inviter_id")), bool(data.get("is_channel")), data)
    return RawUpdate(kind, ts, data)


def _object(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError("expected a JSON object")
    return value


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError("expected a string")


def _required_text(value: Any) -> str:
    text = _text(value)
    if text is None:
        raise TypeError("expected a string")
    return text


def _int(value: Any) -> int:
    """A JSON integer (or a string of one, as some senders write ids) that fits int64."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) <= 20:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("expected an integer")
    if not -_INT64 <= value < _INT64:
        raise ValueError("integer out of range")
    return value


def _opt_int(value: Any) -> int | None:
    return None if value is None else _int(value)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None
