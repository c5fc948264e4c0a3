"""Per-operation readers and writers compiled at start from the spyne models: spyne's answers, less of its work.

spyne reads a request by walking the document through its protocol's generic handlers (a class
attribute look-up, a handler table and a ``_safe_set`` per element) and writes the answer by building
an lxml tree the same way and serialising it: about a third of the bridge's CPU per CheckPatient
(docs/performance.md). The models do not change while the process runs, so for each operation the
same walk is done once, at start, and kept as plain functions:

- ``read``  the operation element (already schema-validated) → the ``in_message`` instance spyne
            would have made: same classes, same values (``''`` for an empty element, the member's
            default for ``xsi:nil``, unknown elements and comments skipped);
- ``write`` the service's answer → the bytes spyne would have sent: the same envelope head (taken
            from lxml at start), the same element names and prefixes, text escaped as lxml does.

The models stay the contract (the WSDL is generated from them; nothing here is declared twice).
What the compiler does not know (headers, attributes, polymorphism, repeated input members, other
namespaces) makes ``compile_operation`` return None, and that operation keeps spyne's path. At run
time anything unusual in a request or an answer — a processing instruction, an ``xsi:type``, an
attribute named like a member, a value of an unexpected type, a required member left None, a
character XML cannot carry — raises ``NotCompiled`` and spyne handles the call from the start of
its step, so its answer (or its fault) is the one sent. tests/unit/test_soap_fastpath.py runs the
foreign clients' recorded requests and the hostile corpus through both paths and compares.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lxml import etree
from spyne.descriptor import BODY_STYLE_WRAPPED
from spyne.model import ComplexModelBase
from spyne.model.complex import Array
from spyne.model.enum import EnumBase
from spyne.model.primitive import Boolean, Unicode

__all__ = ["NotCompiled", "OperationCodec", "compile_operation"]

_XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSI_NIL, XSI_TYPE = f"{{{_XSI}}}nil", f"{{{_XSI}}}type"
# What lxml refuses in text (XML 1.0 Char production): spyne's answer would be a Server fault.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_MARK = "bridge-codec-mark"

Reader = Callable[[Any], Any]
Writer = Callable[[Any, list[str]], None]


class NotCompiled(Exception):
    """This request or answer is one for spyne's own path."""


class _Unsupported(Exception):
    """A model the compiler does not handle: the operation keeps spyne's path."""


def _escape(text: str) -> str:
    """Text content as lxml writes it (``&``, ``<``, ``>`` and carriage return escaped)."""
    if _NOT_XML.search(text):
        raise NotCompiled("a character XML cannot carry")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


# --- reading --------------------------------------------------------------------------------


def _nil_or_typed(element: Any, default: Any) -> tuple[bool, Any]:
    """spyne's from_element before its handler: xsi:nil gives the default; an xsi:type is spyne's to read."""
    if element.get(XSI_NIL):  # spyne: bool(element.get(XSI('nil'))), so any non-empty value
        return True, default
    if element.get(XSI_TYPE) is not None:
        raise NotCompiled("xsi:type")
    return False, None


def _string_reader(default: Any) -> Reader:
    def read(element: Any) -> Any:
        if element.attrib:
            nil, value = _nil_or_typed(element, default)
            if nil:
                return value
        text = element.text
        return "" if text is None else text

    return read


def _complex_reader(protocol: Any, cls: Any, default: Any) -> Reader:
    if cls._type_info_alt or getattr(cls, "__extends__", None) is not None:
        raise _Unsupported("aliases or inheritance")
    members: dict[str, Reader] = {}
    for key, member in cls.get_flat_type_info(cls).items():
        attrs = protocol.get_cls_attrs(member)
        if attrs.max_occurs > 1 or attrs.read_only:
            raise _Unsupported(f"{key}: repeated or read-only")
        members[key] = _reader(protocol, member)
    make = _instance_maker(cls.__orig__ or cls)

    def read(element: Any) -> Any:
        if element.attrib:
            nil, value = _nil_or_typed(element, default)
            if nil:
                return value
        inst = make()
        for child in element:
            tag = child.tag
            if not isinstance(tag, str):
                if isinstance(child, etree._Comment):
                    continue
                raise NotCompiled("a processing instruction among the members")
            key = tag.split("}", 1)[-1]
            member = members.get(key)
            if member is None:
                continue  # as spyne: an element it does not know is skipped
            if child.attrib and any(name in members for name in child.attrib):
                raise NotCompiled("an attribute named like a member")
            setattr(inst, key, member(child))
        return inst

    return read


