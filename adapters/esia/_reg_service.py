"""The ЕСИА registration service's kinds of information (виды сведений) as XML: requests out, answers in.

A request is built from a plain dict (what the ``esia.account`` mapping produced, plus the service
centre's triple) by walking the kind's XSD sequence, so the element order is the schema's and a field
the kind does not have is simply not sent (find_account's ``doc`` has no issue date, for instance).
Built content is validated against the schema before it leaves: a missing required element is the
caller's mistake and is named by its path (``doc/number``).

Answers are parsed defensively (their schemas are not public, docs/esia-accounts.md): only ``status``,
``oid``, ``stu``, ``matches``, ``requestId``, ``warning`` and ``errorStatusInfo`` are read, by local name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

from adapters.esia.schemas import COMMONS_NS, KINDS, schema

_XS = "http://www.w3.org/2001/XMLSchema"
_SCHEMAS = Path(__file__).parent / "schemas"
_BASE = "urn://mincomsvyaz/esia/reg_service/"

FIND_ACCOUNT = _BASE + "find_account/1.4.1"
REGISTER = _BASE + "register/1.4.1"
CONFIRM = _BASE + "confirm/1.4.1"
RECOVER = _BASE + "recover/1.4.1"
REGISTER_BY_SIMPLIFIED = _BASE + "register_by_simplified/1.4.1"

#: kind -> (request root, response root)
ROOTS: dict[str, tuple[str, str]] = {
    FIND_ACCOUNT: ("ESIAFindAccountRequest", "ESIAFindAccountResponse"),
    REGISTER: ("ESIARegisterRequest", "ESIARegisterResponse"),
    CONFIRM: ("ESIAConfirmRequest", "ESIAConfirmResponse"),
    RECOVER: ("ESIARecoverRequest", "ESIARecoverResponse"),
    REGISTER_BY_SIMPLIFIED: ("ESIARegisterBySimplifiedRequest", "ESIARegisterBySimplifiedResponse"),
}

SUCCEEDED, VALIDATING = "SUCCEEDED", "VALIDATING"
FAILED_STATUSES = frozenset({"VALIDATION_FAILED", "CONFIRMATION_FAILED", "FAULT"})


class ContentInvalid(ValueError):
    """Built content the kind's schema refuses; ``path`` names the element (``doc/number``)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class AnswerUnreadable(ValueError):
    """An answer that is not the kind's response (wrong root, no status, unknown status)."""


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class RegServiceAnswer:
    status: str
    oid: str | None = None
    stu: str | None = None                        # trusted / verified / unverified / readytoconfirm
    matches: tuple[str, ...] = ()                 # snils / mobile / email / idoc
    request_id: str | None = None
    warning: str | None = field(default=None, repr=False)
    errors: tuple[ErrorInfo, ...] = ()


# --- the shape of a kind, read from its XSD ------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Element:
    name: str
    namespace: str
    repeated: bool
    required: bool
    children: tuple[_Element, ...] | None  # None for a simple type


@cache
def _commons_types() -> dict[str, etree._Element]:
    tree = etree.parse(str(_SCHEMAS / "commons" / "rg_services_type.xsd"))
    return {str(t.get("name")): t for t in tree.getroot().iterfind(f"{{{_XS}}}complexType")}


def _sequence(complex_type: etree._Element, namespace: str, local: dict[str, etree._Element]) -> tuple[_Element, ...]:
    elements = []
    for xs_element in complex_type.iterfind(f"{{{_XS}}}sequence/{{{_XS}}}element"):
        prefix, _, type_name = str(xs_element.get("type", "")).rpartition(":")
        nested: etree._Element | None
        if prefix == "tns":
            nested = local.get(type_name)
        elif prefix and prefix != "xs":
            nested = _commons_types().get(type_name)
        else:
            nested = None
        children = None if nested is None else _sequence(nested, namespace, local)
        elements.append(_Element(str(xs_element.get("name")), namespace, xs_element.get("maxOccurs", "1") != "1",
                                 xs_element.get("minOccurs", "1") != "0", children))
    return tuple(elements)


@cache
def request_shape(kind: str) -> tuple[_Element, ...]:
    """The request root's children, in schema order (nested types expanded)."""
    root = etree.parse(str(_SCHEMAS / KINDS[kind])).getroot()
    local = {str(t.get("name")): t for t in root.iterfind(f"{{{_XS}}}complexType")}
    request = ROOTS[kind][0]
    type_name = str(root.find(f"{{{_XS}}}element[@name='{request}']").get("type")).rpartition(":")[2]  # type: ignore[union-attr]
    return _sequence(local[type_name], kind, local)


# --- requests --------------------------------------------------------------------------------------

def _present(value: Any) -> bool:
    return value is not None and str(value).strip() != ""


