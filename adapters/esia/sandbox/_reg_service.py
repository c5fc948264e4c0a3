"""ЕСИА's registration service (reg_service) as it answers behind the sandbox СМЭВ.

One provider per kind of information (``urn://mincomsvyaz/esia/reg_service/<kind>/1.4.1``), all over
one :class:`AccountStore` (one account per SNILS). The request reached us valid against the kind's
schema (the node checks it, adapters/esia/schemas); what is checked here is what ЕСИА checks behind the
schema. Each answer is ``ESIA<Kind>Response`` with ``status`` and, on failure, ``errorStatusInfo``
(commons rg_sevices_types 1.4.1: VALIDATING, VALIDATION_FAILED, CONFIRMATION_FAILED, SUCCEEDED, FAULT).
VALIDATING is the state while the answer waits (``delay_seconds``: ЕСИА checks the data in БГИР, СФР,
МВД; a realistic few seconds, 0 for benchmarks); the answer СМЭВ delivers carries the final status.

What is ours, not ЕСИА's (no public answer schema or error list; docs/esia-accounts.md):
* the REG-* codes in ``errorStatusInfo``;
* find_account: found by SNILS, else by the one account with the sent mobile, e-mail or passport;
  ``matches`` lists the sent identifiers equal to the stored ones, so a caller sees a mismatch in what
  it sent; names are not compared; not found = SUCCEEDED without ``oid``;
* register / recover send the password to the phone (``mode`` mobile) or e-mail: it never travels in
  the answer. The sandbox keeps what it "sent" (:attr:`RegService.outbox`) for demos and tests;
* a ``RoutingCode`` of PROD is refused (RequestRejected ACCESS_DENIED): this is a test environment.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lxml import etree

from adapters.esia.sandbox._accounts import AccountStore, DuplicateSnils, new_password
from adapters.esia.schemas import COMMONS_NS, KINDS, schema
from bridge.identifiers import snils_checksum_ok
from bridge.smev.sandbox import ProviderAnswer

__all__ = ["ERRORS", "KIND_NAMES", "RegService", "SentPassword"]

_BASE = "urn://mincomsvyaz/esia/reg_service/{}/1.4.1"
KIND_NAMES = {"find_account": "ESIAFindAccount", "register": "ESIARegister",
              "register_by_simplified": "ESIARegisterBySimplified", "recover": "ESIARecover", "confirm": "ESIAConfirm"}

_WRITES = frozenset({"register", "register_by_simplified", "confirm"})

ERRORS = {
    "REG-002": "Неверный формат параметра",
    "REG-010": "Учетная запись с указанным СНИЛС уже зарегистрирована",
    "REG-011": "Учетная запись не найдена",
    "REG-012": "СНИЛС не соответствует учетной записи",
    "REG-013": "ФИО не соответствует учетной записи",
    "REG-020": "Сведения не подтверждены СФР",
    "REG-500": "Внутренняя ошибка сервиса регистрации",
}


@dataclass(frozen=True)
class SentPassword:
    """What the sandbox "sent" to a person: where, and the first-login password (test data only)."""

    oid: int
    channel: str  # mobile | email
    address: str
    password: str


class _Failed(Exception):
    def __init__(self, status: str, code: str, detail: str = "") -> None:
        super().__init__(code)
        self.status, self.code, self.detail = status, code, detail


def _iso(ddmmyyyy: str) -> str:
    try:
        return datetime.strptime(ddmmyyyy, "%d.%m.%Y").date().isoformat()
    except ValueError:
        raise _Failed("VALIDATION_FAILED", "REG-002", "date") from None


def _same_name(left: str | None, right: str | None) -> bool:
    def norm(value: str | None) -> str:
        return (value or "").strip().casefold().replace("ё", "е")
    return norm(left) == norm(right)


@dataclass
class RegService:
    accounts: AccountStore = field(default_factory=AccountStore)
    delay_seconds: float = 2.0
    unconfirmable_snils: frozenset[str] = frozenset()  # СФР does not confirm them: CONFIRMATION_FAILED
    faulty_snils: frozenset[str] = frozenset()  # ЕСИА fails on them: FAULT
    interim_validating: bool = False  # writes answer VALIDATING at once, then the final status after the delay
    outbox: list[SentPassword] = field(default_factory=list)
    answered: dict[str, int] = field(default_factory=dict)  # "<kind>:<status>" -> count
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ------------------------------------------------------------------ the node's view

    def providers(self) -> dict[str, _Kind]:
        return {_BASE.format(kind): _Kind(self, kind) for kind in KIND_NAMES}

    def schemas(self) -> dict[str, etree.XMLSchema]:
        return {namespace: schema(namespace) for namespace in self.providers() if namespace in KINDS}

    # ------------------------------------------------------------------ answering

    def answer(self, kind: str, request: etree._Element) -> ProviderAnswer:
        namespace = _BASE.format(kind)
        fields = _fields(request, namespace)
        if fields.get("RoutingCode") == "PROD":
            return ProviderAnswer(rejection=("ACCESS_DENIED", "RoutingCode PROD недоступен в тестовой среде ЕСИА"),
                                  delay_seconds=self.delay_seconds)
        handler: Callable[[dict[str, Any]], dict[str, Any]] = getattr(self, f"_{kind}")
        try:
            snils = fields.get("snils")
            if snils is not None and not snils_checksum_ok(re.sub(r"\D", "", snils)):
                raise _Failed("VALIDATION_FAILED", "REG-002", "snils")
            if snils in self.faulty_snils:
                raise _Failed("FAULT", "REG-500")
            with self.accounts.lock:
                result = {"status": "SUCCEEDED", **handler(fields)}
        except _Failed as failure:
            message = ERRORS[failure.code] + (f": {failure.detail}" if failure.detail else "")
            result = {"status": failure.status, "errorStatusInfo": [{"Code": failure.code, "Message": message}]}
        with self._lock:
            key = f"{kind}:{result['status']}"
            self.answered[key] = self.answered.get(key, 0) + 1
        final = ProviderAnswer(content=_response(namespace, KIND_NAMES[kind], result), delay_seconds=self.delay_seconds)
        if not self.interim_validating or kind not in _WRITES:
            return final
        interim = {"status": "VALIDATING", **({"requestId": result["requestId"]} if "requestId" in result else {})}
        return ProviderAnswer(content=_response(namespace, KIND_NAMES[kind], interim), then=final)

    def _find_account(self, f: dict[str, Any]) -> dict[str, Any]:
        sent = {"snils": f.get("snils"), "mobile": f.get("mobile"), "email": f.get("email"),
                "idoc": f.get("doc.number")}
        account = self.accounts.by_snils(sent["snils"]) if sent["snils"] else None
        for column, name in (("mobile", "mobile"), ("email", "email"), ("docNumber", "idoc")):
            value = sent[name]
            if account is None and value:
                found = self.accounts.search(column, value)
                account = found[0] if len(found) == 1 else None  # several people share it: not an answer
        if account is None:
            return {}
        stored = {"snils": account.get("snils"), "mobile": account.get("mobile"), "email": account.get("email"),
                  "idoc": account.get("docNumber")}
        matches = [name for name, value in sent.items() if value and value == stored[name]
                   and (name != "idoc" or (account.get("docSeries") or "") == (f.get("doc.series") or ""))]
        return {"oid": account["oid"], "stu": "trusted" if account["trusted"] else "verified", "matches": matches}

    def _register(self, f: dict[str, Any]) -> dict[str, Any]:
        if f.get("snils") is None:
            raise _Failed("VALIDATION_FAILED", "REG-002", "snils")
        if self.accounts.by_snils(f["snils"]) is not None:
            raise _Failed("VALIDATION_FAILED", "REG-010")
        if f["snils"] in self.unconfirmable_snils:
            raise _Failed("CONFIRMATION_FAILED", "REG-020")
        password = new_password()
        try:
            oid = self.accounts.create(_account(f), password)
        except DuplicateSnils:
            raise _Failed("VALIDATION_FAILED", "REG-010") from None
        self._send(oid, f, password)
        return {"oid": oid, "requestId": f"reg-{oid}"}

    def _owned(self, f: dict[str, Any]) -> dict[str, Any]:
        account = self.accounts.by_oid(int(f["oid"])) if str(f.get("oid", "")).isdigit() else None
        if account is None and f.get("snils"):
            account = self.accounts.by_snils(f["snils"])
        if account is None:
            raise _Failed("VALIDATION_FAILED", "REG-011")
        if f.get("snils") and account["snils"] != f["snils"]:
            raise _Failed("VALIDATION_FAILED", "REG-012")
        return account

    def _register_by_simplified(self, f: dict[str, Any]) -> dict[str, Any]:
        account = self._owned(f)
        if account["snils"] in self.unconfirmable_snils:
            raise _Failed("CONFIRMATION_FAILED", "REG-020")
        self.accounts.update(account["oid"], _account(f), trusted=True)
        return {"oid": account["oid"]}

    def _confirm(self, f: dict[str, Any]) -> dict[str, Any]:
        account = self._owned(f)
        if account["snils"] in self.unconfirmable_snils:
            raise _Failed("CONFIRMATION_FAILED", "REG-020")
        self.accounts.update(account["oid"], _account(f), trusted=True)
        return {"oid": account["oid"], "requestId": f"cfm-{account['oid']}"}

    def _recover(self, f: dict[str, Any]) -> dict[str, Any]:
        account = self._owned(f)
        if not all(_same_name(account.get(n), f.get(n)) for n in ("lastName", "firstName", "middleName")):
            raise _Failed("VALIDATION_FAILED", "REG-013")
        password = new_password()
        self.accounts.set_password(account["oid"], password)
        self._send(account["oid"], {**account, "mode": f.get("mode")}, password)  # the STORED contact, not the sent
        return {"oid": account["oid"]}

    def _send(self, oid: int, f: dict[str, Any], password: str) -> None:
        channel = "email" if f.get("mode") == "email" and f.get("email") else "mobile"
        with self._lock:
            self.outbox.append(SentPassword(oid, channel, str(f.get(channel) or ""), password))


class _Kind:
    """One kind of information as a node :class:`~bridge.smev.sandbox.Provider`."""

    def __init__(self, service: RegService, kind: str) -> None:
        self.service, self.kind = service, kind

    def answer(self, content: etree._Element) -> ProviderAnswer:
        return self.service.answer(self.kind, content)


def _fields(request: etree._Element, namespace: str) -> dict[str, Any]:
    """The request's children by local name; ``doc`` and ``address`` children as ``doc.<name>``."""
    fields: dict[str, Any] = {}
    for child in request:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child).localname
        if len(child):
            for grandchild in child:
                if isinstance(grandchild.tag, str):
                    fields.setdefault(f"{name}.{etree.QName(grandchild).localname}", (grandchild.text or "").strip())
        else:
            fields.setdefault(name, (child.text or "").strip())
    return fields


