"""A sandbox peer told to be slow answers every call after ``latency_seconds``, all at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import MutableMapping
from typing import Any

import httpx
from fastapi import FastAPI

from bridge.sandbox import FaultInjector, FaultPlan, fault_admin_routes


async def _ok(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"status":"SUCCEEDED"}'})


def test_every_call_waits_the_latency_and_the_waits_overlap() -> None:
    plan = FaultPlan()
    admin = FastAPI()
    admin.include_router(fault_admin_routes(plan))

    async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        await (admin if scope["path"].startswith("/_sandbox/") else _ok)(scope, receive, send)

    async def main() -> None:
        transport = httpx.ASGITransport(app=FaultInjector(app, plan))
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            set_to = await client.put("/_sandbox/faults", json={"rate": 0, "latency_seconds": 0.3})
            assert set_to.json()["latency_seconds"] == 0.3

            async def timed() -> float:
                started = time.monotonic()
                assert (await client.post("/smev/v1.2/ws")).status_code == 200
                return time.monotonic() - started

            started = time.monotonic()
            each = await asyncio.gather(*(timed() for _ in range(20)))
            assert min(each) >= 0.3
            assert time.monotonic() - started < 1.5  # 20 × 0.3 s in a row would be 6 s
            control = time.monotonic()
            await client.get("/_sandbox/faults")
            assert time.monotonic() - control < 0.3  # the control API is never delayed
            await client.put("/_sandbox/faults", json={"rate": 0})  # a new plan clears the latency
            assert (await client.get("/_sandbox/faults")).json()["latency_seconds"] == 0.0

    asyncio.run(main())