def _fill(parent: etree._Element, shape: tuple[_Element, ...], values: Mapping[str, Any], commons: bool) -> None:
    for element in shape:
        value = values.get(element.name)
        items = value if isinstance(value, list) else [value]
        for item in items if element.repeated else items[:1]:
            # children of a commons complex type are in the commons namespace (elementFormDefault qualified)
            child_ns = COMMONS_NS if commons else element.namespace
            if element.children is not None:
                if isinstance(item, Mapping) and any(_present(v) for v in item.values()):
                    node = etree.SubElement(parent, f"{{{child_ns}}}{element.name}")
                    _fill(node, element.children, item, commons=True)
            elif _present(item):
                etree.SubElement(parent, f"{{{child_ns}}}{element.name}").text = str(item).strip()


def build_request(kind: str, values: Mapping[str, Any]) -> etree._Element:
    """The request root of ``kind`` with ``values`` in schema order; :raises ContentInvalid:."""
    nsmap: dict[str | None, str] = {None: kind, "c": COMMONS_NS}
    root = etree.Element(f"{{{kind}}}{ROOTS[kind][0]}", nsmap=nsmap)  # type: ignore[arg-type]  # None: default ns
    _fill(root, request_shape(kind), values, commons=False)
    check_content(kind, root)
    return root


def check_content(kind: str, content: etree._Element) -> None:
    xsd = schema(kind)
    if xsd.validate(content):
        return
    error = xsd.error_log.last_error  # type: ignore[attr-defined]  # lxml-stubs lack it
    element = content
    if error is not None and error.path:
        prefixes = {prefix: uri for prefix, uri in content.nsmap.items() if prefix}
        try:
            found = content.getroottree().xpath(error.path, namespaces=prefixes)
        except etree.XPathError:
            found = []
        if isinstance(found, list) and found and isinstance(found[0], etree._Element):
            element = found[0]
    names = [etree.QName(e).localname for e in reversed(list(element.iterancestors())) if e is not content]
    if element is not content:
        names.append(etree.QName(element).localname)
    message = error.message if error is not None else ""
    expected = _expected(message)
    if expected:
        if "Missing child" not in message and names:
            names.pop()  # "This element is not expected. Expected is (doc)": doc is missing before it
        names.append(_first_required(request_shape(kind), names, expected))
        reason = "обязательный элемент не заполнен"
    else:
        # lxml's text quotes the value, which may be personal data: never pass it on
        reason = "значение не соответствует формату вида сведений"
    raise ContentInvalid("/".join(names) or ROOTS[kind][0], reason)


def _expected(message: str) -> list[str]:
    """The names lxml lists in "... Expected is ( {ns}a )" / "Expected is one of ( {ns}a, {ns}b )"."""
    if "Expected is" not in message:
        return []
    inside = message.split("Expected is", 1)[1].split("(", 1)[-1].split(")", 1)[0]
    return [name.strip().rsplit("}", 1)[-1] for name in inside.split(",") if name.strip()]


def _first_required(shape: tuple[_Element, ...], parents: list[str], expected: list[str]) -> str:
    for name in parents:
        found = next((e for e in shape if e.name == name and e.children is not None), None)
        if found is None or found.children is None:
            return expected[0]
        shape = found.children
    required = {e.name for e in shape if e.required}
    return next((name for name in expected if name in required), expected[0])


# --- answers ---------------------------------------------------------------------------------------

def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _text_of(parent: etree._Element, name: str) -> str | None:
    for child in parent:
        if _local(child) == name:
            text = (child.text or "").strip()
            return text or None
    return None


def parse_answer(kind: str, content: etree._Element) -> RegServiceAnswer:
    """Read an answer of ``kind``; :raises AnswerUnreadable: when it is not one."""
    expected = ROOTS[kind][1]
    if _local(content) != expected or etree.QName(content).namespace != kind:
        raise AnswerUnreadable(f"expected {expected} of {kind}, got {content.tag!r}")
    status = _text_of(content, "status")
    if status is None or (status not in FAILED_STATUSES and status not in (SUCCEEDED, VALIDATING)):
        raise AnswerUnreadable(f"{expected}: status {status!r} is none of the statusType values")
    matches = tuple(
        (m.text or "").strip()
        for child in content if _local(child) == "matches"
        for m in child if _local(m) == "match" and (m.text or "").strip()
    )
    errors = tuple(
        ErrorInfo(_text_of(child, "Code") or "", _text_of(child, "Message") or "")
        for child in content if _local(child) == "errorStatusInfo"
    )
    return RegServiceAnswer(
        status=status, oid=_text_of(content, "oid"), stu=_text_of(content, "stu"), matches=matches,
        request_id=_text_of(content, "requestId"), warning=_text_of(content, "warning"), errors=errors,
    )
