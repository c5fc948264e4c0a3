"""The compiled codecs (bridge/soap/_codec.py) answer as spyne does: same status, same XML, same faults.

Two worlds, identical but for the endpoint: one reads values and writes answers with the codecs
compiled from the spyne models, the other leaves both to spyne (``compiled=False``). Each gets the
same requests in the same order, and the answers must be the same (HTTP status, Content-Type,
canonical XML — so the same fault codes and texts):

- every request the foreign clients recorded (tests/interop/recorded/: zeep, suds, PHP's SoapClient
  and node's soap telling seed 000's story — written by those libraries, not by us);
- the hostile corpus of tests/integration/test_hostile_xml.py;
- requests made to probe where a hand-written reader or writer could differ from spyne's (nil,
  empty and blank values, comments, processing instructions, CDATA, entities, attributes, unknown
  and missing elements, answers carrying characters to escape).

The sandbox ЕСИА's registry answers both worlds in-process; its temporary passwords are made the
same for both (they are random on purpose).
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import adapters.esia.sandbox._registry as registry_module
import httpx
import pytest
from lxml import etree
from spyne import MethodContext
from spyne.protocol import ProtocolBase

from adapters.esia._client import PollPolicy, RestAccountOperations, Routing
from adapters.esia._patients import PatientAccounts
from adapters.esia._service import CheckPatientResult, FieldDifference, build_service
from adapters.esia.sandbox import AccountRegistry
from bridge.delivery import Upstream, UpstreamConfig
from bridge.mapping import MappingSet
from bridge.soap import SoapEndpoint
from bridge.soap._codec import NotCompiled
from bridge.store import OperationJournal, Pseudonymizer, Store
from tests.bridgeproc import ROOT
from tests.integration.test_hostile_xml import CORPUS, FORMER_SERVER_FAULTS
from tests.soaprecorder import RECORDED
from tests.unit.test_patients import InProcessEsia

NS = "urn:misbridge:esia:accounts:1"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
CLIENT_RECORDINGS = sorted(path.stem for path in RECORDED.glob("*.json"))


@dataclass(frozen=True)
class Request:
    body: bytes
    soapaction: str | None = '"CheckPatient"'
    content_type: str = "text/xml; charset=utf-8"


@dataclass(frozen=True)
class Answer:
    status: str
    content_type: str | None
    canonical: bytes
    raw: bytes


class World:
    """A sandbox ЕСИА, a store and the esia-accounts endpoint, compiled or not."""

    def __init__(self, tmp: Path, compiled: bool) -> None:
        esia = InProcessEsia(AccountRegistry(validating_seconds=0.0, unconfirmable_snils=frozenset()))
        self.upstream = Upstream(UpstreamConfig("esia-equality", "http://esia.test"),
                                 transport=httpx.MockTransport(esia))
        store = Store(f"sqlite:///{tmp / ('compiled' if compiled else 'spyne')}.db")
        store.upgrade()
        operations = RestAccountOperations(self.upstream, Routing("DEV", "000-000-600 06", 1000000001),
                                           PollPolicy(first_interval=0.001, budget_seconds=2))
        accounts = PatientAccounts(operations, MappingSet.load(ROOT / "mappings")["esia.account"],
                                   OperationJournal(store), Pseudonymizer(b"equality-test-key-0123456789"))
        self.endpoint = SoapEndpoint(build_service(accounts, ROOT / "wsdl"), compiled=compiled)
        self.spyne_steps = 0
        for step in ("get_in_object", "get_out_string"):
            setattr(self.endpoint, step, self._counted(getattr(self.endpoint, step)))

    def _counted(self, step: Any) -> Any:
        def counted(ctx: Any) -> Any:
            self.spyne_steps += 1
            return step(ctx)
        return counted

    def call(self, request: Request) -> Answer:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "POST", "PATH_INFO": "/soap/esia-accounts", "QUERY_STRING": "",
            "SERVER_NAME": "bridge", "SERVER_PORT": "80", "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http",
            "CONTENT_TYPE": request.content_type, "CONTENT_LENGTH": str(len(request.body)),
            "wsgi.input": io.BytesIO(request.body),
        }
        if request.soapaction is not None:
            environ["HTTP_SOAPACTION"] = request.soapaction
        started: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            started.update(status=status, headers=dict(headers))

        raw = b"".join(self.endpoint(environ, start_response))
        canonical = etree.tostring(etree.fromstring(raw), method="c14n")
        return Answer(started["status"], started["headers"].get("Content-Type"), canonical, raw)


class Worlds:
    """The two worlds; the temporary passwords the registry makes are numbered per world, so both get the same."""

    def __init__(self, tmp: Path) -> None:
        self.compiled, self.spyne = World(tmp, compiled=True), World(tmp, compiled=False)
        self.current = self.compiled
        self._passwords = {id(self.compiled): itertools.count(10_000_001), id(self.spyne): itertools.count(10_000_001)}

    def new_password(self) -> str:
        return f"{next(self._passwords[id(self.current)]):08d}"

    def replay(self, requests: list[Request]) -> list[Answer]:
        answers = []
        for request in requests:
            self.current = self.compiled
            fast = self.compiled.call(request)
            self.current = self.spyne
            slow = self.spyne.call(request)
            assert (fast.status, fast.content_type) == (slow.status, slow.content_type), request.body[:300]
            assert fast.canonical == slow.canonical, request.body[:300]
            answers.append(fast)
        return answers


@pytest.fixture()
def worlds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Worlds]:
    pair = Worlds(tmp_path)
    monkeypatch.setattr(registry_module, "_new_password", pair.new_password)
    yield pair
    pair.compiled.upstream.close()
    pair.spyne.upstream.close()


def patient_fields(**fields: str) -> str:
    patient = {"MisPatientId": "MIS-eq-1", "LastName": "Тарасенко", "FirstName": "Ольга",
               "MiddleName": "Викторовна", "BirthDate": "17.08.1979", "Snils": "11223344595",
               "MobilePhone": "89161234567", "Gender": "2"}
    patient.update(fields)
    return "".join(f"<t:{k}>{v}</t:{k}>" if not v.startswith("<t:") else v for k, v in patient.items())


def envelope(inner: str, operation: str = "CheckPatient") -> bytes:
    return (f'<soapenv:Envelope xmlns:soapenv="{SOAP11}" xmlns:t="{NS}" xmlns:xsi="{XSI}"><soapenv:Body>'
            f"<t:{operation}><t:Patient>{inner}</t:Patient></t:{operation}></soapenv:Body>"
            "</soapenv:Envelope>").encode()


@pytest.mark.parametrize("client", CLIENT_RECORDINGS)
def test_recorded_foreign_client_requests_get_the_same_answers(worlds: Worlds, client: str) -> None:
    recording = json.loads((RECORDED / f"{client}.json").read_text(encoding="utf-8"))
    requests = [Request(r["body"].encode("utf-8"), r["soapaction"], r["content_type"]) for r in recording["requests"]]
    answers = worlds.replay(requests)
    assert len(answers) == 8
    assert sum(a.status.startswith("200") for a in answers) >= 5  # the story's answers, not only faults
    # The story's successful answers took the compiled path, both ways: spyne read or wrote none of them
    # (a fault's answer is spyne's in both worlds).
    faults = sum(not a.status.startswith("200") for a in answers)
    assert worlds.compiled.spyne_steps == faults
    assert worlds.spyne.spyne_steps >= 2 * (len(answers) - faults)


@pytest.mark.parametrize("case", sorted(CORPUS) + sorted(FORMER_SERVER_FAULTS))
def test_the_hostile_corpus_gets_the_same_faults(worlds: Worlds, case: str) -> None:
    body = (CORPUS.get(case) or FORMER_SERVER_FAULTS[case])[0]
    (answer,) = worlds.replay([Request(body)])
    assert answer.status.startswith("500")


PROBES: dict[str, tuple[Request, str]] = {
    "nil-optional": (Request(envelope(patient_fields(MiddleName='<t:MiddleName xsi:nil="true"/>'))), "200"),
    "nil-any-value": (Request(envelope(patient_fields(MiddleName='<t:MiddleName xsi:nil="false"/>'))), "200"),
    "nil-required": (Request(envelope(patient_fields(LastName='<t:LastName xsi:nil="true"/>'))), "500"),
    "empty-optional": (Request(envelope(patient_fields(MiddleName="<t:MiddleName/>"))), "200"),
    "blank-required": (Request(envelope(patient_fields(LastName="<t:LastName>  </t:LastName>"))), "500"),
    "spaces-around": (Request(envelope(patient_fields(LastName="<t:LastName> Тарасенко\n</t:LastName>"))), ""),
    "comment-in-patient": (Request(envelope("<!-- c -->" + patient_fields())), "200"),
    "comment-in-value": (Request(envelope(patient_fields(LastName="<t:LastName>Тара<!-- c -->сенко</t:LastName>"))),
                         ""),
    "pi-in-patient": (Request(envelope("<?pi x?>" + patient_fields())), ""),
    "pi-in-value": (Request(envelope(patient_fields(LastName="<t:LastName>Тара<?pi x?>сенко</t:LastName>"))), ""),
    "cdata": (Request(envelope(patient_fields(LastName="<t:LastName><![CDATA[Тарасенко]]></t:LastName>"))), "200"),
    "entities": (Request(envelope(patient_fields(
        LastName="<t:LastName>&#1058;арасенко &amp; &lt;Ко&gt;</t:LastName>"))), ""),
    "attribute-like-member": (Request(envelope(patient_fields(
        LastName='<t:LastName Snils="1">Тарасенко</t:LastName>'))), ""),
    "xsi-type": (Request(envelope(patient_fields(LastName='<t:LastName xsi:type="xs:string" '
                                                         'xmlns:xs="http://www.w3.org/2001/XMLSchema">Т</t:LastName>'))),
                 ""),
    "unknown-element": (Request(envelope(patient_fields() + "<t:Extra>1</t:Extra>")), "500"),
    "missing-required": (Request(envelope(patient_fields(Snils="<t:Gender>2</t:Gender>"))), "500"),
    "wrong-soapaction": (Request(envelope(patient_fields()), '"RegisterPatient"'), "500"),
    "no-soapaction": (Request(envelope(patient_fields()), None), "200"),
    "other-prefixes": (Request(envelope(patient_fields()).replace(b"t:", b"q:").replace(b"xmlns:t=", b"xmlns:q=")),
                       "200"),
    "default-namespace": (Request(f'<Envelope xmlns="{SOAP11}"><Body><CheckPatient xmlns="{NS}"><Patient>'
                                  f'{patient_fields().replace("t:", "")}</Patient></CheckPatient></Body>'
                                  "</Envelope>".encode()), "200"),
    "no-content-type": (Request(envelope(patient_fields()), content_type=""), ""),
}


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_probes_at_the_edges_of_the_codecs_get_the_same_answers(worlds: Worlds, probe: str) -> None:
    request, status = PROBES[probe]
    (answer,) = worlds.replay([request])
    assert answer.status.startswith(status)


def test_mismatches_echo_the_mis_values_as_spyne_writes_them(worlds: Worlds) -> None:
    """A registered account, then checks whose differences echo the МИС's values back (MISMATCH)."""
    register = Request(envelope(patient_fields(), "RegisterPatient"), '"RegisterPatient"')
    checks = [Request(envelope(patient_fields(MiddleName=value, BirthDate="16.08.1979")))
              for value in ("Викторовна-О'Нил", "Ёлка", "Анна-Мария")]
    answers = worlds.replay([register, *checks])
    assert answers[0].status.startswith("200")
    assert sum(b"MISMATCH" in a.raw for a in answers[1:]) == 3
    assert worlds.compiled.spyne_steps == 0, "every answer here was expected on the compiled path"


