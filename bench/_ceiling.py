"""The ceiling: the least work any SOAP bridge must do for one CheckPatient over СМЭВ 3.

Written as lean as Python allows and as honest as the bridge, so that ``bench_check_patient.py``
can print bridge ÷ ceiling in one interleaved run (issue 17, item 1; issue 15's СМЭВ benchmark).
Per call it does what the bridge must do for safety and for the same answer, and nothing else:

- the same HTTP server stack the bridge has to choose from: uvicorn (httptools, uvloop), a bare
  ASGI application, ``--workers N`` processes on one socket;
- the body bounded (2 MB, spyne's ``max_content_length``, which the bridge keeps), parsed once with
  lxml with the bridge's safety options (no entities, no network, no huge trees);
- the envelope checked (SOAP 1.1, one Body, the CheckPatient element, the SOAPAction if sent) and
  the ``Patient`` element validated against the XSD of the frozen WSDL (``wsdl/esia-accounts.wsdl``);
- the patient checked with the adapter's own input rules, mapped by the same YAML mapping
  (``mappings/esia/account.yaml``) and built into the same ``ESIAFindAccountRequest`` content
  (``adapters.esia._reg_service.build_request``: schema order, validated against the kind's XSD);
- СМЭВ 3 as the bridge speaks it (``bridge.smev``'s envelopes, ``sign_detached``, the same signer kind):
  SendRequest signed (ЭП-ОВ), its answer's ЭП-СМЭВ verified; one GetResponse signed, without a
  selector as the bridge's runner asks (again after 0.2 s while the queue is empty), its message's
  ЭП-СМЭВ verified and the message acknowledged (Ack signed) — a message that answers another call of
  this process is handed to it, and this call waits for its own; one keep-alive HTTP/1.1 connection
  per concurrent call to the same sandbox node;
- the same SOAP answer (NOT_FOUND / MATCH / MISMATCH with the fields ЕСИА did not confirm), or a
  Client fault naming the field.

What it does not do is what the bridge adds on purpose: the operation journal and the СМЭВ
exchange journal (crash safety, one request per press), metrics, logs, the audit journal, request
ids, client authentication, the circuit breaker and retries; and it asks GetResponse at once
instead of polling on a timer. Each worker process registers a certificate of its own with the
sandbox node (``POST /_sandbox/smev/senders``), so the bridge's GetResponse never takes its answers.
``tests/integration/test_ceiling.py`` holds its answers to the bridge's (canonical XML equal), so it
cannot win by answering less.

Run: ``python bench/_ceiling.py --port P --smev URL --smev-certificate PEM [--signer python] [--workers N]``
(bench_check_patient.py starts it).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.esia._client import CITIZENSHIP, DOCUMENT_TYPE, PASSWORD_MODE, TRUSTED  # noqa: E402
from adapters.esia._patients import MATCH_NAMES, NOT_CONFIRMED, validate_patient  # noqa: E402
from adapters.esia._reg_service import FIND_ACCOUNT, SUCCEEDED, ContentInvalid, build_request, parse_answer  # noqa: E402
from bridge.errors import InvalidField  # noqa: E402
from bridge.mapping import MappingValueError, load_mapping  # noqa: E402
from bridge.signing import Signer, SignerConfig, generate_test_key, load_certificate, load_signer  # noqa: E402
from bridge.smev import namespaces, new_message_id  # noqa: E402
from bridge.smev._answers import parse_envelope, read_get_response, read_send_request  # noqa: E402
from bridge.smev._envelopes import Envelope, ack, get_response, send_request  # noqa: E402

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
NS = "urn:misbridge:esia:accounts:1"
MAX_BODY = 2 * 1024 * 1024  # spyne's WsgiApplication.max_content_length, which the bridge keeps
# What SmevAccountOperations.content puts around every request (EsiaSettings defaults).
ROUTING: dict[str, Any] = {"RoutingCode": "DEV", "SnilsOperator": "000-000-600 06", "ra": 1000000001}
SMEV_VERSION: Literal["1.2"] = "1.2"
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


class NoAnswer(Exception):
    """СМЭВ or ЕСИА gave no usable answer: a Server fault."""


def _patient_schema() -> etree.XMLSchema:
    """The XSD of the frozen WSDL (it declares a global ``Patient`` element, so Patient validates alone)."""
    wsdl = etree.parse(str(ROOT / "wsdl" / "esia-accounts.wsdl"), _PARSER)
    schema = wsdl.find("{http://schemas.xmlsoap.org/wsdl/}types/{http://www.w3.org/2001/XMLSchema}schema")
    assert schema is not None
    return etree.XMLSchema(etree.fromstring(etree.tostring(schema)))


SCHEMA = _patient_schema()
MAPPING = load_mapping(ROOT / "mappings" / "esia" / "account.yaml")
_FIELDS = ("MisPatientId", "LastName", "FirstName", "MiddleName", "BirthDate", "Snils", "MobilePhone", "Gender")


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


def find_account_content(person: dict[str, Any]) -> etree._Element:
    """The same ESIAFindAccountRequest the adapter builds (SmevAccountOperations.content)."""
    try:
        values = {**ROUTING, **person, "citizenship": CITIZENSHIP, "mode": PASSWORD_MODE}
        if isinstance(person.get("doc"), dict) and person["doc"]:
            values["doc"] = {"type": DOCUMENT_TYPE, **person["doc"]}
        return build_request(FIND_ACCOUNT, values)
    except ContentInvalid as exc:
        raise Refused("Client.InvalidField", f"{exc.path}: {exc.reason}") from None


def _present(value: Any) -> bool:
    return value is not None and str(value).strip() != ""


def answer(patient: dict[str, Any], person: dict[str, Any], content: etree._Element) -> bytes:
    """The CheckPatientResponse the bridge serialises for ЕСИА's find_account answer."""
    found = parse_answer(FIND_ACCOUNT, content)
    if found.status != SUCCEEDED:
        raise NoAnswer(found.status)
    if found.oid is None:
        outcome, confirmed, differences = "NOT_FOUND", "", ""
    else:
        items = []
        if found.matches:  # an answer without matches confirms nothing and contradicts nothing
            for fm in MAPPING.compare_fields:
                match = MATCH_NAMES.get(fm.upstream.split(".", 1)[0])
                if match is None or not _present(patient.get(fm.mis)) or not _present(person.get(fm.upstream)):
                    continue
                if match not in found.matches:
                    items.append(
                        f"<tns:FieldDifference><tns:Field>{escape(fm.mis)}</tns:Field>"
                        f"<tns:Label>{escape(fm.label or fm.mis)}</tns:Label>"
                        f"<tns:MisValue>{escape(str(patient[fm.mis]))}</tns:MisValue>"
                        f"<tns:EsiaValue>{NOT_CONFIRMED}</tns:EsiaValue></tns:FieldDifference>")
        outcome = "MISMATCH" if items else "MATCH"
        confirmed = "" if found.stu is None else \
            f"<tns:AccountConfirmed>{'true' if found.stu == TRUSTED else 'false'}</tns:AccountConfirmed>"
        differences = f"<tns:Differences>{''.join(items)}</tns:Differences>" if items else ""
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

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.authority, self.path = parts.netloc, parts.path or "/"
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []

    async def post(self, envelope: Envelope, idempotency_key: str) -> tuple[int, bytes]:
        head = (f"POST {self.path} HTTP/1.1\r\nHost: {self.authority}\r\nContent-Type: text/xml; charset=utf-8\r\n"
                f'SOAPAction: "{envelope.soap_action}"\r\nIdempotency-Key: {idempotency_key}\r\n'
                f"Content-Length: {len(envelope.body)}\r\n\r\n").encode() + envelope.body
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


