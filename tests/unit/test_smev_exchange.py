"""bridge.smev: SmevExchange (a press over the asynchronous exchange) and the GetResponse runner.

The peer is the sandbox СМЭВ node (bridge/smev/sandbox) through its HTTP face, in-process
(``httpx.ASGITransport`` behind the ``httpx.MockTransport`` seam of ``bridge.delivery.Upstream``): it
checks our ЭП-ОВ, UUID v1 and repeats, signs what it returns with its own key, hides a message handed
out for the visibility timeout and hands it out again until it is acknowledged. The journal is a real
store (SQLite file, migrated).
What is counted at the node (SendRequest, Ack, Ack-not-accepted, redelivered) is the evidence.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from lxml import etree
from prometheus_client import REGISTRY

from bridge.delivery import RetryPolicy, Timeouts, Upstream, UpstreamConfig
from bridge.errors import SmevOpsProblem
from bridge.scheduling import JobRuns
from bridge.signing import SignerConfig, SigningError, check_gost_engine, load_signer
from bridge.smev import (
    ExchangeSettings,
    ResponseRunner,
    SmevAnswerPending,
    SmevClient,
    SmevExchange,
    SmevExchangeFailed,
    SmevSettings,
    namespaces,
    new_message_id,
)
from bridge.smev.sandbox import ProviderAnswer, QueuedResponse, SandboxNode, SmevFaultPlan, create_smev_sandbox_app
from bridge.store import Sealer, Store
from tests.signing.material import OPENSSL_CNF, Material, make_material

ECHO = "urn://x-artefacts-sandbox/echo/1.0"
NS = namespaces("1.2")
ENDPOINT = "/smev/v1.2/ws"
SNILS = "112-233-445 95"  # what an answer may carry: it must never reach the store unsealed or the logs


@dataclass
class Keys:
    ours: Material
    smev: Material
    stranger: Material


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    try:
        check_gost_engine()
    except SigningError as exc:
        pytest.fail(f"{exc} — CI installs it via scripts/install-system-deps.sh")
    conf = tmp_path_factory.mktemp("openssl-exchange") / "openssl.cnf"
    conf.write_text(OPENSSL_CNF)
    env = {**os.environ, "OPENSSL_CONF": str(conf)}
    return Keys(*(make_material(tmp_path_factory.mktemp(name), "A", env) for name in ("ov", "smev", "x")))


class Echo:
    """A kind of information behind the node: echoes the request's text (with the SNILS) after ``delay``."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.reject: tuple[str, str] | None = None
        self.interim = False

    def answer(self, content: etree._Element) -> ProviderAnswer:
        if self.reject is not None:
            return ProviderAnswer(rejection=self.reject, delay_seconds=self.delay)
        reply = etree.Element(f"{{{ECHO}}}EchoResponse", nsmap={"e": ECHO})
        reply.text = f"{content.text} {SNILS}"
        if self.interim:
            reply.set("status", "VALIDATING")
        return ProviderAnswer(content=reply, delay_seconds=self.delay)


def _signer(material: Material):  # type: ignore[no-untyped-def]
    return load_signer(SignerConfig(kind="python", key_file=material.key, certificate_file=material.cert))


@dataclass
class Node:
    node: SandboxNode
    echo: Echo
    faults: SmevFaultPlan
    transport: httpx.MockTransport

    def count(self, what: str) -> int:
        return self.node.counts.get(what, 0)


@pytest.fixture
def node(keys: Keys) -> Iterator[Node]:
    echo = Echo()
    sandbox = SandboxNode(providers={ECHO: echo}, registered={keys.ours.certificate_der},
                          clock=lambda: datetime.now(UTC), visibility_timeout=timedelta(seconds=0.5))
    plan = SmevFaultPlan()
    app = create_smev_sandbox_app(sandbox, NS, _signer(keys.smev), ENDPOINT, faults=plan)
    asgi = httpx.ASGITransport(app=app)

    async def call(request: httpx.Request) -> httpx.Response:
        response = await asgi.handle_async_request(request)
        return httpx.Response(response.status_code, headers=response.headers, content=await response.aread())

    yield Node(sandbox, echo, plan, httpx.MockTransport(lambda request: asyncio.run(call(request))))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'bridge.db'}")
    store.upgrade()
    yield store
    store.dispose()


