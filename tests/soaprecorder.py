"""A recording forwarder in front of a bridge: what a foreign SOAP client really puts on the wire.

The client is given ``recorder.wsdl_url(service)``; the bridge writes the recorder's own address
into soap:address (the Host header is passed through), so every call the client makes comes back
through here and is kept: path, SOAPAction, Content-Type and the body, byte for byte.

Run as a module it records each foreign client of tests/integration/test_foreign_clients.py telling
seed 000's story against a bridge that serves a given wsdl/ directory, into tests/interop/recorded/
(or ``--out``):

    .venv/bin/python -m tests.soaprecorder --wsdl-dir DIR --note "what DIR is" [--out DIR]

``--parts-named-after-elements`` serves a copy of DIR whose message parts are renamed after their
elements, as the contract named them before issue 16 item 5: what a client sends with that contract
is what tests/integration/test_wire_unchanged.py compares today's requests with.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import threading
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from tests.bridgeproc import ROOT

RECORDED = ROOT / "tests" / "interop" / "recorded"
# The recordings were made before RegisterPatient needed an identity document (the СМЭВ reg_service's
# register requires one); with_passport() adds the contract's optional passport fields to a recorded
# body, after Gender and in the recording's own prefix, leaving the rest byte for byte as the library wrote it.
PASSPORT = {"PassportSeries": "6710", "PassportNumber": "123456", "PassportIssueDate": "01.09.2004",
            "PassportIssuerCode": "862-010", "PassportIssuedBy": "ОВД г. Сургута"}
_GENDER_END = re.compile(r"</((?:[\w.-]+:)?)Gender>")


def with_passport(body: str, number: str = PASSPORT["PassportNumber"]) -> str:
    """``number``: ЕСИА finds an account by its passport too, so stories sharing one ЕСИА need their own."""
    passport = {**PASSPORT, "PassportNumber": number}

    def add(end: re.Match[str]) -> str:
        prefix = end.group(1)
        return end.group(0) + "".join(f"<{prefix}{k}>{v}</{prefix}{k}>" for k, v in passport.items())

    added, found = _GENDER_END.subn(add, body)
    assert found == 1, "a recorded patient has one Gender"
    return added


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    soapaction: str | None
    content_type: str | None
    body: str


class SoapRecorder:
    """Forwards every GET and POST to ``upstream`` and keeps the POSTs, in order."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.requests: list[RecordedRequest] = []
        self._http = httpx.Client(timeout=30)
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._forward(None)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recorder.requests.append(RecordedRequest(
                    self.path, self.headers.get("SOAPAction"), self.headers.get("Content-Type"),
                    body.decode("utf-8")))
                self._forward(body)

            def _forward(self, body: bytes | None) -> None:
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("content-length", "connection", "transfer-encoding")}
                answer = recorder._http.request("POST" if body is not None else "GET",
                                                recorder.upstream + self.path, headers=headers, content=body)
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("Content-Type", "text/xml"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def wsdl_url(self, service: str) -> str:
        return f"{self.url}/soap/{service}?wsdl"

    def __enter__(self) -> SoapRecorder:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._http.close()


def parts_named_after_elements(wsdl_dir: Path, out: Path) -> Path:
    """A copy of ``wsdl_dir`` whose message parts are named after their elements (not "parameters")."""
    from lxml import etree

    out.mkdir(parents=True, exist_ok=True)
    for contract in sorted(wsdl_dir.glob("*.wsdl")):
        tree = etree.parse(str(contract))
        for part in tree.iter("{http://schemas.xmlsoap.org/wsdl/}part"):
            part.set("name", str(part.get("element")).split(":")[-1])
        tree.write(str(out / contract.name), xml_declaration=True, encoding="UTF-8")
    return out


def record(wsdl_dir: Path, note: str, out: Path = RECORDED) -> list[Path]:
    """Each foreign client's story through a recorder, against a bridge serving ``wsdl_dir``."""
    from tests.integration.test_foreign_clients import (
        CLIENTS,
        RECORDED_CLIENTS,
        SERVICE,
        flow_input,
        start_story_bridge,
    )

    written = []
    with tempfile.TemporaryDirectory(prefix="record-") as tmp:
        bridge = start_story_bridge(Path(tmp), {"wsdl_dir": str(wsdl_dir)})
        try:
            for name in RECORDED_CLIENTS:
                flow = flow_input()
                with SoapRecorder(bridge.url) as recorder:
                    result = CLIENTS[name](recorder.wsdl_url(SERVICE), flow)
                path = out / f"{name}.json"
                path.write_text(json.dumps({
                    "client": result.get("client", name), "recorded_with": note, "flow": flow,
                    "requests": [asdict(r) for r in recorder.requests],
                }, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
                written.append(path)
        finally:
            bridge.stop()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--wsdl-dir", type=Path, required=True)
    parser.add_argument("--note", required=True, help="which contract the recordings were made with")
    parser.add_argument("--out", type=Path, default=RECORDED, help="where the recordings go")
    parser.add_argument("--parts-named-after-elements", action="store_true",
                        help="serve a copy of --wsdl-dir with its message parts named after their elements")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wsdl-") as tmp:
        wsdl_dir = args.wsdl_dir.resolve()
        if args.parts_named_after_elements:
            wsdl_dir = parts_named_after_elements(wsdl_dir, Path(tmp))
        for path in record(wsdl_dir, args.note, out):
            print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
