"""The sandbox СМЭВ node over real HTTP on loopback, driven by the bridge's SmevClient.

The node checks what СМЭВ checks (ЭП-ОВ, registration, UUID v1 and staleness, repeats), signs what it
returns (the client verifies ЭП-СМЭВ against the node's certificate), hides an answer handed out
for the visibility timeout and hands it out again until it is acknowledged, and takes injected
network faults like every sandbox.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn
from lxml import etree

from bridge.delivery import RetryPolicy, Timeouts, Upstream, UpstreamConfig
from bridge.errors import SmevOpsProblem, SmevStaleMessageId
from bridge.sandbox import FaultPlan
from bridge.smev import AnswerRefused, SmevClient, SmevSettings, namespaces
from bridge.smev import _envelopes as envelopes
from bridge.smev._answers import parse_envelope
from bridge.smev.sandbox import NodeFault, ProviderAnswer, SandboxNode, create_smev_sandbox_app
from tests.bridgeproc import free_port
from tests.signing.material import Material, gost_materials, python_signer

ECHO = "urn://x-artefacts-sandbox/echo/1.0"
NS = namespaces("1.2")
ENDPOINT = "/smev/v1.2/ws"
VISIBILITY = 2.0  # seconds an answer handed out stays hidden; long enough for a slow hour of the VM


class Echo:
    """A kind of information behind the node: answers with the request's text after ``delay`` seconds."""

    def __init__(self) -> None:
        self.delay = 0.0

    def answer(self, content: etree._Element) -> ProviderAnswer:
        reply = etree.Element(f"{{{ECHO}}}EchoResponse", nsmap={"e": ECHO})
        reply.text = content.text
        return ProviderAnswer(content=reply, delay_seconds=self.delay)


@dataclass
class Sandbox:
    url: str
    node: SandboxNode
    echo: Echo
    ours: Material
    smev: Material
    stranger: Material
    faults: FaultPlan


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    ours, smev, stranger = gost_materials(tmp_path_factory, "ov", "smev", "x")
    echo = Echo()
    node = SandboxNode(providers={ECHO: echo}, registered={ours.certificate_der}, clock=lambda: datetime.now(UTC),
                       visibility_timeout=timedelta(seconds=VISIBILITY))
    plan = FaultPlan()
    app = create_smev_sandbox_app(node, NS, python_signer(smev), ENDPOINT, faults=plan)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, access_log=False, log_config=None,
                                           lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), name="smev-sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the sandbox СМЭВ did not start"
        time.sleep(0.05)
    yield Sandbox(f"http://127.0.0.1:{port}", node, echo, ours, smev, stranger, plan)
    server.should_exit = True
    thread.join(timeout=10)


_OPENED: list[Upstream] = []


@pytest.fixture(autouse=True)
def _close_upstreams() -> Iterator[None]:
    yield
    while _OPENED:
        _OPENED.pop().close()


def _client(sandbox: Sandbox, material: Material | None = None, shift: timedelta = timedelta(0)) -> SmevClient:
    upstream = Upstream(UpstreamConfig(name="smev", base_url=sandbox.url, timeouts=Timeouts(read=2.0),
                                       retry=RetryPolicy(max_attempts=6, backoff_initial=0.01, backoff_max=0.05),
                                       circuit_fail_max=100))
    _OPENED.append(upstream)
    settings = SmevSettings(schema_version="1.2", endpoint=ENDPOINT,
                            trusted_certificates={sandbox.smev.certificate_der})
    signer = python_signer(material or sandbox.ours)
    return SmevClient(upstream, signer, settings, clock=lambda: datetime.now(UTC) + shift)


def _echo(text: str) -> etree._Element:
    element = etree.Element(f"{{{ECHO}}}EchoRequest", nsmap={"e": ECHO})
    element.text = text
    return element