def _instance_maker(cls: Any) -> Callable[[], Any]:
    """What ``cls()`` makes, without spyne's ``__init__`` (a default look-up per member: a tenth of a
    CheckPatient's CPU for three objects): its members' values copied from one instance made at start,
    when they are all immutable and no member's default is made by a factory."""
    template = dict(vars(cls()))
    plain = (cls.Attributes._xml_tag_body_as is None and not hasattr(cls, "_sa_class_manager")
             and all(m.Attributes.default_factory is None for m in cls.get_flat_type_info(cls).values())
             and all(v is None or type(v) in (str, int, float, bool) for v in template.values()))
    if not plain:
        return cls  # type: ignore[no-any-return]
    new = object.__new__

    def make() -> Any:
        inst = new(cls)
        inst.__dict__.update(template)
        return inst

    return make


def _reader(protocol: Any, cls: Any) -> Reader:
    default = protocol.get_cls_attrs(cls).default
    if issubclass(cls, Unicode) and protocol.get_cls_attrs(cls).encoding is None:
        return _string_reader(default)
    if issubclass(cls, ComplexModelBase) and not issubclass(cls, Array):
        return _complex_reader(protocol, cls, default)
    raise _Unsupported(cls.__name__)


# --- writing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Names:
    """Element names as lxml writes them under the envelope's namespace declarations."""

    prefixes: dict[str, str]
    used: set[str]

    def tag(self, ns: str | None, name: str) -> tuple[str, str]:
        if ns is None or ns not in self.prefixes:
            raise _Unsupported(f"namespace {ns!r} not declared on the envelope")
        self.used.add(ns)
        qualified = f"{self.prefixes[ns]}:{name}" if self.prefixes[ns] else name
        return f"<{qualified}>", f"</{qualified}>"


def _element(open_tag: str, close_tag: str, inner: Callable[[Any], str | None]) -> Writer:
    empty = open_tag[:-1] + "/>"

    def write(value: Any, out: list[str]) -> None:
        text = inner(value)
        out.append(f"{open_tag}{text}{close_tag}" if text else empty if text is None else f"{open_tag}{close_tag}")

    return write


def _string_text(value: Any) -> str:
    if not isinstance(value, str):
        raise NotCompiled("not a string")
    return _escape(value)


def _boolean_text(value: Any) -> str:
    if not isinstance(value, bool):
        raise NotCompiled("not a bool")
    return "true" if value else "false"


def _members_writer(protocol: Any, cls: Any, names: _Names) -> Callable[[Any, list[str]], None]:
    if getattr(cls, "__extends__", None) is not None:
        raise _Unsupported("inheritance")
    parts: list[tuple[str, bool, int, Writer]] = []
    for key, member in cls._type_info.items():
        attrs = protocol.get_cls_attrs(member)
        if attrs.exc:
            continue
        ns = member.Attributes.sub_ns or cls.get_namespace()
        name = member.Attributes.sub_name or key
        parts.append((key, attrs.max_occurs > 1, attrs.min_occurs, _writer(protocol, member, ns, name, names)))

    def write(inst: Any, out: list[str]) -> None:
        for key, repeated, min_occurs, member in parts:
            value = getattr(inst, key, None)
            if value is None:
                if min_occurs > 0:
                    raise NotCompiled("a required member is None")  # spyne writes xsi:nil
                continue
            if repeated:
                if not isinstance(value, (list, tuple)):
                    raise NotCompiled("a repeated member that is not a list")
                for item in value:
                    if item is None:
                        raise NotCompiled("None in a list")
                    member(item, out)
            else:
                member(value, out)

    return write


