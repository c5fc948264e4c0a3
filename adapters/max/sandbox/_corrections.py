"""Where MAX's published schema is stricter than MAX, and what the sandbox checks instead.

The schema (bot-api.openapi.yaml, dev.max.ru v0.0.32) marks fields required that real clients
omit and MAX accepts, or that MAX itself leaves out of its answers, and lists fewer enum values
than MAX sends. Each correction below names its evidence: the real payloads recorded by MAX's
official Go client (``payloads/``, from max-messenger/max-bot-api-client-go ``stabs/``,
Apache-2.0), the requests of MAX's official TypeScript client (npm ``@maxhub/max-bot-api``
0.3.1, driven against the sandbox in tests/integration/test_max_official_client.py), or the
schema's own prose. tests/unit/test_max_schema.py holds every correction to its evidence: each
sample fails the schema without that one correction and passes with all of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Correction:
    schema: str  # a name under components.schemas
    optional: tuple[str, ...] = ()  # fields taken out of ``required``
    enum_adds: tuple[str, ...] = ()  # values added to the schema's ``enum``
    evidence: str = ""


CORRECTIONS: tuple[Correction, ...] = (
    Correction("NewMessageBody", optional=("text", "attachments", "link"), evidence=(
        "@maxhub/max-bot-api 0.3.1 (dist/core/network/api/modules/messages/api.js) sends only the fields "
        "given: sendMessageToUser(id, text) posts {\"text\": …}, a keyboard adds attachments, nothing sends "
        "link; max-bot-api-client-go v2 NewMessageBody omits unset fields. dev.max.ru's own curl examples "
        "send {text, attachments} without link.")),
    Correction("User", optional=("username",), evidence=(
        "every user but a bot in payloads/ lacks username (webhook.bot_started.json user, "
        "update.message_created.json sender, chats-get-members.json members[1]); it is nullable anyway")),
    Correction("MessageBody", optional=("attachments", "link"), evidence=(
        "no message body in payloads/ has attachments or link (webhook.message_created.json, "
        "chats-get-pin-message.json); link is not even a property of MessageBody")),
    Correction("Recipient", optional=("user_id",), evidence=(
        "recipients in group chats carry no user_id (chats-get-pin-message.json, webhook.message_created.json)")),
    Correction("ChatType", enum_adds=("dialog", "channel"), evidence=(
        "chats-dialog-with-user.json type and webhook.message_callback.json recipient.chat_type are "
        "\"dialog\"; the schema's own description reads «Тип чата: диалог, чат»; channel is the third "
        "kind the official schema (max-messenger/api-schema) lists")),
    Correction("Chat", optional=("icon", "title", "description"), evidence=(
        "no Chat in payloads/ has icon (chats-get-chat-by-id.json); a dialog has no title or description "
        "(chats-dialog-with-user.json)")),
    Correction("ChatMember", optional=("permissions",), evidence=(
        "the schema's own description of permissions: «Для обычных участников чата или канала поле не "
        "возвращается»")),
    Correction("ChatAdminPermission", enum_adds=("view_stats",), evidence=(
        "chats-get-admins.json: the owner's permissions include view_stats, described in ChatMember's "
        "permissions text («Назначается по умолчанию владельцам каналов»)")),
    Correction("ChatList", optional=("marker",), evidence="chats-get-chats.json has no marker"),
)


def apply(schemas: dict[str, Any], corrections: tuple[Correction, ...] = CORRECTIONS) -> None:
    """Apply ``corrections`` to the schema's ``components.schemas`` in place."""
    for correction in corrections:
        schema = schemas[correction.schema]
        if correction.optional:
            found = False
            for node in _required_holders(schema):
                found = True
                node["required"] = [f for f in node["required"] if f not in correction.optional]
            if not found:
                raise ValueError(f"{correction.schema} has no required list to correct")
        if correction.enum_adds:
            schema["enum"] = list(schema["enum"]) + [v for v in correction.enum_adds if v not in schema["enum"]]


def _required_holders(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if isinstance(schema.get("required"), list):
        yield schema
    for part in schema.get("allOf", ()):
        if isinstance(part, dict) and "$ref" not in part:
            yield from _required_holders(part)