FAST = ExchangeSettings(answer_keep_seconds=60, dead_after_seconds=60, send_lease_seconds=5,
                        resend_pause_seconds=0, store_poll_seconds=0.02, get_response_pause_seconds=0.02,
                        lease_seconds=5, retry_after_seconds=7)


def _instance(node: Node, store: Store, keys: Keys, holder: str = "a", *, settings: ExchangeSettings = FAST,
              signer: Material | None = None, trusted: Material | None = None,
              clock_shift: timedelta = timedelta(0), root: str | None = "EchoResponse",
              ) -> tuple[SmevExchange, ResponseRunner]:
    """One bridge instance: its client, exchange and runner (its own lease holder) over the shared store."""
    upstream = Upstream(UpstreamConfig(name="smev", base_url="http://smev.test", timeouts=Timeouts(read=2.0),
                                       retry=RetryPolicy(max_attempts=2, backoff_initial=0.001, backoff_max=0.002),
                                       circuit_fail_max=1000),
                        transport=node.transport)

    def clock() -> datetime:
        return datetime.now(UTC) + clock_shift

    client = SmevClient(upstream, _signer(signer or keys.ours),
                        SmevSettings(schema_version="1.2", endpoint=ENDPOINT,
                                     trusted_certificates={(trusted or keys.smev).certificate_der}), clock=clock)
    exchange = SmevExchange(client, store, Sealer(b"k" * 32, "smev:test"), answerer="ЕСИА", settings=settings,
                            clock=clock)
    exchange.register_kind(ECHO, root_element=root,
                           is_final=lambda content: content.get("status") != "VALIDATING")
    return exchange, ResponseRunner(exchange, JobRuns(store, holder, lease_seconds=settings.lease_seconds))


def _request(text: str = "сверка") -> etree._Element:
    element = etree.Element(f"{{{ECHO}}}EchoRequest", nsmap={"e": ECHO})
    element.text = text
    return element


class Running:
    """A runner's thread for the length of a ``with``."""

    def __init__(self, runner: ResponseRunner) -> None:
        self.runner = runner

    def __enter__(self) -> ResponseRunner:
        self.runner.start()
        return self.runner

    def __exit__(self, *_exc: object) -> None:
        self.runner.stop()


