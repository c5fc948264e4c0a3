"""bridge.smev: the message-exchange envelopes, the fault classification and the client over Upstream.

* Envelopes (SendRequest, GetResponse, Ack) validate against the real message-exchange XSDs 1.1 and 1.3
  (tests/smev/xsd/, from magpie-crow/mimic-smev3) and carry an ЭП-ОВ that verifies.
* MessageID is an RFC 4122 version-1 UUID with the clock's time.
* Faults: recorded СМЭВ faults (tests/smev/recorded/, from burcevsemyon/Smev3Sharp) are classified; every
  fault element the 1.1 and 1.3 schemas declare has a reaction.
* The client over ``httpx.MockTransport`` answering with signed СМЭВ envelopes: retries of transient
  faults with the same MessageID, MessageIsAlreadySent as sent, final faults at once, answers refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from lxml import etree
from prometheus_client import REGISTRY

from bridge.delivery import RetryPolicy, Upstream, UpstreamConfig
from bridge.errors import (
    ServiceUnavailable,
    SmevFault,
    SmevMessageAlreadySent,
    SmevOpsProblem,
    SmevStaleMessageId,
    SmevTemporaryFailure,
)
from bridge.smev import (
    DS,
    KNOWN_FAULTS,
    AnswerRefused,
    SmevClient,
    SmevSettings,
    message_id_time,
    namespaces,
    new_message_id,
    sign_detached,
    verify_detached,
)
from bridge.smev import _envelopes as envelopes
from bridge.smev._answers import parse_envelope, read_get_response
from bridge.smev._versions import SOAP_ENV
from tests.signing.material import Material, gost_materials, python_signer

HERE = Path(__file__).resolve().parents[1] / "smev"
XSD = HERE / "xsd"
RECORDED = HERE / "recorded"
ESIA = "urn://mincomsvyaz/esia/reg_service/find_account/1.4.1"
NOW = datetime.now(UTC).replace(microsecond=0)  # the test certificates are made today


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Material, Material]:
    """Our ЭП-ОВ key and a stand-in for СМЭВ's key (ЭП-СМЭВ)."""
    ours, smev = gost_materials(tmp_path_factory, "ov", "smev")
    return ours, smev


def _content() -> etree._Element:
    root = etree.Element(f"{{{ESIA}}}ESIAFindAccountRequest", nsmap={"r": ESIA})
    etree.SubElement(root, f"{{{ESIA}}}RoutingCode").text = "TESIA"
    etree.SubElement(root, f"{{{ESIA}}}snils").text = "000-000-600 06"
    return root


def _schema(version: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD / version / f"smev-message-exchange-types-{version}.xsd")))


def _body_child(envelope: bytes) -> etree._Element:
    root = etree.fromstring(envelope)
    child = root.find(f"{{{SOAP_ENV}}}Body/*")
    assert child is not None
    return child


# --------------------------------------------------------------------------- envelopes vs the real XSD


@pytest.mark.parametrize("version", ["1.1", "1.3"])
def test_envelopes_validate_against_the_message_exchange_xsd(version: str, keys: tuple[Material, Material]) -> None:
    ns = namespaces(version)  # type: ignore[arg-type]
    signer = python_signer(keys[0])
    schema = _schema(version)
    made = [
        envelopes.send_request(ns, signer, new_message_id(NOW), _content(), test_message=True),
        envelopes.send_request(ns, signer, new_message_id(NOW), _content(), reference_message_id=str(uuid.uuid1()),
                               node_id="node-1"),
        envelopes.get_response(ns, signer, NOW, namespace_uri=ESIA, root_element="ESIAFindAccountResponse"),
        envelopes.get_response(ns, signer, NOW),
        envelopes.ack(ns, signer, str(uuid.uuid1()), accepted=True),
        envelopes.ack(ns, signer, str(uuid.uuid1()), accepted=False),
    ]
    for envelope in made:
        child = _body_child(envelope.body)
        schema.assertValid(child)
        signature = child.find(f"{{{ns.types}}}CallerInformationSystemSignature/{{{DS}}}Signature")
        assert signature is not None
        verified = verify_detached(signature, trusted={keys[0].certificate_der})
        assert verified.signed_element.get("Id") in ("SIGNED_BY_CONSUMER", "SIGNED_BY_CALLER")
        assert verified.signed_element.getparent() is child


