"""What we send to and read from Sferum's ``educationSchool.*`` methods, and how it refuses.

Phones are personal data: they are kept out of every ``repr`` and every error text here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

ChatRole = Literal["teacher", "student"]
MemberRole = Literal["admin", "member"]
CHAT_ROLES: tuple[ChatRole, ...] = ("teacher", "student")
MEMBER_ROLES: tuple[MemberRole, ...] = ("admin", "member")

# VK error codes (VKCOM/vk-api-schema errors.json) that Sferum's envelope carries.
ERROR_AUTH = 5  # User authorization failed
ERROR_TOO_MANY = 6  # Too many requests per second
ERROR_FLOOD = 9  # Flood control
ERROR_INTERNAL = 10  # Internal server error
ERROR_CAPTCHA = 14  # Captcha needed
ERROR_RATE_LIMIT = 29  # Rate limit reached
ERROR_PARAM = 100  # One of the parameters specified was missing or invalid
TRANSIENT_ERRORS = frozenset({ERROR_TOO_MANY, ERROR_FLOOD, ERROR_INTERNAL, ERROR_RATE_LIMIT})

_SEPARATORS = re.compile(r"[\s()\-]")


class SferumError(Exception):
    """Anything the Sferum client raises itself (delivery failures are ``bridge.delivery`` errors)."""


class SferumRequestInvalid(SferumError, ValueError):
    """The request breaks a rule and was not sent: names the field and the rule, never the value."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class SferumApiError(SferumError):
    """Sferum answered ``{"error": {"error_code", "error_msg"}}`` with a code that retrying will not cure.

    5 the token is refused, 14 a captcha is wanted, 100 a parameter is missing or invalid…
    ``message`` is Sferum's ``error_msg`` with anything shaped like personal data masked.
    """

    def __init__(self, code: int, message: str, method: str) -> None:
        super().__init__(f"Sferum {method}: error {code}: {message}")
        self.code = code
        self.message = message
        self.method = method


class SferumAnswerInvalid(SferumError):
    """The answer is neither ``{"response": …}`` of the expected shape nor an error envelope."""

    def __init__(self, method: str, reason: str) -> None:
        super().__init__(f"Sferum {method}: {reason}")
        self.method = method
        self.reason = reason


def normalise_phone(phone: str, field: str = "phone") -> str:
    """``+7 916 123-45-67``, ``8 (916) 1234567``, ``79161234567`` → ``79161234567`` (what Sferum takes).

    :raises SferumRequestInvalid: naming ``field`` (the value is never in the message).
    """
    digits = _SEPARATORS.sub("", phone or "")
    if digits.startswith("+7"):
        digits = digits[1:]
    elif digits.startswith("8") and len(digits) == 11:
        digits = "7" + digits[1:]
    if not (len(digits) == 11 and digits.startswith("7") and digits.isascii() and digits.isdigit()):
        raise SferumRequestInvalid(field, "must be a Russian number: +7 or 8 and 10 digits")
    return digits


@dataclass(frozen=True, slots=True)
class ChatUser:
    """One person to add to a consultation chat, by phone (their Sferum/VK ID account's number)."""

    phone: str = field(repr=False)
    chat_role: ChatRole
    member_role: MemberRole

    @classmethod
    def doctor(cls, phone: str) -> ChatUser:
        """The doctor runs the consultation: ``teacher``, chat ``admin``."""
        return cls(phone, "teacher", "admin")

    @classmethod
    def patient(cls, phone: str) -> ChatUser:
        """The patient: ``student``, plain ``member``."""
        return cls(phone, "student", "member")


@dataclass(frozen=True, slots=True)
class SferumChat:
    """What ``educationSchool.createChat`` answered."""

    chat_id: int
    invite_link: str
    all_can_post: bool


@dataclass(frozen=True, slots=True)
class UsersAdded:
    """What ``educationSchool.addChatUsers`` answered: phones refused, and phones queued to be added.

    Adding is asynchronous as far as the name ``queued_users`` tells; an empty ``failed``
    is success. Phones are as Sferum gives them (``79XXXXXXXXX``); compare with
    ``normalise_phone``. The repr shows only how many.
    """

    failed: tuple[str, ...] = field(repr=False)
    queued: tuple[str, ...] = field(repr=False)

    def __repr__(self) -> str:
        return f"UsersAdded(failed={len(self.failed)}, queued={len(self.queued)})"

    @property
    def all_queued(self) -> bool:
        return not self.failed


@dataclass(frozen=True, slots=True)
class CallStarted:
    """What ``educationSchool.callStart`` answered: the link the participants open to join."""

    join_link: str
    call_id: str
    chat_id: int
