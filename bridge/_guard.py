"""Who may use the admin API and read /metrics (docs/security.md).

``/admin/*`` wants ``Authorization: Bearer <admin_token>``; with no admin token configured it
answers only callers on loopback (``kubectl port-forward``, an ops shell on the host). ``/metrics``
wants ``Bearer <metrics_token>`` when one is configured. Tokens are compared in constant time.
Every admin call that changes something (not GET/HEAD) goes to the audit journal.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from bridge.asgi import ASGIApp, Receive, Scope, Send
from bridge.observability import current_request_id
from bridge.store import AuditJournal

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class AccessGuard:
    def __init__(self, app: ASGIApp, admin_token: str | None, metrics_token: str | None,
                 audit: AuditJournal | None) -> None:
        self.app = app
        self._admin = admin_token
        self._metrics = metrics_token
        self._audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == "/metrics" or path.startswith("/metrics/"):
            if self._metrics is not None and not self._bearer(scope, self._metrics):
                await _deny(send, "нужен заголовок Authorization: Bearer <metrics_token>")
                return
        elif path == "/admin" or path.startswith("/admin/"):
            client = (scope.get("client") or ("", 0))[0]
            if self._admin is not None:
                allowed = self._bearer(scope, self._admin)
                reason = "нужен заголовок Authorization: Bearer <admin_token>"
            else:
                allowed = client in _LOOPBACK
                reason = "admin API без admin_token доступен только с этого же хоста (loopback)"
            if not allowed:
                await _deny(send, reason)
                self._record(scope, client, 401)
                return
            if scope["method"] not in ("GET", "HEAD"):
                status: list[int] = []

                async def capture(message: Any) -> None:
                    if message["type"] == "http.response.start":
                        status.append(int(message["status"]))
                    await send(message)

                await self.app(scope, receive, capture)
                self._record(scope, client, status[0] if status else 500)
                return
        await self.app(scope, receive, send)

    @staticmethod
    def _bearer(scope: Scope, token: str) -> bool:
        for name, value in scope.get("headers") or ():
            if name == b"authorization":
                given = value.decode("latin-1")
                return given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip().encode(), token.encode())
        return False

    def _record(self, scope: Scope, client: str, status: int) -> None:
        if self._audit is None:
            return
        self._audit.record(client="admin", face="admin", service="admin",
                           operation=f"{scope['method']} {scope['path']}"[:64],
                           outcome="ok" if status < 400 else f"http_{status}", request_id=current_request_id(),
                           remote=client or None)


async def _deny(send: Send, message: str) -> None:
    body = json.dumps({"error": "unauthorized", "message": message}, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": 401,
                "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]})
    await send({"type": "http.response.body", "body": body})
