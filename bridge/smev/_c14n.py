"""Exclusive XML canonicalisation 1.0 (``http://www.w3.org/2001/10/xml-exc-c14n#``) of one element.

libxml2's implementation through lxml: the element's subtree as a node set within its document, so
only the namespaces it visibly uses are rendered (on the apex), whatever its ancestors declare.
Comments are dropped (a same-document ``#id`` reference is a node set without comments).
"""

from __future__ import annotations

from collections.abc import Sequence

from lxml import etree

__all__ = ["EXCLUSIVE_C14N", "INCLUSIVE_C14N", "canonicalize"]

EXCLUSIVE_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
INCLUSIVE_C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"


def canonicalize(
    element: etree._Element, *, exclusive: bool = True, inclusive_prefixes: Sequence[str] = ()
) -> bytes:
    """The canonical octets of ``element``'s subtree (its tail excluded)."""
    return etree.tostring(
        element,
        method="c14n",
        exclusive=exclusive,
        with_comments=False,
        inclusive_ns_prefixes=list(inclusive_prefixes) or None,
    )
