"""The sandbox СМЭВ node's own rules, in process: content checked against the kind's schema, answers
chained (an interim status, then the final one), and its injectable faults next to the network ones."""

from __future__ import annotations

import warnings
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lxml import etree

from adapters.esia.sandbox import AccountStore, RegService
from bridge.signing import SignerConfig, generate_test_key, load_signer
from bridge.smev import namespaces, new_message_id
from bridge.smev.sandbox import ProviderAnswer, SandboxNode, SmevFaultPlan, create_smev_sandbox_app

with warnings.catch_warnings():
    # Starlette 1.x prefers httpx2 for its TestClient and warns (once, at import) when it finds httpx.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

FIND = "urn://mincomsvyaz/esia/reg_service/find_account/1.4.1"
COMMONS = "urn://mincomsvyaz/esia/commons/rg_sevices_types/1.4.1"
SNILS_WITHOUT_DASHES = "22978534620"
SENDER = b"sender-certificate"


def _node(service: RegService) -> SandboxNode:
    node = SandboxNode(providers={}, registered={SENDER}, clock=lambda: datetime.now(UTC))
    schemas = service.schemas()
    for kind, provider in service.providers().items():
        node.serve(kind, provider, schemas[kind])
    return node


def _find(snils: str) -> etree._Element:
    request = etree.Element(f"{{{FIND}}}ESIAFindAccountRequest", nsmap={"tns": FIND, "ns2": COMMONS})
    for name, text in (("RoutingCode", "DEV"), ("SnilsOperator", "135-419-238 52"), ("ra", "1000321282"),
                       ("lastName", "Тестов"), ("firstName", "Тест"), ("snils", snils)):
        etree.SubElement(request, f"{{{FIND}}}{name}").text = text
    return request


def test_content_against_the_schema_is_rejected_without_quoting_the_value() -> None:
    service = RegService(AccountStore(), delay_seconds=0.0)
    node = _node(service)
    node.send_request(SENDER, new_message_id(datetime.now(UTC)), _find(SNILS_WITHOUT_DASHES))
    (queued,) = node.queue
    assert queued.answer.content is None and queued.answer.async_status is not None
    category, details = queued.answer.async_status
    assert category == "requestIsRejectedBySmev"
    assert "snils" in details and SNILS_WITHOUT_DASHES not in details  # names the element, never the value
    assert service.answered == {}  # never reached ЕСИА
    assert node.by_kind[FIND] == {"SendRequest": 1, "requestIsRejectedBySmev": 1}

    node.send_request(SENDER, new_message_id(datetime.now(UTC)), _find("229-785-346 20"))
    assert node.queue[-1].answer.content is not None and service.answered == {"find_account:SUCCEEDED": 1}


def test_an_interim_answer_and_the_final_one_are_queued_in_order() -> None:
    class TwoStep:
        def answer(self, content: etree._Element) -> ProviderAnswer:
            interim = etree.Element("{urn://x/1}R")
            interim.text = "VALIDATING"
            final = etree.Element("{urn://x/1}R")
            final.text = "SUCCEEDED"
            return ProviderAnswer(content=interim, then=ProviderAnswer(content=final, delay_seconds=60))

    now = datetime.now(UTC)
    node = SandboxNode(providers={"urn://x/1": TwoStep()}, registered={SENDER}, clock=lambda: now)
    node.send_request(SENDER, new_message_id(now), etree.Element("{urn://x/1}Q"))
    assert [(q.answer.content.text if q.answer.content is not None else None, q.available_at - now)
            for q in node.queue] == [("VALIDATING", timedelta(0)), ("SUCCEEDED", timedelta(seconds=60))]
    assert {q.original_message_id for q in node.queue} == {node.queue[0].original_message_id}
    first = node.get_response(SENDER, "urn://x/1", None)
    assert first is not None and first.answer.content is not None and first.answer.content.text == "VALIDATING"
    assert node.get_response(SENDER, "urn://x/1", None) is None  # the final one is not due yet


def test_injected_faults_mix_the_nodes_own_with_the_network_ones(tmp_path: Path) -> None:
    directory = tmp_path
    key, certificate = generate_test_key(subject="/CN=node/C=RU")
    (directory / "k.pem").write_bytes(key)
    (directory / "c.pem").write_bytes(certificate)
    signer = load_signer(SignerConfig(kind="python", key_file=directory / "k.pem",
                                      certificate_file=directory / "c.pem"))
    node = SandboxNode(providers={}, registered=set(), clock=lambda: datetime.now(UTC))
    plan = SmevFaultPlan()
    client = TestClient(create_smev_sandbox_app(node, namespaces("1.2"), signer, faults=plan))
    assert client.put("/_sandbox/faults", json={"rate": 1.0, "kinds": ["bogus"]}).status_code == 422
    settings = {"rate": 1.0, "kinds": ["http_503", "SMEVFailure", "DestinationOverflow"], "seed": 7}
    assert client.put("/_sandbox/faults", json=settings).status_code == 200
    seen: Counter[str] = Counter()
    for _ in range(30):
        answer = client.post("/smev/v1.2/ws", content=b"<not-even-looked-at/>")
        if answer.status_code == 503:
            seen["http_503"] += 1
        else:
            assert answer.status_code == 500
            fault = etree.fromstring(answer.content).find(".//detail/*")
            assert fault is not None
            seen[etree.QName(fault).localname] += 1
    assert set(seen) == {"http_503", "SMEVFailure", "DestinationOverflow"}
    assert client.get("/_sandbox/faults").json()["injected"] == dict(seen)
    assert client.get("/_sandbox/smev/stats").json()["counts"] == {}  # nothing reached the node


