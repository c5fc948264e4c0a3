"""Sferum (VK's school messenger): the consultation chat of a telemedicine booking (a client package).

The sandbox Sferum is in ``adapters.sferum.sandbox`` (FastAPI); import it from there.

The client makes the three ``educationSchool.*`` calls through ``bridge.delivery.Upstream``;
see docs/sferum.md for the contract as we use it and what of it is assumption.
"""

from adapters.sferum._client import CHAT_TYPE, DEFAULT_API_VERSION, SferumClient
from adapters.sferum._types import (
    ERROR_AUTH,
    ERROR_CAPTCHA,
    ERROR_FLOOD,
    ERROR_INTERNAL,
    ERROR_PARAM,
    ERROR_RATE_LIMIT,
    ERROR_TOO_MANY,
    TRANSIENT_ERRORS,
    CallStarted,
    ChatRole,
    ChatUser,
    MemberRole,
    SferumAnswerInvalid,
    SferumApiError,
    SferumChat,
    SferumError,
    SferumRequestInvalid,
    UsersAdded,
    normalise_phone,
)

__all__ = [
    "CHAT_TYPE",
    "DEFAULT_API_VERSION",
    "ERROR_AUTH",
    "ERROR_CAPTCHA",
    "ERROR_FLOOD",
    "ERROR_INTERNAL",
    "ERROR_PARAM",
    "ERROR_RATE_LIMIT",
    "ERROR_TOO_MANY",
    "TRANSIENT_ERRORS",
    "CallStarted",
    "ChatRole",
    "ChatUser",
    "MemberRole",
    "SferumAnswerInvalid",
    "SferumApiError",
    "SferumChat",
    "SferumClient",
    "SferumError",
    "SferumRequestInvalid",
    "UsersAdded",
    "normalise_phone",
]
