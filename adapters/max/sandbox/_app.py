"""HTTP face of the sandbox MAX Bot API.

Bot API (checked against the OpenAPI schema as corrected in _corrections.py; token in ``Authorization`` only):
    GET/POST/PUT/DELETE /messages, POST /answers, POST /chats/{chatId}/members,
    GET/POST/DELETE /subscriptions, GET /updates; the reads of _reads.py (GET /me, chats, members,
    admins, pins, GET /messages/{messageId})
``POST /messages`` takes ``user_id`` or ``chat_id``, a dialog's included (``bot_started.chat_id``: the
official TypeScript client's ``ctx.reply`` answers so). ``GET /messages?chat_id=`` answers newest first,
as the schema's description says MAX does ("последние сообщения будут первыми в массиве");
``from``/``to`` are accepted and not applied. ``GET /updates`` long-polls: it waits up to ``timeout``
seconds (default 30, at most 90, as the schema says) for an update. Unknown paths: 404
``method.not.found`` in MAX's ``{code, message}`` (_gate.py).
Refusals as MAX gives them: query ``access_token`` → 401 ``deprecated.token``; no or wrong
token → 401 ``verify.token``; schema violations (text over 4000…) → 400 ``proto.payload``;
over ``rate_limit`` requests in a sliding second → 429 ``too.many.requests`` (with
Retry-After); a user who stopped the bot → 403 ``chat.denied``.

Control API (never faulted), for scripted users:
    POST /_sandbox/max/users/{id}/start {payload?}     bot_started
    POST /_sandbox/max/users/{id}/text {text}          message_created
    POST /_sandbox/max/users/{id}/press {payload}      message_callback (the button must be on the last message)
    POST /_sandbox/max/users/{id}/contact {phone}      message_created with a contact attachment
    POST /_sandbox/max/users/{id}/stop                 bot_stopped; sends to the user then get 403 chat.denied
    GET  /_sandbox/max/users/{id}/last                 the last message the bot sent the user, with its buttons
    GET  /_sandbox/max/users/{id}/messages             every message the bot sent the user, oldest first
    POST /_sandbox/max/chats {chat_id, title}          a group chat where the bot is admin; answers its link
    GET  /_sandbox/max/chats/{id}                      link, members and messages
    GET  /_sandbox/max/callbacks/{callback_id}         how the bot answered a press
    GET  /_sandbox/max/deliveries                      webhook deliveries made; POST /_sandbox/max/reset
Updates go to the webhook subscription (POSTed with ``X-Max-Bot-Api-Secret``) or, without
one, to the long-polling queue. The sandbox accepts http:// webhook URLs (loopback
development); the real API wants https on port 443.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from adapters.max.sandbox._control import Deliverer, control_routes
from adapters.max.sandbox._gate import Gate, answer_in_max_shape
from adapters.max.sandbox._gate import error as _error
from adapters.max.sandbox._openapi import OpenApiChecker, default_checker
from adapters.max.sandbox._reads import read_routes
from adapters.max.sandbox._world import (
    BOT_USER,
    MaxWorld,
    StoredMessage,
    Subscription,
    now_ms,
)
from bridge.sandbox import FaultInjector, FaultPlan, fault_admin_routes


def create_sandbox_app(world: MaxWorld | None = None, faults: FaultPlan | None = None,
                       webhook_transport: httpx.BaseTransport | None = None,
                       checker: OpenApiChecker | None = None) -> FaultInjector:
    """The sandbox MAX as an ASGI app. ``webhook_transport`` routes webhook POSTs (tests)."""
    world = world or MaxWorld()
    plan = faults or FaultPlan()
    gate = Gate(world, checker or default_checker())
    deliver = Deliverer(world, webhook_transport)
    app = FastAPI(title="Sandbox MAX Bot API", docs_url=None, redoc_url=None)
    app.state.world = world
    app.state.faults = plan
    app.include_router(fault_admin_routes(plan))
    answer_in_max_shape(app)

    @app.post("/messages")
    async def send(request: Request) -> JSONResponse:
        refused, body = await gate(request, "POST", "/messages")
        if refused:
            return refused
        q = request.query_params
        if ("user_id" in q) == ("chat_id" in q):
            return _error(400, "proto.payload", "give user_id or chat_id")
        with world.lock:
            if "user_id" in q:
                user = world.users.get(int(q["user_id"]))
                if user is None or not user.started or user.stopped:
                    return _error(403, "chat.denied", "Key: error.dialog.suspended, args: []")
                chat_id, chat_type, user_id = user.chat_id, "dialog", user.user_id
            elif (dialog := world.dialog_user(int(q["chat_id"]))) is not None:
                if not dialog.started or dialog.stopped:
                    return _error(403, "chat.denied", "Key: error.dialog.suspended, args: []")
                chat_id, chat_type, user_id = dialog.chat_id, "dialog", dialog.user_id
            else:
                chat = world.chats.get(int(q["chat_id"]))
                if chat is None:
                    return _error(404, "chat.not.found", "Chat not found")
                chat_id, chat_type, user_id = chat.chat_id, "chat", None
            message = world.new_message(chat_id=chat_id, chat_type=chat_type, user_id=user_id,
                                        text=body.get("text"), attachments=body.get("attachments") or [],
                                        sender=BOT_USER)
        return JSONResponse({"message": message.to_json()})

    @app.put("/messages")
    async def edit(request: Request) -> JSONResponse:
        refused, body = await gate(request, "PUT", "/messages")
        if refused:
            return refused
        with world.lock:
            message = _own_message(world, request.query_params["message_id"])
            if message is None:
                return JSONResponse({"success": False, "message": "Message not found"})
            message.replace(body)
        return JSONResponse({"success": True})

    @app.delete("/messages")
    async def delete(request: Request) -> JSONResponse:
        refused, _ = await gate(request, "DELETE", "/messages")
        if refused:
            return refused
        with world.lock:
            message = _own_message(world, request.query_params["message_id"])
            if message is None:
                return JSONResponse({"success": False, "message": "Message not found"})
            message.deleted = True
        return JSONResponse({"success": True})

    @app.get("/messages")
    async def history(request: Request) -> JSONResponse:
        refused, _ = await gate(request, "GET", "/messages")
        if refused:
            return refused
        q = request.query_params
        if ("chat_id" in q) == ("message_ids" in q):
            return _error(400, "proto.payload", "give chat_id or message_ids")
        with world.lock:
            if "message_ids" in q:
                found = [world.messages.get(mid) for mid in q["message_ids"].split(",")]
                return JSONResponse({"messages": [m.to_json() for m in found if m is not None and not m.deleted]})
            chat_id = int(q["chat_id"])
            user = world.dialog_user(chat_id)
            if user is not None and (not user.started or user.stopped):
                return _error(403, "chat.denied", "Key: error.dialog.suspended, args: []")
            if user is None and chat_id not in world.chats:
                return _error(404, "chat.not.found", "Chat not found")
            messages = world.history(chat_id)[:int(q.get("count", "50"))]
        return JSONResponse({"messages": [m.to_json() for m in messages]})

    @app.post("/answers")
    async def answer(request: Request) -> JSONResponse:
        refused, body = await gate(request, "POST", "/answers")
        if refused:
            return refused
        with world.lock:
            callback = world.callbacks.get(request.query_params["callback_id"])
            if callback is None:
                return _error(400, "callback.not.found", "Callback not found or expired")
            callback["answer"] = body
            new = body.get("message")
            if new is not None:
                world.messages[callback["mid"]].replace(new)
        return JSONResponse({"success": True})

    @app.post("/chats/{chat_id}/members")
    async def add_members(chat_id: str, request: Request) -> JSONResponse:
        refused, body = await gate(request, "POST", "/chats/{chatId}/members", {"chatId": chat_id})
        if refused:
            return refused
        with world.lock:
            chat = world.chats.get(int(chat_id))
            if chat is None:
                return _error(404, "chat.not.found", "Chat not found")
            if not chat.bot_can_add:
                return _error(403, "chat.denied", "Bot is not admin with add_remove_members")
            failed = [u for u in body["user_ids"] if u not in world.users]
            chat.members.update(u for u in body["user_ids"] if u in world.users)
        answer: dict[str, Any] = {"success": not failed}
        if failed:
            answer.update(failed_user_ids=failed,
                          failed_user_details=[{"error_code": "add.participant.not.found", "user_ids": failed}])
        return JSONResponse(answer)

    @app.get("/subscriptions")
    async def subscriptions(request: Request) -> JSONResponse:
        refused, _ = await gate(request, "GET", "/subscriptions")
        if refused:
            return refused
        return JSONResponse({"subscriptions": [
            {"url": s.url, "time": s.time, "update_types": s.update_types} for s in world.subscriptions.values()]})

    @app.post("/subscriptions")
    async def subscribe(request: Request) -> JSONResponse:
        refused, body = await gate(request, "POST", "/subscriptions")
        if refused:
            return refused
        if not str(body["url"]).startswith(("https://", "http://")):
            return JSONResponse({"success": False, "message": "url must be https"})
        with world.lock:
            world.subscriptions[body["url"]] = Subscription(body["url"], body.get("update_types"),
                                                            body.get("secret"), now_ms())
        return JSONResponse({"success": True})

    @app.delete("/subscriptions")
    async def unsubscribe(request: Request) -> JSONResponse:
        refused, _ = await gate(request, "DELETE", "/subscriptions")
        if refused:
            return refused
        with world.lock:
            found = world.subscriptions.pop(request.query_params["url"], None)
        return JSONResponse({"success": found is not None} | ({} if found else {"message": "Not subscribed"}))

    @app.get("/updates")
    async def updates(request: Request) -> JSONResponse:
        refused, _ = await gate(request, "GET", "/updates")
        if refused:
            return refused
        if world.subscriptions:
            return _error(405, "method.not.allowed", "Long polling is off while a webhook subscription is active")
        q = request.query_params
        marker = int(q["marker"]) if "marker" in q else 0
        limit = int(q.get("limit", "100"))
        types = set(q["types"].split(",")) if q.get("types") else None
        deadline = time.monotonic() + int(q.get("timeout", "30"))
        while True:
            with world.lock:
                pending = [u for u in world.updates if u["_marker"] > marker
                           and (types is None or u["update_type"] in types)][:limit]
                next_marker = pending[-1]["_marker"] if pending else world.marker
            if pending or time.monotonic() >= deadline or await request.is_disconnected():
                break
            await asyncio.sleep(_POLL_STEP)
        return JSONResponse({"updates": [{k: v for k, v in u.items() if k != "_marker"} for u in pending],
                             "marker": next_marker})

    app.include_router(read_routes(world, gate))
    app.include_router(control_routes(world, deliver))
    return FaultInjector(app, plan)


_POLL_STEP = 0.05  # seconds between looks at the update queue while a long poll waits


def _own_message(world: MaxWorld, mid: str) -> StoredMessage | None:
    message = world.messages.get(mid)
    return message if message is not None and message.sender["is_bot"] and not message.deleted else None