def _account(f: dict[str, Any]) -> dict[str, Any]:
    account = {name: f[name] for name in ("snils", "lastName", "firstName", "middleName", "gender", "mobile", "email")
               if f.get(name)}
    if f.get("birthDate"):
        account["birthDate"] = _iso(f["birthDate"])
    if f.get("doc.number"):
        account["docSeries"], account["docNumber"] = f.get("doc.series"), f["doc.number"]
    return account


def _response(namespace: str, root: str, result: dict[str, Any]) -> etree._Element:
    """``ESIA<Kind>Response`` in the order of the published register response: status, oid, the kind's own
    elements, errorStatusInfo."""
    response = etree.Element(f"{{{namespace}}}{root}Response", nsmap={"tns": namespace, "ns2": COMMONS_NS})

    def add(name: str, text: str) -> etree._Element:
        element = etree.SubElement(response, f"{{{namespace}}}{name}")
        element.text = text
        return element

    add("status", result["status"])
    if "oid" in result:
        add("oid", str(result["oid"]))
    for name in ("requestId", "stu"):
        if name in result:
            add(name, str(result[name]))
    if result.get("matches"):
        matches = etree.SubElement(response, f"{{{namespace}}}matches")
        for match in result["matches"]:
            etree.SubElement(matches, f"{{{COMMONS_NS}}}match").text = match
    for error in result.get("errorStatusInfo", ()):
        info = etree.SubElement(response, f"{{{namespace}}}errorStatusInfo")
        etree.SubElement(info, f"{{{COMMONS_NS}}}Code").text = error["Code"]
        etree.SubElement(info, f"{{{COMMONS_NS}}}Message").text = error["Message"]
    return response