@dataclass(frozen=True)
class Consumer:
    """This worker's identity at the node: its signer (registered there) and the node's ЭП-СМЭВ certificate."""

    signer: Signer
    trusted: frozenset[bytes]


class Smev:
    """SendRequest, GetResponse until this call's answer has come, Ack: each signed, each answer verified."""

    def __init__(self, url: str, consumer: Consumer) -> None:
        self.node = KeepAlive(url)
        self.consumer = consumer
        self.ns = namespaces(SMEV_VERSION)
        self.waiting: dict[str, asyncio.Future[etree._Element]] = {}

    async def _call(self, envelope: Envelope, key: str) -> etree._Element:
        status, body = await self.node.post(envelope, key)
        if status not in (200, 500):
            raise NoAnswer(f"HTTP {status}")
        return parse_envelope(body, envelope.operation)  # a SOAP fault raises SmevFault: no answer

    async def find_account(self, content: etree._Element) -> etree._Element:
        signer, ns = self.consumer.signer, self.ns
        message_id = new_message_id(datetime.now(UTC))
        mine: asyncio.Future[etree._Element] = asyncio.get_running_loop().create_future()
        self.waiting[message_id] = mine
        try:
            sent = await self._call(send_request(ns, signer, message_id, content), message_id)
            read_send_request(sent, ns, self.consumer.trusted, datetime.now(UTC))
            # One CheckPatient put one message in this worker's queue: each call takes one message (its own or
            # another call's, handed over) and then waits for its own; an empty queue means the answer is not
            # there yet (ЕСИА's delay), so it asks again after a pause.
            taken = False
            while not mine.done():
                if taken:
                    await asyncio.wait([mine], timeout=2.0)
                    taken = False  # not handed over in time (a message lost with a broken call): ask again
                    continue
                envelope = get_response(ns, signer, datetime.now(UTC))
                got = read_get_response(await self._call(envelope, message_id), ns, self.consumer.trusted,
                                        datetime.now(UTC))
                if got is None:  # another call took it and hands it over, or ЕСИА has not answered yet
                    await asyncio.wait([mine], timeout=0.2)
                    continue
                await self._call(ack(ns, signer, got.message_id, accepted=got.refused is None), got.message_id)
                waiter = self.waiting.get(got.original_message_id or "")
                if waiter is not None and not waiter.done():
                    if got.refused is None and got.content is not None:
                        waiter.set_result(got.content)
                    else:
                        waiter.set_exception(NoAnswer(got.refused or got.async_status or "rejected"))
                    taken = waiter is not mine  # another's answer: ours is in the queue for whoever asks
            return mine.result()
        finally:
            self.waiting.pop(message_id, None)


