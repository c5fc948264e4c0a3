"""The ceiling: the least work any SOAP→JSON bridge must do for one CheckPatient.

Written as lean as Python allows and as honest as the bridge, so that ``bench_check_patient.py``
can print bridge ÷ ceiling in one interleaved run (issue 17, item 1). Per call it does what the
bridge must do for safety and for the same answer, and nothing else:

- the same HTTP server stack the bridge has to choose from: uvicorn (httptools, uvloop), a bare
  ASGI application, ``--workers N`` processes on one socket;
- the body bounded (2 MB, spyne's ``max_content_length``, which the bridge keeps), parsed once with
  lxml with the bridge's safety options (no entities, no network, no huge trees);
- the envelope checked (SOAP 1.1, one Body, the CheckPatient element, the SOAPAction if sent) and
  the ``Patient`` element validated against the XSD of the frozen WSDL (``wsdl/esia-accounts.wsdl``:
  required elements, their order, no strangers): lxml's ``XMLSchema``, in C;
- the patient checked with the adapter's own input rules and mapped by the same YAML mapping
  (``mappings/esia/account.yaml``): the domain's rules are work any bridge must do, and the
  mapping engine is measured at 1.0–1.4× of hand-written Python (docs/performance.md, Mapping);
- the same ``find_account`` JSON (routing fields, a fresh Idempotency-Key) on one keep-alive
  HTTP/1.1 connection per concurrent call to the same sandbox, from the event loop (no thread);
- the same SOAP answer (NOT_FOUND / MATCH / MISMATCH with the differing fields), or a Client fault
  naming the field.

What it does not do is what the bridge adds on purpose: metrics, logs, the audit journal, request
ids, client authentication, the circuit breaker and retries. ``tests/integration/test_ceiling.py``
holds its answers to the bridge's (canonical XML equal), so it cannot win by answering less.

Run: ``python bench/_ceiling.py --port P --esia URL [--workers N]`` (bench_check_patient.py starts it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.esia._patients import validate_patient  # noqa: E402
from bridge.errors import InvalidField  # noqa: E402
from bridge.mapping import MappingValueError, load_mapping  # noqa: E402

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
NS = "urn:misbridge:esia:accounts:1"
MAX_BODY = 2 * 1024 * 1024  # spyne's WsgiApplication.max_content_length, which the bridge keeps
FIND_ACCOUNT = "/reg-service/v1/requests/find_account"
# What RestAccountOperations puts around every request (EsiaSettings defaults).
ROUTING: dict[str, Any] = {"RoutingCode": "DEV", "SnilsOperator": "000-000-600 06", "ra": 1000000001}
QUERY_FIELDS = ("snils", "lastName", "firstName", "middleName")
_ENVELOPE, _BODY = f"{{{SOAP11}}}Envelope", f"{{{SOAP11}}}Body"
_CHECK, _PATIENT = f"{{{NS}}}CheckPatient", f"{{{NS}}}Patient"
_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)
_MESSAGES = {
    "NOT_FOUND": ("REGISTER", "Информация о пациенте с указанным СНИЛС в ЕСИА не обнаружена"),
    "MISMATCH": ("UPDATE", "В ЕСИА имеется отличающаяся информация; необходимо обновить информацию в ЕСИА"),
    "MATCH": ("RESET_PASSWORD", "Информация о пациенте в ЕСИА актуальна"),
}
_HEAD = ("<?xml version='1.0' encoding='UTF-8'?>\n"
         f'<soap11env:Envelope xmlns:soap11env="{SOAP11}" xmlns:tns="{NS}"><soap11env:Body>')
_TAIL = "</soap11env:Body></soap11env:Envelope>"


class Refused(Exception):
    """A caller's mistake: a Client fault with this code and text."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code, self.text = code, text


def _patient_schema() -> etree.XMLSchema:
    """The XSD of the frozen WSDL (it declares a global ``Patient`` element, so Patient validates alone)."""
    wsdl = etree.parse(str(ROOT / "wsdl" / "esia-accounts.wsdl"), _PARSER)
    schema = wsdl.find("{http://schemas.xmlsoap.org/wsdl/}types/{http://www.w3.org/2001/XMLSchema}schema")
    assert schema is not None
    return etree.XMLSchema(etree.fromstring(etree.tostring(schema)))


SCHEMA = _patient_schema()
MAPPING = load_mapping(ROOT / "mappings" / "esia" / "account.yaml")