def spyne_writes(server: SoapEndpoint, descriptor: Any, out_object: list[Any]) -> bytes:
    """The answer spyne's own Soap11 writes for what a service returned."""
    application = server.app
    ctx = MethodContext(server, MethodContext.SERVER)
    ctx.descriptor = descriptor
    ctx.out_object = out_object
    application.out_protocol.serialize(ctx, ProtocolBase.RESPONSE)
    application.out_protocol.create_out_string(ctx)
    return b"".join(ctx.out_string)


WRITTEN = {
    "not-found": CheckPatientResult(Result="NOT_FOUND", AllowedActions=["REGISTER"], Message="нет"),
    "mismatch": CheckPatientResult(
        Result="MISMATCH", AccountConfirmed=False, AllowedActions=["UPDATE", "RESET_PASSWORD"],
        Differences=[FieldDifference(Field="LastName", Label="Фамилия", MisValue="A & B <c> \"d\" 'e'",
                                     EsiaValue="x\r\ny\tz"),
                     FieldDifference(Field="BirthDate", Label="Дата", MisValue="", EsiaValue="]]>")],
        Message="Данные расходятся: >"),
    "no-actions": CheckPatientResult(Result="MATCH", AccountConfirmed=True, AllowedActions=[], Message=""),
}


@pytest.mark.parametrize("case", sorted(WRITTEN))
def test_the_compiled_writer_writes_spynes_bytes(worlds: Worlds, case: str) -> None:
    endpoint = worlds.compiled.endpoint
    (descriptor,) = [d for d in endpoint.codecs if d.name == "CheckPatient"]
    written = endpoint.codecs[descriptor].write([WRITTEN[case]])
    assert written == spyne_writes(endpoint, descriptor, [WRITTEN[case]])


@pytest.mark.parametrize("result", [
    CheckPatientResult(Result="MATCH", AllowedActions=["UPDATE"], Message="\x01"),  # lxml refuses it
    CheckPatientResult(Result="MATCH", AllowedActions=["UPDATE"]),                   # a required member left None
    CheckPatientResult(Result="MATCH", AllowedActions=["UPDATE"], Message=5),       # not a string
    "not a result",
])
def test_what_the_writer_does_not_know_is_left_to_spyne(worlds: Worlds, result: Any) -> None:
    endpoint = worlds.compiled.endpoint
    (descriptor,) = [d for d in endpoint.codecs if d.name == "CheckPatient"]
    with pytest.raises(NotCompiled):
        endpoint.codecs[descriptor].write([result])


def test_every_esia_accounts_operation_is_compiled(worlds: Worlds) -> None:
    assert sorted(d.name for d in worlds.compiled.endpoint.codecs) == [
        "CheckPatient", "RegisterPatient", "ResetPassword", "UpdatePatient"]
    assert worlds.spyne.endpoint.codecs == {}
