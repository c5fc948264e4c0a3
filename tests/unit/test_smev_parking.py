"""A press offered parking (bridge/parking.py) over the sandbox СМЭВ node: it sends once and parks; the
exchange's watch wakes it when the runner stored the answer; its repeat finds that answer without a
second SendRequest (even under another business key: a multi-step call's next run opens a new journal
generation); a wait that runs out answers «повторите» as a blocking press would."""

from __future__ import annotations

import asyncio
import functools

import pytest

from bridge.parking import CallParked, Parking
from bridge.smev import SmevAnswerPending, SmevExchange
from bridge.store import Store
from tests.unit import smev_world as world
from tests.unit.smev_world import ECHO, SNILS, Keys, Node, Running, echo_request, instance

# The sandbox node, the keys and the store of the exchange's tests (tests/unit/smev_world.py).
keys, node, store = world.keys, world.node, world.store


def _press(parking: Parking, exchange: SmevExchange, key: str, wait_seconds: float = 10) -> object:
    return parking.run(functools.partial(exchange.send_and_wait, kind=ECHO, business_key=key, content=echo_request("x"),
                                         wait_seconds=wait_seconds))


def test_a_parked_press_sends_once_and_its_repeat_finds_the_stored_answer(node: Node, store: Store,
                                                                          keys: Keys) -> None:
    exchange, runner = instance(node, store, keys)
    parking = Parking()
    with pytest.raises(CallParked) as parked:
        _press(parking, exchange, "echo:park:1")
    assert node.count("SendRequest") == 1
    assert parked.value.__traceback__ is not None  # (the SOAP layer drops it before waiting)
    with Running(runner):
        ready = asyncio.run(parked.value.wait())
    assert ready
    parking.resumed(parked.value, ready)
    # The repeat, under another business key (a new journal generation): the noted exchange, not a new one.
    answer = _press(parking, exchange, "echo:park:2")
    content = getattr(answer, "content", None)
    assert content is not None and content.text == f"x {SNILS}"
    assert node.count("SendRequest") == 1
    assert exchange.watch.waiting() == 0


def test_a_parked_press_whose_wait_runs_out_answers_as_a_blocking_press(node: Node, store: Store,
                                                                        keys: Keys) -> None:
    exchange, _runner = instance(node, store, keys)  # no runner: no answer can be stored
    parking = Parking()
    with pytest.raises(CallParked) as parked:
        _press(parking, exchange, "echo:late", wait_seconds=0.2)
    ready = asyncio.run(parked.value.wait())
    assert not ready
    parking.resumed(parked.value, ready)
    with pytest.raises(SmevAnswerPending, match="Повторите через 7 с"):
        _press(parking, exchange, "echo:late", wait_seconds=0.2)
    assert node.count("SendRequest") == 1


def test_without_parking_a_press_still_waits_in_its_thread(node: Node, store: Store, keys: Keys) -> None:
    exchange, runner = instance(node, store, keys)
    with Running(runner):
        answer = exchange.send_and_wait(kind=ECHO, business_key="echo:blocking", content=echo_request("y"),
                                        wait_seconds=10)
    assert answer.content is not None and answer.content.text == f"y {SNILS}"
