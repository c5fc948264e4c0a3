"""MAX messenger, a client package: the Bot API client, webhook reading, rate limiting across
instances (its table on the alembic branch ``max``: ``MIGRATIONS``), and the sandbox.

Not an adapter: the ТМК bot that uses it is the adapter ``tmk`` (``adapters.tmk``).
The sandbox factory lives in ``adapters.max.sandbox`` (it imports FastAPI); import it from there.
"""

from adapters.max._client import MaxBot
from adapters.max._ratelimit import (
    DEFAULT_RATE,
    MAX_REQUESTS_PER_SECOND,
    MIGRATIONS,
    LocalRateLimiter,
    RateLimiter,
    StoreRateLimiter,
)
from adapters.max._types import (
    MAX_TEXT_LENGTH,
    Button,
    CallbackButton,
    ChatInfo,
    ChatMessage,
    InlineKeyboard,
    LinkButton,
    MaxApiError,
    MaxRequestInvalid,
    MembersAdded,
    NewMessage,
    RequestContactButton,
    SentMessage,
    Subscription,
    UserUnreachable,
)
from adapters.max._webhook import (
    MAX_BODY_BYTES,
    SECRET_HEADER,
    BotStarted,
    BotStopped,
    Contact,
    IncomingMessage,
    MaxUser,
    MessageCallback,
    MessageCreated,
    MessageEdited,
    RawUpdate,
    Update,
    UserAdded,
    WebhookRejected,
    parse_update,
    read_webhook,
    verify_secret,
)

#: What ``bridge check`` says to a configuration that still names ``max`` in ``adapters``.
ADAPTER_MOVED = ("the ТМК bot is the adapter 'tmk' now (adapters.max is the MAX client it uses): "
                 "write 'tmk' instead of 'max' in adapters, and rename adapter_settings.max to adapter_settings.tmk")

__all__ = [
    "ADAPTER_MOVED",
    "DEFAULT_RATE",
    "MAX_BODY_BYTES",
    "MAX_REQUESTS_PER_SECOND",
    "MAX_TEXT_LENGTH",
    "MIGRATIONS",
    "SECRET_HEADER",
    "BotStarted",
    "BotStopped",
    "Button",
    "CallbackButton",
    "ChatInfo",
    "ChatMessage",
    "Contact",
    "IncomingMessage",
    "InlineKeyboard",
    "LinkButton",
    "LocalRateLimiter",
    "MaxApiError",
    "MaxBot",
    "MaxRequestInvalid",
    "MaxUser",
    "MembersAdded",
    "MessageCallback",
    "MessageCreated",
    "MessageEdited",
    "NewMessage",
    "RateLimiter",
    "RawUpdate",
    "RequestContactButton",
    "SentMessage",
    "StoreRateLimiter",
    "Subscription",
    "Update",
    "UserAdded",
    "UserUnreachable",
    "WebhookRejected",
    "parse_update",
    "read_webhook",
    "verify_secret",
]