def read_patient(body: bytes, soap_action: str | None) -> dict[str, Any]:
    """The envelope checked and the Patient validated; its fields as the bridge's service sees them."""
    if soap_action not in (None, "", '""', '"CheckPatient"', "CheckPatient"):
        raise Refused("Client.SoapActionMismatch", "SOAPAction")
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError:
        raise Refused("Client.XMLSyntaxError", "запрос не является корректным XML") from None
    if root.tag != _ENVELOPE:
        raise Refused("Client.SoapError", "запрос не является SOAP 1.1-конвертом")
    bodies = [child for child in root if child.tag == _BODY]
    if len(bodies) != 1 or len(bodies[0]) != 1 or bodies[0][0].tag != _CHECK:
        raise Refused("Client.SoapError", "запрос не является SOAP 1.1-конвертом")
    call = bodies[0][0]
    if len(call) != 1 or call[0].tag != _PATIENT:
        raise Refused("Client.SchemaValidationError", "Patient")
    patient_element = call[0]
    if not SCHEMA.validate(patient_element):
        raise Refused("Client.SchemaValidationError", str(SCHEMA.error_log)[:200])
    patient: dict[str, Any] = dict.fromkeys(_FIELDS)
    for child in patient_element:
        if child.get(_NIL) not in ("true", "1"):
            patient[etree.QName(child).localname] = child.text or ""
    return patient


_FIELDS = ("MisPatientId", "LastName", "FirstName", "MiddleName", "BirthDate", "Snils", "MobilePhone", "Gender")


def to_upstream(patient: dict[str, Any]) -> dict[str, Any]:
    """The adapter's input rules and the mapping (PatientAccounts._to_upstream)."""
    patient.update({k: v.strip() for k, v in patient.items() if isinstance(v, str)})
    try:
        validate_patient(patient)
        return MAPPING.to_upstream(patient)
    except InvalidField as exc:
        raise Refused("Client.InvalidField", str(exc)) from None
    except MappingValueError as exc:
        raise Refused("Client.InvalidField", f"{exc.field}: {exc.reason}") from None


def _normalise(value: Any) -> str:
    return " ".join(str(value).split()).casefold().replace("ё", "е")


def _present(value: Any) -> bool:
    return value is not None and str(value).strip() != ""


def answer(patient: dict[str, Any], account: dict[str, Any] | None) -> bytes:
    """The CheckPatientResponse the bridge serialises for this outcome."""
    if not account:
        outcome, confirmed, differences = "NOT_FOUND", "", ""
    else:
        esia = MAPPING.to_mis({k: v for k, v in account.items() if k not in ("oid", "trusted")})
        found = []
        for fm in MAPPING.compare_fields:
            mis_value = patient.get(fm.mis)
            if not _present(mis_value):
                continue
            esia_value = esia.get(fm.mis)
            if not _present(esia_value) or _normalise(mis_value) != _normalise(esia_value):
                found.append(
                    f"<tns:FieldDifference><tns:Field>{escape(fm.mis)}</tns:Field>"
                    f"<tns:Label>{escape(fm.label or fm.mis)}</tns:Label>"
                    f"<tns:MisValue>{escape(str(mis_value))}</tns:MisValue>"
                    f"<tns:EsiaValue>{escape(str(esia_value or ''))}</tns:EsiaValue></tns:FieldDifference>"
                )
        outcome = "MISMATCH" if found else "MATCH"
        confirmed = f"<tns:AccountConfirmed>{'true' if account.get('trusted') else 'false'}</tns:AccountConfirmed>"
        differences = f"<tns:Differences>{''.join(found)}</tns:Differences>" if found else ""
    action, message = _MESSAGES[outcome]
    return (
        f"{_HEAD}<tns:CheckPatientResponse><tns:CheckPatientResult><tns:Result>{outcome}</tns:Result>{confirmed}"
        f"{differences}<tns:AllowedActions><tns:AllowedAction>{action}</tns:AllowedAction></tns:AllowedActions>"
        f"<tns:Message>{escape(message)}</tns:Message></tns:CheckPatientResult></tns:CheckPatientResponse>{_TAIL}"
    ).encode()


def fault(code: str, text: str) -> bytes:
    return (
        f"{_HEAD}<soap11env:Fault><faultcode>soap11env:{code}</faultcode>"
        f"<faultstring>{escape(text)}</faultstring><faultactor></faultactor></soap11env:Fault>{_TAIL}"
    ).encode()


