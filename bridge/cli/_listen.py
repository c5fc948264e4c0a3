"""Listening sockets bound before anything starts.

``bridge serve`` binds every port it will serve -- its own, then each sandbox peer's -- before it
builds an app, starts a thread or opens a client: a port that is taken then stops start-up with one
line naming the setting, and nothing is left half-started. uvicorn is handed the bound sockets
(``Server.serve(sockets=...)``), as its own supervisor hands them to its workers.
"""

from __future__ import annotations

import socket

__all__ = ["BindError", "Listeners", "bind_listener"]

_BACKLOG = 2048  # uvicorn's default backlog


class BindError(OSError):
    """A port the configuration names cannot be listened on; ``setting`` says which one."""

    def __init__(self, setting: str, host: str, port: int, reason: str) -> None:
        super().__init__(f"{setting}: cannot listen on {host}:{port}: {reason}")
        self.setting, self.host, self.port, self.reason = setting, host, port, reason


def bind_listener(host: str, port: int, setting: str) -> socket.socket:
    """A TCP socket bound to host:port (port 0: one the system picks), as uvicorn binds one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(_BACKLOG)   # connections wait in the backlog until the server serves, never refused
    except OSError as exc:
        sock.close()
        raise BindError(setting, host, port, exc.strerror or str(exc)) from None
    sock.set_inheritable(True)
    return sock


class Listeners:
    """The sockets of one start-up, in the order bound; closed together when start-up fails."""

    def __init__(self) -> None:
        self._sockets: dict[tuple[str, int], socket.socket] = {}

    def bind(self, host: str, port: int, setting: str) -> int:
        """Bind host:port (0: a free port) and return the port bound."""
        sock = bind_listener(host, port, setting)
        bound = int(sock.getsockname()[1])
        self._sockets[(host, bound)] = sock
        return bound

    def socket(self, host: str, port: int) -> socket.socket:
        return self._sockets[(host, port)]

    def close(self) -> None:
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()
