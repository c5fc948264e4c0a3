"""The СМЭВ transform ``urn://smev-gov-ru/xmldsig/transform``: the 8 rules of the СМЭВ 3 methodology.

It runs after exclusive c14n, on its octets, and its output is what the digest is taken of. The
behaviour follows the reference implementation (``ru.voskhod.crypto.impl.SmevTransformSpi``, a StAX
event loop over the JDK's reader and writer):

1. the XML declaration, processing instructions and comments are dropped;
2. a text block that is only whitespace (after Java's ``String.trim``: every char ``<= U+0020``) is
   dropped; any other text is kept as it is, untrimmed;
3. an element without content is written ``<a></a>``, never ``<a/>``;
4. namespace declarations are not copied; only the ones rule 5 needs are written (unused ones vanish);
5. an element's namespace is declared on it when no ancestor of the *output* declares it;
6. prefixes are ``ns1``, ``ns2``… in order of first need within the fragment; a URI already mapped
   by an ancestor reuses its prefix (siblings may therefore each get a new one);
7. attributes are sorted: qualified ones first, by namespace URI then local name, then unqualified
   ones by local name (Java ``String.compareTo``: UTF-16 code units);
8. declarations come before attributes: the element's namespace first, then the attributes'
   namespaces in the sorted attribute order.

The JDK writer escapes ``& < >`` in text and ``& < > "`` in attribute values; nothing else. An element
in no namespace gets a prefix bound to the empty URI (``xmlns:ns1=""``), as the reference writes it.
The published vectors are in tests/unit/test_smev_transform.py.
"""

from __future__ import annotations

from lxml import etree

__all__ = ["ALGORITHM", "SmevTransformError", "smev_transform", "smev_transform_element"]

ALGORITHM = "urn://smev-gov-ru/xmldsig/transform"

# Comments and processing instructions stay in the tree, to be skipped: text on either side of one is two
# text events in StAX, each judged blank or not on its own.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class SmevTransformError(ValueError):
    """The octets are not well-formed XML (the reference raises ``TransformationException``)."""


def _is_blank(text: str) -> bool:
    # Java String.trim() strips every char <= U+0020 from both ends.
    return all(ch <= " " for ch in text)


def _escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_attribute(value: str) -> str:
    return _escape_text(value).replace('"', "&quot;")


def _sort_key(name: str) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    qname = etree.QName(name)
    namespace = qname.namespace or ""
    # Java compares UTF-16 code units; encode to compare the same way for characters beyond the BMP.
    local = tuple(memoryview(qname.localname.encode("utf-16-be")).cast("H"))
    if namespace:
        return 0, tuple(memoryview(namespace.encode("utf-16-be")).cast("H")), local
    return 1, (), local


class _Writer:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.stack: list[list[tuple[str, str]]] = []
        self.counter = 1

    def find_prefix(self, uri: str) -> str | None:
        for mappings in self.stack:
            for prefix, mapped in mappings:
                if mapped == uri:
                    return prefix
        return None

    def new_prefix(self, uri: str) -> str:
        prefix = f"ns{self.counter}"
        self.counter += 1
        self.stack[-1].append((prefix, uri))
        return prefix

    def text(self, text: str | None) -> None:
        if text and not _is_blank(text):
            self.parts.append(_escape_text(text))

    def element(self, element: etree._Element) -> None:
        self.stack.append([])
        qname = etree.QName(element)
        uri = qname.namespace or ""
        prefix = self.find_prefix(uri) or self.new_prefix(uri)
        attributes: list[str] = []
        names = [str(name) for name in element.attrib]
        for name in sorted(names, key=_sort_key):
            value = _escape_attribute(str(element.attrib[name]))
            attribute = etree.QName(name)
            if attribute.namespace:
                attribute_prefix = self.find_prefix(attribute.namespace) or self.new_prefix(attribute.namespace)
                attributes.append(f' {attribute_prefix}:{attribute.localname}="{value}"')
            else:
                attributes.append(f' {attribute.localname}="{value}"')
        declarations = "".join(f' xmlns:{p}="{_escape_attribute(u)}"' for p, u in self.stack[-1])
        self.parts.append(f"<{prefix}:{qname.localname}{declarations}{''.join(attributes)}>")
        self.text(element.text)
        for child in element:
            if isinstance(child.tag, str):
                self.element(child)
            # comments and processing instructions are dropped; their tails are text of their own
            self.text(child.tail)
        self.parts.append(f"</{prefix}:{qname.localname}>")
        self.stack.pop()


def smev_transform_element(element: etree._Element) -> bytes:
    """The transform of one element's subtree (its tail excluded), UTF-8."""
    writer = _Writer()
    writer.element(element)
    return "".join(writer.parts).encode("utf-8")


def smev_transform(octets: bytes) -> bytes:
    """The transform of an XML document or fragment given as octets (what follows exc-c14n), UTF-8."""
    try:
        root = etree.fromstring(octets, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SmevTransformError(f"{ALGORITHM}: input is not well-formed XML ({exc.msg})") from None
    return smev_transform_element(root)
