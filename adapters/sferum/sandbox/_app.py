"""HTTP face of the sandbox Sferum: ``educationSchool.*`` as VK-style methods, behind fault injection.

    POST /method/educationSchool.createChat    access_token, type=telemedicine, chat_title
    POST /method/educationSchool.addChatUsers  access_token, chat_id, users (JSON string)
    POST /method/educationSchool.callStart     access_token, chat_id

Parameters come form-encoded (or in the query); ``v`` is accepted and not required. Every
answer is HTTP 200: ``{"response": …}`` or the VK envelope ``{"error": {"error_code",
"error_msg", "request_params"}}`` (``access_token`` is never echoed). Refusals, in the order
they are checked: no or wrong token → 5; a scripted error (see below) → its code; over
``rate_limit`` accepted requests in a sliding second for the token → 6; a parameter missing
or invalid, an unknown chat → 100 naming it; unknown method → 3. A phone marked as having
no Sferum account lands in ``failed_users``; a user already in the chat is fine.

Control API (never faulted):
    GET  /_sandbox/sferum/chats, /_sandbox/sferum/chats/{id}   chats, members (phone, roles), calls
    POST /_sandbox/sferum/phones/unknown {phones}              these phones have no Sferum account
    POST /_sandbox/sferum/errors {codes}                       answer the next method calls with these codes
    POST /_sandbox/sferum/reset
    PUT/GET /_sandbox/faults                                   HTTP-level faults (bridge.sandbox)
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from adapters.sferum._types import (
    CHAT_ROLES,
    ERROR_AUTH,
    ERROR_CAPTCHA,
    ERROR_PARAM,
    ERROR_TOO_MANY,
    MEMBER_ROLES,
    SferumRequestInvalid,
    normalise_phone,
)
from adapters.sferum.sandbox._world import SferumWorld
from bridge.sandbox import FaultInjector, FaultPlan, fault_admin_routes

ERROR_UNKNOWN_METHOD = 3
ERROR_MESSAGES = {
    ERROR_UNKNOWN_METHOD: "Unknown method passed",
    ERROR_AUTH: "User authorization failed: invalid access_token",
    ERROR_TOO_MANY: "Too many requests per second",
    9: "Flood control",
    10: "Internal server error",
    ERROR_CAPTCHA: "Captcha needed",
    29: "Rate limit reached",
    ERROR_PARAM: "One of the parameters specified was missing or invalid",
}
_PHONE = re.compile(r"^7\d{10}$")


class _Refusal(Exception):
    def __init__(self, code: int, detail: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


def _param(params: dict[str, str], name: str) -> str:
    value = params.get(name, "").strip()
    if not value:
        raise _Refusal(ERROR_PARAM, name)
    return value


def _chat(world: SferumWorld, params: dict[str, str]) -> Any:
    raw = _param(params, "chat_id")
    chat = world.chats.get(int(raw)) if raw.isdigit() else None
    if chat is None:
        raise _Refusal(ERROR_PARAM, "chat_id")
    return chat


def _users(params: dict[str, str]) -> list[dict[str, str]]:
    try:
        users = json.loads(_param(params, "users"))
    except ValueError:
        raise _Refusal(ERROR_PARAM, "users") from None
    if not isinstance(users, list) or not users:
        raise _Refusal(ERROR_PARAM, "users")
    for user in users:
        if not (isinstance(user, dict) and isinstance(user.get("phone"), str) and _PHONE.match(user["phone"])
                and user.get("chat_role") in CHAT_ROLES and user.get("member_role") in MEMBER_ROLES):
            raise _Refusal(ERROR_PARAM, "users")
    return users


def _methods(world: SferumWorld) -> dict[str, Callable[[dict[str, str]], Any]]:
    def create_chat(params: dict[str, str]) -> Any:
        if _param(params, "type") != "telemedicine":
            raise _Refusal(ERROR_PARAM, "type")
        chat = world.create_chat(_param(params, "chat_title"), "telemedicine")
        return {"chat_id": chat.chat_id, "invite_link": chat.invite_link, "all_can_post": chat.all_can_post}

    def add_chat_users(params: dict[str, str]) -> Any:
        chat = _chat(world, params)
        failed, queued = world.add_users(chat, _users(params))
        return {"failed_users": failed, "queued_users": queued}

    def call_start(params: dict[str, str]) -> Any:
        return world.start_call(_chat(world, params))

    return {"educationSchool.createChat": create_chat, "educationSchool.addChatUsers": add_chat_users,
            "educationSchool.callStart": call_start}


def _error(code: int, method: str, params: dict[str, str], detail: str | None = None) -> JSONResponse:
    message = ERROR_MESSAGES.get(code, "Unknown error occurred") + (f": {detail}" if detail else "")
    echoed = [{"key": "method", "value": method}, {"key": "oauth", "value": "1"}]
    echoed += [{"key": k, "value": v} for k, v in params.items() if k != "access_token"]
    error: dict[str, Any] = {"error_code": code, "error_msg": message, "request_params": echoed}
    if code == ERROR_CAPTCHA:
        error.update(captcha_sid="sandbox", captcha_img="https://sferum.sandbox/captcha.png")
    return JSONResponse({"error": error})


async def _params(request: Request) -> dict[str, str]:
    params = dict(request.query_params)
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        params.update(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    return params


def create_sferum_sandbox(world: SferumWorld | None = None, faults: FaultPlan | None = None) -> FaultInjector:
    """The sandbox Sferum as an ASGI app (tests: ``TestClient`` / ``httpx`` over its transport)."""
    world = world or SferumWorld()
    plan = faults or FaultPlan()
    methods = _methods(world)
    app = FastAPI(title="Sandbox Sferum (educationSchool.*)", docs_url=None, redoc_url=None)
    app.state.world = world
    app.state.faults = plan
    app.include_router(fault_admin_routes(plan))

    @app.api_route("/method/{method}", methods=["GET", "POST"])
    async def call(method: str, request: Request) -> JSONResponse:
        params = await _params(request)
        token = params.get("access_token", "")
        if token != world.token:
            return _error(ERROR_AUTH, method, params)
        scripted = world.next_scripted_error()
        if scripted is not None:
            return _error(scripted, method, params)
        if not world.take_rate_slot(token, time.monotonic()):
            return _error(ERROR_TOO_MANY, method, params)
        handler = methods.get(method)
        if handler is None:
            return _error(ERROR_UNKNOWN_METHOD, method, params)
        try:
            return JSONResponse({"response": handler(params)})
        except _Refusal as refusal:
            return _error(refusal.code, method, params, refusal.detail)

    app.include_router(_control_routes(world))
    return FaultInjector(app, plan)


class _Phones(BaseModel):
    phones: list[str]


class _Codes(BaseModel):
    codes: list[int]


def _control_routes(world: SferumWorld) -> APIRouter:
    router = APIRouter(prefix="/_sandbox/sferum")

    @router.get("/chats")
    def chats() -> list[dict[str, Any]]:
        with world.lock:
            return [chat.to_json() for chat in world.chats.values()]

    @router.get("/chats/{chat_id}")
    def chat(chat_id: int) -> dict[str, Any]:
        with world.lock:
            found = world.chats.get(chat_id)
            if found is None:
                raise HTTPException(404, "no such chat")
            return found.to_json()

    @router.post("/phones/unknown")
    def unknown_phones(body: _Phones) -> dict[str, int]:
        try:
            phones = {normalise_phone(p, f"phones[{i}]") for i, p in enumerate(body.phones)}
        except SferumRequestInvalid as exc:
            raise HTTPException(422, str(exc)) from None
        with world.lock:
            world.unknown_phones |= phones
            return {"unknown_phones": len(world.unknown_phones)}

    @router.post("/errors")
    def script_errors(body: _Codes) -> dict[str, list[int]]:
        with world.lock:
            world.scripted_errors.extend(body.codes)
            return {"scripted_errors": list(world.scripted_errors)}

    @router.post("/reset")
    def reset() -> dict[str, bool]:
        world.reset()
        return {"reset": True}

    return router