class KeepAlive:
    """HTTP/1.1 keep-alive connections to one host, one per call in flight, reused.

    As httpcore does, a connection the server may have closed while idle is not trusted: one idle
    longer than ``IDLE_LIMIT`` (uvicorn closes after 5 s) is dropped, and a reused one that fails
    before any byte of the answer is replaced by a fresh one, once.
    """

    IDLE_LIMIT = 4.0

    def __init__(self, base_url: str) -> None:
        url = urlsplit(base_url)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.authority = url.netloc
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []

    async def post_json(self, path: str, body: bytes) -> tuple[int, bytes]:
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.authority}\r\nContent-Type: application/json\r\n"
                f"Idempotency-Key: {uuid.uuid4().hex}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        now = time.monotonic()
        while self.idle and now - self.idle[0][2] > self.IDLE_LIMIT:
            self.idle.pop(0)[1].close()
        if self.idle:
            reader, writer, _ = self.idle.pop()
            try:
                return await self._exchange(reader, writer, head)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                    raise
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return await self._exchange(reader, writer, head)

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        request: bytes) -> tuple[int, bytes]:
        try:
            writer.write(request)
            status_line = await reader.readuntil(b"\r\n")
            length, close = 0, False
            while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            data = await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        if close:
            writer.close()
        else:
            self.idle.append((reader, writer, time.monotonic()))
        return int(status_line.split(b" ", 2)[1]), data


class Ceiling:
    """The bare ASGI application: POST /soap/esia-accounts → CheckPatient."""

    def __init__(self, esia_url: str) -> None:
        self.esia = KeepAlive(esia_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # run with lifespan="off": nothing to start or stop
        chunks, received = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > MAX_BODY:
                break
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        status, payload = await self.check_patient(scope, b"".join(chunks), received)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/xml; charset=utf-8"),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})

    async def check_patient(self, scope: Scope, body: bytes, received: int) -> tuple[int, bytes]:
        try:
            if scope["method"] != "POST" or scope["path"] != "/soap/esia-accounts":
                raise Refused("Client.SoapError", "POST /soap/esia-accounts")
            if received > MAX_BODY:
                raise Refused("Client.RequestTooLong", "запрос больше допустимого размера")
            action = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"soapaction"), None)
            patient = read_patient(body, action)
            person = to_upstream(patient)
        except Refused as exc:
            return 500, fault(exc.code, exc.text)
        query = {k: person[k] for k in QUERY_FIELDS if k in person}
        status, data = await self.esia.post_json(FIND_ACCOUNT, json.dumps({**ROUTING, **query},
                                                                          ensure_ascii=False).encode())
        result = json.loads(data) if status == 200 else {}
        if result.get("status") != "SUCCEEDED":
            return 500, fault("Server.UpstreamUnavailable", "ЕСИА")
        return 200, answer(patient, (result.get("result") or {}).get("account"))


def app() -> Ceiling:
    """uvicorn's factory (each worker builds its own, with its own connections)."""
    return Ceiling(os.environ["CEILING_ESIA_URL"])


def start(root: Path, tmp: Path, esia_url: str, workers: int, ready_timeout: float = 60.0) -> Any:
    """The ceiling as a process of its own (``_procs.Bridge``: CPU, RSS and threads from /proc)."""
    import subprocess

    import httpx
    from _procs import Bridge

    from tests.bridgeproc import free_port

    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = tmp / "ceiling.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--port", str(port), "--esia",
                                    esia_url, "--workers", str(workers)], cwd=root, stdout=log,
                                   stderr=subprocess.STDOUT)
    ceiling = Bridge(label="ceiling", url=f"http://127.0.0.1:{port}", root=root, workers=workers, process=process,
                     log_path=log_path)
    started = time.monotonic()
    while time.monotonic() - started < ready_timeout:
        if process.poll() is not None:
            raise RuntimeError(f"ceiling exited with {process.returncode}:\n{ceiling.logs()[-3000:]}")
        try:
            httpx.get(ceiling.url, timeout=1)
            ceiling.ready_s = time.monotonic() - started
            while workers > 1 and len(ceiling.pids()) < workers + 1 and time.monotonic() - started < ready_timeout:
                time.sleep(0.05)
            time.sleep(1.0 if workers > 1 else 0.0)
            return ceiling
        except httpx.TransportError:
            time.sleep(0.05)
    ceiling.stop()
    raise RuntimeError(f"ceiling not ready in {ready_timeout}s:\n{ceiling.logs()[-3000:]}")


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="the CheckPatient ceiling (bench/_ceiling.py)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--esia", required=True, help="base URL of the sandbox ЕСИА")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    os.environ["CEILING_ESIA_URL"] = args.esia
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    uvicorn.run("_ceiling:app", factory=True, host="127.0.0.1", port=args.port, workers=args.workers,
                loop="uvloop", http="httptools", log_level="warning", access_log=False, lifespan="off")


if __name__ == "__main__":
    main()
