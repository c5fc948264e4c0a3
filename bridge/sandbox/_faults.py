"""Fault injection for sandbox peers, as an ASGI middleware.

A sandbox told to fail a share of calls fails them the ways real networks do:
- ``http_500``, ``http_502``, ``http_503``, ``http_504``, ``http_429`` (with Retry-After);
- ``stall``: no answer until the caller gives up (request not processed);
- ``drop``: the connection closes mid-answer (request not processed);
- ``stall_after`` and ``drop_after``: the request IS processed, then the answer is lost,
  which is what makes retries of non-idempotent calls dangerous.

Independently of those, ``latency_seconds`` makes every call wait that long before it is
processed, as a slow upstream does (ЕСИА behind СМЭВ answers in seconds); the wait is asynchronous,
so the sandbox holds any number of such calls at once.

Paths under ``/_sandbox/`` (the control API) are never faulted.

An app that decides per call which calls may fail (the СМЭВ node: per operation, named in the SOAP
Body) draws itself and answers with :class:`FaultResponse`, the same failures as the middleware's; its
plan's :meth:`FaultPlan.draw` then returns None so that the middleware does not draw a second time.
"""

from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field
from starlette.responses import Response

from bridge.asgi import ASGIApp, Message, Receive, Scope, Send

FAULT_KINDS = (
    "http_500", "http_502", "http_503", "http_504", "http_429", "stall", "drop", "stall_after", "drop_after",
)
PROCESSED_KINDS = ("stall_after", "drop_after")  # the request is processed, then its answer lost


@dataclass
class FaultPlan:
    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    stall_seconds: float = 5.0
    seed: int | None = None
    latency_seconds: float = 0.0
    injected: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _random: random.Random = field(default_factory=random.Random, repr=False)

    def configure(self, rate: float, kinds: tuple[str, ...], stall_seconds: float, seed: int | None,
                  latency_seconds: float = 0.0) -> None:
        unknown = set(kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        with self._lock:
            self.rate, self.kinds, self.stall_seconds, self.seed = rate, kinds or FAULT_KINDS, stall_seconds, seed
            self.latency_seconds = latency_seconds
            self._random = random.Random(seed)
            self.injected = {}

    # What PUT /_sandbox/faults reads (a subclass with more settings names its own model).
    settings_model: ClassVar[type[FaultSettings]]

    def apply(self, settings: FaultSettings) -> None:
        """Take the settings of ``PUT /_sandbox/faults`` (ValueError: a kind it does not know)."""
        self.configure(settings.rate, tuple(settings.kinds), settings.stall_seconds, settings.seed,
                       settings.latency_seconds)

    def describe(self) -> dict[str, Any]:
        """What ``GET /_sandbox/faults`` shows: the plan and the counts injected."""
        return {"rate": self.rate, "kinds": list(self.kinds), "stall_seconds": self.stall_seconds,
                "latency_seconds": self.latency_seconds, "injected": dict(self.injected)}

    def draw(self) -> str | None:
        with self._lock:
            if self.rate <= 0 or self._random.random() >= self.rate:
                return None
            kind = self._random.choice(self.kinds)
            self.injected[kind] = self.injected.get(kind, 0) + 1
            return kind


class _DropConnection(Exception):
    """Raised after a partial answer: the server closes the connection."""


class FaultInjector:
    def __init__(self, app: ASGIApp, plan: FaultPlan) -> None:
        self.app = app
        self.plan = plan

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox/"):
            await self.app(scope, receive, send)
            return
        if self.plan.latency_seconds > 0:
            await asyncio.sleep(self.plan.latency_seconds)
        kind = self.plan.draw()
        if kind is None:
            await self.app(scope, receive, send)
            return
        if kind in PROCESSED_KINDS:
            # Process the request for real, then lose the answer.
            async def swallow(_message: Message) -> None:
                return None

            await self.app(scope, receive, swallow)
        await FaultResponse(kind, self.plan.stall_seconds)(scope, receive, send)


class FaultResponse(Response):
    """The failed answer of fault ``kind``: a status, a stall then 504, or a connection dropped mid-answer.

    For the ``*_after`` kinds the caller has processed the request already; this only loses the answer."""

    def __init__(self, kind: str, stall_seconds: float) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        super().__init__(status_code=504)
        self.kind, self.stall_seconds = kind, stall_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.kind.startswith("http_"):
            await _status(send, int(self.kind[5:]))
        elif self.kind in ("stall", "stall_after"):
            await asyncio.sleep(self.stall_seconds)
            await _status(send, 504)
        else:
            await _drop(send)


async def _status(send: Send, code: int) -> None:
    headers = [(b"content-type", b"application/json")]
    if code in (429, 503):
        headers.append((b"retry-after", b"0"))
    body = b'{"code":"SANDBOX-FAULT","message":"injected fault"}'
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _drop(send: Send) -> None:
    await send(
        {"type": "http.response.start", "status": 200,
         "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")]}
    )
    await send({"type": "http.response.body", "body": b'{"status":', "more_body": True})
    raise _DropConnection("sandbox dropped the connection on purpose")


class FaultSettings(BaseModel):
    rate: float = Field(0.0, ge=0.0, le=1.0)
    kinds: list[str] = Field(default_factory=lambda: list(FAULT_KINDS))
    stall_seconds: float = Field(5.0, ge=0.0, le=120.0)
    seed: int | None = None
    latency_seconds: float = Field(0.0, ge=0.0, le=120.0)


def fault_admin_routes(plan: FaultPlan) -> APIRouter:
    """``PUT /_sandbox/faults`` sets the plan (its ``settings_model``); ``GET`` shows it with the counts injected."""
    router = APIRouter(prefix="/_sandbox")

    def set_faults(settings: FaultSettings) -> dict[str, Any]:
        try:
            plan.apply(settings)
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        return plan.describe()

    set_faults.__annotations__["settings"] = plan.settings_model   # the body FastAPI validates
    router.put("/faults")(set_faults)
    router.get("/faults")(plan.describe)
    return router


FaultPlan.settings_model = FaultSettings
