"""Parking (bridge/parking.py) through a real SOAP endpoint: a call that waits for an answer stored
elsewhere frees its thread, runs again when the answer is there, is accounted once, and answers as
a blocking wait would when its time runs out."""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from spyne import Application, Unicode, rpc
from spyne.protocol.soap import Soap11

from bridge.errors import ServiceUnavailable
from bridge.metrics import SOAP_PARKED, SOAP_REQUESTS
from bridge.parking import CallParked, Parking, current_parking
from bridge.soap import BridgeServiceBase, SoapEndpoint, SoapService, generated_wsdl, set_soap_capacity
from bridge.soap._asgi import DEFAULT_PARKED, DEFAULT_THREADS, DEFAULT_WAITING
from bridge.soap._threads import ThreadHop

NS = "urn:test:parking"


class Board:
    """Answers stored "elsewhere" (as the GetResponse runner stores СМЭВ answers), and who waits for them."""

    def __init__(self) -> None:
        self.answers: dict[str, str] = {}
        self.events: dict[str, asyncio.Event] = {}
        self.runs: list[str] = []
        self.blocking_waits = 0
        self.lock = threading.Lock()

    async def wait(self, key: str, timeout: float) -> bool:
        event = self.events.setdefault(key, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except TimeoutError:
            return False


board = Board()


class Slow(BridgeServiceBase):
    @rpc(Unicode(min_occurs=1, nillable=False), Unicode(min_occurs=1, nillable=False), _returns=Unicode)
    def Ask(ctx: Any, Key: str, Seconds: str) -> str:
        with board.lock:
            board.runs.append(Key)
        answer = board.answers.get(Key)
        if answer is not None:
            return answer
        parking = current_parking()
        if parking is None:  # no parking offered: the old way, in the thread
            with board.lock:
                board.blocking_waits += 1
            raise ServiceUnavailable(f"{Key}: no answer yet")
        if parking.expired(Key):
            raise ServiceUnavailable(f"{Key}: no answer in time")
        raise parking.park(Key, float(Seconds), lambda timeout: board.wait(Key, timeout))


def envelope(key: str, seconds: float = 30) -> bytes:
    return (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        f'xmlns:t="{NS}"><soapenv:Body><t:Ask><t:Key>{key}</t:Key><t:Seconds>{seconds}</t:Seconds></t:Ask>'
        "</soapenv:Body></soapenv:Envelope>"
    ).encode()


@pytest.fixture
def endpoint() -> Iterator[SoapEndpoint]:
    board.answers.clear()
    board.events.clear()
    board.runs.clear()
    board.blocking_waits = 0
    application = Application([Slow], tns=NS, name="Slow", in_protocol=Soap11(validator="lxml"),
                              out_protocol=Soap11())
    with tempfile.TemporaryDirectory() as tmp:
        wsdl = Path(tmp) / "slow.wsdl"
        wsdl.write_bytes(generated_wsdl(application, "http://localhost/soap/SERVICE"))
        yield SoapEndpoint(SoapService("slow", application, wsdl))
    set_soap_capacity(DEFAULT_THREADS, DEFAULT_WAITING, DEFAULT_PARKED)


async def post(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await client.post("/soap/slow", content=body, headers={"Content-Type": "text/xml; charset=utf-8"})


def ok_count() -> float:
    return SOAP_REQUESTS.labels("slow", "Ask", "ok")._value.get()  # type: ignore[no-any-return]


def test_parked_calls_free_their_threads_and_run_again_when_the_answer_is_stored(endpoint: SoapEndpoint) -> None:
    asgi = endpoint.asgi()
    asgi.hop = ThreadHop(2, "parking-test", waiting=20)  # two threads for twenty calls
    keys = [f"k{n}" for n in range(20)]
    before = ok_count()

    async def main() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://bridge") as client:
            calls = [asyncio.ensure_future(post(client, envelope(key))) for key in keys]
            for _ in range(500):  # all twenty parked on two threads
                if SOAP_PARKED.labels("slow")._value.get() == len(keys):
                    break
                await asyncio.sleep(0.01)
            assert SOAP_PARKED.labels("slow")._value.get() == len(keys)
            assert len(asgi.hop._started) == 2
            assert not any(call.done() for call in calls)
            for key in keys:  # the answers arrive, as the runner stores them
                board.answers[key] = f"answer to {key}"
                board.events.setdefault(key, asyncio.Event()).set()
            return list(await asyncio.gather(*calls))

    try:
        answers = asyncio.run(main())
    finally:
        asgi.hop.close()
    for key, answer in zip(keys, answers, strict=True):
        assert answer.status_code == 200 and f"answer to {key}".encode() in answer.content
    assert sorted(board.runs) == sorted(keys * 2)   # each call ran twice: parked, then answered
    assert ok_count() - before == len(keys)         # and was accounted once
    assert SOAP_PARKED.labels("slow")._value.get() == 0
    assert board.blocking_waits == 0


def test_a_parked_call_whose_time_runs_out_answers_as_a_blocking_wait_at_its_deadline(endpoint: SoapEndpoint) -> None:
    async def main() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=endpoint.asgi()),
                                     base_url="http://bridge") as client:
            return await post(client, envelope("late", seconds=0.2))

    answer = asyncio.run(main())
    assert answer.status_code == 500
    assert b"<faultcode>soap11env:Server.UpstreamUnavailable</faultcode>" in answer.content
    assert b"late: no answer in time" in answer.content
    assert board.runs == ["late", "late"]


def test_without_parking_offered_a_call_waits_in_its_thread(endpoint: SoapEndpoint) -> None:
    set_soap_capacity(DEFAULT_THREADS, DEFAULT_WAITING, 0)  # soap_parked: 0

    async def main() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=endpoint.asgi()),
                                     base_url="http://bridge") as client:
            return await post(client, envelope("blocking"))

    answer = asyncio.run(main())
    assert answer.status_code == 500 and b"blocking: no answer yet" in answer.content
    assert board.blocking_waits == 1 and board.runs == ["blocking"]


def test_a_call_running_again_after_its_wait_is_not_refused_as_busy() -> None:
    hop = ThreadHop(1, "t", waiting=0)
    release = threading.Event()

    async def main() -> list[int]:
        first = asyncio.ensure_future(hop.run(lambda: release.wait(5) and 1))
        await asyncio.sleep(0.05)
        again = asyncio.ensure_future(hop.run(lambda: 2, bounded=False))  # queued beyond waiting=0
        await asyncio.sleep(0.05)
        release.set()
        return [await first, await again]

    try:
        assert asyncio.run(main()) == [1, 2]
    finally:
        hop.close()


def test_the_deadline_is_kept_across_runs_and_notes_survive_them() -> None:
    parking = Parking()

    async def never(timeout: float) -> bool:
        return False

    first = parking.park("x", 0.05, never)
    assert isinstance(first, CallParked) and 0 < first.timeout <= 0.05
    assert not parking.expired("x") and parking.seen("x") and not parking.seen("y")
    again = parking.park("x", 60, never)           # a later run at the same key: the first deadline
    assert again.timeout <= 0.05
    parking.resumed(again, False)
    assert parking.expired("x")
    parking.note("smev:kind:digest", "exchange-1")
    assert parking.noted("smev:kind:digest") == "exchange-1" and parking.noted("other") is None
    assert parking.run(current_parking) is parking and current_parking() is None
