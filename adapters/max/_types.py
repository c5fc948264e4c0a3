"""What we send to and read from the MAX Bot API: the few shapes the bridge uses, typed.

Requests serialise to the JSON of the OpenAPI schema (``NewMessageBody``, ``Button``…);
answers are read leniently (unknown fields ignored), since MAX adds fields without notice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_TEXT_LENGTH = 4000
MAX_BUTTON_TEXT = 128
MAX_CALLBACK_PAYLOAD = 1024
MAX_LINK_URL = 2048
MAX_MEMBERS_PER_CALL = 100
MAX_MESSAGES_PER_CALL = 100


class MaxApiError(Exception):
    """MAX refused the call: a 4xx answer, or HTTP 200 with ``success: false``.

    ``code`` is MAX's string key (``verify.token``, ``chat.denied``, ``proto.payload``…);
    the message is MAX's own and carries no personal data we put there.
    """

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"MAX {code}: {message}" + (f" (HTTP {status})" if status else ""))
        self.code = code
        self.message = message
        self.status = status


class UserUnreachable(MaxApiError):
    """403 ``chat.denied``: the user stopped or blocked the bot; use another channel."""

    def __init__(self, user_id: int | None, chat_id: int | None = None, message: str = "") -> None:
        super().__init__("chat.denied", message or "the user stopped the bot", 403)
        self.user_id = user_id
        self.chat_id = chat_id


class MaxRequestInvalid(ValueError):
    """The request breaks a MAX limit and was not sent (names the field and the rule)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CallbackButton:
    text: str
    payload: str

    def to_json(self) -> dict[str, Any]:
        return {"type": "callback", "text": self.text, "payload": self.payload}


@dataclass(frozen=True, slots=True)
class LinkButton:
    text: str
    url: str

    def to_json(self) -> dict[str, Any]:
        return {"type": "link", "text": self.text, "url": self.url}


@dataclass(frozen=True, slots=True)
class RequestContactButton:
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"type": "request_contact", "text": self.text}


Button = CallbackButton | LinkButton | RequestContactButton


@dataclass(frozen=True, slots=True)
class InlineKeyboard:
    """Rows of buttons; an attachment of type ``inline_keyboard``."""

    rows: tuple[tuple[Button, ...], ...]

    @classmethod
    def of(cls, *rows: Sequence[Button]) -> InlineKeyboard:
        return cls(tuple(tuple(row) for row in rows))

    def to_json(self) -> dict[str, Any]:
        return {"type": "inline_keyboard",
                "payload": {"buttons": [[button.to_json() for button in row] for row in self.rows]}}

    def validate(self) -> None:
        if not self.rows or not all(self.rows):
            raise MaxRequestInvalid("attachments.buttons", "a keyboard needs at least one button in every row")
        for row in self.rows:
            for button in row:
                if not 1 <= len(button.text) <= MAX_BUTTON_TEXT:
                    raise MaxRequestInvalid("button.text", f"must be 1..{MAX_BUTTON_TEXT} characters")
                if isinstance(button, CallbackButton) and len(button.payload) > MAX_CALLBACK_PAYLOAD:
                    raise MaxRequestInvalid("button.payload", f"must be at most {MAX_CALLBACK_PAYLOAD} characters")
                if isinstance(button, LinkButton) and len(button.url) > MAX_LINK_URL:
                    raise MaxRequestInvalid("button.url", f"must be at most {MAX_LINK_URL} characters")


@dataclass(frozen=True, slots=True)
class NewMessage:
    """``NewMessageBody``. ``keyboard=None`` with ``keep_attachments`` leaves an edited message's keyboard."""

    text: str | None
    keyboard: InlineKeyboard | None = None
    format: str | None = None
    notify: bool = True
    keep_attachments: bool = False

    def to_json(self) -> dict[str, Any]:
        if self.text is not None and len(self.text) > MAX_TEXT_LENGTH:
            raise MaxRequestInvalid("text", f"must be at most {MAX_TEXT_LENGTH} characters, got {len(self.text)}")
        if self.format not in (None, "markdown", "html"):
            raise MaxRequestInvalid("format", "must be markdown or html")
        attachments: list[dict[str, Any]] | None
        if self.keyboard is not None:
            self.keyboard.validate()
            attachments = [self.keyboard.to_json()]
        else:
            # null keeps the attachments of an edited message; [] removes them (the only way to drop a keyboard).
            attachments = None if self.keep_attachments else []
        # The schema requires text, attachments and link to be present (nullable).
        body: dict[str, Any] = {"text": self.text, "attachments": attachments, "link": None, "notify": self.notify}
        if self.format is not None:
            body["format"] = self.format
        return body


@dataclass(frozen=True, slots=True)
class SentMessage:
    """What POST /messages answered: the message id (``mid``) and where it went."""

    message_id: str
    seq: int | None
    chat_id: int | None
    user_id: int | None
    timestamp: int
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, message: Mapping[str, Any]) -> SentMessage:
        body = message.get("body") or {}
        recipient = message.get("recipient") or {}
        return cls(message_id=str(body["mid"]), seq=body.get("seq"), chat_id=recipient.get("chat_id"),
                   user_id=recipient.get("user_id"), timestamp=int(message.get("timestamp", 0)), raw=message)


@dataclass(frozen=True, slots=True)
class MembersAdded:
    """``ModifyMembersResult``: who could not be added and why (``add.participant.privacy``…)."""

    success: bool
    failed_user_ids: tuple[int, ...]
    failed_reasons: Mapping[int, str]


@dataclass(frozen=True, slots=True)
class Subscription:
    url: str
    time: int
    update_types: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A message of a chat's history (``GET /messages``): who sent it, when, and what it says.

    ``callback_payloads`` are the payloads of its callback buttons: a stable mark of which
    booking a reminder was about, to tell after a crash whether it was already sent.
    """

    message_id: str
    seq: int | None
    text: str | None = field(repr=False)  # may name the patient
    timestamp: int
    sender_user_id: int | None
    is_bot: bool
    chat_id: int | None
    callback_payloads: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, message: Mapping[str, Any]) -> ChatMessage:
        body = message.get("body") or {}
        sender = message.get("sender") or {}
        recipient = message.get("recipient") or {}
        payloads = tuple(str(button["payload"])
                         for attachment in body.get("attachments") or () if attachment.get("type") == "inline_keyboard"
                         for row in (attachment.get("payload") or {}).get("buttons") or ()
                         for button in row if button.get("type") == "callback" and "payload" in button)
        sender_id = sender.get("user_id")
        return cls(message_id=str(body["mid"]), seq=body.get("seq"), text=body.get("text"),
                   timestamp=int(message.get("timestamp", 0)),
                   sender_user_id=int(sender_id) if sender_id is not None else None,
                   is_bot=bool(sender.get("is_bot")), chat_id=recipient.get("chat_id"),
                   callback_payloads=payloads, raw=message)


@dataclass(frozen=True, slots=True)
class ChatInfo:
    """``GET /chats/{chatId}``: a group chat (``link`` is its join link) or a dialog (no title, no link)."""

    chat_id: int
    title: str | None
    link: str | None
    participants_count: int
    chat_type: str
    status: str

    @classmethod
    def from_json(cls, chat: Mapping[str, Any]) -> ChatInfo:
        return cls(chat_id=int(chat["chat_id"]), title=chat.get("title"), link=chat.get("link"),
                   participants_count=int(chat.get("participants_count", 0)), chat_type=str(chat.get("type", "")),
                   status=str(chat.get("status", "")))