class Ceiling:
    """The bare ASGI application: POST /soap/esia-accounts → CheckPatient."""

    def __init__(self, smev_url: str, consumer: Consumer) -> None:
        self.smev = Smev(smev_url, consumer)

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
            content = find_account_content(person)
        except Refused as exc:
            return 500, fault(exc.code, exc.text)
        try:
            return 200, answer(patient, person, await self.smev.find_account(content))
        except Exception:  # SmevFault, AnswerRefused, NoAnswer, a broken connection: ЕСИА gave no answer
            return 500, fault("Server.UpstreamUnavailable", "ЕСИА")


def register_consumer(node_base: str, signer_kind: str, node_certificate: Path) -> Consumer:
    """A key of this worker's own, registered with the sandbox node (its own response queue)."""
    import httpx

    keys = Path(tempfile.mkdtemp(prefix="ceiling-key-"))
    key_pem, certificate_pem = generate_test_key(subject=f"/CN=ceiling {os.getpid()}/C=RU")
    (keys / "key.pem").write_bytes(key_pem)
    (keys / "cert.pem").write_bytes(certificate_pem)
    signer = load_signer(SignerConfig(kind=signer_kind, key_file=keys / "key.pem",  # type: ignore[arg-type]
                                      certificate_file=keys / "cert.pem"))
    der = load_certificate(keys / "cert.pem")
    httpx.post(f"{node_base}/_sandbox/smev/senders", json={"certificate_der_base64": base64.b64encode(der).decode()},
               timeout=10).raise_for_status()
    return Consumer(signer, frozenset({load_certificate(node_certificate)}))


def app() -> Ceiling:
    """uvicorn's factory (each worker builds its own: its key, its connections)."""
    url = os.environ["CEILING_SMEV_URL"]
    parts = urlsplit(url)
    consumer = register_consumer(f"{parts.scheme}://{parts.netloc}", os.environ.get("CEILING_SIGNER", "python"),
                                 Path(os.environ["CEILING_SMEV_CERTIFICATE"]))
    return Ceiling(url, consumer)


@dataclass(frozen=True)
class SmevTarget:
    """Where the ceiling sends: the node's exchange URL, its ЭП-СМЭВ certificate, the bridge's signer kind."""

    url: str
    certificate: Path
    signer: str = "python"

    @classmethod
    def of_sandbox(cls, base_url: str, smev_settings: dict[str, Any]) -> SmevTarget:
        """From the ``smev`` settings the sandbox gives the bridge (``adapter_settings.esia.smev``)."""
        return cls(base_url.rstrip("/") + smev_settings["endpoint"], Path(smev_settings["smev_certificates"][0]),
                   smev_settings["signer"]["kind"])


def start(root: Path, tmp: Path, smev: SmevTarget, workers: int, ready_timeout: float = 60.0) -> Any:
    """The ceiling as a process of its own (``_procs.Bridge``: CPU, RSS and threads from /proc)."""
    import subprocess

    import httpx
    from _procs import Bridge

    from tests.bridgeproc import free_port

    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = tmp / "ceiling.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--port", str(port),
                                    "--smev", smev.url, "--smev-certificate", str(smev.certificate),
                                    "--signer", smev.signer, "--workers", str(workers)], cwd=root, stdout=log,
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
    parser.add_argument("--smev", required=True, help="the sandbox СМЭВ node's message-exchange URL (…/smev/v1.2/ws)")
    parser.add_argument("--smev-certificate", required=True, help="the node's ЭП-СМЭВ certificate (PEM or DER)")
    parser.add_argument("--signer", default="python", help="signer kind, as the bridge's smev.signer.kind")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    os.environ.update(CEILING_SMEV_URL=args.smev, CEILING_SMEV_CERTIFICATE=args.smev_certificate,
                      CEILING_SIGNER=args.signer)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    uvicorn.run("_ceiling:app", factory=True, host="127.0.0.1", port=args.port, workers=args.workers,
                loop="uvloop", http="httptools", log_level="warning", access_log=False, lifespan="off")


if __name__ == "__main__":
    main()