def test_an_envelope_the_schema_refuses_is_caught_by_the_xsd(keys: tuple[Material, Material]) -> None:
    """The validation can fail: a MessageID in upper case breaks the schema's UUID pattern."""
    ns = namespaces("1.3")
    envelope = envelopes.send_request(ns, python_signer(keys[0]), new_message_id(NOW).upper(), _content())
    assert not _schema("1.3").validate(_body_child(envelope.body))


def test_a_selector_names_both_or_neither(keys: tuple[Material, Material]) -> None:
    with pytest.raises(ValueError, match="both"):
        envelopes.get_response(namespaces("1.2"), python_signer(keys[0]), NOW, namespace_uri=ESIA)


def test_unknown_schema_version_is_refused() -> None:
    with pytest.raises(ValueError, match=r"1\.1, 1\.2 or 1\.3"):
        namespaces("2.0")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- MessageID


def test_message_id_is_rfc4122_version_1_with_the_clocks_time() -> None:
    ids = {new_message_id(NOW) for _ in range(1000)}
    assert len(ids) == 1000
    for message_id in list(ids)[:20]:
        value = uuid.UUID(message_id)
        assert (value.version, value.variant) == (1, uuid.RFC_4122)
        assert message_id == message_id.lower()
        moment = message_id_time(message_id)
        assert moment is not None and timedelta(0) <= moment - NOW < timedelta(milliseconds=1)
    assert message_id_time(str(uuid.uuid4())) is None
    assert message_id_time("not a uuid") is None
    # a clock that went back keeps its (wrong) time, with a new clock sequence: unique, and visibly stale
    earlier = new_message_id(NOW - timedelta(days=2))
    assert earlier not in ids and message_id_time(earlier) == NOW - timedelta(days=2)
    # Python's own uuid1 (the system clock) reads the same way
    own = message_id_time(str(uuid.uuid1()))
    assert own is not None and abs(own - datetime.now(UTC)) < timedelta(seconds=5)


# --------------------------------------------------------------------------- faults


def _fault_names(version: str) -> set[str]:
    tree = etree.parse(str(XSD / version / f"smev-message-exchange-faults-{version}.xsd"))
    return {str(e.get("name")) for e in tree.getroot().findall("{http://www.w3.org/2001/XMLSchema}element")}


@pytest.mark.parametrize("version", ["1.1", "1.3"])
def test_every_fault_of_the_schema_has_a_reaction(version: str) -> None:
    names = _fault_names(version)
    assert {"SMEVFailure", "MessageIsAlreadySent", "StaleMessageId"} <= names
    assert names - set(KNOWN_FAULTS) == set()


def test_recorded_signature_verification_fault_is_an_ops_problem() -> None:
    body = (RECORDED / "smev3sharp-SoapFaultResponse_SignatureVerificationFault.xml").read_bytes()
    with pytest.raises(SmevOpsProblem) as raised:
        parse_envelope(body.lstrip(b"\xef\xbb\xbf"), "SendRequest")
    fault = raised.value
    assert (fault.fault, fault.reason) == ("SignatureVerificationFault", "CertificateIsExpired")
    assert fault.reaction == "alert"
    assert fault.code == "tsmev3:PRODUCTION_AREA:TSMEV3_CORE2 : TR:SYNC:SPS:4"
    assert fault.faultcode == "Server.SmevRefused"
    assert "2021-02-18" not in fault.message  # СМЭВ's description is not repeated


def test_a_server_fault_without_detail_is_temporary() -> None:
    body = (RECORDED / "smev3sharp-SoapFaultResponse.xml").read_bytes()
    with pytest.raises(SmevTemporaryFailure) as raised:
        parse_envelope(body.lstrip(b"\xef\xbb\xbf"), "GetResponse")
    assert isinstance(raised.value, ServiceUnavailable)
    assert raised.value.faultcode == "Server.UpstreamUnavailable"


