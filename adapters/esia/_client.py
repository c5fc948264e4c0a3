"""ЕСИА's account operations over СМЭВ 3: the registration service's kinds of information.

``AccountOperations`` is what the patient accounts need: find, register, confirm, recover.
``SmevAccountOperations`` sends each as its kind of information (``_reg_service``) through the core's
СМЭВ exchange (``bridge.smev``: signed SendRequest, the answer polled, stored, acknowledged) and reads
the answer around ``status`` + ``errorStatusInfo`` (docs/esia-accounts.md has the assumptions).

The exchange is named by a protocol here, so this module depends only on the agreed
``send_and_wait(kind=, business_key=, content=, wait_seconds=)`` and nothing else of the core's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from lxml import etree

from adapters.esia._reg_service import (
    CONFIRM,
    FIND_ACCOUNT,
    RECOVER,
    REGISTER,
    REGISTER_BY_SIMPLIFIED,
    SUCCEEDED,
    VALIDATING,
    AnswerUnreadable,
    ErrorInfo,
    RegServiceAnswer,
    build_request,
    parse_answer,
)

KINDS = (FIND_ACCOUNT, REGISTER, CONFIRM, REGISTER_BY_SIMPLIFIED, RECOVER)
CITIZENSHIP = "RUS"          # the contract's patients are citizens of the Russian Federation
PASSWORD_MODE = "mobile"     # ЕСИА sends the password to the patient's mobile phone
DOCUMENT_TYPE = "RF_PASSPORT"
TRUSTED = "trusted"          # stuType: the confirmed («подтверждённая») account


class AnswerLike(Protocol):
    @property
    def content(self) -> etree._Element | None: ...
    @property
    def rejected(self) -> bool: ...
    @property
    def status_code(self) -> str | None: ...
    @property
    def description(self) -> str | None: ...


class Exchange(Protocol):
    """What the core's ``bridge.smev.SmevExchange`` offers an adapter."""

    def send_and_wait(self, *, kind: str, business_key: str, content: etree._Element,
                      wait_seconds: float) -> AnswerLike: ...

    def register_kind(self, kind: str, *, root_element: str | None = None,
                      is_final: Callable[[etree._Element], bool] | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class EsiaAccount:
    oid: str
    stu: str | None                   # trusted / verified / unverified / readytoconfirm, when ЕСИА says
    matches: frozenset[str]           # which of the sent identifiers matched: snils, mobile, email, idoc

    @property
    def trusted(self) -> bool | None:
        return None if self.stu is None else self.stu == TRUSTED


class AccountOperationFailed(Exception):
    """ЕСИА finished the operation with VALIDATION_FAILED / CONFIRMATION_FAILED / FAULT."""

    def __init__(self, status: str, errors: tuple[ErrorInfo, ...]) -> None:
        codes = ", ".join(e.code for e in errors if e.code) or "no code"
        super().__init__(f"{status} ({codes})")
        self.status = status
        self.errors = errors

    @property
    def code(self) -> str:
        return next((e.code for e in self.errors if e.code), self.status)

    @property
    def text(self) -> str:
        return next((e.message for e in self.errors if e.message), "")


class AccountRequestInvalid(Exception):
    """СМЭВ rejected the request (RequestRejected): ЕСИА never looked at it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.text = message


class AccountAnswerUnreadable(Exception):
    """An answer that is not the kind's response: refused, counted and logged by the caller."""


class OperationStillRunning(Exception):
    """ЕСИА answered VALIDATING: the checks in the state registers are not finished."""


class AccountOperations(Protocol):
    def find(self, person: Mapping[str, Any], business_key: str) -> EsiaAccount | None: ...

    def register(self, person: Mapping[str, Any], business_key: str) -> str: ...

    def confirm(self, oid: str, person: Mapping[str, Any], business_key: str) -> None: ...

    def register_by_simplified(self, oid: str, person: Mapping[str, Any], business_key: str) -> None: ...

    def recover(self, person: Mapping[str, Any], business_key: str) -> None: ...

    def content(self, kind: str, person: Mapping[str, Any], oid: str | None = None) -> etree._Element: ...


@dataclass(frozen=True, slots=True)
class Routing:
    """The ЦО (service centre) context every request carries."""

    routing_code: str
    operator_snils: str = field(repr=False)
    ra: int


def is_final(content: etree._Element) -> bool:
    """Whether an answer is the operation's result (anything but an interim VALIDATING)."""
    for child in content:
        if isinstance(child.tag, str) and etree.QName(child).localname == "status":
            return (child.text or "").strip() != VALIDATING
    return True


class SmevAccountOperations:
    def __init__(self, exchange: Exchange, routing: Routing, wait_seconds: float) -> None:
        self._exchange = exchange
        self._routing = routing
        self._wait = wait_seconds
        for kind in KINDS:
            # GetResponse selects by the kind's namespace only: a RequestRejected has no content, so a
            # selector naming the response root would never fetch it. A VALIDATING answer is interim: the
            # exchange acknowledges it and waits on for the final one.
            exchange.register_kind(kind, is_final=is_final)

    def content(self, kind: str, person: Mapping[str, Any], oid: str | None = None) -> etree._Element:
        """The request of ``kind`` for ``person`` (mapping-shaped); :raises ContentInvalid:."""
        values: dict[str, Any] = {
            "RoutingCode": self._routing.routing_code,
            "SnilsOperator": self._routing.operator_snils,
            "ra": self._routing.ra,
            **person,
            "citizenship": CITIZENSHIP,
            "mode": PASSWORD_MODE,
        }
        doc = person.get("doc")
        if isinstance(doc, Mapping) and doc:
            values["doc"] = {"type": DOCUMENT_TYPE, **doc}
        if oid is not None:
            values["oid"] = oid
        return build_request(kind, values)

    def find(self, person: Mapping[str, Any], business_key: str) -> EsiaAccount | None:
        answer = self._run(FIND_ACCOUNT, self.content(FIND_ACCOUNT, person), business_key)
        if answer.oid is None:
            return None
        return EsiaAccount(answer.oid, answer.stu, frozenset(answer.matches))

    def register(self, person: Mapping[str, Any], business_key: str) -> str:
        answer = self._run(REGISTER, self.content(REGISTER, person), business_key)
        if answer.oid is None:
            raise AccountAnswerUnreadable("ESIARegisterResponse SUCCEEDED without oid")
        return answer.oid

    def confirm(self, oid: str, person: Mapping[str, Any], business_key: str) -> None:
        self._run(CONFIRM, self.content(CONFIRM, person, oid), business_key)

    def register_by_simplified(self, oid: str, person: Mapping[str, Any], business_key: str) -> None:
        self._run(REGISTER_BY_SIMPLIFIED, self.content(REGISTER_BY_SIMPLIFIED, person, oid), business_key)

    def recover(self, person: Mapping[str, Any], business_key: str) -> None:
        self._run(RECOVER, self.content(RECOVER, person), business_key)

    def _run(self, kind: str, content: etree._Element, business_key: str) -> RegServiceAnswer:
        answer = self._exchange.send_and_wait(kind=kind, business_key=business_key, content=content,
                                              wait_seconds=self._wait)
        if answer.rejected or answer.content is None:
            raise AccountRequestInvalid(answer.status_code or "REJECTED", answer.description or "")
        try:
            parsed = parse_answer(kind, answer.content)
        except AnswerUnreadable as exc:
            raise AccountAnswerUnreadable(str(exc)) from None
        if parsed.status == VALIDATING:
            raise OperationStillRunning(kind)
        if parsed.status != SUCCEEDED:
            raise AccountOperationFailed(parsed.status, parsed.errors)
        return parsed
