"""The sandbox MAX's control API (scripted users) and its webhook delivery. See _app.py for the list."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from adapters.max._webhook import SECRET_HEADER
from adapters.max.sandbox._world import BOT_USER, MaxWorld, SandboxChat, buttons_of, now_ms


class Deliverer:
    def __init__(self, world: MaxWorld, transport: httpx.BaseTransport | None) -> None:
        self.world = world
        self.transport = transport

    def emit(self, update: dict[str, Any]) -> None:
        """To every subscription taking this type, else to the long-polling queue."""
        with self.world.lock:
            targets = [s for s in self.world.subscriptions.values()
                       if s.update_types is None or update["update_type"] in s.update_types]
            if not self.world.subscriptions:
                self.world.add_update(update)
        for sub in targets:
            headers = {SECRET_HEADER: sub.secret} if sub.secret else {}
            try:
                with httpx.Client(transport=self.transport, timeout=30.0) as client:
                    status = client.post(sub.url, json=update, headers=headers).status_code
            except httpx.HTTPError as exc:
                status = 0
                self.world.deliveries.append({"url": sub.url, "update_type": update["update_type"], "status": 0,
                                              "error": type(exc).__name__})
                continue
            self.world.deliveries.append({"url": sub.url, "update_type": update["update_type"], "status": status})



class _Text(BaseModel):
    text: str


class _Press(BaseModel):
    payload: str


class _Start(BaseModel):
    payload: str | None = None
    first_name: str = "Test"
    last_name: str | None = None


class _Contact(BaseModel):
    phone: str


class _NewChat(BaseModel):
    chat_id: int
    title: str = "Consultation"
    bot_can_add: bool = True
    owner_id: int | None = None


def control_routes(world: MaxWorld, deliver: Deliverer) -> APIRouter:
    router = APIRouter(prefix="/_sandbox/max")

    def started(user_id: int) -> Any:
        user = world.users.get(user_id)
        if user is None or not user.started or user.stopped:
            raise HTTPException(409, "the user has not started the bot (or stopped it)")
        return user

    def user_message(user: Any, text: str | None, attachments: list[dict[str, Any]]) -> dict[str, Any]:
        message = world.new_message(chat_id=user.chat_id, chat_type="dialog", user_id=BOT_USER["user_id"],
                                    text=text, attachments=attachments, sender=user.to_json())
        update = {"message": message.to_json(), "timestamp": now_ms(), "user_locale": "ru",
                  "update_type": "message_created"}
        deliver.emit(update)
        return update

    @router.post("/users/{user_id}/start")
    def start(user_id: int, body: _Start) -> dict[str, Any]:
        user = world.user(user_id, body.first_name, body.last_name)
        user.started, user.stopped = True, False
        update: dict[str, Any] = {"timestamp": now_ms(), "chat_id": user.chat_id, "user": user.to_json(),
                                  "user_locale": "ru", "user_id": user_id, "update_type": "bot_started"}
        if body.payload is not None:
            update["payload"] = body.payload
        deliver.emit(update)
        return update

    @router.post("/users/{user_id}/text")
    def text(user_id: int, body: _Text) -> dict[str, Any]:
        return user_message(started(user_id), body.text, [])

    @router.post("/users/{user_id}/contact")
    def contact(user_id: int, body: _Contact) -> dict[str, Any]:
        user = started(user_id)
        last = world.last_bot_message(user_id)
        if last is None or not any(b["type"] == "request_contact" for b in buttons_of(last)):
            raise HTTPException(409, "the bot's last message has no request_contact button")
        user.phone = body.phone
        name = " ".join(p for p in (user.first_name, user.last_name) if p)
        vcf = f"BEGIN:VCARD\r\nVERSION:3.0\r\nTEL;TYPE=cell:{body.phone}\r\nFN:{name}\r\nEND:VCARD\r\n"
        attachment = {"type": "contact",
                      "payload": {"vcf_info": vcf, "hash": "sandbox-" + str(user_id), "max_info": user.to_json()}}
        return user_message(user, None, [attachment])

    @router.post("/users/{user_id}/press")
    def press(user_id: int, body: _Press) -> dict[str, Any]:
        user = started(user_id)
        last = world.last_bot_message(user_id)
        if last is None or not any(b["type"] == "callback" and b.get("payload") == body.payload
                                   for b in buttons_of(last)):
            raise HTTPException(409, "no callback button with that payload on the bot's last message")
        callback_id = "sbx" + str(len(world.callbacks)) + "_" + last.mid[-12:]
        with world.lock:
            world.callbacks[callback_id] = {"user_id": user_id, "mid": last.mid, "payload": body.payload,
                                            "answer": None}
        update = {"callback": {"timestamp": now_ms(), "callback_id": callback_id, "user": user.to_json(),
                               "payload": body.payload},
                  "message": last.to_json(), "timestamp": now_ms(), "user_locale": "ru",
                  "update_type": "message_callback"}
        deliver.emit(update)
        return update

    @router.post("/users/{user_id}/stop")
    def stop(user_id: int) -> dict[str, Any]:
        user = world.user(user_id)
        user.stopped = True
        update = {"chat_id": user.chat_id, "user": user.to_json(), "timestamp": now_ms(), "user_locale": "ru",
                  "update_type": "bot_stopped"}
        deliver.emit(update)
        return update

    @router.get("/users/{user_id}/last")
    def last(user_id: int) -> dict[str, Any]:
        message = world.last_bot_message(user_id)
        if message is None:
            raise HTTPException(404, "the bot sent this user nothing")
        return {"mid": message.mid, "text": message.text, "edits": message.edits, "buttons": buttons_of(message),
                "message": message.to_json()}

    @router.get("/users/{user_id}/messages")
    def sent(user_id: int) -> list[dict[str, Any]]:
        if user_id not in world.users:
            raise HTTPException(404, "no such user")
        return [{"mid": m.mid, "text": m.text, "edits": m.edits, "deleted": m.deleted, "timestamp": m.timestamp,
                 "buttons": buttons_of(m), "message": m.to_json()} for m in world.bot_messages(user_id)]

    @router.post("/chats")
    def new_chat(body: _NewChat) -> dict[str, Any]:
        with world.lock:
            chat = world.chats[body.chat_id] = SandboxChat(body.chat_id, body.title, {int(BOT_USER["user_id"])},
                                                           body.bot_can_add, owner_id=body.owner_id)
        return {"chat_id": body.chat_id, "link": chat.link}

    @router.get("/chats/{chat_id}")
    def chat(chat_id: int) -> dict[str, Any]:
        found = world.chats.get(chat_id)
        if found is None:
            raise HTTPException(404, "no such chat")
        return {"chat_id": chat_id, "title": found.title, "link": found.link, "members": sorted(found.members),
                "messages": [m.to_json() for m in world.messages.values() if m.chat_id == chat_id and not m.deleted]}

    @router.get("/callbacks/{callback_id}")
    def callback(callback_id: str) -> dict[str, Any]:
        found = world.callbacks.get(callback_id)
        if found is None:
            raise HTTPException(404, "no such callback")
        return found

    @router.get("/deliveries")
    def deliveries() -> list[dict[str, Any]]:
        return list(world.deliveries)

    @router.post("/reset")
    def reset() -> dict[str, bool]:
        world.reset()
        return {"reset": True}

    return router
