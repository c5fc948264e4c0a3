"""bridge.smev: the GetResponse runner — answers stored, matched, acknowledged; redeliveries, refusals,
leases, metrics, the PostgreSQL race, node settings and the purge.

The peer and the store: tests/unit/smev_world.py.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree
from prometheus_client import REGISTRY

from bridge.smev import (
    SmevAnswerPending,
    SmevExchange,
    new_message_id,
)
from bridge.smev.sandbox import ProviderAnswer, QueuedResponse
from bridge.store import Store
from tests.unit import smev_world
from tests.unit.smev_world import (
    ECHO,
    FAST,
    Keys,
    Node,
    Running,
    echo_request,
    instance,
    received_count,
    table_rows,
)

keys, node, store = smev_world.keys, smev_world.node, smev_world.store  # the world's fixtures

# --------------------------------------------------------------------------- receiving


def test_a_message_stored_but_not_acknowledged_is_acknowledged_again_when_redelivered_not_applied_twice(
        node: Node, store: Store, keys: Keys) -> None:
    exchange, runner = instance(node, store, keys)
    node.echo.delay = 0.0
    with pytest.raises(SmevAnswerPending):
        exchange.send_and_wait(kind=ECHO, business_key="echo:redeliver", content=echo_request(), wait_seconds=0.05)

    def crash(_message_id: str) -> None:
        raise SystemExit("killed between storing and Ack")

    runner.after_store = crash  # type: ignore[assignment,method-assign]
    with pytest.raises(SystemExit):
        runner.run_once()
    [stored] = table_rows(store, "smev_received")
    assert stored["acknowledged_at"] is None and node.count("Ack") == 0
    redelivered = received_count(ECHO, "redelivered")
    fresh, runner = instance(node, store, keys, "b")
    time.sleep(0.6)  # the node's visibility timeout (0.5 s): the message is handed out again
    node.run_until(runner, "Ack")
    assert node.count("redelivered") == 1 and node.count("Ack") == 1
    assert received_count(ECHO, "redelivered") == redelivered + 1
    [again] = table_rows(store, "smev_received")
    assert again["deliveries"] == 2 and again["acknowledged_at"] is not None
    answer = fresh.send_and_wait(kind=ECHO, business_key="echo:redeliver", content=echo_request(), wait_seconds=1)
    assert answer.message_id == stored["message_id"]


def test_an_ack_that_fails_leaves_the_answers_stored_and_the_round_going_on(
        node: Node, store: Store, keys: Keys) -> None:
    """Every Ack lost (503 after the client's retries): each answer is stored anyway and the drain goes on to
    the next message; the presses get their answers; redelivered once the Acks work, each is acknowledged and
    nothing is applied twice."""
    exchange, runner = instance(node, store, keys)
    node.echo.delay = 0.0
    node.faults.configure(1.0, ("http_503",), 0.0, 1, operations=("Ack",))
    node.node.visibility_timeout = timedelta(seconds=30)  # nothing handed out twice in the first round
    for key in ("echo:ack-lost-1", "echo:ack-lost-2"):
        with pytest.raises(SmevAnswerPending):
            exchange.send_and_wait(kind=ECHO, business_key=key, content=echo_request(), wait_seconds=0.05)
    # Before, the first failed Ack ended the round with an exception: the second message waited behind it.
    assert runner.run_once() == 2
    rows = table_rows(store, "smev_received")
    assert len(rows) == 2 and all(row["acknowledged_at"] is None for row in rows)
    assert node.count("Ack") == 0 and node.faults.injected["http_503"] >= 2
    first = exchange.send_and_wait(kind=ECHO, business_key="echo:ack-lost-1", content=echo_request(), wait_seconds=1)

    node.faults.configure(0.0, (), 0.0, None)
    for queued in node.node.queue:  # the node's visibility timeout passes
        queued.hidden_until = datetime.now(UTC)
    redelivered = received_count(ECHO, "redelivered")
    node.run_until(runner, "Ack", 2)  # after the node's visibility timeout (0.5 s)
    assert node.count("Ack") == 2 and node.count("redelivered") == 2
    assert received_count(ECHO, "redelivered") == redelivered + 2
    rows = table_rows(store, "smev_received")
    assert [(row["outcome"], row["deliveries"]) for row in rows] == [("answer", 2), ("answer", 2)]
    assert all(row["acknowledged_at"] is not None for row in rows)
    assert {row["state"] for row in table_rows(store, "smev_exchange")} == {"acknowledged"}
    again = exchange.send_and_wait(kind=ECHO, business_key="echo:ack-lost-1", content=echo_request(), wait_seconds=1)
    assert again.message_id == first.message_id and node.count("SendRequest") == 2


def test_a_message_whose_ack_keeps_failing_does_not_starve_the_ones_behind_it(
        node: Node, store: Store, keys: Keys) -> None:
    """СМЭВ hands the oldest visible message out first; its visibility timeout shorter than a failing Ack, the
    first message is visible again before the drain asks for the next: it is passed over, the next is taken."""
    exchange, runner = instance(node, store, keys)
    node.echo.delay = 0.0
    node.faults.configure(1.0, ("stall",), 0.8, 1, operations=("Ack",))  # 504 after 0.8 s, twice: ~1.6 s
    node.node.visibility_timeout = timedelta(seconds=1)
    for key in ("echo:starve-1", "echo:starve-2"):
        with pytest.raises(SmevAnswerPending):
            exchange.send_and_wait(kind=ECHO, business_key=key, content=echo_request(), wait_seconds=0.05)
    runner.run_once()
    assert {row["outcome"] for row in table_rows(store, "smev_received")} == {"answer"}
    assert len(table_rows(store, "smev_received")) == 2  # the second was stored too
    first = exchange.send_and_wait(kind=ECHO, business_key="echo:starve-2", content=echo_request(), wait_seconds=1)
    assert first.rejected is False


def test_an_answer_to_nothing_we_sent_is_acknowledged_not_accepted_and_counted(
        node: Node, store: Store, keys: Keys) -> None:
    exchange, runner = instance(node, store, keys)
    stray = new_message_id(datetime.now(UTC))
    reply = etree.Element(f"{{{ECHO}}}EchoResponse")
    reply.text = "чужое"
    node.node.queue.append(QueuedResponse(
        message_id=new_message_id(datetime.now(UTC)), original_message_id=stray, recipient=keys.ours.certificate_der,
        namespace=ECHO, root="EchoResponse", answer=ProviderAnswer(content=reply), available_at=datetime.now(UTC)))
    before = received_count(ECHO, "unmatched")
    assert runner.run_once() == 1
    assert (node.count("Ack"), node.count("Ack-not-accepted")) == (0, 1)
    assert received_count(ECHO, "unmatched") == before + 1
    assert exchange.journal.find(stray) is None


def test_an_answer_whose_smev_signature_fails_is_refused_acknowledged_not_accepted(
        node: Node, store: Store, keys: Keys) -> None:
    exchange, runner = instance(node, store, keys, trusted=keys.stranger)  # trusts a certificate СМЭВ did not use
    with pytest.raises(Exception):  # noqa: B017 - SendRequestResponse's ЭП-СМЭВ is refused too: postponed
        exchange.send_and_wait(kind=ECHO, business_key="echo:sig", content=echo_request(), wait_seconds=0.1)
    honest, _ = instance(node, store, keys)
    honest.send_pending(honest.journal.current("echo:sig").id)  # type: ignore[union-attr]
    before = received_count(ECHO, "refused")
    node.run_until(runner, "Ack-not-accepted")
    assert node.count("Ack-not-accepted") == 1 and node.count("Ack") == 0
    assert received_count(ECHO, "refused") == before + 1
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
    exchange, runner = instance(node, store, keys)
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
    assert table_rows(store, "smev_exchange") == []  # nothing was taken for an answer to anything
    with Running(runner):
        answer = exchange.send_and_wait(kind=ECHO, business_key=f"echo:after-{defect}", content=echo_request(),
                                        wait_seconds=10)
    assert answer.content is not None and not answer.rejected


def test_one_runner_per_kind_polls_while_its_lease_is_held(node: Node, store: Store, keys: Keys) -> None:
    _, first = instance(node, store, keys, "a")
    _, second = instance(node, store, keys, "b")
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
    exchange, _ = instance(node, store, keys)
    with pytest.raises(SmevAnswerPending):
        exchange.send_and_wait(kind=ECHO, business_key="echo:m", content=echo_request(), wait_seconds=0.05)
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
    exchange, runner = instance(node, store, keys, root=None)
    exchange.register_kind("urn://x-artefacts-sandbox/other/1.0")
    polls = node.count("GetResponse")
    assert runner.run_once() == 0
    assert node.count("GetResponse") == polls + 1  # one call for both kinds, under one lease
    _, other = instance(node, store, keys, "b", root=None)
    assert other.run_once() == 0 and node.count("GetResponse") == polls + 1  # "a" holds smev-get-response:any


def test_on_postgresql_racing_presses_from_two_instances_open_one_request(
        node: Node, keys: Keys, pg_url: str) -> None:
    """The partial unique index (one current exchange per business key) holds on PostgreSQL too."""
    store = Store(pg_url)
    store.upgrade()
    try:
        node.echo.delay = 0.5
        first, runner = instance(node, store, keys, "a")
        second, _ = instance(node, store, keys, "b")
        answers: list[str] = []

        def press(exchange: SmevExchange) -> None:
            answers.append(exchange.send_and_wait(kind=ECHO, business_key="echo:pg", content=echo_request(),
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
    exchange, runner = instance(node, store, keys)
    with Running(runner):
        answer = exchange.send_and_wait(kind=ECHO, business_key="echo:forget", content=echo_request(), wait_seconds=10)
    now = datetime.now(UTC)
    keep, purge = timedelta(seconds=FAST.answer_keep_seconds), timedelta(days=30)
    assert exchange.journal.forget(now, keep=keep, purge_after=purge) == (0, 0)  # still answering repeat presses
    assert exchange.journal.forget(now + keep + timedelta(hours=2), keep=keep, purge_after=purge) == (1, 0)
    [row] = table_rows(store, "smev_exchange")
    assert row["answer"] is None and row["request"] is None and row["message_id"] == answer.original_message_id
    assert exchange.journal.forget(now + timedelta(days=31), keep=keep, purge_after=purge) == (0, 2)
    assert table_rows(store, "smev_exchange") == [] and table_rows(store, "smev_received") == []
