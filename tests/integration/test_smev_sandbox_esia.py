"""The sandbox СМЭВ as a peer: ``bridge sandbox`` (its own process, over real HTTP on loopback) with ЕСИА's
reg_service behind it, spoken to with a request someone else wrote.

The request is the SendRequest recorded in a public Java СМЭВ 3 client's tests
(github.com/Roland4444/sm3, src/test/java/standart/findesiaTest.java, ``preparedwithoutTest``, schema 1.1),
byte for byte but its ds:Signature (the recorded one is GOST R 34.10-2001 with a certificate we do not have;
its X509Certificate is left out here) and, where said, its MessageID. Each refusal is the fault a real node
gives for that reason (reference egisz.md §3.1, §3.4).
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from lxml import etree

from bridge.errors import SmevFault
from bridge.signing import Signer, SignerConfig, generate_test_key, load_certificate, load_signer, streebog256
from bridge.smev import DS, EXCLUSIVE_C14N, canonicalize, namespaces, new_message_id, sign_detached, verify_detached
from bridge.smev import _envelopes as envelopes
from bridge.smev._answers import AnswerRefused, ReceivedResponse, parse_envelope, read_get_response
from bridge.smev.sandbox._node import UNKNOWN_KIND
from tests.bridgeproc import SandboxProcess, start_sandbox
from tests.smev.sm3_findesia import SEND_REQUEST as RECORDED

NS11 = namespaces("1.1")
FIND = "urn://mincomsvyaz/esia/reg_service/find_account/1.4.1"
VISIBILITY = 2.0  # seconds an answer handed out stays hidden: long enough for a slow hour of the VM



@dataclass
class Node:
    process: SandboxProcess
    url: str
    esia: str
    ours: Signer  # the bridge's ЭП-ОВ, registered at the node
    smev_certificate: bytes
    stranger: Signer


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    tmp = tmp_path_factory.mktemp("smev-sandbox-esia")
    process = start_sandbox(tmp, adapters=("esia",))
    try:
        settings = process.bridge_config["adapter_settings"]["esia"]["smev"]
        signer = settings["signer"]
        ours = load_signer(SignerConfig(kind="python", key_file=Path(signer["key_file"]),
                                        certificate_file=Path(signer["certificate_file"])))
        key_pem, certificate_pem = generate_test_key(subject="/CN=Not registered at СМЭВ/C=RU")
        (tmp / "x-key.pem").write_bytes(key_pem)
        (tmp / "x-cert.pem").write_bytes(certificate_pem)
        stranger = load_signer(SignerConfig(kind="python", key_file=tmp / "x-key.pem",
                                            certificate_file=tmp / "x-cert.pem"))
        esia = process.sandbox_urls["esia"]
        httpx.put(f"{esia}/_sandbox/reg-service", json={"delay_seconds": 0}, timeout=10).raise_for_status()
        yield Node(process, process.sandbox_urls["smev"], esia, ours,
                   load_certificate(Path(settings["smev_certificates"][0])), stranger)
    finally:
        process.stop()


def _post(node: Node, body: bytes, action: str = "urn:SendRequest") -> etree._Element:
    answer = httpx.post(f"{node.url}/smev/v1.1/ws", content=body, timeout=10,
                        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": action})
    assert answer.status_code in (200, 500), answer.text
    return parse_envelope(answer.content, action[4:])


def _refused(node: Node, body: bytes) -> SmevFault:
    with pytest.raises(SmevFault) as refused:
        _post(node, body)
    return refused.value


def _resigned(signer: Signer, message_id: str | None = None, edit: str | None = None) -> tuple[bytes, str]:
    """The recorded envelope with a fresh (or the given) MessageID, our ЭП-ОВ in place of its own."""
    envelope = etree.fromstring(RECORDED)
    data = envelope.find(f".//{{{NS11.types}}}SenderProvidedRequestData")
    assert data is not None
    message_id = message_id or new_message_id(datetime.now(UTC))
    data.find(f"{{{NS11.types}}}MessageID").text = message_id  # type: ignore[union-attr]
    if edit is not None:
        data.find(f".//{{{FIND}}}snils").text = edit  # type: ignore[union-attr]
    holder = envelope.find(f".//{{{NS11.types}}}CallerInformationSystemSignature")
    assert holder is not None
    for child in list(holder):
        holder.remove(child)
    holder.append(sign_detached(data, signer))
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"), message_id


def _answer(node: Node, original: str) -> ReceivedResponse:
    """The answer to ``original`` from the response queue (schema 1.1), acknowledged."""
    for _ in range(50):
        request = envelopes.get_response(NS11, node.ours, datetime.now(UTC), namespace_uri=FIND,
                                         root_element="ESIAFindAccountResponse")
        received = read_get_response(_post(node, request.body, "urn:GetResponse"), NS11, {node.smev_certificate},
                                     datetime.now(UTC))
        if received is not None:
            assert received.refused is None  # ЭП-СМЭВ verifies against the node's certificate
            _post(node, envelopes.ack(NS11, node.ours, received.message_id, accepted=True).body, "urn:Ack")
            if received.original_message_id == original:
                return received
        else:
            time.sleep(0.1)
    raise AssertionError("no answer")


def _sent(node: Node) -> int:
    stats = httpx.get(f"{node.url}/_sandbox/smev/stats", timeout=10).json()
    return int(stats["by_kind"].get(FIND, {}).get("SendRequest", 0))


def test_the_recorded_request_with_our_signature_is_answered_by_the_reg_service(node: Node) -> None:
    before = _sent(node)
    body, message_id = _resigned(node.ours)
    sent = _post(node, body)
    assert sent.findtext(f".//{{{NS11.types}}}Status") == "requestIsQueued"
    answer = _answer(node, message_id)
    assert answer.content is not None and etree.QName(answer.content).text == f"{{{FIND}}}ESIAFindAccountResponse"
    assert answer.content.findtext(f"{{{FIND}}}status") == "SUCCEEDED"  # nobody with that SNILS yet
    assert answer.content.find(f"{{{FIND}}}oid") is None
    assert _sent(node) == before + 1

    repeated = _refused(node, body)  # the same message again: nothing is processed twice
    assert repeated.fault == "MessageIsAlreadySent"
    assert _sent(node) == before + 1
    logs = node.process.logs()
    for value in ("229-785-346 20", "22978534620", "4021351", "Тестов", "111111"):
        assert value not in logs, "personal data in the sandbox's log"


def test_the_recorded_signature_itself_is_refused_gost_2001(node: Node) -> None:
    refused = _refused(node, RECORDED)
    assert (refused.fault, refused.reason) == ("SignatureVerificationFault", "SignatureIsInvalid")


def test_the_recorded_message_id_is_stale_and_a_version_4_id_is_invalid(node: Node) -> None:
    assert _refused(node, _resigned(node.ours, "eae76b19-1955-11e9-b5f4-5d9abb5f304e")[0]).fault == "StaleMessageId"
    assert _refused(node, _resigned(node.ours, str(uuid.uuid4()))[0]).fault == "InvalidMessageIdFormat"


def test_a_wrong_digest_a_wrong_transform_and_an_unregistered_key_are_refused(node: Node) -> None:
    body, _ = _resigned(node.ours)
    tampered = body.replace(b"<tns:mobile>+7(920)4021351", b"<tns:mobile>+7(920)4021352")
    refused = _refused(node, tampered)
    assert (refused.fault, refused.reason) == ("SignatureVerificationFault", "SignatureIsInvalid")

    # A signature valid in itself, over exclusive c14n only (no СМЭВ transform): СМЭВ requires both.
    envelope = etree.fromstring(_resigned(node.ours)[0])
    signature = envelope.find(f".//{{{DS}}}Signature")
    data = envelope.find(f".//{{{NS11.types}}}SenderProvidedRequestData")
    assert signature is not None and data is not None
    transforms = signature.find(f".//{{{DS}}}Transforms")
    assert transforms is not None
    transforms.remove(transforms[1])
    signature.find(f".//{{{DS}}}DigestValue").text = base64.b64encode(  # type: ignore[union-attr]
        streebog256(canonicalize(data))).decode()
    signed_info = signature.find(f"{{{DS}}}SignedInfo")
    assert signed_info is not None and transforms[0].get("Algorithm") == EXCLUSIVE_C14N
    signature.find(f"{{{DS}}}SignatureValue").text = base64.b64encode(  # type: ignore[union-attr]
        node.ours.sign_raw(canonicalize(signed_info))).decode()
    assert verify_detached(signature, trusted=None).signed_element is data  # valid, but not the СМЭВ profile
    refused = _refused(node, etree.tostring(envelope))
    assert (refused.fault, refused.reason) == ("SignatureVerificationFault", "SignatureIsInvalid")

    assert _refused(node, _resigned(node.stranger)[0]).fault == "SenderIsNotRegistered"


def test_content_against_the_kinds_schema_is_rejected_by_smev_asynchronously(node: Node) -> None:
    body, message_id = _resigned(node.ours, edit="22978534620")  # SNILS without its dashes: not snilsType
    _post(node, body)  # accepted: requestIsQueued, as СМЭВ does
    answer = _answer(node, message_id)
    assert (answer.content, answer.async_status) == (None, "requestIsRejectedBySmev")
    stats = httpx.get(f"{node.url}/_sandbox/smev/stats", timeout=10).json()
    assert stats["by_kind"][FIND]["requestIsRejectedBySmev"] >= 1


def test_not_xml_an_unknown_kind_and_injected_smev_failures(node: Node) -> None:
    answer = httpx.post(f"{node.url}/smev/v1.1/ws", content=b"not xml", timeout=10)
    assert answer.status_code == 500 and b"<faultcode>soap:Client</faultcode>" in answer.content

    body, _ = _resigned(node.ours)
    unknown = body.replace(FIND.encode(), b"urn://example/unknown/1.0")
    envelope = etree.fromstring(unknown)
    data = envelope.find(f".//{{{NS11.types}}}SenderProvidedRequestData")
    holder = envelope.find(f".//{{{NS11.types}}}CallerInformationSystemSignature")
    assert data is not None and holder is not None
    holder[0].getparent().remove(holder[0])  # type: ignore[union-attr]
    holder.append(sign_detached(data, node.ours))
    assert _refused(node, etree.tostring(envelope)).fault == "BusinessDataTypeIsNotSupported"

    httpx.put(f"{node.url}/_sandbox/faults", json={"rate": 1.0, "kinds": ["SMEVFailure"]}, timeout=10)
    try:
        before = _sent(node)
        assert _refused(node, _resigned(node.ours)[0]).fault == "SMEVFailure"
        assert _sent(node) == before  # refused before processing
    finally:
        httpx.put(f"{node.url}/_sandbox/faults", json={"rate": 0.0}, timeout=10)
    injected = httpx.get(f"{node.url}/_sandbox/faults", timeout=10).json()
    assert injected["rate"] == 0.0


def test_an_answer_not_acknowledged_is_handed_out_again_after_the_visibility_timeout(node: Node) -> None:
    httpx.put(f"{node.url}/_sandbox/smev/settings", json={"visibility_timeout_seconds": VISIBILITY}, timeout=10)
    try:
        body, message_id = _resigned(node.ours)
        _post(node, body)

        def take() -> ReceivedResponse | None:
            request = envelopes.get_response(NS11, node.ours, datetime.now(UTC), namespace_uri=FIND,
                                             root_element="ESIAFindAccountResponse")
            return read_get_response(_post(node, request.body, "urn:GetResponse"), NS11, {node.smev_certificate},
                                     datetime.now(UTC))

        first = take()
        for _ in range(30):
            if first is not None:
                break
            time.sleep(0.1)
            first = take()
        assert first is not None and first.original_message_id == message_id
        assert take() is None  # hidden while the receiver may still be storing it
        time.sleep(VISIBILITY + 0.2)
        again = take()
        assert again is not None and again.message_id == first.message_id  # the same message, redelivered
        _post(node, envelopes.ack(NS11, node.ours, again.message_id, accepted=True).body, "urn:Ack")
        time.sleep(VISIBILITY + 0.2)
        assert take() is None  # acknowledged: gone
        stats = httpx.get(f"{node.url}/_sandbox/smev/stats", timeout=10).json()
        assert stats["by_kind"][FIND]["redelivered"] >= 1
    finally:
        httpx.put(f"{node.url}/_sandbox/smev/settings", json={"visibility_timeout_seconds": 30}, timeout=10)


@pytest.mark.parametrize("defect", ["unsigned", "wrong_signature", "not_xml", "unknown_kind", "orphan"])
def test_bad_input_from_smev_can_be_injected_for_the_receivers_tests(node: Node, defect: str) -> None:
    # A message nobody can read cannot be acknowledged and keeps coming back: it gets a kind of its own.
    kind = "urn://x-test/not-xml/1.0" if defect == "not_xml" else FIND
    queued = httpx.post(f"{node.url}/_sandbox/smev/inject", json={"defect": defect, "kind": kind}, timeout=10)
    assert queued.json() == {"queued": 1}
    request = envelopes.get_response(NS11, node.ours, datetime.now(UTC), namespace_uri=kind,
                                     root_element="ESIAFindAccountResponse")
    if defect == "not_xml":
        with pytest.raises(AnswerRefused) as refused:
            _post(node, request.body, "urn:GetResponse")
        assert refused.value.problem == "not-xml"
        return
    received = read_get_response(_post(node, request.body, "urn:GetResponse"), NS11, {node.smev_certificate},
                                 datetime.now(UTC))
    assert received is not None
    if defect in ("unsigned", "wrong_signature"):
        assert received.refused is not None and received.content is None  # never to be applied
        assert received.refused == ("missing" if defect == "unsigned" else "digest-mismatch")
    elif defect == "unknown_kind":
        assert received.refused is None and received.content is not None
        assert etree.QName(received.content).namespace == UNKNOWN_KIND
    else:
        assert received.refused is None and received.original_message_id is not None  # an answer to nothing sent
    _post(node, envelopes.ack(NS11, node.ours, received.message_id, accepted=False).body, "urn:Ack")
    assert httpx.post(f"{node.url}/_sandbox/smev/inject", json={"defect": "nonsense"}, timeout=10).status_code == 422