def _take(client: SmevClient, original: str, timeout: float = 5.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        received = client.get_response(ECHO, "EchoResponse")
        if received is not None and received.original_message_id == original:
            return received
        if received is not None:
            client.ack(received.message_id)  # another test's answer: not ours to keep
        time.sleep(0.05)
    raise AssertionError("no answer")


def test_send_get_ack_round_trip(sandbox: Sandbox) -> None:
    client = _client(sandbox)
    message_id = client.new_message_id()
    sent = client.send_request(_echo("привет"), message_id)
    assert (sent.message_id, sent.status, sent.already_sent) == (message_id, "requestIsQueued", False)
    received = _take(client, message_id)
    assert received.refused is None and received.content is not None
    assert received.content.text == "привет" and received.sender == "sandbox"
    client.ack(received.message_id)
    client.ack(received.message_id)  # a repeated Ack finds nothing: TargetMessageIsNotFound, taken as done
    assert not any(q.original_message_id == message_id and q.acknowledged is None for q in sandbox.node.queue)


def test_a_repeated_message_id_is_already_sent_and_not_processed_twice(sandbox: Sandbox) -> None:
    client = _client(sandbox)
    message_id = client.new_message_id()
    before = dict(sandbox.node.counts)
    assert not client.send_request(_echo("один"), message_id).already_sent
    assert client.send_request(_echo("один"), message_id).already_sent
    assert sandbox.node.counts["SendRequest"] == before.get("SendRequest", 0) + 1
    assert sandbox.node.counts["MessageIsAlreadySent"] == before.get("MessageIsAlreadySent", 0) + 1


def test_message_id_must_be_version_1_and_fresh(sandbox: Sandbox) -> None:
    with pytest.raises(SmevOpsProblem) as invalid:
        _client(sandbox).send_request(_echo("x"), str(uuid.uuid4()))
    assert invalid.value.fault == "InvalidMessageIdFormat"
    stale = _client(sandbox, shift=timedelta(days=-2))
    with pytest.raises(SmevStaleMessageId):
        stale.send_request(_echo("x"), stale.new_message_id())


def test_the_callers_signature_and_registration_are_checked(sandbox: Sandbox) -> None:
    with pytest.raises(SmevOpsProblem) as unregistered:
        client = _client(sandbox, sandbox.stranger)
        client.send_request(_echo("x"), client.new_message_id())
    assert unregistered.value.fault == "SenderIsNotRegistered"

    client = _client(sandbox)
    envelope = envelopes.send_request(NS, python_signer(sandbox.ours), client.new_message_id(), _echo("original"))
    tampered = envelope.body.replace(b">original<", b">changed<")
    answer = httpx.post(sandbox.url + ENDPOINT, content=tampered, headers={"SOAPAction": envelope.soap_action})
    with pytest.raises(SmevOpsProblem) as invalid:
        parse_envelope(answer.content, "SendRequest")
    assert (answer.status_code, invalid.value.fault, invalid.value.reason) == (
        500, "SignatureVerificationFault", "SignatureIsInvalid")

    unsigned = etree.fromstring(envelope.body)
    holder = unsigned.find(f".//{{{NS.types}}}CallerInformationSystemSignature")
    assert holder is not None
    holder.getparent().remove(holder)  # type: ignore[union-attr]
    answer = httpx.post(sandbox.url + ENDPOINT, content=etree.tostring(unsigned))
    with pytest.raises(SmevOpsProblem) as missing:
        parse_envelope(answer.content, "SendRequest")
    assert missing.value.reason == "NoSignatureFound"


def test_an_unknown_kind_of_information_is_refused(sandbox: Sandbox) -> None:
    client = _client(sandbox)
    other = etree.Element("{urn:unknown:kind}Request")
    with pytest.raises(SmevOpsProblem) as refused:
        client.send_request(other, client.new_message_id())
    assert refused.value.fault == "BusinessDataTypeIsNotSupported"


def test_an_answer_not_acknowledged_is_handed_out_again_after_the_visibility_timeout(sandbox: Sandbox) -> None:
    client = _client(sandbox)
    message_id = client.new_message_id()
    client.send_request(_echo("снова"), message_id)
    first = _take(client, message_id)
    hidden = client.get_response(ECHO, "EchoResponse")
    assert hidden is None or hidden.message_id != first.message_id  # hidden for the visibility timeout
    redelivered_before = sandbox.node.counts.get("redelivered", 0)
    time.sleep(VISIBILITY + 0.2)
    again = _take(client, message_id)
    assert again.message_id == first.message_id  # the same message, recognisable by its id
    assert sandbox.node.counts["redelivered"] == redelivered_before + 1
    client.ack(again.message_id)
    time.sleep(VISIBILITY + 0.2)
    assert all(q.acknowledged is not None for q in sandbox.node.queue if q.original_message_id == message_id)


def test_an_answer_signed_by_another_key_is_refused_by_the_client(sandbox: Sandbox) -> None:
    client = _client(sandbox)
    untrusting = SmevClient(client.upstream, client.signer, SmevSettings(
        schema_version="1.2", endpoint=ENDPOINT, trusted_certificates={sandbox.stranger.certificate_der}))
    with pytest.raises(AnswerRefused) as refused:
        untrusting.send_request(_echo("x"), untrusting.new_message_id())
    assert refused.value.problem == "untrusted-certificate"


def test_drops_after_processing_end_as_sent_once(sandbox: Sandbox) -> None:
    """The answer to SendRequest is lost after the node processed it; the retry gets MessageIsAlreadySent.

    Seed 1 draws 0.134 then 0.847: with rate 0.5 the first attempt is faulted, the second is not.
    """
    client = _client(sandbox)
    message_id = client.new_message_id()
    before = sandbox.node.counts.get("SendRequest", 0)
    sandbox.faults.configure(rate=0.5, kinds=("drop_after",), stall_seconds=0.0, seed=1)
    try:
        sent = client.send_request(_echo("потеря"), message_id)
    finally:
        sandbox.faults.configure(rate=0.0, kinds=("drop_after",), stall_seconds=0.0, seed=None)
    assert sent.already_sent and sent.message_id == message_id
    assert sandbox.node.counts["SendRequest"] == before + 1
    _take(client, message_id)


def test_a_wrong_transform_or_an_expired_certificate_is_a_signature_fault(sandbox: Sandbox) -> None:
    client = _client(sandbox)
    envelope = envelopes.send_request(NS, python_signer(sandbox.ours), client.new_message_id(), _echo("x"))
    other_transform = envelope.body.replace(b'Algorithm="urn://smev-gov-ru/xmldsig/transform"',
                                            b'Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"')
    assert other_transform != envelope.body
    answer = httpx.post(sandbox.url + ENDPOINT, content=other_transform)
    with pytest.raises(SmevOpsProblem) as wrong:
        parse_envelope(answer.content, "SendRequest")
    assert (wrong.value.fault, wrong.value.reason) == ("SignatureVerificationFault", "SignatureIsInvalid")

    later = SandboxNode(providers={ECHO: Echo()}, registered={sandbox.ours.certificate_der},
                        clock=lambda: datetime.now(UTC) + timedelta(days=400))  # the test certificate lives 365
    request = etree.fromstring(envelope.body).find(f".//{{{NS.types}}}SendRequestRequest")
    assert request is not None
    with pytest.raises(NodeFault) as expired:
        later.check_signature(request, request.find(f"{{{NS.types}}}SenderProvidedRequestData"), NS.types)
    assert (expired.value.name, expired.value.extra) == ("SignatureVerificationFault",
                                                         {"reason": "CertificateIsExpired"})