def test_recorded_async_invalid_content_and_empty_queue() -> None:
    ns = namespaces("1.2")
    body = (RECORDED / "smev3sharp-GetResponseResponce_InvalidContent.xml").read_bytes().lstrip(b"\xef\xbb\xbf")
    root = etree.fromstring(body)
    for signed_info in root.iter(f"{{{DS}}}SignedInfo"):  # indented after signing: see recorded/README.md
        for element in signed_info.iter():
            element.text = element.text if element.text and element.text.strip() else None
            element.tail = element.tail if element.tail and element.tail.strip() else None
    smev_certificate = _certificate_in(root)
    received = read_get_response(parse_envelope(etree.tostring(root), "GetResponse"), ns, {smev_certificate},
                                 datetime(2021, 4, 1, tzinfo=UTC))
    assert received is not None and received.refused is None
    assert received.message_id == "ad1d4183-8b8c-11eb-9ae4-fa163e6269f4"
    assert received.original_message_id == "ac9fbf27-8b8c-11eb-9086-e2bf794ac2e9"
    assert received.async_status == "requestIsRejectedBySmev"
    assert isinstance(received.async_fault, SmevOpsProblem) and received.async_fault.fault == "InvalidContent"
    assert received.async_fault.code == "tsmev3:P:TSMEV3_ASYNC_CORE1:TR:ASYNC:PP:BSV:3"

    untrusted = read_get_response(parse_envelope(etree.tostring(root), "GetResponse"), ns, {b"other"}, None)
    assert untrusted is not None and untrusted.refused == "untrusted-certificate"
    assert untrusted.message_id == "ad1d4183-8b8c-11eb-9ae4-fa163e6269f4"  # still acknowledgeable

    empty = (RECORDED / "smev3sharp-GetResponseResponce_EmptyQueue.xml").read_bytes().lstrip(b"\xef\xbb\xbf")
    assert read_get_response(parse_envelope(empty, "GetResponse"), ns, {smev_certificate}, None) is None


def _certificate_in(root: etree._Element) -> bytes:
    import base64

    text = root.findtext(f".//{{{DS}}}X509Certificate") or ""
    return base64.b64decode("".join(text.split()))


