"""A synchronous face over СМЭВ's asynchronous exchange: :class:`SmevExchange`.

An adapter calls :meth:`SmevExchange.send_and_wait` with a kind of information, a pseudonymous
business key of the operation and the request's content. The journal (bridge/smev/_journal.py) holds
one current exchange per business key across every instance and restart: a second press while the
first request is in flight sends nothing and waits for the same answer; an answer is kept
``answer_keep_seconds`` so a press after the wait returns it. The answers are received by the
GetResponse runner (bridge/smev/_runner.py) on whichever instance holds the lease, stored, and only
then acknowledged; the waiting caller finds them by polling the store. A caller offered parking
(bridge/parking.py: a SOAP call) does not wait in its thread: it parks on the exchange, its caller
awaits the exchange's :class:`AnswerWatch` on the event loop, and the call runs again and finds the
answer stored (the repeat joins the same exchange: nothing is sent twice). Nothing here names a peer:
the adapter gives the words for its peer (``answerer``, e.g. the registry's name in the genitive).
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from lxml import etree

from bridge.clock import Clock, system_clock
from bridge.errors import (
    DeliveryError,
    ServiceUnavailable,
    SmevFault,
    SmevTemporaryFailure,
    UpstreamError,
)
from bridge.observability import get_logger
from bridge.parking import current_parking
from bridge.smev._answers import AnswerRefused
from bridge.smev._client import SmevClient
from bridge.smev._journal import MAY_HAVE_REACHED, ExchangeRecord, Journal
from bridge.smev._journal_schema import ACKNOWLEDGED, ANSWERED, DEAD, SENDING
from bridge.smev._metrics import SMEV_DEAD, SMEV_EXCHANGES, SMEV_SENDS
from bridge.smev._watch import AnswerWatch
from bridge.store import Sealer, Store

__all__ = ["ExchangeSettings", "KindOfInformation", "SmevAnswer", "SmevAnswerPending", "SmevExchange",
           "SmevExchangeFailed"]

_log = get_logger("bridge.smev")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@dataclass(frozen=True)
class SmevAnswer:
    """The final answer to one request. ``content``: MessagePrimaryContent's child, its ЭП-СМЭВ verified
    (None when ``rejected``). ``rejected``: RequestRejected from the provider or requestIsRejectedBySmev;
    then ``status_code`` is the rejection code (or the status category) and ``description`` its text —
    it may quote the content: show it, never log it."""

    message_id: str
    original_message_id: str
    content: etree._Element | None
    rejected: bool
    status_code: str | None
    description: str | None = None
    exchange_id: str = ""


class SmevAnswerPending(ServiceUnavailable):
    """The request is in flight and its answer has not come within the caller's wait. Pressing again
    sends nothing new: it waits for the same request's answer."""

    faultcode = "Server.AnswerPending"

    def __init__(self, answerer: str, retry_after_seconds: int) -> None:
        super().__init__(f"Ответ {answerer} ещё не пришёл (запрос отправлен через СМЭВ). Повторите через "
                         f"{retry_after_seconds} с: новый запрос не уйдёт, вернётся ответ на этот.")
        self.retry_after_seconds = retry_after_seconds


class SmevExchangeFailed(UpstreamError):
    """The exchange ended without an answer: refused by СМЭВ at sending, or no answer in the time allowed."""

    faultcode = "Server.SmevRefused"

    def __init__(self, message: str, error: str) -> None:
        super().__init__(message)
        self.error = error


@dataclass(frozen=True)
class ExchangeSettings:
    """How long to keep, to wait and to retry (docs/smev.md, «Обмен»)."""

    answer_keep_seconds: float = 3600.0     # a repeat press within this returns the stored answer
    dead_after_seconds: float = 86400.0     # a sent request without an answer this long is dead
    send_lease_seconds: float = 30.0        # a sender's hold on a request; then anyone re-sends it (same MessageID)
    resend_pause_seconds: float = 5.0       # after a transient SendRequest failure
    store_poll_seconds: float = 0.2         # how often a waiting caller reads the store
    get_response_pause_seconds: float = 1.0  # the runner's pause when every queue is empty
    lease_seconds: float = 15.0             # the runner's lease per kind (another instance takes over after it)
    retry_after_seconds: int = 30           # «повторите через N с»
    purge_after_days: float = 30.0          # finished exchanges are deleted after this (contents after the keep time)