def _writer(protocol: Any, cls: Any, ns: str | None, name: str, names: _Names) -> Writer:
    attrs = protocol.get_cls_attrs(cls)
    if attrs.sub_name is not None or attrs.sub_ns is not None or attrs.default is not None:
        raise _Unsupported(f"{name}: renamed or defaulted")
    open_tag, close_tag = names.tag(ns, name)
    if issubclass(cls, EnumBase) or (issubclass(cls, Unicode) and attrs.encoding is None):
        return _element(open_tag, close_tag, _string_text)
    if issubclass(cls, Boolean):
        return _element(open_tag, close_tag, _boolean_text)
    if issubclass(cls, Array):
        ((item_name, item_cls),) = cls._type_info.items()
        item = _writer(protocol, item_cls, cls.get_namespace(), item_name, names)

        def items(value: Any) -> str | None:
            if not isinstance(value, (list, tuple)):
                raise NotCompiled("an array that is not a list")
            out: list[str] = []
            for one in value:
                if one is None:
                    raise NotCompiled("None in an array")
                item(one, out)
            return "".join(out) or None

        return _element(open_tag, close_tag, items)
    if issubclass(cls, ComplexModelBase):
        members = _members_writer(protocol, cls, names)
        orig = cls.__orig__ or cls

        def inner(value: Any) -> str | None:
            if not isinstance(value, orig):
                raise NotCompiled("not an instance of the model")
            out: list[str] = []
            members(value, out)
            return "".join(out) or None

        return _element(open_tag, close_tag, inner)
    raise _Unsupported(cls.__name__)


def _envelope_around(protocol: Any, nsmap: dict[str, str], ns: str) -> tuple[bytes, bytes]:
    """The bytes spyne's Soap11 writes before and after the body's element, taken from lxml itself."""
    soap = protocol.ns_soap_env
    envelope = etree.Element(f"{{{soap}}}Envelope", nsmap=nsmap)
    body = etree.Element(f"{{{soap}}}Body")
    etree.SubElement(body, f"{{{ns}}}{_MARK}")
    envelope.append(body)
    if protocol.cleanup_namespaces:
        etree.cleanup_namespaces(envelope)
    written: bytes = etree.tostring(envelope, encoding=protocol.encoding, pretty_print=protocol.pretty_print,
                                    xml_declaration=protocol.xml_declaration)
    head, _mark, tail = re.split(rb"(<[^<>]*" + _MARK.encode() + rb"/>)", written)
    return head, tail


@dataclass(frozen=True)
class OperationCodec:
    """One operation's reader and writer, as spyne would read and write it."""

    read: Reader
    write_body: Writer
    head: bytes
    tail: bytes
    out_keys: tuple[str, ...]

    def write(self, out_object: Any) -> bytes:
        """The whole answer for what the service returned (``ctx.out_object``)."""
        if not isinstance(out_object, (list, tuple)):
            raise NotCompiled("an answer that is not a sequence")
        message = dict(zip(self.out_keys, out_object, strict=False))
        out: list[str] = []
        self.write_body(message, out)
        return self.head + "".join(out).encode() + self.tail


def compile_operation(application: Any, descriptor: Any) -> OperationCodec | None:
    """The operation's codec, or None when spyne's path is the one for it."""
    inp, out = application.in_protocol, application.out_protocol
    try:
        if (descriptor.body_style is not BODY_STYLE_WRAPPED or descriptor.in_header is not None
                or descriptor.out_header is not None or inp.parse_xsi_type is not True
                or out.polymorphic or out.encoding.upper() != "UTF-8"):
            raise _Unsupported("not document/literal wrapped without headers")
        if not inp.replace_null_with_default:
            raise _Unsupported("nil handling")
        read = _complex_reader(inp, descriptor.in_message, None)
        names = _Names({ns: prefix for prefix, ns in application.interface.nsmap.items()}, set())
        message_cls = descriptor.out_message
        ns = message_cls.Attributes.sub_ns or message_cls.get_namespace()
        if ns is None:
            raise _Unsupported("no namespace")
        open_tag, close_tag = names.tag(ns, message_cls.Attributes.sub_name or message_cls.get_type_name())
        members = _members_writer(out, message_cls, names)

        def write_body(message: dict[str, Any], parts: list[str]) -> None:
            inner: list[str] = []
            members(_Values(message), inner)
            parts.append(f"{open_tag}{''.join(inner)}{close_tag}" if inner else open_tag[:-1] + "/>")

        if names.used != {ns}:
            raise _Unsupported("more than one namespace in the answer")
        head, tail = _envelope_around(out, application.interface.nsmap, ns)
    except _Unsupported:
        return None
    return OperationCodec(read, write_body, head, tail, tuple(message_cls._type_info))


class _Values:
    """A dict seen as an object (what getattr in the members' writer reads)."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getattr__(self, key: str) -> Any:
        return self._values.get(key)
