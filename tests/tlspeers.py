"""A TLS server and an egress proxy on loopback, for the delivery path's TLS tests.

Certificates come from ``trustme`` (a CA made by the test, as a regional CA or the Минцифры root
would be to the bridge: not in any default bundle). ``TlsServer`` answers every request with a small
JSON body naming the client certificate it saw; ``EgressProxy`` is an HTTP proxy that tunnels
``CONNECT host:port`` and forwards absolute-form ``GET http://…`` requests, and records both.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme


@dataclass
class Pki:
    """A server CA (its certificate for localhost/127.0.0.1) and a client CA (a certificate for the bridge)."""

    directory: Path
    server_ca: trustme.CA = field(default_factory=trustme.CA)
    client_ca: trustme.CA = field(default_factory=lambda: trustme.CA(organization_name="Regional client CA"))

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.server_cert = self.server_ca.issue_cert("localhost", "127.0.0.1")
        self.client_cert = self.client_ca.issue_cert("bridge.mo.example", common_name="bridge.mo.example")
        self.ca_file = self.directory / "upstream-ca.pem"
        self.server_ca.cert_pem.write_to_path(str(self.ca_file))
        self.client_certificate = self.directory / "client.pem"
        for blob in self.client_cert.cert_chain_pems:
            blob.write_to_path(str(self.client_certificate), append=True)
        self.client_key = self.directory / "client.key"
        self.client_cert.private_key_pem.write_to_path(str(self.client_key))
        self.client_key.chmod(0o600)


class _Answer(BaseHTTPRequestHandler):
    server: _Server

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        peer: Any = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        subject = dict(item[0] for item in peer["subject"]) if peer else None
        self.server.seen.append({"path": self.path, "client": subject})
        body = json.dumps({"ok": True, "client": (subject or {}).get("commonName")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    seen: list[dict[str, Any]]

    def handle_error(self, request: Any, client_address: Any) -> None:   # refused handshakes are expected
        pass


@contextlib.contextmanager
def tls_server(pki: Pki, require_client_certificate: bool = False) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An https server on 127.0.0.1 (its certificate names localhost); yields its URL and what it saw."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    pki.server_cert.configure_cert(context)
    if require_client_certificate:
        context.verify_mode = ssl.CERT_REQUIRED
        pki.client_ca.configure_trust(context)
    server = _Server(("127.0.0.1", 0), _Answer)
    server.seen = []
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"https://localhost:{server.server_address[1]}", server.seen
    finally:
        server.shutdown()
        server.server_close()


class _Proxy(BaseHTTPRequestHandler):
    server: _ProxyServer

    def do_CONNECT(self) -> None:
        host, _, port = self.path.rpartition(":")
        self.server.seen.append(f"CONNECT {self.path}")
        self.server.authorizations.append(self.headers.get("Proxy-Authorization"))
        upstream = socket.create_connection((host, int(port)), timeout=5)
        self.send_response(200, "Connection established")
        self.end_headers()
        _pipe(self.connection, upstream)

    def do_GET(self) -> None:
        self.server.seen.append(f"GET {self.path}")
        from urllib.parse import urlsplit

        target = urlsplit(self.path)
        upstream = socket.create_connection((target.hostname or "", target.port or 80), timeout=5)
        head = [f"GET {target.path or '/'}{'?' + target.query if target.query else ''} HTTP/1.1"]
        head += [f"{k}: {v}" for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection")]
        head += ["Connection: close", "", ""]
        upstream.sendall("\r\n".join(head).encode("latin-1"))
        _pipe(self.connection, upstream)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    seen: list[str]
    authorizations: list[str | None]


def _pipe(client: socket.socket, upstream: socket.socket) -> None:
    sockets = [client, upstream]
    try:
        while True:
            readable, _, _ = select.select(sockets, [], [], 5)
            if not readable:
                return
            for source in readable:
                data = source.recv(65536)
                if not data:
                    return
                (upstream if source is client else client).sendall(data)
    finally:
        upstream.close()


@contextlib.contextmanager
def egress_proxy(authorizations: list[str | None] | None = None) -> Iterator[tuple[str, list[str]]]:
    """An HTTP proxy on loopback; yields its URL and the requests it relayed (``CONNECT host:port`` …);
    ``authorizations`` collects each CONNECT's Proxy-Authorization header."""
    server = _ProxyServer(("127.0.0.1", 0), _Proxy)
    server.seen = []
    server.authorizations = authorizations if authorizations is not None else []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.seen
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def plain_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The same answers over plain http on 127.0.0.1."""
    server = _Server(("127.0.0.1", 0), _Answer)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.seen
    finally:
        server.shutdown()
        server.server_close()
