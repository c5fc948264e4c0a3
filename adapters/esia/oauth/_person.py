"""Person data from ЕСИА's REST API (/rs/prns), gathered into one profile.

ЕСИА returns a person, collections of contacts, addresses and documents (inlined with
``embed``), and children with their own documents. ``profile()`` picks from those lists
what a МИС patient needs (the mobile among the contacts, the OMS policy among the documents)
into flat names; the ``esia.person`` and ``esia.child`` mappings then rename and reformat
them for the МИС, so a region changes field names and formats in YAML, not here.
"""

from __future__ import annotations

from typing import Any

from bridge.delivery import Upstream

_EMBED_BY_SCOPE = {
    "contacts.elements": ("contacts", "mobile", "email"),
    "addresses.elements": ("addresses",),
    "documents.elements": ("id_doc", "medical_doc", "drivers_licence_doc", "birth_cert_doc"),
}
_KID_SCOPES = ("kid_fullname", "kid_birthdate", "kid_gender", "kid_snils", "kid_inn")
_KID_DOC_SCOPES = ("kid_birth_cert_doc", "kid_medical_doc")
_BIRTH_CERTIFICATES = ("RF_BRTH_CERT", "BRTH_CERT", "FID_BRTH_CERT", "OLD_BRTH_CERT", "KID_RF_BRTH_CERT")
_PERSON_FIELDS = ("lastName", "firstName", "middleName", "birthDate", "gender", "snils", "inn", "birthPlace")


def granted(scopes: tuple[str, ...]) -> set[str]:
    """Scope names from a token's ``scope`` claim (``fullname?oid=1000299681`` → ``fullname``)."""
    return {s.split("?", 1)[0] for s in scopes}


class PersonApi:
    def __init__(self, upstream: Upstream) -> None:
        self._upstream = upstream

    def _get(self, endpoint: str, access_token: str, params: dict[str, str] | None = None,
             **path: str) -> dict[str, Any]:
        response = self._upstream.request(
            "GET", endpoint, path_params=path, params=params,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
        answer: dict[str, Any] = response.json()
        return answer

    def fetch(self, oid: int, access_token: str, scopes: tuple[str, ...]) -> dict[str, Any]:
        names = granted(scopes)
        embeds = [embed for embed, needs in _EMBED_BY_SCOPE.items() if names.intersection(needs)]
        params = {"embed": f"({','.join(embeds)})"} if embeds else None
        person = self._get("/rs/prns/{oid}", access_token, params, oid=str(oid))
        person["kids"] = []
        if names.intersection(_KID_SCOPES):
            kids = self._get("/rs/prns/{oid}/kids", access_token, {"embed": "(elements)"}, oid=str(oid))
            for kid in _elements(kids):
                if names.intersection(_KID_DOC_SCOPES):
                    docs = self._get("/rs/prns/{oid}/kids/{kid}/docs", access_token, {"embed": "(elements)"},
                                     oid=str(oid), kid=str(kid.get("id")))
                    kid["documents"] = docs
                person["kids"].append(kid)
        return person


def _elements(collection: Any) -> list[dict[str, Any]]:
    if not isinstance(collection, dict):
        return []
    return [e for e in collection.get("elements", []) if isinstance(e, dict)]


def _first(elements: list[dict[str, Any]], types: tuple[str, ...]) -> dict[str, Any] | None:
    verified = [e for e in elements if e.get("type") in types and e.get("vrfStu", "VERIFIED") == "VERIFIED"]
    candidates = verified or [e for e in elements if e.get("type") in types]
    return candidates[0] if candidates else None


def _document(doc: dict[str, Any] | None, *names: str) -> dict[str, Any] | None:
    if doc is None:
        return None
    picked = {name: doc[name] for name in names if doc.get(name) not in (None, "")}
    return picked or None


def _oms(documents: list[dict[str, Any]]) -> dict[str, Any] | None:
    return _document(_first(documents, ("MDCL_PLCY",)), "series", "number")


def profile(person: dict[str, Any]) -> dict[str, Any]:
    """The person, with the values a МИС needs picked out of ЕСИА's collections."""
    contacts = _elements(person.get("contacts"))
    addresses = _elements(person.get("addresses"))
    documents = _elements(person.get("documents"))
    result: dict[str, Any] = {name: person[name] for name in _PERSON_FIELDS if person.get(name) not in (None, "")}
    result["oid"] = str(person.get("oid", ""))
    result["trusted"] = "true" if person.get("trusted") else "false"
    mobile, email = _first(contacts, ("MBT",)), _first(contacts, ("EML",))
    if mobile:
        result["mobile"] = mobile.get("value")
    if email:
        result["email"] = email.get("value")
    for kind, name in (("PRG", "registrationAddress"), ("PLV", "residenceAddress")):
        address = _first(addresses, (kind,))
        if address and address.get("addressStr"):
            result[name] = address["addressStr"]
    passport = _document(_first(documents, ("RF_PASSPORT",)), "series", "number", "issueDate", "issuedBy", "issueId")
    if passport:
        result["passport"] = passport
    oms = _oms(documents)
    if oms:
        result["omsPolicy"] = oms
    result["kids"] = [_kid(kid) for kid in person.get("kids", [])]
    return result


def _kid(kid: dict[str, Any]) -> dict[str, Any]:
    documents = _elements(kid.get("documents"))
    result: dict[str, Any] = {name: kid[name] for name in _PERSON_FIELDS if kid.get(name) not in (None, "")}
    result["oid"] = str(kid.get("id", ""))
    certificate = _document(_first(documents, _BIRTH_CERTIFICATES), "series", "number", "issueDate", "issuedBy")
    if certificate:
        result["birthCertificate"] = certificate
    oms = _oms(documents)
    if oms:
        result["omsPolicy"] = oms
    return result