def test_a_second_information_system_is_registered_with_a_queue_of_its_own(tmp_path: Path) -> None:
    """POST /_sandbox/smev/senders: a DER certificate registered; its answers never reach another sender's
    GetResponse (the ceiling of bench/_ceiling.py shares the node with the bridge)."""
    import base64

    from bridge.signing import load_certificate

    _key, certificate_pem = generate_test_key(subject="/CN=second system/C=RU")
    (tmp_path / "c.pem").write_bytes(certificate_pem)
    der = load_certificate(tmp_path / "c.pem")
    node = _node(RegService(AccountStore(), delay_seconds=0.0))
    key, node_certificate = generate_test_key(subject="/CN=node/C=RU")
    (tmp_path / "k.pem").write_bytes(key)
    (tmp_path / "n.pem").write_bytes(node_certificate)
    signer = load_signer(SignerConfig(kind="python", key_file=tmp_path / "k.pem", certificate_file=tmp_path / "n.pem"))
    client = TestClient(create_smev_sandbox_app(node, namespaces("1.2"), signer))
    for bad in ("not base64!", base64.b64encode(b"not a certificate").decode()):
        refused = client.post("/_sandbox/smev/senders", json={"certificate_der_base64": bad})
        assert refused.status_code == 422 and "certificate_der_base64" in refused.text
    answer = client.post("/_sandbox/smev/senders", json={"certificate_der_base64": base64.b64encode(der).decode()})
    assert answer.status_code == 200 and answer.json() == {"registered": 2}
    assert der in node.registered and SENDER in node.registered
    node.send_request(der, new_message_id(datetime.now(UTC)), _find(SNILS_WITHOUT_DASHES))
    assert node.get_response(SENDER, None, None) is None
    received = node.get_response(der, None, None)
    assert received is not None and received.recipient == der


def test_faults_aimed_at_one_operation_leave_the_others_working(tmp_path: Path) -> None:
    """``operations``: Ack lost every time (before the node sees it, then after processing), SendRequest and
    GetResponse untouched; the message stays unacknowledged and is handed out again after the visibility
    timeout; cleared, the Ack goes through."""
    from bridge.smev import _envelopes as envelopes

    key, certificate = generate_test_key(subject="/CN=ours/C=RU")
    (tmp_path / "k.pem").write_bytes(key)
    (tmp_path / "c.pem").write_bytes(certificate)
    ours = load_signer(SignerConfig(kind="python", key_file=tmp_path / "k.pem", certificate_file=tmp_path / "c.pem"))
    now = [datetime.now(UTC)]
    node = SandboxNode(providers={}, registered={ours.certificate_der}, clock=lambda: now[0],
                       visibility_timeout=timedelta(seconds=5))
    for kind, provider in RegService(AccountStore(), delay_seconds=0.0).providers().items():
        node.serve(kind, provider)
    ns = namespaces("1.2")
    plan = SmevFaultPlan()
    client = TestClient(create_smev_sandbox_app(node, ns, ours, faults=plan), raise_server_exceptions=False)

    def post(envelope: envelopes.Envelope) -> Any:
        return client.post("/smev/v1.2/ws", content=envelope.body, headers={"SOAPAction": envelope.soap_action})

    assert client.put("/_sandbox/faults", json={"rate": 1.0, "operations": ["Nope"]}).status_code == 422
    settings = {"rate": 1.0, "kinds": ["http_503"], "operations": ["Ack"], "seed": 1}
    assert client.put("/_sandbox/faults", json=settings).json()["operations"] == ["Ack"]
    assert post(envelopes.send_request(ns, ours, new_message_id(now[0]), _find("229-785-346 20"))).status_code == 200
    handed = post(envelopes.get_response(ns, ours, now[0]))
    assert handed.status_code == 200
    (queued,) = node.queue
    assert post(envelopes.ack(ns, ours, queued.message_id, accepted=True)).status_code == 503
    assert queued.acknowledged is None and "Ack" not in node.counts  # lost before the node saw it

    plan.configure(1.0, ("drop_after",), 0.0, 1, operations=("Ack",))
    dropped = post(envelopes.ack(ns, ours, queued.message_id, accepted=True))
    assert b"AckResponse" not in dropped.content  # the answer is lost…
    assert queued.acknowledged is True  # … after the node processed it
    queued.acknowledged, node.counts["Ack"] = None, 0  # undo, to see redelivery and a clean Ack

    plan.configure(1.0, ("http_503",), 0.0, 1, operations=("Ack",))
    assert etree.fromstring(post(envelopes.get_response(ns, ours, now[0])).content).find(
        f".//{{{ns.types}}}ResponseMessage") is None  # hidden for the visibility timeout
    now[0] += timedelta(seconds=6)
    assert etree.fromstring(post(envelopes.get_response(ns, ours, now[0])).content).find(
        f".//{{{ns.types}}}ResponseMessage") is not None
    assert node.counts["redelivered"] == 1 and plan.injected == {}  # GetResponse never faulted
    plan.configure(0.0, (), 0.0, None)
    assert post(envelopes.ack(ns, ours, queued.message_id, accepted=True)).status_code == 200
    assert queued.acknowledged is True
    assert client.get("/_sandbox/smev/stats").json()["queued"] == 0
