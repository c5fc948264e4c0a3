"""Property-based (hypothesis): generated values at every mapping transform, every loaded mapping and every
SOAP operation of every service the bridge serves. The answer is a result or a Client fault — never a
Server fault caused by the input, never an exception escaping.

The SOAP operations and their fields are read from the frozen WSDLs (wsdl/*.wsdl, through zeep), so a new
operation or field is covered without touching this file. The services run in this process, built as
``bridge serve --sandbox`` builds them (bridge.app.build_context, a temporary SQLite store), their
sandbox peers served on loopback by uvicorn in a thread. Derandomized: the same examples on every run.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import httpx
import pytest
import uvicorn
import zeep
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lxml import etree
from zeep.xsd import ComplexType

from bridge.app import build_context
from bridge.config import Settings
from bridge.identifiers import snils_check_digits
from bridge.mapping import (
    TO_MIS,
    TO_UPSTREAM,
    TRANSFORMS,
    MappingSet,
    MappingValueError,
    TransformError,
    table_transform,
)
from bridge.mapping import Mapping as FieldMappingSet
from bridge.soap import SoapEndpoint
from tests.bridgeproc import ROOT, free_port, free_port_block

FAST = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
SOAP = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"

# --- generated values ---------------------------------------------------------------------------------


def _snils(first9: str) -> str:
    return first9 + snils_check_digits(first9)


_digits = st.text(alphabet="0123456789", min_size=0, max_size=14)
_valid_snils = st.integers(1_001_999, 999_999_999).map(lambda n: _snils(f"{n:09d}"))
_dates = st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31))
_shaped: st.SearchStrategy[str] = st.one_of(
    _digits,
    _valid_snils,
    _valid_snils.map(lambda s: f"{s[:3]}-{s[3:6]}-{s[6:9]} {s[9:]}"),
    st.from_regex(r"\A(8|\+7|7)?\(?9[0-9]{2}\)?[0-9 -]{7,9}\Z"),
    _dates.map(lambda d: d.strftime("%d.%m.%Y")),
    _dates.map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat()),
    st.from_regex(r"\A[0-9]{1,2}\.[0-9]{1,2}\.-?[0-9]{1,5}\Z"),
    st.uuids().map(str),
    st.sampled_from(["", " ", "0", "-1", "true", "null", "NaN", "1e309", "9" * 40, "../../etc/passwd",
                     "http://127.0.0.1:1/x", "https://evil.example/return", "javascript:alert(1)",
                     "'; DROP TABLE journal; --", "%00", "${jndi:ldap://x}", "{{7*7}}", "Ё" * 300,
                     "x" * 3000, "МУЖ", "ЖЕН", "1", "2", "3", "ACCEPTED", "REJECTED"]),
)
# Text as a МИС may send it: any character XML 1.0 allows (the envelope is well-formed; bad XML is
# test_hostile_xml's business), surrogates excluded.
_xml_text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\ufffe\uffff",
                                  min_codepoint=0x20) | st.sampled_from(["\t", "\n", "\r"]), max_size=60)
_strings = st.one_of(_shaped, _xml_text)
_any_value: st.SearchStrategy[Any] = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), _strings, st.binary(max_size=20)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_strings, inner, max_size=3),
    max_leaves=6,
)

# --- 1. every transform of the registry ---------------------------------------------------------------


def _check_converted(convert: Callable[[Any], Any], value: Any) -> Any:
    """The converted value, or the TransformError — whose reason never quotes the value (152-ФЗ)."""
    try:
        return convert(value)
    except TransformError as exc:
        if isinstance(value, str) and len(value.strip()) >= 4:
            assert value.strip() not in exc.reason, "a transform's reason quotes the value"
        return exc


@FAST
@given(name=st.sampled_from(sorted(TRANSFORMS)), direction=st.sampled_from([TO_UPSTREAM, TO_MIS]),
       value=st.one_of(_strings, _any_value))
def test_every_transform_converts_or_says_what_it_expected(name: str, direction: str, value: Any) -> None:
    transform = TRANSFORMS[name]
    convert = transform.to_upstream if direction == TO_UPSTREAM else transform.to_mis
    result = _check_converted(convert, value)
    if not isinstance(result, TransformError) and convert is not TRANSFORMS["upper"].to_mis:
        assert result is None or isinstance(result, str) or result is value


@FAST
@given(name=st.sampled_from(["snils", "phone_ru", "date_ru_iso", "date_iso_ru"]), value=_strings)
def test_format_transforms_round_trip(name: str, value: str) -> None:
    transform = TRANSFORMS[name]
    try:
        upstream = transform.to_upstream(value)
    except TransformError:
        return
    assert transform.to_mis(upstream) == value


@FAST
@given(table=st.dictionaries(_strings, _strings, min_size=1, max_size=30).filter(
    lambda t: len(set(t.values())) == len(t)), value=st.one_of(_strings, _any_value))
def test_table_transforms_look_up_or_list_the_codes(table: dict[str, str], value: Any) -> None:
    transform = table_transform(table)
    for convert, known in ((transform.to_upstream, table), (transform.to_mis, {v: k for k, v in table.items()})):
        result = _check_converted(convert, value)
        if isinstance(value, str) and value in known:
            assert result == known[value]
        else:
            assert isinstance(result, TransformError)


# --- 2. every loaded mapping, with records of the mapping's own shape ---------------------------------

MAPPINGS = MappingSet.load(ROOT / "mappings")


def _nested(paths: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value in paths.items():
        *parents, last = path.split(".")
        node = out
        for key in parents:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[last] = value
    return out


@st.composite
def _records(draw: st.DrawFn, mapping: FieldMappingSet, direction: str) -> dict[str, Any]:
    paths = [fm.mis if direction == TO_UPSTREAM else fm.upstream for fm in mapping.fields]
    chosen = draw(st.lists(st.sampled_from(paths), unique=True, max_size=len(paths))) if paths else []
    record = _nested({p: draw(st.one_of(_strings, _any_value)) for p in chosen})
    if draw(st.booleans()) and paths:   # a parent replaced by a scalar: a shape mistake, not a crash
        record[paths[0].split(".")[0]] = draw(_strings)
    return record


@FAST
@given(data=st.data(), name=st.sampled_from(sorted(MAPPINGS.names)), direction=st.sampled_from([TO_UPSTREAM, TO_MIS]))
def test_every_mapping_converts_or_names_the_field(data: st.DataObject, name: str, direction: str) -> None:
    mapping = MAPPINGS[name]
    record = data.draw(_records(mapping, direction))
    try:
        out = mapping.convert(record, direction)
    except MappingValueError as exc:
        assert exc.field in {fm.mis for fm in mapping.fields}
        for value in _leaves(record):
            if isinstance(value, str) and len(value.strip()) >= 6:
                assert value.strip() not in str(exc), "a mapping error quotes the value"
        return
    assert isinstance(out, dict)


def _leaves(record: Any) -> Iterator[Any]:
    if isinstance(record, dict):
        for value in record.values():
            yield from _leaves(value)
    elif isinstance(record, list):
        for value in record:
            yield from _leaves(value)
    else:
        yield record


# --- 3. every SOAP operation of every service, in process ---------------------------------------------


@dataclass(frozen=True)
class Leaf:
    name: str
    kind: str                  # string | integer | dateTime | boolean | enum
    required: bool
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Node:
    name: str
    required: bool
    children: tuple[Leaf | Node, ...]


@dataclass(frozen=True)
class Operation:
    service: str
    name: str
    namespace: str
    parts: tuple[Leaf | Node, ...]


def _enumerations(wsdl: Path) -> dict[str, tuple[str, ...]]:
    """Simple types with enumerations, by name (zeep keeps the restriction but not its values)."""
    xs = "{http://www.w3.org/2001/XMLSchema}"
    return {str(simple.get("name")): tuple(str(e.get("value")) for e in simple.iter(f"{xs}enumeration"))
            for simple in etree.parse(str(wsdl)).iter(f"{xs}simpleType") if simple.get("name")}


def _shape(element: Any, enums: dict[str, tuple[str, ...]]) -> Leaf | Node:
    required = element.min_occurs > 0
    if isinstance(element.type, ComplexType):
        return Node(element.name, required, tuple(_shape(sub, enums) for _, sub in element.type.elements))
    kind = element.type.qname.localname if element.type.qname is not None else "string"
    if kind in enums:
        return Leaf(element.name, "enum", required, enums[kind])
    return Leaf(element.name, kind, required)


def _operations() -> list[Operation]:
    found: list[Operation] = []
    for wsdl in sorted((ROOT / "wsdl").glob("*.wsdl")):
        if wsdl.stem == "hubservice":
            continue   # the sandbox МИС's contract (an upstream), not a face of the bridge
        document = zeep.Client(str(wsdl)).wsdl  # type: ignore[no-untyped-call]
        enums = _enumerations(wsdl)
        for service in document.services.values():
            for port in service.ports.values():
                for operation in port.binding._operations.values():
                    body = operation.input.body
                    found.append(Operation(wsdl.stem, operation.name, body.qname.namespace,
                                           tuple(_shape(el, enums) for _, el in body.type.elements)))
    return found


OPERATIONS = _operations()
_BRIDGE_PORT = ["8080"]   # the in-process bridge's port, in the sandbox's allowed return URLs


_names = st.text(alphabet="АБВГДЕЁЖЗИКЛМНОПРСТУФХЦЧШЩЭЮЯабвгдеёжзийклмнопрстуфхцчшщъыьэюя -'", min_size=1,
                 max_size=40)
_recent = st.dates(dt.date(2019, 1, 1), dt.date(2030, 12, 31))
# Values shaped as the field expects (by its name), so that the calls get past the schema and the input
# rules into the services' logic and the sandboxes; every field also gets arbitrary text.
_BY_NAME: dict[str, st.SearchStrategy[str]] = {
    "Snils": _valid_snils, "RepresentativeSnils": _valid_snils, "PatientSnils": _valid_snils,
    "BirthDate": _dates.map(lambda d: d.strftime("%d.%m.%Y")),
    "PeriodFrom": _recent.map(lambda d: d.strftime("%d.%m.%Y")),
    "PeriodTo": _recent.map(lambda d: d.strftime("%d.%m.%Y")),
    "ReplyDate": _recent.map(lambda d: d.strftime("%d.%m.%Y")),
    "MobilePhone": st.from_regex(r"\A89[0-9]{9}\Z"),
    "Gender": st.sampled_from(["1", "2", "0", "3", "М", "Ж"]),
    "LastName": _names, "FirstName": _names, "MiddleName": _names, "DoctorName": _names,
    "ReturnUrl": st.sampled_from(["http://127.0.0.1:{port}/esia/demo-portal/return", "http://evil.example/",
                                  "//evil.example", "http://127.0.0.1:{port}/esia/demo-portal/return?x=1"]),
    "Purpose": st.sampled_from(["", "portal", "max-link", "x" * 300]),
    "Id": st.one_of(st.uuids().map(str), _digits),
    "VisitId": st.one_of(st.uuids().map(str), _digits),
    "MisPatientId": st.from_regex(r"\AMIS-[0-9a-f]{1,12}\Z"),
    "SickLeaveNumber": st.from_regex(r"\A[0-9]{12}\Z"),
    "LpuId": st.integers(-5, 5).map(str),
}


def _leaf_value(leaf: Leaf) -> st.SearchStrategy[str]:
    shaped = _BY_NAME.get(leaf.name)
    if shaped is not None:
        return st.one_of(shaped, shaped, shaped, _strings)
    if leaf.kind == "enum":
        return st.one_of(st.sampled_from(leaf.choices or ("X",)), _strings)
    if leaf.kind == "integer":
        return st.one_of(st.integers().map(str), st.integers(-(2**70), 2**70).map(str), _strings)
    if leaf.kind == "dateTime":
        zones: st.SearchStrategy[Any] = st.sampled_from([None, dt.UTC])
        recent = st.datetimes(dt.datetime(2020, 1, 1), dt.datetime(2030, 1, 1), timezones=zones)
        return st.one_of(recent.map(lambda d: d.isoformat(timespec="seconds")), recent.map(dt.datetime.isoformat),
                         st.datetimes(timezones=zones).map(lambda d: d.isoformat()),
                         st.sampled_from(["0001-01-01T00:00:00", "9999-12-31T23:59:59+14:00",
                                          "2024-02-30T10:00:00", "2024-01-01T25:00:00Z"]),
                         _strings)
    if leaf.kind == "boolean":
        return st.one_of(st.sampled_from(["true", "false", "1", "0"]), _strings)
    return _strings


@st.composite
def _xml(draw: st.DrawFn, part: Leaf | Node, mutate: bool) -> str:
    """One element: as the schema wants it (an optional one present or not), or, when ``mutate``, also
    absent though required, nil, or twice — shapes a МИС sends too."""
    shapes = ["once"] * 12 + ["absent", "twice", "nil"] if mutate else ["once"] if part.required else ["once", "absent"]
    presence = draw(st.sampled_from(shapes))
    if presence == "absent":
        return ""
    if presence == "nil":
        return f'<t:{part.name} xsi:nil="true"/>'
    if isinstance(part, Node):
        inner = "".join(draw(_xml(child, mutate)) for child in part.children)
    else:
        inner = escape(draw(_leaf_value(part)))
    once = f"<t:{part.name}>{inner}</t:{part.name}>"
    return once * (2 if presence == "twice" else 1)


def _envelope(operation: Operation, inner: str) -> bytes:
    return (f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns:xsi="{XSI}" xmlns:t="{operation.namespace}">'
            f"<soapenv:Body><t:{operation.name}>{inner}</t:{operation.name}></soapenv:Body>"
            "</soapenv:Envelope>").encode()


class _Peers:
    """The sandbox peers of ``serve --sandbox``, served on loopback by uvicorn in one thread."""

    def __init__(self, peers: list[tuple[str, Any, int]], host: str) -> None:
        configs = [uvicorn.Config(app, host=host, port=port, access_log=False, log_config=None, lifespan="off")
                   for _, app, port in peers]
        self.servers = [uvicorn.Server(config) for config in configs]

        def run() -> None:
            import asyncio

            async def serve() -> None:
                await asyncio.gather(*(server.serve() for server in self.servers))

            asyncio.run(serve())

        self.thread = threading.Thread(target=run, name="sandbox-peers", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not all(server.started for server in self.servers):
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the sandbox peers did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        for server in self.servers:
            server.should_exit = True
        self.thread.join(15)


@pytest.fixture(scope="module")
def soap_clients(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, httpx.Client]]:
    from bridge.cli._serve import with_sandbox_upstreams

    tmp = tmp_path_factory.mktemp("properties")
    base = Settings.model_validate({
        "sandbox": True, "port": free_port(), "sandbox_base_port": free_port_block(8),
        "database_url": f"sqlite:///{tmp / 'bridge.db'}", "sandbox_dir": tmp / "sandbox",
        "pseudonym_key": "property-test-pseudonym-key-0123456789", "outbox_workers": 0, "scheduler": False})
    bridged, peers = with_sandbox_upstreams(base)
    # ЕСИА's accounts go over СМЭВ 3: a call waits for the answer the GetResponse runner collects. As
    # `bridge serve` does, the runner runs (context.on_start below); the sandbox reg_service answers at
    # once, and the runner polls often, so every answer comes well within the wait: Server.AnswerPending
    # (an answer that has not come) cannot occur here, and the property admits no Server fault.
    esia = bridged.adapter_settings["esia"]
    esia["answer_wait_seconds"] = 15.0
    esia["smev"] = {**esia["smev"], "get_response_pause_seconds": 0.02, "store_poll_seconds": 0.02}
    _BRIDGE_PORT[:] = [str(bridged.port)]
    served = _Peers(peers, bridged.sandbox_host)
    httpx.put(f"{bridged.upstreams['esia-oauth'].base_url}/_sandbox/reg-service",
              json={"delay_seconds": 0}, timeout=10).raise_for_status()
    context, adapters = build_context(bridged)
    services = [service for adapter in adapters for service in adapter.soap_services(context)]
    for task in context.on_start:   # as the app's lifespan does: the СМЭВ runner starts
        task()
    clients = {service.name: httpx.Client(transport=httpx.WSGITransport(app=SoapEndpoint(service)),
                                          base_url="http://bridge.test", timeout=30) for service in services}
    try:
        yield clients
    finally:
        for client in clients.values():
            client.close()
        context.close()
        context.store.dispose()
        served.stop()


def test_every_served_service_has_its_operations_generated(soap_clients: dict[str, httpx.Client]) -> None:
    assert set(soap_clients) == {op.service for op in OPERATIONS}
    assert {"esia-accounts", "esia-login", "egisz-attachments", "max-tmk"} <= set(soap_clients)


def _faultcode(body: bytes) -> str | None:
    found: Any = etree.fromstring(body).xpath("//*[local-name()='Fault']/faultcode/text()")
    return str(found[0]).split(":", 1)[-1] if found else None


@pytest.mark.parametrize("operation", OPERATIONS, ids=[f"{op.service}.{op.name}" for op in OPERATIONS])
@SOAP
@given(data=st.data())
def test_every_soap_operation_answers_a_result_or_a_client_fault(
    soap_clients: dict[str, httpx.Client], data: st.DataObject, operation: Operation
) -> None:
    mutate = data.draw(st.booleans())
    inner = "".join(data.draw(_xml(part, mutate)) for part in operation.parts).replace("{port}", _BRIDGE_PORT[0])
    action = data.draw(st.sampled_from([f'"{operation.name}"', '""', None]))
    headers = {"Content-Type": "text/xml; charset=utf-8", **({"SOAPAction": action} if action is not None else {})}
    answer = soap_clients[operation.service].post(f"/soap/{operation.service}", content=_envelope(operation, inner),
                                                  headers=headers)
    text = answer.content.decode("utf-8", "replace")
    assert "Traceback" not in text
    code = _faultcode(answer.content)
    event(f"{operation.name}: {code or answer.status_code}")
    if answer.status_code == 200:
        assert code is None, text[:500]
        return
    assert answer.status_code == 500, (answer.status_code, text[:500])
    assert code is not None and code.startswith("Client"), (
        f"{operation.service} {operation.name}: {code}: {text[:400]}\nrequest: {inner[:1500]}")