def _received(kind: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("bridge_smev_received_total", {"kind": kind, "outcome": outcome}) or 0.0


def _rows(store: Store, table: str) -> list[dict[str, object]]:
    with store.engine.connect() as db:
        return [dict(row._mapping) for row in db.execute(sa.text(f"SELECT * FROM {table}"))]


# --------------------------------------------------------------------------- the press


def test_a_press_sends_once_waits_and_returns_the_verified_answer(node: Node, store: Store, keys: Keys) -> None:
    exchange, runner = _instance(node, store, keys)
    with Running(runner):
        answer = exchange.send_and_wait(kind=ECHO, business_key="echo:p1", content=_request("первый"),
                                        wait_seconds=10)
    assert answer.content is not None and answer.content.text == f"первый {SNILS}"
    assert not answer.rejected and answer.message_id != answer.original_message_id
    assert (node.count("SendRequest"), node.count("Ack"), node.count("Ack-not-accepted")) == (1, 1, 0)
    record = exchange.journal.find(answer.original_message_id)
    assert record is not None and record.state == "acknowledged" and record.answer_message_id == answer.message_id
    # Nothing personal in the journal unsealed: the request's and the answer's texts are sealed.
    raw = (Path(str(store.engine.url.database))).read_bytes()
    assert SNILS.encode() not in raw and "первый".encode() not in raw


def test_presses_for_the_same_operation_share_one_request_across_instances(
        node: Node, store: Store, keys: Keys) -> None:
    node.echo.delay = 0.6
    first, runner = _instance(node, store, keys, "a")
    second, _ = _instance(node, store, keys, "b")
    answers: list[object] = []

    def press(exchange: SmevExchange) -> None:
        answers.append(exchange.send_and_wait(kind=ECHO, business_key="echo:same", content=_request("x"),
                                              wait_seconds=10))

    with Running(runner):
        threads = [threading.Thread(target=press, args=(ex,)) for ex in (first, second, first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
    assert len(answers) == 4 and len({a.message_id for a in answers}) == 1  # type: ignore[attr-defined]
    assert node.count("SendRequest") == 1 and node.count("Ack") == 1


def test_an_answer_after_the_wait_is_returned_to_the_repeat_press_without_a_new_send(
        node: Node, store: Store, keys: Keys) -> None:
    node.echo.delay = 1.0
    exchange, runner = _instance(node, store, keys)
    with pytest.raises(SmevAnswerPending) as pending:
        exchange.send_and_wait(kind=ECHO, business_key="echo:late", content=_request("y"), wait_seconds=0.2)
    assert pending.value.faultcode == "Server.AnswerPending" and pending.value.http_status == 503
    assert "Ответ ЕСИА ещё не пришёл" in pending.value.message and "через 7 с" in pending.value.message
    assert node.count("SendRequest") == 1
    with Running(runner):
        answer = exchange.send_and_wait(kind=ECHO, business_key="echo:late", content=_request("y"), wait_seconds=10)
    assert answer.content is not None and answer.content.text == f"y {SNILS}"
    assert node.count("SendRequest") == 1  # the repeat press sent nothing
    again = exchange.send_and_wait(kind=ECHO, business_key="echo:late", content=_request("y"), wait_seconds=0.1)
    assert again.message_id == answer.message_id and node.count("SendRequest") == 1  # kept: answer_keep_seconds


def test_an_answer_kept_longer_than_its_keep_time_gives_way_to_a_new_request(
        node: Node, store: Store, keys: Keys) -> None:
    exchange, runner = _instance(node, store, keys, settings=ExchangeSettings(
        answer_keep_seconds=0.3, store_poll_seconds=0.02, get_response_pause_seconds=0.02))
    with Running(runner):
        first = exchange.send_and_wait(kind=ECHO, business_key="echo:keep", content=_request(), wait_seconds=10)
        time.sleep(0.4)
        second = exchange.send_and_wait(kind=ECHO, business_key="echo:keep", content=_request(), wait_seconds=10)
    assert first.original_message_id != second.original_message_id and node.count("SendRequest") == 2


def test_a_rejection_is_an_answer_marked_rejected(node: Node, store: Store, keys: Keys) -> None:
    node.echo.reject = ("NO_DATA", "Нет данных")
    # The node queues a rejection under the request's root element: poll without a MessageTypeSelector.
    exchange, runner = _instance(node, store, keys, root=None)
    with Running(runner):
        answer = exchange.send_and_wait(kind=ECHO, business_key="echo:rej", content=_request(), wait_seconds=10)
    assert (answer.rejected, answer.content, answer.status_code, answer.description) == (
        True, None, "NO_DATA", "Нет данных")


def test_an_interim_answer_is_acknowledged_and_the_press_waits_on(node: Node, store: Store, keys: Keys) -> None:
    node.echo.interim = True
    exchange, runner = _instance(node, store, keys)
    with Running(runner):
        with pytest.raises(SmevAnswerPending):
            exchange.send_and_wait(kind=ECHO, business_key="echo:interim", content=_request(), wait_seconds=0.3)
        deadline = time.monotonic() + 5
        while node.count("Ack") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    with pytest.raises(SmevAnswerPending):
        exchange.send_and_wait(kind=ECHO, business_key="echo:interim", content=_request(), wait_seconds=0.1)
    record = exchange.journal.current("echo:interim")
    assert record is not None and record.state == "sent" and record.status == "interim"
    assert node.count("Ack") == 1


# --------------------------------------------------------------------------- sending


def test_a_transient_send_failure_is_sent_again_by_the_runner_under_the_same_message_id(
        node: Node, store: Store, keys: Keys) -> None:
    exchange, runner = _instance(node, store, keys)
    node.faults.configure(1.0, ("http_503",), 0.0, 1)
    with pytest.raises(SmevAnswerPending):
        exchange.send_and_wait(kind=ECHO, business_key="echo:503", content=_request(), wait_seconds=0.2)
    record = exchange.journal.current("echo:503")
    assert record is not None and record.state == "sending" and node.count("SendRequest") == 0
    node.faults.configure(0.0, (), 0.0, None)
    with Running(runner):
        answer = exchange.send_and_wait(kind=ECHO, business_key="echo:503", content=_request(), wait_seconds=10)
    assert answer.original_message_id == record.message_id and node.count("SendRequest") == 1


def test_a_send_that_went_through_before_a_crash_is_taken_as_sent(node: Node, store: Store, keys: Keys) -> None:
    """The row says ``sending`` (the sender died after SendRequest, before writing ``sent``): sending it again
    under the same MessageID gets MessageIsAlreadySent, which the exchange takes as sent."""
    exchange, runner = _instance(node, store, keys, settings=ExchangeSettings(
        send_lease_seconds=1.0, store_poll_seconds=0.02, get_response_pause_seconds=0.02))
    node.echo.delay = 1.0
    original = exchange.client.send_request

    def send_then_die(content: etree._Element, message_id: str, **_kw: object) -> object:
        original(content, message_id)
        raise SystemExit("killed after SendRequest, before the journal says sent")

    exchange.client.send_request = send_then_die  # type: ignore[assignment,method-assign]
    with pytest.raises(SystemExit):
        exchange.send_and_wait(kind=ECHO, business_key="echo:crash", content=_request(), wait_seconds=1)
    exchange.client.send_request = original  # type: ignore[method-assign]
    record = exchange.journal.current("echo:crash")
    assert record is not None and record.state == "sending"
    node.echo.delay = 0.0
    later, runner = _instance(node, store, keys, settings=ExchangeSettings(
        send_lease_seconds=0.1, store_poll_seconds=0.02, get_response_pause_seconds=0.02))
    time.sleep(1.2)  # the claim of the dead sender (send_lease_seconds=1) runs out, and the answer is due
    with Running(runner):
        answer = later.send_and_wait(kind=ECHO, business_key="echo:crash", content=_request(), wait_seconds=10)
    assert answer.original_message_id == record.message_id
    assert node.count("SendRequest") == 1 and node.count("MessageIsAlreadySent") == 1


def test_a_refusal_only_ops_can_fix_is_dead_and_the_next_press_sends_anew(
        node: Node, store: Store, keys: Keys) -> None:
    stranger, _ = _instance(node, store, keys, signer=keys.stranger)
    with pytest.raises(SmevOpsProblem) as refused:
        stranger.send_and_wait(kind=ECHO, business_key="echo:ops", content=_request(), wait_seconds=1)
    assert refused.value.fault == "SenderIsNotRegistered"
    dead = stranger.journal.current("echo:ops")
    assert dead is not None and (dead.state, dead.error) == ("dead", "SenderIsNotRegistered")
    exchange, runner = _instance(node, store, keys)
    with Running(runner):
        answer = exchange.send_and_wait(kind=ECHO, business_key="echo:ops", content=_request(), wait_seconds=10)
    assert answer.original_message_id != dead.message_id and node.count("SendRequest") == 1


def test_a_stale_message_id_is_never_sent_again_as_a_new_request(node: Node, store: Store, keys: Keys) -> None:
    node.node.staleness = timedelta(0)  # every MessageID is too old for the node: a retry far too late
    late, _ = _instance(node, store, keys)
    with pytest.raises(Exception) as stale:
        late.send_and_wait(kind=ECHO, business_key="echo:stale", content=_request(), wait_seconds=1)
    assert getattr(stale.value, "fault", None) == "StaleMessageId"
    node.node.staleness = timedelta(days=1)
    exchange, _ = _instance(node, store, keys, "b")
    with pytest.raises(SmevExchangeFailed) as failed:
        exchange.send_and_wait(kind=ECHO, business_key="echo:stale", content=_request(), wait_seconds=1)
    assert failed.value.error == "StaleMessageId" and "новый не отправлен" in failed.value.message
    assert node.count("SendRequest") == 0


def test_a_request_without_an_answer_for_too_long_is_dead_and_its_late_answer_counted(
        node: Node, store: Store, keys: Keys) -> None:
    node.echo.delay = 3.0
    settings = ExchangeSettings(dead_after_seconds=0.3, store_poll_seconds=0.02, get_response_pause_seconds=0.02)
    exchange, runner = _instance(node, store, keys, settings=settings)
    late_before = _received(ECHO, "late")
    with pytest.raises(SmevAnswerPending):
        exchange.send_and_wait(kind=ECHO, business_key="echo:dead", content=_request(), wait_seconds=0.05)
    with Running(runner):
        deadline = time.monotonic() + 8
        while exchange.journal.current("echo:dead").state != "dead" and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.05)
        with pytest.raises(SmevExchangeFailed) as failed:
            exchange.send_and_wait(kind=ECHO, business_key="echo:dead", content=_request(), wait_seconds=1)
        assert failed.value.error == "no-answer" and node.count("SendRequest") == 1
        while _received(ECHO, "late") == late_before and time.monotonic() < deadline:
            time.sleep(0.05)
    assert _received(ECHO, "late") == late_before + 1 and node.count("Ack") == 1
    record = exchange.journal.current("echo:dead")
    assert record is not None and record.state == "acknowledged"  # a repeat press now gets the late answer


# --------------------------------------------------------------------------- receiving


def test_a_message_stored_but_not_acknowledged_is_acknowledged_again_when_redelivered_not_applied_twice(
        node: Node, store: Store, keys: Keys) -> None:
    exchange, runner = _instance(node, store, keys)
    node.echo.delay = 0.0
    with pytest.raises(SmevAnswerPending):
        exchange.send_and_wait(kind=ECHO, business_key="echo:redeliver", content=_request(), wait_seconds=0.05)

    def crash(_message_id: str) -> None:
        raise SystemExit("killed between storing and Ack")

    runner.after_store = crash  # type: ignore[assignment,method-assign]
    with pytest.raises(SystemExit):
        runner.run_once()
    [stored] = _rows(store, "smev_received")
    assert stored["acknowledged_at"] is None and node.count("Ack") == 0
    redelivered = _received(ECHO, "redelivered")
    fresh, runner = _instance(node, store, keys, "b")
    time.sleep(0.6)  # the node's visibility timeout (0.5 s): the message is handed out again
    deadline = time.monotonic() + 5
    while node.count("Ack") == 0 and time.monotonic() < deadline:
        runner.run_once()
        time.sleep(0.05)
    assert node.count("redelivered") == 1 and node.count("Ack") == 1
    assert _received(ECHO, "redelivered") == redelivered + 1
    [again] = _rows(store, "smev_received")
    assert again["deliveries"] == 2 and again["acknowledged_at"] is not None
    answer = fresh.send_and_wait(kind=ECHO, business_key="echo:redeliver", content=_request(), wait_seconds=1)
    assert answer.message_id == stored["message_id"]


def test_an_ack_that_fails_leaves_the_answers_stored_and_the_round_going_on(
        node: Node, store: Store, keys: Keys) -> None:
    """Every Ack lost (503 after the client's retries): each answer is stored anyway and the drain goes on to
    the next message; the presses get their answers; redelivered once the Acks work, each is acknowledged and
    nothing is applied twice."""
    exchange, runner = _instance(node, store, keys)
    node.echo.delay = 0.0
    node.faults.configure(1.0, ("http_503",), 0.0, 1, operations=("Ack",))
    node.node.visibility_timeout = timedelta(seconds=30)  # nothing handed out twice in the first round
    for key in ("echo:ack-lost-1", "echo:ack-lost-2"):
        with pytest.raises(SmevAnswerPending):
            exchange.send_and_wait(kind=ECHO, business_key=key, content=_request(), wait_seconds=0.05)
    # Before, the first failed Ack ended the round with an exception: the second message waited behind it.
    assert runner.run_once() == 2
    rows = _rows(store, "smev_received")
    assert len(rows) == 2 and all(row["acknowledged_at"] is None for row in rows)
    assert node.count("Ack") == 0 and node.faults.injected["http_503"] >= 2
    first = exchange.send_and_wait(kind=ECHO, business_key="echo:ack-lost-1", content=_request(), wait_seconds=1)

    node.faults.configure(0.0, (), 0.0, None)
    for queued in node.node.queue:  # the node's visibility timeout passes
        queued.hidden_until = datetime.now(UTC)
    redelivered = _received(ECHO, "redelivered")
    deadline = time.monotonic() + 5
    while node.count("Ack") < 2 and time.monotonic() < deadline:  # after the node's visibility timeout (0.5 s)
        runner.run_once()
        time.sleep(0.05)
    assert node.count("Ack") == 2 and node.count("redelivered") == 2
    assert _received(ECHO, "redelivered") == redelivered + 2
    rows = _rows(store, "smev_received")
    assert [(row["outcome"], row["deliveries"]) for row in rows] == [("answer", 2), ("answer", 2)]
    assert all(row["acknowledged_at"] is not None for row in rows)
    assert {row["state"] for row in _rows(store, "smev_exchange")} == {"acknowledged"}
    again = exchange.send_and_wait(kind=ECHO, business_key="echo:ack-lost-1", content=_request(), wait_seconds=1)
    assert again.message_id == first.message_id and node.count("SendRequest") == 2


def test_a_message_whose_ack_keeps_failing_does_not_starve_the_ones_behind_it(
        node: Node, store: Store, keys: Keys) -> None:
    """СМЭВ hands the oldest visible message out first; its visibility timeout shorter than a failing Ack, the
    first message is visible again before the drain asks for the next: it is passed over, the next is taken."""
    exchange, runner = _instance(node, store, keys)
    node.echo.delay = 0.0
    node.faults.configure(1.0, ("stall",), 0.8, 1, operations=("Ack",))  # 504 after 0.8 s, twice: ~1.6 s
    node.node.visibility_timeout = timedelta(seconds=1)
    for key in ("echo:starve-1", "echo:starve-2"):
        with pytest.raises(SmevAnswerPending):
            exchange.send_and_wait(kind=ECHO, business_key=key, content=_request(), wait_seconds=0.05)
    runner.run_once()
    assert {row["outcome"] for row in _rows(store, "smev_received")} == {"answer"}
    assert len(_rows(store, "smev_received")) == 2  # the second was stored too
    first = exchange.send_and_wait(kind=ECHO, business_key="echo:starve-2", content=_request(), wait_seconds=1)
    assert first.rejected is False


def test_an_answer_to_nothing_we_sent_is_acknowledged_not_accepted_and_counted(
        node: Node, store: Store, keys: Keys) -> None:
    exchange, runner = _instance(node, store, keys)
    stray = new_message_id(datetime.now(UTC))
    reply = etree.Element(f"{{{ECHO}}}EchoResponse")
    reply.text = "чужое"
    node.node.queue.append(QueuedResponse(
        message_id=new_message_id(datetime.now(UTC)), original_message_id=stray, recipient=keys.ours.certificate_der,
        namespace=ECHO, root="EchoResponse", answer=ProviderAnswer(content=reply), available_at=datetime.now(UTC)))
    before = _received(ECHO, "unmatched")
    assert runner.run_once() == 1
    assert (node.count("Ack"), node.count("Ack-not-accepted")) == (0, 1)
    assert _received(ECHO, "unmatched") == before + 1
    assert exchange.journal.find(stray) is None


def test_an_answer_whose_smev_signature_fails_is_refused_acknowledged_not_accepted(
        node: Node, store: Store, keys: Keys) -> None:
    exchange, runner = _instance(node, store, keys, trusted=keys.stranger)  # trusts a certificate СМЭВ did not use
    with pytest.raises(Exception):  # noqa: B017 - SendRequestResponse's ЭП-СМЭВ is refused too: postponed
        exchange.send_and_wait(kind=ECHO, business_key="echo:sig", content=_request(), wait_seconds=0.1)
    honest, _ = _instance(node, store, keys)
    honest.send_pending(honest.journal.current("echo:sig").id)  # type: ignore[union-attr]
    before = _received(ECHO, "refused")
    deadline = time.monotonic() + 5
    while node.count("Ack-not-accepted") == 0 and time.monotonic() < deadline:
        runner.run_once()
        time.sleep(0.05)
    assert node.count("Ack-not-accepted") == 1 and node.count("Ack") == 0
    assert _received(ECHO, "refused") == before + 1
    record = exchange.journal.current("echo:sig")
    assert record is not None and record.state == "sent"  # never applied


def _refused_answers() -> float:
    return sum(sample.value for metric in REGISTRY.collect() if metric.name == "bridge_smev_answers_refused"
               for sample in metric.samples if sample.name == "bridge_smev_answers_refused_total")


@pytest.mark.parametrize("defect", ["unsigned", "wrong_signature", "not_xml", "unknown_kind", "orphan"])
def test_bad_input_from_smev_is_refused_counted_and_the_bridge_serves_on(
        node: Node, store: Store, keys: Keys, defect: str) -> None:
    """What the sandbox node injects on purpose (its DEFECTS) is never applied: a message the bridge can read is
    acknowledged with accepted=false and counted; one it cannot read (not XML) has no MessageId to acknowledge,
    so it is counted as refused each time СМЭВ hands it out. The runner goes on, and the next press is answered."""
    exchange, runner = _instance(node, store, keys)
    refused_before = _refused_answers()
    node.node.inject(defect, kind=ECHO)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        runner.run_once()
        if node.count("Ack-not-accepted") or _refused_answers() > refused_before:
            break
        time.sleep(0.02)
    if defect == "not_xml":
        assert _refused_answers() > refused_before and node.count("Ack") == 0
    else:
        assert (node.count("Ack-not-accepted"), node.count("Ack")) == (1, 0), node.node.counts
    assert _rows(store, "smev_exchange") == []  # nothing was taken for an answer to anything
    with Running(runner):
        answer = exchange.send_and_wait(kind=ECHO, business_key=f"echo:after-{defect}", content=_request(),
                                        wait_seconds=10)
    assert answer.content is not None and not answer.rejected


def test_one_runner_per_kind_polls_while_its_lease_is_held(node: Node, store: Store, keys: Keys) -> None:
    _, first = _instance(node, store, keys, "a")
    _, second = _instance(node, store, keys, "b")
    first.run_once()
    polls = node.count("GetResponse")
    second.run_once()
    assert node.count("GetResponse") == polls  # "b" does not hold the lease: it asks nothing
    first.stop()  # releases the lease
    second.run_once()
    assert node.count("GetResponse") == polls + 1


def test_the_journal_is_visible_in_metrics_read_at_scrape_time(node: Node, store: Store, keys: Keys) -> None:
    from bridge.smev._metrics import ExchangeCollector

    node.echo.delay = 5.0
    exchange, _ = _instance(node, store, keys)
    with pytest.raises(SmevAnswerPending):
        exchange.send_and_wait(kind=ECHO, business_key="echo:m", content=_request(), wait_seconds=0.05)
    families = {m.name: m for m in ExchangeCollector(
        lambda: exchange.journal.stats(datetime.now(UTC), acknowledged=False)).collect()}
    unanswered = {s.labels["kind"]: s.value for s in families["bridge_smev_unanswered"].samples}
    assert unanswered == {ECHO: 1}
    assert families["bridge_smev_oldest_unanswered_age_seconds"].samples[0].value >= 0
    states = {s.labels["state"]: s.value for s in families["bridge_smev_exchanges"].samples}
    assert states["sent"] == 1 and states["answered"] == 0
    assert "acknowledged" not in states  # they only grow until the purge: the scrape does not count them
    assert exchange.journal.stats(datetime.now(UTC)).counts["acknowledged"] == 0  # `bridge smev stats` does


def test_kinds_registered_without_a_root_element_share_one_get_response_without_a_selector(
        node: Node, store: Store, keys: Keys) -> None:
    exchange, runner = _instance(node, store, keys, root=None)
    exchange.register_kind("urn://x-artefacts-sandbox/other/1.0")
    polls = node.count("GetResponse")
    assert runner.run_once() == 0
    assert node.count("GetResponse") == polls + 1  # one call for both kinds, under one lease
    _, other = _instance(node, store, keys, "b", root=None)
    assert other.run_once() == 0 and node.count("GetResponse") == polls + 1  # "a" holds smev-get-response:any


def test_on_postgresql_racing_presses_from_two_instances_open_one_request(
        node: Node, keys: Keys, pg_url: str) -> None:
    """The partial unique index (one current exchange per business key) holds on PostgreSQL too."""
    store = Store(pg_url)
    store.upgrade()
    try:
        node.echo.delay = 0.5
        first, runner = _instance(node, store, keys, "a")
        second, _ = _instance(node, store, keys, "b")
        answers: list[str] = []

        def press(exchange: SmevExchange) -> None:
            answers.append(exchange.send_and_wait(kind=ECHO, business_key="echo:pg", content=_request(),
                                                  wait_seconds=15).message_id)

        with Running(runner):
            threads = [threading.Thread(target=press, args=(ex,)) for ex in (first, second) * 3]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
        assert len(answers) == 6 and len(set(answers)) == 1 and node.count("SendRequest") == 1
    finally:
        store.dispose()


def test_node_settings_read_pem_or_der_certificates_and_refuse_unknown_keys(keys: Keys, tmp_path: Path) -> None:
    from pydantic import ValidationError

    from bridge.smev import SmevNodeSettings

    der = tmp_path / "smev.cer"
    der.write_bytes(keys.smev.certificate_der)
    node = SmevNodeSettings(smev_certificates=[keys.smev.cert, der], schema_version="1.3",
                            endpoint="/smev/v1.3/ws", answer_keep_seconds=10)
    client = node.client_settings()
    assert set(client.trusted_certificates or ()) == {keys.smev.certificate_der}
    assert (client.schema_version, client.endpoint) == ("1.3", "/smev/v1.3/ws")
    assert node.exchange_settings().answer_keep_seconds == 10
    with pytest.raises(ValidationError, match="trusted_certificates"):
        SmevNodeSettings.model_validate({"trusted_certificates": [str(der)]})


def test_sealed_contents_are_dropped_after_the_keep_time_and_rows_after_the_purge_time(
        node: Node, store: Store, keys: Keys) -> None:
    exchange, runner = _instance(node, store, keys)
    with Running(runner):
        answer = exchange.send_and_wait(kind=ECHO, business_key="echo:forget", content=_request(), wait_seconds=10)
    now = datetime.now(UTC)
    keep, purge = timedelta(seconds=FAST.answer_keep_seconds), timedelta(days=30)
    assert exchange.journal.forget(now, keep=keep, purge_after=purge) == (0, 0)  # still answering repeat presses
    assert exchange.journal.forget(now + keep + timedelta(hours=2), keep=keep, purge_after=purge) == (1, 0)
    [row] = _rows(store, "smev_exchange")
    assert row["answer"] is None and row["request"] is None and row["message_id"] == answer.original_message_id
    assert exchange.journal.forget(now + timedelta(days=31), keep=keep, purge_after=purge) == (0, 2)
    assert _rows(store, "smev_exchange") == [] and _rows(store, "smev_received") == []
