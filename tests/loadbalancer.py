"""A round-robin HTTP load balancer on loopback for cluster tests: what a Kubernetes Service does.

A backend that refuses the connection (killed) is skipped for that request; the request goes to
the next one. A backend that dies holding a request gives the caller a 502 (it may have acted on it),
as a real balancer does; the caller retries with its idempotency key.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from typing import Any

import httpx
import uvicorn

from tests.bridgeproc import free_port

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class RoundRobin:
    def __init__(self) -> None:
        self.backends: list[str] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.served: dict[str, int] = {}
        self._turn = itertools.count()
        self._server = uvicorn.Server(uvicorn.Config(self._app, host="127.0.0.1", port=self.port, log_level="warning",
                                                     lifespan="off", interface="asgi3"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> RoundRobin:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"] if k.decode().lower() not in _HOP]
        path = scope["path"] + (f"?{scope['query_string'].decode()}" if scope["query_string"] else "")
        backends = list(self.backends)
        start = next(self._turn)
        async with httpx.AsyncClient(timeout=60, follow_redirects=False) as client:
            for i in range(len(backends)):
                backend = backends[(start + i) % len(backends)]
                try:
                    answer = await client.request(scope["method"], backend + path, headers=headers, content=body)
                except httpx.ConnectError:   # the backend is down: the next one takes the request
                    await asyncio.sleep(0)
                    continue
                except httpx.TransportError:  # it died holding the request: maybe processed, so no retry here
                    await send({"type": "http.response.start", "status": 502, "headers": []})
                    await send({"type": "http.response.body", "body": b"backend died mid-request"})
                    return
                self.served[backend] = self.served.get(backend, 0) + 1
                out = [(k.encode(), v.encode()) for k, v in answer.headers.multi_items() if k.lower() not in _HOP]
                out.append((b"content-length", str(len(answer.content)).encode()))
                await send({"type": "http.response.start", "status": answer.status_code, "headers": out})
                await send({"type": "http.response.body", "body": answer.content})
                return
        await send({"type": "http.response.start", "status": 503, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"no backend"})
