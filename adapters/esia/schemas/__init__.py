"""The ЕСИА registration service's kinds of information (виды сведений) as XML Schemas.

Which files are published and which are reconstructed, and from what: SOURCES.md next to this file.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lxml import etree

_HERE = Path(__file__).parent

COMMONS_NS = "urn://mincomsvyaz/esia/commons/rg_sevices_types/1.4.1"  # the typo "sevices" is real

#: kind of information (its root namespace) -> schema file
KINDS: dict[str, str] = {
    "urn://mincomsvyaz/esia/reg_service/find_account/1.4.1": "esia_rg_find_account.xsd",
    "urn://mincomsvyaz/esia/reg_service/register/1.4.1": "esia_rg_register.xsd",
    "urn://mincomsvyaz/esia/reg_service/register_by_simplified/1.4.1": "esia_rg_register_by_simplified.xsd",
    "urn://mincomsvyaz/esia/reg_service/recover/1.4.1": "esia_rg_recover.xsd",
    "urn://mincomsvyaz/esia/reg_service/confirm/1.4.1": "esia_rg_confirm.xsd",
    "urn://mincomsvyaz/esia/reg_service/register_certificate/1.4.1": "esia_rg_register_certificate.xsd",
}


@cache
def schema(kind: str) -> etree.XMLSchema:
    """The compiled schema of a kind of information; KeyError for a kind we do not know."""
    return etree.XMLSchema(etree.parse(str(_HERE / KINDS[kind])))


__all__ = ["COMMONS_NS", "KINDS", "schema"]
