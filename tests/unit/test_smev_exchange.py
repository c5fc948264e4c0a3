"""bridge.smev: SmevExchange — a press over the asynchronous exchange, and how requests are sent (again).

The peer and the store: tests/unit/smev_world.py.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from lxml import etree

from bridge.errors import SmevOpsProblem
from bridge.smev import (
    ExchangeSettings,
    SmevAnswerPending,
    SmevExchange,
    SmevExchangeFailed,
)
from bridge.store import Store
from tests.unit import smev_world
from tests.unit.smev_world import (
    ECHO,
    SNILS,
    Keys,
    Node,
    Running,
    echo_request,
    instance,
    received_count,
)

keys, node, store = smev_world.keys, smev_world.node, smev_world.store  # the world's fixtures

# --------------------------------------------------------------------------- the press


def test_a_press_sends_once_waits_and_returns_the_verified_answer(node: Node, store: Store, keys: Keys) -> None:
    exchange, runner = instance(node, store, keys)
    with Running(runner):
        answer = exchange.send_and_wait(kind=ECHO, business_key="echo:p1", content=echo_request("первый"),
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
    first, runner = instance(node, store, keys, "a")
    second, _ = instance(node, store, keys, "b")
    answers: list[object] = []

    def press(exchange: SmevExchange) -> None:
        answers.append(exchange.send_and_wait(kind=ECHO, business_key="echo:same", content=echo_request("x"),
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
    exchange, runner = instance(node, store, keys)
    with pytest.raises(SmevAnswerPending) as pending:
        exchange.send_and_wait(kind=ECHO, business_key="echo:late", content=echo_request("y"), wait_seconds=0.2)
    assert pending.value.faultcode == "Server.AnswerPending" and pending.value.http_status == 503
    assert "Ответ ЕСИА ещё не пришёл" in pending.value.message and "через 7 с" in pending.value.message
    assert node.count("SendRequest") == 1
    with Running(runner):
        answer = exchange.send_and_wait(kind=ECHO, business_key="echo:late", content=echo_request("y"), wait_seconds=10)
    assert answer.content is not None and answer.content.text == f"y {SNILS}"
    assert node.count("SendRequest") == 1  # the repeat press sent nothing
    again = exchange.send_and_wait(kind=ECHO, business_key="echo:late", content=echo_request("y"), wait_seconds=0.1)
    assert again.message_id == answer.message_id and node.count("SendRequest") == 1  # kept: answer_keep_seconds


def test_an_answer_kept_longer_than_its_keep_time_gives_way_to_a_new_request(
        node: Node, store: Store, keys: Keys) -> None:
    exchange, runner = instance(node, store, keys, settings=ExchangeSettings(
        answer_keep_seconds=0.3, store_poll_seconds=0.02, get_response_pause_seconds=0.02))
    with Running(runner):
        first = exchange.send_and_wait(kind=ECHO, business_key="echo:keep", content=echo_request(), wait_seconds=10)
        time.sleep(0.4)
        second = exchange.send_and_wait(kind=ECHO, business_key="echo:keep", content=echo_request(), wait_seconds=10)
    assert first.original_message_id != second.original_message_id and node.count("SendRequest") == 2


def test_a_rejection_is_an_answer_marked_rejected(node: Node, store: Store, keys: Keys) -> None:
    node.echo.reject = ("NO_DATA", "Нет данных")
    # The node queues a rejection under the request's root element: poll without a MessageTypeSelector.
    exchange, runner = instance(node, store, keys, root=None)
    with Running(runner):
        answer = exchange.send_and_wait(kind=ECHO, business_key="echo:rej", content=echo_request(), wait_seconds=10)
    assert (answer.rejected, answer.content, answer.status_code, answer.description) == (
        True, None, "NO_DATA", "Нет данных")


def test_an_interim_answer_is_acknowledged_and_the_press_waits_on(node: Node, store: Store, keys: Keys) -> None:
    node.echo.interim = True
    exchange, runner = instance(node, store, keys)
    with Running(runner):
        with pytest.raises(SmevAnswerPending):
            exchange.send_and_wait(kind=ECHO, business_key="echo:interim", content=echo_request(), wait_seconds=0.3)
        deadline = time.monotonic() + 5
        while node.count("Ack") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    with pytest.raises(SmevAnswerPending):
        exchange.send_and_wait(kind=ECHO, business_key="echo:interim", content=echo_request(), wait_seconds=0.1)
    record = exchange.journal.current("echo:interim")
    assert record is not None and record.state == "sent" and record.status == "interim"
    assert node.count("Ack") == 1


# --------------------------------------------------------------------------- sending


def test_a_transient_send_failure_is_sent_again_by_the_runner_under_the_same_message_id(
        node: Node, store: Store, keys: Keys) -> None:
    exchange, runner = instance(node, store, keys)
    node.faults.configure(1.0, ("http_503",), 0.0, 1)
    with pytest.raises(SmevAnswerPending):
        exchange.send_and_wait(kind=ECHO, business_key="echo:503", content=echo_request(), wait_seconds=0.2)
    record = exchange.journal.current("echo:503")
    assert record is not None and record.state == "sending" and node.count("SendRequest") == 0
    node.faults.configure(0.0, (), 0.0, None)
    with Running(runner):
        answer = exchange.send_and_wait(kind=ECHO, business_key="echo:503", content=echo_request(), wait_seconds=10)
    assert answer.original_message_id == record.message_id and node.count("SendRequest") == 1


def test_a_send_that_went_through_before_a_crash_is_taken_as_sent(node: Node, store: Store, keys: Keys) -> None:
    """The row says ``sending`` (the sender died after SendRequest, before writing ``sent``): sending it again
    under the same MessageID gets MessageIsAlreadySent, which the exchange takes as sent."""
    exchange, runner = instance(node, store, keys, settings=ExchangeSettings(
        send_lease_seconds=1.0, store_poll_seconds=0.02, get_response_pause_seconds=0.02))
    node.echo.delay = 1.0
    original = exchange.client.send_request

    def send_then_die(content: etree._Element, message_id: str, **_kw: object) -> object:
        original(content, message_id)
        raise SystemExit("killed after SendRequest, before the journal says sent")

    exchange.client.send_request = send_then_die  # type: ignore[assignment,method-assign]
    with pytest.raises(SystemExit):
        exchange.send_and_wait(kind=ECHO, business_key="echo:crash", content=echo_request(), wait_seconds=1)
    exchange.client.send_request = original  # type: ignore[method-assign]
    record = exchange.journal.current("echo:crash")
    assert record is not None and record.state == "sending"
    node.echo.delay = 0.0
    later, runner = instance(node, store, keys, settings=ExchangeSettings(
        send_lease_seconds=0.1, store_poll_seconds=0.02, get_response_pause_seconds=0.02))
    time.sleep(1.2)  # the claim of the dead sender (send_lease_seconds=1) runs out, and the answer is due
    with Running(runner):
        answer = later.send_and_wait(kind=ECHO, business_key="echo:crash", content=echo_request(), wait_seconds=10)
    assert answer.original_message_id == record.message_id
    assert node.count("SendRequest") == 1 and node.count("MessageIsAlreadySent") == 1


def test_a_refusal_only_ops_can_fix_is_dead_and_the_next_press_sends_anew(
        node: Node, store: Store, keys: Keys) -> None:
    stranger, _ = instance(node, store, keys, signer=keys.stranger)
    with pytest.raises(SmevOpsProblem) as refused:
        stranger.send_and_wait(kind=ECHO, business_key="echo:ops", content=echo_request(), wait_seconds=1)
    assert refused.value.fault == "SenderIsNotRegistered"
    dead = stranger.journal.current("echo:ops")
    assert dead is not None and (dead.state, dead.error) == ("dead", "SenderIsNotRegistered")
    exchange, runner = instance(node, store, keys)
    with Running(runner):
        answer = exchange.send_and_wait(kind=ECHO, business_key="echo:ops", content=echo_request(), wait_seconds=10)
    assert answer.original_message_id != dead.message_id and node.count("SendRequest") == 1


def test_a_stale_message_id_is_never_sent_again_as_a_new_request(node: Node, store: Store, keys: Keys) -> None:
    node.node.staleness = timedelta(0)  # every MessageID is too old for the node: a retry far too late
    late, _ = instance(node, store, keys)
    with pytest.raises(Exception) as stale:
        late.send_and_wait(kind=ECHO, business_key="echo:stale", content=echo_request(), wait_seconds=1)
    assert getattr(stale.value, "fault", None) == "StaleMessageId"
    node.node.staleness = timedelta(days=1)
    exchange, _ = instance(node, store, keys, "b")
    with pytest.raises(SmevExchangeFailed) as failed:
        exchange.send_and_wait(kind=ECHO, business_key="echo:stale", content=echo_request(), wait_seconds=1)
    assert failed.value.error == "StaleMessageId" and "новый не отправлен" in failed.value.message
    assert node.count("SendRequest") == 0


def test_a_request_without_an_answer_for_too_long_is_dead_and_its_late_answer_counted(
        node: Node, store: Store, keys: Keys) -> None:
    node.echo.delay = 3.0
    settings = ExchangeSettings(dead_after_seconds=0.3, store_poll_seconds=0.02, get_response_pause_seconds=0.02)
    exchange, runner = instance(node, store, keys, settings=settings)
    late_before = received_count(ECHO, "late")
    with pytest.raises(SmevAnswerPending):
        exchange.send_and_wait(kind=ECHO, business_key="echo:dead", content=echo_request(), wait_seconds=0.05)
    with Running(runner):
        deadline = time.monotonic() + 8
        while exchange.journal.current("echo:dead").state != "dead" and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.05)
        with pytest.raises(SmevExchangeFailed) as failed:
            exchange.send_and_wait(kind=ECHO, business_key="echo:dead", content=echo_request(), wait_seconds=1)
        assert failed.value.error == "no-answer" and node.count("SendRequest") == 1
        while received_count(ECHO, "late") == late_before and time.monotonic() < deadline:
            time.sleep(0.05)
    assert received_count(ECHO, "late") == late_before + 1 and node.count("Ack") == 1
    record = exchange.journal.current("echo:dead")
    assert record is not None and record.state == "acknowledged"  # a repeat press now gets the late answer
