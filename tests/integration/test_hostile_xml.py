"""Hostile and malformed input on every face: a clear Client fault (SOAP) or a JSON 4xx (webhook), never a
Server fault, a traceback or a crash; nothing changes; and the bridge serves on.

- every SOAP service the bridge serves (GET /readyz lists them) gets the XML corpus;
- the WSDL fetch (GET /soap/<svc>?wsdl) with hostile query strings and Host / X-Forwarded-* headers
  gives the frozen contract and nothing else;
- the MAX webhook (POST /max/webhook, JSON) refuses what is not an Update from MAX.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from xml.sax.saxutils import escape

import httpx
import pytest
from lxml import etree

from adapters.max import SECRET_HEADER
from adapters.tmk.sandbox import WEBHOOK_SECRET
from tests.bridgeproc import ROOT, BridgeProcess
from tests.conftest import make_patient
from tests.soapcall import call, envelope

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
ENV = b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
_LOL = b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1)) * 10) for i in range(1, 10))
CORPUS = {
    "soap-1.2-envelope": (b'<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><x/>'
                          b"</env:Body></env:Envelope>", "VersionMismatch", "SOAP 1.1"),
    "two-bodies": (ENV + b"<soapenv:Body/><soapenv:Body/></soapenv:Envelope>", "Client.InvalidEnvelope", "Body"),
    "no-body": (ENV + b"</soapenv:Envelope>", "Client.InvalidEnvelope", "Body"),
    "wrong-namespace": (b'<Envelope xmlns="urn:not-soap"><Body/></Envelope>', "Client.SoapError", "SOAP 1.1"),
    "oversized": (ENV + b"<soapenv:Body>" + b"<a>x</a>" * 400_000 + b"</soapenv:Body></soapenv:Envelope>",
                  "Client.RequestTooLong", "размера"),
    "deeply-nested": (ENV + b"<soapenv:Body>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</soapenv:Body></soapenv:Envelope>",
                      "Client.XMLSyntaxError", "XML"),
    "invalid-utf8": (ENV + b"<soapenv:Body>\xff\xfe</soapenv:Body></soapenv:Envelope>", "Client.XMLSyntaxError", "XML"),
    "not-xml": (b"hello", "Client.XMLSyntaxError", "XML"),
    "xxe-file": (b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + ENV
                 + b"<soapenv:Body><a>&x;</a></soapenv:Body></soapenv:Envelope>", "Client.DTDForbidden", "DTD"),
    "xxe-network": (b'<!DOCTYPE e [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]>' + ENV
                    + b"<soapenv:Body/></soapenv:Envelope>", "Client.DTDForbidden", "DTD"),
    "billion-laughs": (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">' + _LOL + b"]>" + ENV
                       + b"<soapenv:Body><a>&lol9;</a></soapenv:Body></soapenv:Envelope>", "Client.DTDForbidden",
                       "DTD"),
    "quadratic-blowup": (b'<!DOCTYPE q [<!ENTITY a "' + b"a" * 50_000 + b'">]>' + ENV + b"<soapenv:Body><x>"
                         + b"&a;" * 10_000 + b"</x></soapenv:Body></soapenv:Envelope>", "Client.DTDForbidden", "DTD"),
    "doctype-lowercase-spaced": (b'<! doctype e [<!ENTITY x "y">]>' + ENV + b"<soapenv:Body/></soapenv:Envelope>",
                                 "Client.DTDForbidden", "DTD"),
    "empty-request": (b"", "Client.EmptyRequest", "пустой"),
    "unknown-operation": (ENV + b'<soapenv:Body><t:Nope xmlns:t="urn:nope"/></soapenv:Body></soapenv:Envelope>',
                          "Client", ""),
}
# Once Server faults on input, now Client faults (found by this corpus; kept as regressions).
FORMER_SERVER_FAULTS = {
    "empty-body": (ENV + b"<soapenv:Body/></soapenv:Envelope>", "Client.InvalidEnvelope"),
}


def _doc(service: str, operation: str, fields: str, ns: str) -> bytes:
    return (f'<soapenv:Envelope xmlns:soapenv="{SOAP11}" xmlns:t="{ns}"><soapenv:Body><t:{operation}>{fields}'
            f"</t:{operation}></soapenv:Body></soapenv:Envelope>").encode()


def _esia_accounts(_: BridgeProcess) -> tuple[str, bytes]:
    return "CheckPatient", envelope("CheckPatient", make_patient())


def _esia_login(bridge: BridgeProcess) -> tuple[str, bytes]:
    return_url = escape(f"{bridge.url}/esia/demo-portal/return")
    return "GetEsiaLogoutUrl", _doc("esia-login", "GetEsiaLogoutUrl", f"<t:ReturnUrl>{return_url}</t:ReturnUrl>",
                                    "urn:misbridge:esia:login:1")


def _egisz(_: BridgeProcess) -> tuple[str, bytes]:
    criteria = "<t:Criteria><t:PeriodFrom>01.01.2024</t:PeriodFrom><t:PeriodTo>02.01.2024</t:PeriodTo></t:Criteria>"
    return "SearchApplications", _doc("egisz-attachments", "SearchApplications", criteria,
                                      "urn:misbridge:egisz:attachments:1")


def _max_tmk(_: BridgeProcess) -> tuple[str, bytes]:
    return "ListUndeliveredReminders", _doc("max-tmk", "ListUndeliveredReminders",
                                            "<t:Since>2024-01-01T00:00:00</t:Since>", "urn:misbridge:max:tmk:1")


# A normal call per service: (operation, envelope). A service the bridge serves and this table lacks fails
# test_every_served_service_is_covered.
NORMAL_CALLS: dict[str, Callable[[BridgeProcess], tuple[str, bytes]]] = {
    "esia-accounts": _esia_accounts,
    "esia-login": _esia_login,
    "egisz-attachments": _egisz,
    "max-tmk": _max_tmk,
}
SERVICES = sorted(NORMAL_CALLS)


def _no_internals(text: str) -> None:
    for word in ("Traceback", 'File "/', "lxml.etree", "AttributeError", "KeyError", "/etc/passwd", "root:x:0"):
        assert word not in text, word


def _serves_a_normal_call(bridge: BridgeProcess, service: str) -> None:
    operation, body = NORMAL_CALLS[service](bridge)
    ok = call(f"{bridge.url}/soap/{service}", operation, body, soap_action=f'"{operation}"')
    assert ok.status == 200, (service, ok.faultcode, ok.faultstring)


def test_every_served_service_is_covered(bridge: BridgeProcess) -> None:
    served = httpx.get(f"{bridge.url}/readyz", timeout=10).json()["services"]
    assert sorted(served) == SERVICES


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("case", sorted(CORPUS))
def test_hostile_input_is_a_client_fault_and_the_bridge_serves_on(bridge: BridgeProcess, service: str,
                                                                   case: str) -> None:
    payload, code, words = CORPUS[case]
    operation, _ = NORMAL_CALLS[service](bridge)
    answer = call(f"{bridge.url}/soap/{service}", operation, payload, soap_action=f'"{operation}"')
    assert answer.status == 500
    assert answer.faultcode is not None
    if code == "Client":
        assert answer.faultcode.startswith("Client"), (answer.faultcode, answer.faultstring)
    else:
        assert answer.faultcode == code, (answer.faultcode, answer.faultstring)
    assert words in answer.faultstring
    _no_internals(answer.body.decode(errors="replace"))
    _serves_a_normal_call(bridge, service)


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("case", sorted(FORMER_SERVER_FAULTS))
def test_former_server_faults_on_input_are_client_faults(bridge: BridgeProcess, service: str, case: str) -> None:
    payload, expected = FORMER_SERVER_FAULTS[case]
    operation, _ = NORMAL_CALLS[service](bridge)
    answer = call(f"{bridge.url}/soap/{service}", operation, payload, soap_action=f'"{operation}"')
    _no_internals(answer.body.decode(errors="replace"))
    _serves_a_normal_call(bridge, service)
    assert answer.status == 500 and answer.faultcode is not None and answer.faultcode.endswith(expected)


# --- the WSDL fetch ---------------------------------------------------------------------------------

_SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
_ADDRESS = re.compile(r'<(?:soap|wsdlsoap11):address location="([^"]*)"')


def _wsdl(bridge: BridgeProcess, service: str, query: str = "wsdl",
          headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(f"{bridge.url}/soap/{service}?{query}", headers=headers, timeout=15)


def _frozen_but_address(text: str, service: str) -> str:
    """The served WSDL must be the frozen file but for soap:address; returns that address."""
    frozen = (ROOT / "wsdl" / f"{service}.wsdl").read_text(encoding="utf-8")
    addresses = _ADDRESS.findall(text)
    assert len(addresses) == 1, addresses
    assert _ADDRESS.sub("", text) == _ADDRESS.sub("", frozen)
    etree.fromstring(text.encode(), _SAFE)   # well-formed, no DTD needed
    return str(addresses[0])


HOSTILE_QUERIES = [
    "wsdl=../../../../etc/passwd", "wsdl&xsd=../../../../etc/passwd", "WSDL", "Wsdl=1&wsdl=2", "wsdl=%00",
    "wsdl=%3Cscript%3Ealert(1)%3C/script%3E", "wsdl&a=" + "x" * 6000,
    "wsdl&" + "&".join(f"k{i}=v" for i in range(500)),
    "wsdl=http://evil.example/x.wsdl", "wsdl&url=file:///etc/passwd",
]


@pytest.mark.parametrize("service", SERVICES)
def test_wsdl_fetch_with_hostile_query_strings_is_the_contract(bridge: BridgeProcess, service: str) -> None:
    normal = _wsdl(bridge, service)
    assert normal.status_code == 200
    for query in HOSTILE_QUERIES:
        answer = _wsdl(bridge, service, query)
        assert answer.status_code == 200, (query[:60], answer.status_code)
        assert answer.text == normal.text, query[:60]
        _no_internals(answer.text)
    for query in ("xsd=../../../../etc/passwd", "", "wsd", "%77sdl-no"):
        answer = _wsdl(bridge, service, query)
        assert answer.status_code == 405, (query, answer.status_code)
        assert "error" in answer.json()
    for method in ("PUT", "DELETE", "PATCH"):
        answer = httpx.request(method, f"{bridge.url}/soap/{service}?wsdl", timeout=10)
        assert 400 <= answer.status_code < 500, (method, answer.status_code)
    _serves_a_normal_call(bridge, service)


HOSTILE_HOSTS = [
    'evil.example"><wsdl:import location="http://evil.example/x"/><x a="',
    "evil.example/../../etc/passwd", "a" * 10_000, "evil.example:99999999", "evil.example:80@other",
    "[::1", "evil.example\\x", " ", "evil.example:80, 127.0.0.1", "%65vil.example", "<!DOCTYPE x>",
]
_SANE_ADDRESS = re.compile(r"^https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(:\d{1,5})?/soap/[a-z-]+$")


def _insane_addresses(bridge: BridgeProcess, service: str, header: str, hosts: list[str]) -> list[str]:
    """The hosts whose answer is not the contract with a sane soap:address (refusals are fine)."""
    insane: list[str] = []
    for host in hosts:
        try:
            answer = _wsdl(bridge, service, headers={header: host, "X-Forwarded-Proto": "javascript"})
        except httpx.HTTPError:
            continue   # refused by the HTTP layer (client or server): fine, if the bridge serves on
        if answer.status_code != 200:
            assert 400 <= answer.status_code < 500, (header, host[:40], answer.status_code)
            continue
        address = _frozen_but_address(answer.text, service)
        assert "javascript" not in address
        if not (_SANE_ADDRESS.match(address) and len(address) < 300):
            insane.append(f"{header}: {host[:30]!r} (len {len(host)}) -> {address[:60]!r}")
    return insane


@pytest.mark.parametrize("service", SERVICES)
def test_wsdl_fetch_with_hostile_host_headers_gives_a_sane_address(bridge: BridgeProcess, service: str) -> None:
    assert _insane_addresses(bridge, service, "X-Forwarded-Host", HOSTILE_HOSTS) == []
    insane = _insane_addresses(bridge, service, "Host", HOSTILE_HOSTS)
    _serves_a_normal_call(bridge, service)
    assert insane == []     # a Host that is not host[:port] falls back to the server's own address


def test_a_huge_host_header_is_refused_and_the_bridge_serves_on(bridge: BridgeProcess) -> None:
    hosts = ["h" * 70_000, "h" * 1_000_000]
    assert _insane_addresses(bridge, "esia-accounts", "X-Forwarded-Host", hosts) == []
    insane = _insane_addresses(bridge, "esia-accounts", "Host", hosts)
    for service in SERVICES:
        _serves_a_normal_call(bridge, service)
    assert insane == []


# --- the MAX webhook --------------------------------------------------------------------------------

PAYLOADS = ROOT / "adapters" / "max" / "sandbox" / "payloads"


def _payload(name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((PAYLOADS / f"webhook.{name}.json").read_text(encoding="utf-8"))
    return data


def _metric_sum(bridge: BridgeProcess, name: str, label: str = "") -> float:
    total = 0.0
    for line in httpx.get(f"{bridge.url}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + "{") and label in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def _webhook(bridge: BridgeProcess, body: bytes, secret: str | None = WEBHOOK_SECRET,
             content_type: str = "application/json") -> httpx.Response:
    headers = {"Content-Type": content_type, **({SECRET_HEADER: secret} if secret is not None else {})}
    return httpx.post(f"{bridge.url}/max/webhook", content=body, headers=headers, timeout=30)


def _fresh_message() -> dict[str, object]:
    update = _payload("message_created")
    message = dict(update["message"])  # type: ignore[call-overload]
    message["body"] = {"mid": f"mid.hostile-{uuid.uuid4().hex}", "seq": 1, "text": "/start"}
    return {**update, "message": message}


WRONG_SECRETS = [None, "", "sandbox-webhook-secret ", "SANDBOX-WEBHOOK-SECRET", "sandbox-webhook-secre",
                 "x" * 10_000, WEBHOOK_SECRET + "\u0000"]


def test_a_valid_update_without_the_right_secret_changes_nothing(bridge: BridgeProcess) -> None:
    accepted = _metric_sum(bridge, "bridge_max_webhook_requests_total", 'outcome="accepted"')
    updates = _metric_sum(bridge, "bridge_max_updates_total")
    bookings = httpx.get(f"{bridge.url}/admin/tmk/bookings", timeout=10).json()
    body = json.dumps(_fresh_message()).encode()
    for secret in WRONG_SECRETS:
        try:
            answer = _webhook(bridge, body, secret)
        except (httpx.LocalProtocolError, UnicodeEncodeError):
            continue   # not even sendable as a header
        assert answer.status_code == 401, (repr(secret)[:30], answer.status_code)
        assert answer.json() == {"error": "rejected"}
    assert _metric_sum(bridge, "bridge_max_webhook_requests_total", 'outcome="accepted"') == accepted
    assert _metric_sum(bridge, "bridge_max_updates_total") == updates
    assert httpx.get(f"{bridge.url}/admin/tmk/bookings", timeout=10).json() == bookings


def _update_with(path: tuple[str, ...], value: object, base: str = "message_created") -> bytes:
    update: dict[str, object] = _fresh_message() if base == "message_created" else _payload(base)
    node: dict[str, object] = update
    for key in path[:-1]:
        child = node.get(key)
        node[key] = dict(child) if isinstance(child, dict) else {}
        node = node[key]  # type: ignore[assignment]
    node[path[-1]] = value
    return json.dumps(update).encode()


HOSTILE_BODIES: dict[str, bytes] = {
    "oversized": b'{"update_type": "message_created", "pad": "' + b"x" * (3 * 1024 * 1024) + b'"}',
    "deeply-nested-array": b"[" * 100_000 + b"]" * 100_000,
    "deeply-nested-object": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "deeply-nested-in-update": b'{"update_type":"message_created","timestamp":1,"message":' + b'{"a":' * 50_000
    + b"1" + b"}" * 50_001,
    "invalid-utf8": b'{"update_type": "message_created", "timestamp": 1, "x": "\xff\xfe"}',
    "not-json": b"<xml/>",
    "empty": b"",
    "json-array": b"[]",
    "json-string": b'"message_created"',
    "nan-timestamp": b'{"update_type": "bot_started", "timestamp": NaN, "chat_id": 1, "user": {"user_id": 1}}',
    "infinite-timestamp": b'{"update_type": "bot_started", "timestamp": 1e400, "chat_id": 1, "user": {"user_id": 1}}',
    "message-is-a-string": _update_with(("message",), "hello"),
    "body-is-a-list": _update_with(("message", "body"), [1, 2]),
    "recipient-is-a-number": _update_with(("message", "recipient"), 5),
    "text-is-a-number": _update_with(("message", "body", "text"), 12345),
    "text-is-an-object": _update_with(("message", "body", "text"), {"a": 1}),
    "mid-is-a-list": _update_with(("message", "body", "mid"), ["x"]),
    "attachments-is-a-string": _update_with(("message", "body", "attachments"), "contact"),
    "attachment-is-a-number": _update_with(("message", "body", "attachments"), [7]),
    "sender-id-is-huge": _update_with(("message", "sender", "user_id"), 10**40),
    "sender-id-is-a-float": _update_with(("message", "sender", "user_id"), 1.5),
    "sender-id-is-bool": _update_with(("message", "sender", "user_id"), True),
    "sender-is-a-list": _update_with(("message", "sender"), [1]),
    "timestamp-is-huge": _update_with(("timestamp",), 10**30),
    "update-type-is-a-list": _update_with(("update_type",), ["message_created"]),
    "callback-is-a-string": _update_with(("callback",), "x", base="message_callback"),
    "callback-id-missing": _update_with(("callback", "callback_id"), None, base="message_callback"),
    "chat-id-is-a-string": _update_with(("chat_id",), "not-a-number", base="bot_started"),
    "user-is-null": _update_with(("user",), None, base="bot_started"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_BODIES))
def test_a_hostile_webhook_body_is_a_json_4xx_and_changes_nothing(bridge: BridgeProcess, case: str) -> None:
    accepted = _metric_sum(bridge, "bridge_max_webhook_requests_total", 'outcome="accepted"')
    answer = _webhook(bridge, HOSTILE_BODIES[case])
    assert 400 <= answer.status_code < 500, (case, answer.status_code, answer.text[:200])
    assert answer.headers["content-type"].startswith("application/json"), answer.text[:200]
    assert "error" in answer.json() and set(answer.json()) <= {"error", "message"}
    _no_internals(answer.text)
    assert _metric_sum(bridge, "bridge_max_webhook_requests_total", 'outcome="accepted"') == accepted
    # and without the secret, the same body is refused for that first
    assert _webhook(bridge, HOSTILE_BODIES[case][:10_000], secret=None).status_code == 401


def test_after_the_corpus_the_webhook_takes_a_real_update(bridge: BridgeProcess) -> None:
    accepted = _metric_sum(bridge, "bridge_max_webhook_requests_total", 'outcome="accepted"')
    muted = _payload("dialog_muted")
    muted["timestamp"] = int(uuid.uuid4().int % 10**12)
    answer = _webhook(bridge, json.dumps(muted).encode())
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ok": True}
    assert _metric_sum(bridge, "bridge_max_webhook_requests_total", 'outcome="accepted"') == accepted + 1


def test_no_external_entity_was_ever_resolved(bridge: BridgeProcess) -> None:
    assert "root:x:0" not in bridge.logs()
