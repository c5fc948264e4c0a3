"""The Bot API reads a bot makes at start-up and around its chats, and pins.

    GET /me                                   BotInfo (payloads/botInfo.ok.json)
    GET /chats/{chatId}                       Chat of a group chat (pinned_message when one is pinned) or dialog
    GET /chats/{chatId}/members               ChatMembersList, ``user_ids`` / ``marker`` / ``count`` (1..100, 20)
    GET /chats/{chatId}/members/me            the bot's ChatMember (payloads/chats-get-membership.json)
    GET /chats/{chatId}/members/admins        ChatMembersList of the admins (payloads/chats-get-admins.json)
    GET/PUT/DELETE /chats/{chatId}/pin        GetPinnedMessageResult; pin {message_id, notify}; unpin
    GET /messages/{messageId}                 Message

Members, admins and pins are of group chats: the schema describes them for «групповой чат или канал»
and asks the bot to be an admin for pins. A dialog's members are the user and the bot; pinning in a
dialog, or in a chat where the bot is no admin, is refused with 403 ``chat.denied`` (the sandbox's
choice: MAX's answer there is not recorded anywhere public).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from adapters.max.sandbox._gate import Gate, error
from adapters.max.sandbox._world import BOT_USER_ID, MaxWorld, SandboxChat, bot_info


def read_routes(world: MaxWorld, gate: Gate) -> APIRouter:
    router = APIRouter()

    def group(chat_id: str) -> SandboxChat | JSONResponse:
        found = world.chats.get(int(chat_id))
        if found is not None:
            return found
        if world.dialog_user(int(chat_id)) is not None:
            return error(403, "chat.denied", "Not a group chat or channel")
        return error(404, "chat.not.found", "Chat not found")

    def pinned_json(chat: SandboxChat) -> dict[str, Any] | None:
        message = world.messages.get(chat.pinned) if chat.pinned else None
        return message.to_json() if message is not None and not message.deleted else None

    @router.get("/me")
    async def me(request: Request) -> JSONResponse:
        refused, _ = await gate(request, "GET", "/me")
        return refused or JSONResponse(bot_info())

    @router.get("/chats/{chat_id}")
    async def chat(chat_id: str, request: Request) -> JSONResponse:
        refused, _ = await gate(request, "GET", "/chats/{chatId}", {"chatId": chat_id})
        if refused:
            return refused
        with world.lock:
            found = world.chats.get(int(chat_id))
            if found is not None:
                return JSONResponse(found.to_json(len(world.history(found.chat_id)), pinned_json(found)))
            user = world.dialog_user(int(chat_id))
            if user is not None and user.started:
                return JSONResponse(user.dialog_json())
        return error(404, "chat.not.found", "Chat not found")

    @router.get("/chats/{chat_id}/members")
    async def members(chat_id: str, request: Request) -> JSONResponse:
        refused, _ = await gate(request, "GET", "/chats/{chatId}/members", {"chatId": chat_id})
        if refused:
            return refused
        q = request.query_params
        with world.lock:
            user = world.dialog_user(int(chat_id))
            if user is not None and int(chat_id) not in world.chats:
                dialog = SandboxChat(int(chat_id), "", {BOT_USER_ID, user.user_id}, bot_can_add=False)
                return JSONResponse({"members": [world.member_json(dialog, m) for m in sorted(dialog.members)],
                                     "marker": None})
            found = group(chat_id)
            if isinstance(found, JSONResponse):
                return found
            ids = sorted(found.members)
            if q.get("user_ids"):
                wanted = {int(u) for u in q["user_ids"].split(",") if u}
                ids = [m for m in ids if m in wanted]
            start = int(q.get("marker", "0"))
            count = int(q.get("count", "20"))
            page = ids[start:start + count]
            marker = start + count if start + count < len(ids) else None
            return JSONResponse({"members": [world.member_json(found, m) for m in page], "marker": marker})

    async def on_group(request: Request, method: str, path: str, chat_id: str,
                       act: Callable[[SandboxChat, Any], JSONResponse]) -> JSONResponse:
        """The gate, then ``act(chat, body)`` under the world's lock for a group chat (else its refusal)."""
        refused, body = await gate(request, method, path, {"chatId": chat_id})
        if refused:
            return refused
        with world.lock:
            found = group(chat_id)
            return found if isinstance(found, JSONResponse) else act(found, body)

    def not_admin(chat: SandboxChat) -> JSONResponse | None:
        if BOT_USER_ID in chat.admin_ids():
            return None
        return error(403, "chat.denied", "The bot is not an admin of this chat")

    def pin_message(chat: SandboxChat, body: Any) -> JSONResponse:
        refused = not_admin(chat)
        if refused:
            return refused
        message = world.messages.get(body["message_id"])
        if message is None or message.deleted or message.chat_id != chat.chat_id:
            return error(404, "message.not.found", "Message not found")
        chat.pinned = message.mid
        return JSONResponse({"success": True})

    def unpin_message(chat: SandboxChat, _: Any) -> JSONResponse:
        refused = not_admin(chat)
        if refused:
            return refused
        chat.pinned = None
        return JSONResponse({"success": True})

    @router.get("/chats/{chat_id}/members/me")
    async def membership(chat_id: str, request: Request) -> JSONResponse:
        return await on_group(request, "GET", "/chats/{chatId}/members/me", chat_id,
                              lambda chat, _: JSONResponse(world.member_json(chat, BOT_USER_ID)))

    @router.get("/chats/{chat_id}/members/admins")
    async def admins(chat_id: str, request: Request) -> JSONResponse:
        return await on_group(request, "GET", "/chats/{chatId}/members/admins", chat_id, lambda chat, _: JSONResponse(
            {"members": [world.member_json(chat, m) for m in chat.admin_ids()]}))

    @router.get("/chats/{chat_id}/pin")
    async def get_pin(chat_id: str, request: Request) -> JSONResponse:
        return await on_group(request, "GET", "/chats/{chatId}/pin", chat_id,
                              lambda chat, _: JSONResponse({"message": pinned_json(chat)}))

    @router.put("/chats/{chat_id}/pin")
    async def pin(chat_id: str, request: Request) -> JSONResponse:
        return await on_group(request, "PUT", "/chats/{chatId}/pin", chat_id, pin_message)

    @router.delete("/chats/{chat_id}/pin")
    async def unpin(chat_id: str, request: Request) -> JSONResponse:
        return await on_group(request, "DELETE", "/chats/{chatId}/pin", chat_id, unpin_message)

    @router.get("/messages/{message_id}")
    async def message(message_id: str, request: Request) -> JSONResponse:
        refused, _ = await gate(request, "GET", "/messages/{messageId}", {"messageId": message_id})
        if refused:
            return refused
        with world.lock:
            found = world.messages.get(message_id)
            if found is None or found.deleted:
                return error(404, "message.not.found", "Message not found")
            return JSONResponse(found.to_json())

    return router