@pytest.mark.parametrize(
    ("body", "problem"),
    [(b"<html>502</html", "not-xml"), (b"<html/>", "not-soap"),
     (f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body/></s:Envelope>'.encode(), "not-soap")],
)
def test_an_answer_that_is_not_soap_is_refused(body: bytes, problem: str) -> None:
    with pytest.raises(AnswerRefused) as refused:
        parse_envelope(body, "SendRequest")
    assert refused.value.problem == problem


# --------------------------------------------------------------------------- the client over Upstream


def _fault_envelope(name: str | None, version: str = "1.2", code: str = "SMEV-1") -> bytes:
    ns = namespaces(version)  # type: ignore[arg-type]
    detail = "" if name is None else (
        f'<detail><f:{name} xmlns:f="{ns.faults}" xmlns="{ns.basic}"><Code>{code}</Code>'
        f"<Description>описание с данными 123-456-789 00</Description></f:{name}></detail>")
    return (f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body><soap:Fault><faultcode>soap:Server</faultcode>'
            f"<faultstring>ошибка</faultstring>{detail}</soap:Fault></soap:Body></soap:Envelope>").encode()


class FakeNode:
    """Answers like a СМЭВ node: parses the request, signs MessageMetadata/Response with the СМЭВ key."""

    def __init__(self, smev: Material, script: list[Callable[[etree._Element], tuple[int, bytes]]]) -> None:
        self.signer = python_signer(smev)
        self.script = script
        self.requests: list[etree._Element] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = etree.fromstring(request.content)
        self.requests.append(body)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        status, content = step(body)
        return httpx.Response(status, content=content, headers={"Content-Type": "text/xml; charset=utf-8"})

    def sent(self, body: etree._Element) -> tuple[int, bytes]:
        ns = namespaces("1.2")
        message_id = body.findtext(f".//{{{ns.types}}}MessageID")
        envelope = etree.fromstring(
            f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body><ns2:SendRequestResponse xmlns:ns2="{ns.types}">'
            f'<ns2:MessageMetadata Id="SIGNED_BY_SMEV"><ns2:MessageId>{message_id}</ns2:MessageId>'
            "<ns2:MessageType>REQUEST</ns2:MessageType><ns2:SendingTimestamp>2026-03-02T12:30:00.000+03:00"
            "</ns2:SendingTimestamp><ns2:Status>requestIsQueued</ns2:Status></ns2:MessageMetadata>"
            "<ns2:SMEVSignature/></ns2:SendRequestResponse></soap:Body></soap:Envelope>".encode())
        metadata = envelope.find(f".//{{{ns.types}}}MessageMetadata")
        holder = envelope.find(f".//{{{ns.types}}}SMEVSignature")
        assert metadata is not None and holder is not None
        holder.append(sign_detached(metadata, self.signer))
        return 200, etree.tostring(envelope)

    def answer(self, original_id: str, tamper: bool = False) -> Callable[[etree._Element], tuple[int, bytes]]:
        def step(_body: etree._Element) -> tuple[int, bytes]:
            ns = namespaces("1.2")
            envelope = etree.fromstring(
                f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body><ns2:GetResponseResponse xmlns:ns2="{ns.types}" '
                f'xmlns="{ns.basic}"><ns2:ResponseMessage><ns2:Response Id="SIGNED_BY_SMEV">'
                f"<ns2:OriginalMessageId>{original_id}</ns2:OriginalMessageId>"
                '<ns2:SenderProvidedResponseData Id="SIGNED_BY_CALLER"><ns2:MessageID>'
                "8ac9a002-c751-11eb-bc0d-001a4a165f5b</ns2:MessageID><ns2:To>eyJ9</ns2:To><MessagePrimaryContent>"
                f'<r:ESIAFindAccountResponse xmlns:r="{ESIA}"><r:status>SUCCEEDED</r:status>'
                "</r:ESIAFindAccountResponse></MessagePrimaryContent></ns2:SenderProvidedResponseData>"
                "<ns2:MessageMetadata><ns2:MessageId>8ac9a002-c751-11eb-bc0d-001a4a165f5c</ns2:MessageId>"
                "<ns2:MessageType>RESPONSE</ns2:MessageType><ns2:Sender><ns2:Mnemonic>ISIA01001</ns2:Mnemonic>"
                "</ns2:Sender><ns2:SendingTimestamp>2026-03-02T12:31:00.000+03:00</ns2:SendingTimestamp>"
                "</ns2:MessageMetadata></ns2:Response><ns2:SMEVSignature/></ns2:ResponseMessage>"
                "</ns2:GetResponseResponse></soap:Body></soap:Envelope>".encode())
            response = envelope.find(f".//{{{ns.types}}}Response")
            holder = envelope.find(f".//{{{ns.types}}}SMEVSignature")
            assert response is not None and holder is not None
            holder.append(sign_detached(response, self.signer))
            if tamper:
                status = envelope.find(f".//{{{ESIA}}}status")
                assert status is not None
                status.text = "FAULT"
            return 200, etree.tostring(envelope)
        return step


def _client(node: FakeNode, keys: tuple[Material, Material], attempts: int = 4) -> SmevClient:
    upstream = Upstream(
        UpstreamConfig(name="smev", base_url="http://smev.test:7500",
                       retry=RetryPolicy(max_attempts=attempts, backoff_initial=0.001, backoff_max=0.002, jitter=0.0),
                       circuit_fail_max=100),
        transport=httpx.MockTransport(node),
    )
    settings = SmevSettings(schema_version="1.2", trusted_certificates={keys[1].certificate_der})
    return SmevClient(upstream, python_signer(keys[0]), settings, clock=lambda: datetime.now(UTC))


def _faults(operation: str, fault: str, reaction: str) -> float:
    value = REGISTRY.get_sample_value("bridge_smev_faults_total",
                                      {"operation": operation, "fault": fault, "reaction": reaction})
    return value or 0.0


def test_send_request_retries_smev_failure_with_the_same_message_id(keys: tuple[Material, Material]) -> None:
    node = FakeNode(keys[1], [])
    node.script = [lambda _b: (500, _fault_envelope("SMEVFailure")),
                   lambda _b: (500, _fault_envelope("DestinationOverflow")), node.sent]
    client = _client(node, keys)
    message_id = client.new_message_id()
    sent = client.send_request(_content(), message_id)
    assert (sent.message_id, sent.status, sent.already_sent) == (message_id, "requestIsQueued", False)
    ns = namespaces("1.2")
    assert [r.findtext(f".//{{{ns.types}}}MessageID") for r in node.requests] == [message_id] * 3


def test_message_is_already_sent_means_sent(keys: tuple[Material, Material]) -> None:
    node = FakeNode(keys[1], [lambda _b: (500, _fault_envelope("MessageIsAlreadySent"))])
    client = _client(node, keys)
    before = _faults("SendRequest", "MessageIsAlreadySent", "already-sent")
    sent = client.send_request(_content(), client.new_message_id())
    assert sent.already_sent and len(node.requests) == 1
    assert _faults("SendRequest", "MessageIsAlreadySent", "already-sent") == before + 1


def test_smev_failure_past_the_budget_is_a_temporary_failure(keys: tuple[Material, Material]) -> None:
    node = FakeNode(keys[1], [lambda _b: (500, _fault_envelope("SMEVFailure"))])
    client = _client(node, keys, attempts=3)
    with pytest.raises(SmevTemporaryFailure) as raised:
        client.send_request(_content(), client.new_message_id())
    assert raised.value.fault == "SMEVFailure" and len(node.requests) == 3


@pytest.mark.parametrize(
    ("fault", "kind"),
    [("StaleMessageId", SmevStaleMessageId), ("SignatureVerificationFault", SmevOpsProblem),
     ("SenderIsNotRegistered", SmevOpsProblem), ("InvalidContent", SmevOpsProblem)],
)
def test_final_faults_are_raised_at_once_and_counted(
    fault: str, kind: type[SmevFault], keys: tuple[Material, Material]
) -> None:
    node = FakeNode(keys[1], [lambda _b: (500, _fault_envelope(fault))])
    client = _client(node, keys)
    before = _faults("SendRequest", fault, "alert")
    with pytest.raises(kind) as raised:
        client.send_request(_content(), client.new_message_id())
    assert len(node.requests) == 1  # never re-sent, in particular never under a new MessageID
    assert "123-456-789" not in str(raised.value)  # СМЭВ's description (with data) is not repeated
    assert _faults("SendRequest", fault, "alert") == before + 1


def test_get_response_reads_a_signed_answer_and_refuses_a_tampered_one(keys: tuple[Material, Material]) -> None:
    original = new_message_id(NOW)
    node = FakeNode(keys[1], [])
    node.script = [node.answer(original), node.answer(original, tamper=True)]
    client = _client(node, keys)
    received = client.get_response(ESIA, "ESIAFindAccountResponse")
    assert received is not None and received.refused is None
    assert received.original_message_id == original and received.sender == "ISIA01001"
    assert received.content is not None and received.content.findtext(f"{{{ESIA}}}status") == "SUCCEEDED"
    ns = namespaces("1.2")
    selector = node.requests[0].find(f".//{{{ns.basic}}}MessageTypeSelector")
    assert selector is not None and selector.findtext(f"{{{ns.basic}}}NamespaceURI") == ESIA

    tampered = client.get_response(ESIA, "ESIAFindAccountResponse")
    assert tampered is not None and tampered.refused == "digest-mismatch" and tampered.content is None
    assert tampered.message_id == "8ac9a002-c751-11eb-bc0d-001a4a165f5c"


def test_ack_and_an_ack_of_nothing(keys: tuple[Material, Material]) -> None:
    ns = namespaces("1.2")
    ok = f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><n:AckResponse xmlns:n="{ns.types}"/></s:Body></s:Envelope>'
    node = FakeNode(keys[1], [lambda _b: (200, ok.encode()),
                              lambda _b: (500, _fault_envelope("TargetMessageIsNotFound"))])
    client = _client(node, keys)
    client.ack("8ac9a002-c751-11eb-bc0d-001a4a165f5c", accepted=False)
    client.ack("8ac9a002-c751-11eb-bc0d-001a4a165f5c")
    target = node.requests[0].find(f".//{{{ns.basic}}}AckTargetMessage")
    assert target is not None and target.get("accepted") == "false"
    assert target.text == "8ac9a002-c751-11eb-bc0d-001a4a165f5c"


def test_an_unsigned_send_answer_is_refused(keys: tuple[Material, Material]) -> None:
    def unsigned(body: etree._Element) -> tuple[int, bytes]:
        status, content = node.sent(body)
        envelope = etree.fromstring(content)
        signature = envelope.find(f".//{{{DS}}}Signature")
        assert signature is not None
        signature.getparent().remove(signature)  # type: ignore[union-attr]
        return status, etree.tostring(envelope)

    node = FakeNode(keys[1], [unsigned])
    client = _client(node, keys)
    with pytest.raises(AnswerRefused) as refused:
        client.send_request(_content(), client.new_message_id())
    assert refused.value.problem == "missing"
    assert (REGISTRY.get_sample_value("bridge_smev_answers_refused_total",
                                      {"operation": "SendRequest", "problem": "missing"}) or 0) >= 1


def test_message_already_sent_type_is_a_smev_fault() -> None:
    assert issubclass(SmevMessageAlreadySent, SmevFault)