@dataclass(frozen=True)
class KindOfInformation:
    """A kind whose answers the runner fetches: GetResponse's MessageTypeSelector names the response's root
    element (namespace ``kind``, ``root_element``). ``is_final``: False for an interim answer (a status
    the provider sends before the result); such a message is acknowledged and its exchange waits on."""

    kind: str
    root_element: str | None = None
    is_final: Callable[[etree._Element], bool] | None = field(default=None, compare=False)


class SmevExchange:
    def __init__(self, client: SmevClient, store: Store, sealer: Sealer, *, answerer: str,
                 settings: ExchangeSettings | None = None, clock: Clock = system_clock) -> None:
        self.client = client
        self.journal = Journal(store)
        self.sealer = sealer
        self.answerer = answerer
        self.settings = settings or ExchangeSettings()
        self.clock = clock
        self.kinds: dict[str, KindOfInformation] = {}
        self.watch = AnswerWatch(self.journal.settled, self.settings.store_poll_seconds)
        self.runner: Any = None  # its ResponseRunner, when open_exchange built it

    def register_kind(self, kind: str, *, root_element: str | None = None,
                      is_final: Callable[[etree._Element], bool] | None = None) -> None:
        """The runner asks GetResponse for this kind (its MessageTypeSelector, when ``root_element`` is given)."""
        self.kinds[kind] = KindOfInformation(kind, root_element, is_final)

    # ------------------------------------------------------------------ the press

    def send_and_wait(self, *, kind: str, business_key: str, content: etree._Element,
                      wait_seconds: float) -> SmevAnswer:
        if kind not in self.kinds:
            raise ValueError(f"kind of information not registered with the exchange: {kind}")
        if not business_key or len(business_key) > 160:
            raise ValueError("business_key must be 1..160 characters (a pseudonym, never personal data)")
        started = time.monotonic()
        now = self.clock()
        parking = current_parking()
        noted = None if parking is None else parking.noted(_request_note(kind, content))
        record = None if noted is None else self.journal.get(noted)
        created = False
        if record is None:
            record, created = self.journal.open(
                kind=kind, business_key=business_key, request=self._seal_request(content),
                message_id=self.client.new_message_id(), now=now, wait_until=now + timedelta(seconds=wait_seconds),
                keep=timedelta(seconds=self.settings.answer_keep_seconds))
        if parking is not None:  # this call's next run asks the same request's exchange, not a new one
            parking.note(_request_note(kind, content), record.id)
        if parking is None or not parking.seen(record.id):  # a parked call's repeat is not another press
            SMEV_EXCHANGES.labels(kind, "new" if created else "joined").inc()
            _log.info("smev.exchange", kind=kind, exchange=record.id, message_id=record.message_id,
                      state=record.state, joined=not created)
        while True:
            if record.state == SENDING:
                self.send_pending(record.id)
                record = self.journal.get(record.id) or record
            if record.state in (ANSWERED, ACKNOWLEDGED):
                return self._answer(record)
            if record.state == DEAD:
                raise self._failed(record)
            if parking is not None:
                if parking.expired(record.id):
                    raise SmevAnswerPending(self.answerer, self.settings.retry_after_seconds)
                raise parking.park(record.id, wait_seconds, functools.partial(self.watch.wait, record.id))
            if time.monotonic() - started >= wait_seconds:
                raise SmevAnswerPending(self.answerer, self.settings.retry_after_seconds)
            time.sleep(min(self.settings.store_poll_seconds, max(0.0, wait_seconds - (time.monotonic() - started))))
            record = self.journal.get(record.id) or record

    def send_pending(self, exchange_id: str) -> bool:
        """Send (again, under its MessageID) a request nobody is sending now. True when this call sent it.

        A transient failure leaves it ``sending`` for a later claim (the runner, or the next press);
        a refusal only ops can fix makes it dead and is raised.
        """
        now = self.clock()
        sealed = self.journal.claim(exchange_id, now, timedelta(seconds=self.settings.send_lease_seconds))
        if sealed is None:
            return False
        record = self.journal.get(exchange_id)
        assert record is not None
        content = etree.fromstring(self.sealer.open(sealed)["content"].encode(), _PARSER)
        try:
            sent = self.client.send_request(content, record.message_id)
        except (SmevTemporaryFailure, DeliveryError, AnswerRefused) as exc:
            error = exc.fault if isinstance(exc, SmevFault) else type(exc).__name__
            self.journal.postpone(exchange_id, self.clock() + timedelta(seconds=self.settings.resend_pause_seconds),
                                  error)
            SMEV_SENDS.labels(record.kind, "retry").inc()
            _log.warning("smev.send_postponed", kind=record.kind, exchange=exchange_id,
                         message_id=record.message_id, error=error)
            return False
        except SmevFault as fault:
            self.journal.dead(exchange_id, self.clock(), fault.fault)
            SMEV_SENDS.labels(record.kind, "dead").inc()
            SMEV_DEAD.labels(record.kind, fault.fault).inc()
            _log.error("smev.send_refused", kind=record.kind, exchange=exchange_id, message_id=record.message_id,
                       fault=fault.fault)
            raise
        self.journal.sent(exchange_id, self.clock(), sent.status)
        SMEV_SENDS.labels(record.kind, "already-sent" if sent.already_sent else "sent").inc()
        _log.info("smev.sent", kind=record.kind, exchange=exchange_id, message_id=record.message_id,
                  already_sent=sent.already_sent, attempt=record.attempts)
        return True

    # ------------------------------------------------------------------ sealed contents

    def _seal_request(self, content: etree._Element) -> bytes:
        return self.sealer.seal({"content": etree.tostring(content, encoding="unicode")})

    def seal_answer(self, answer: dict[str, Any]) -> bytes:
        return self.sealer.seal(answer)

    def _answer(self, record: ExchangeRecord) -> SmevAnswer:
        sealed = self.journal.answer_of(record.id)
        if sealed is None:  # pragma: no cover - answered rows always hold their answer
            raise RuntimeError("answered exchange without its answer")
        value = self.sealer.open(sealed)
        content = None if value.get("content") is None else etree.fromstring(value["content"].encode(), _PARSER)
        return SmevAnswer(message_id=str(value["message_id"]), original_message_id=record.message_id,
                          content=content, rejected=bool(value.get("rejected")),
                          status_code=value.get("status_code"), description=value.get("description"),
                          exchange_id=record.id)

    def _failed(self, record: ExchangeRecord) -> SmevExchangeFailed:
        error = record.error or "unknown"
        if error == "no-answer":
            hours = max(1, round(self.settings.dead_after_seconds / 3600))
            text = (f"Ответ {self.answerer} не пришёл за {hours} ч; запрос считается потерянным. "
                    f"Администратору: bridge smev show {record.id}.")
        elif error in MAY_HAVE_REACHED:
            text = (f"СМЭВ отклонил повтор запроса как устаревший ({error}); запрос мог дойти до получателя, "
                    f"новый не отправлен. Администратору: bridge smev show {record.id}.")
        else:
            text = (f"СМЭВ не принял запрос ({error}); это нужно исправить администратору шлюза "
                    f"(bridge smev show {record.id}). Повторное нажатие отправит запрос заново.")
        return SmevExchangeFailed(text, error)


def _request_note(kind: str, content: etree._Element) -> str:
    """What a parked call notes a request under: its kind and a digest of its canonical content."""
    return f"smev:{kind}:" + hashlib.sha256(etree.tostring(content, method="c14n")).hexdigest()
