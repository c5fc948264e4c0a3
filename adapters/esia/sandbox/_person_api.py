"""The sandbox ЕСИА's person API (reference/esia.md §2), behind ``Authorization: Bearer <access token>``.

    GET /rs/prns/{oid}[?embed=(contacts.elements,addresses.elements,documents.elements,kids.elements)]
    GET /rs/prns/{oid}/ctts|addrs|docs|kids[?embed=(elements)]     and …/{id} for one element
    GET /rs/prns/{oid}/kids/{kidId}/docs[?embed=(elements)]         and …/docs/{id}

Only what the token's scopes grant is shown: a field without its scope is left out, a collection
without any of its scopes is 403 ``{"code": "ESIA-007019", …}``, an element of a type the scopes do
not cover is not listed. No token, a forged or an expired one → 401; another person's oid → 403.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from adapters.esia.oauth._protocol import ERRORS
from adapters.esia.oauth._tokens import TokenInvalid, VerifiedToken, verify_token
from adapters.esia.sandbox._oauth import SandboxOAuth, decode_secret
from adapters.esia.sandbox._people import Contact, Document, Kid, Person

__all__ = ["person_routes"]

_T = TypeVar("_T")

_PERSON_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "fullname": (("firstName", "first_name"), ("lastName", "last_name"), ("middleName", "middle_name")),
    "birthdate": (("birthDate", "birth_date"),),
    "birthplace": (("birthPlace", "birth_place"),),
    "gender": (("gender", "gender"),),
    "snils": (("snils", "snils"),),
    "inn": (("inn", "inn"),),
    "id_doc": (("rIdDoc", "r_id_doc"),),
}
_KID_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "kid_fullname": (("firstName", "first_name"), ("lastName", "last_name"), ("middleName", "middle_name")),
    "kid_birthdate": (("birthDate", "birth_date"),),
    "kid_gender": (("gender", "gender"),),
    "kid_snils": (("snils", "snils"),),
}
# Which scopes show an element of each type, per collection.
_CONTACT_SCOPES = {"MBT": {"mobile", "contacts"}, "EML": {"email", "contacts"}, "PHN": {"contacts"}}
_DOC_SCOPES = {"RF_PASSPORT": {"id_doc"}, "MDCL_PLCY": {"medical_doc"}}
_KID_DOC_SCOPES = {"RF_BRTH_CERT": {"kid_birth_cert_doc"}, "MDCL_PLCY": {"kid_medical_doc"}}
_KID_SCOPES = {"kid_fullname", "kid_birthdate", "kid_gender", "kid_snils", "kid_inn", "kid_birth_cert_doc",
               "kid_medical_doc"}
_EMBEDS = {"contacts": "ctts", "addresses": "addrs", "documents": "docs", "kids": "kids"}


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _forbidden() -> _Refused:
    return _Refused(403, "ESIA-007019", ERRORS["ESIA-007019"])


def _etag(value: Any) -> str:
    encoded = json.dumps(value, ensure_ascii=False, sort_keys=True).encode()
    return hashlib.sha1(encoded, usedforsecurity=False).hexdigest().upper()


def _tagged(element: dict[str, Any]) -> dict[str, Any]:
    return {**element, "eTag": _etag(element)}


def _embed_names(embed: str | None) -> list[str]:
    if not embed:
        return []
    return [item.strip() for item in embed.strip().strip("()").split(",") if item.strip()]


class _View:
    """One person as one token sees them."""

    def __init__(self, person: Person, scopes: set[str], base: str) -> None:
        self.person, self.scopes, self.base = person, scopes, base

    def _allowed(self, needs: Iterable[str]) -> bool:
        return bool(self.scopes & set(needs))

    def main(self, embeds: list[str]) -> dict[str, Any]:
        person = self.person
        answer: dict[str, Any] = {"stateFacts": ["EntityRoot"]}
        for scope, names in _PERSON_FIELDS.items():
            if scope in self.scopes:
                answer.update({field: getattr(person, attr) for field, attr in names})
        answer.update({"trusted": person.trusted, "updatedOn": person.updated_on, "status": "REGISTERED",
                       "verifying": False, "containsUpCfmCode": False})
        if "id_doc" in self.scopes:
            answer["citizenship"] = "RUS"
        answer = _tagged(answer)
        for item in embeds:
            name, _, part = item.partition(".")
            if name in _EMBEDS:
                answer[name] = self.collection(_EMBEDS[name], part == "elements")
        return answer

    def elements(self, collection: str) -> tuple[str, list[dict[str, Any]]]:
        """The collection's path and its visible elements; 403 when no scope covers it at all."""
        person, path = self.person, f"/rs/prns/{self.person.oid}/{collection}"
        if collection == "ctts":
            return path, self._typed(person.contacts, _CONTACT_SCOPES, Contact.fields)
        if collection == "docs":
            return path, self._typed(person.documents, _DOC_SCOPES, Document.fields)
        if collection == "addrs":
            if "addresses" not in self.scopes:
                raise _forbidden()
            return path, [a.fields() for a in person.addresses]
        if collection == "kids":
            if not self._allowed(_KID_SCOPES):
                raise _forbidden()
            return path, [self.kid(kid) for kid in person.kids]
        raise _Refused(404, "NOT_FOUND", "Ресурс не найден")

    def _typed(self, items: Sequence[_T], needs: dict[str, set[str]],
               render: Callable[[_T], dict[str, Any]]) -> list[dict[str, Any]]:
        if not self._allowed(set().union(*needs.values())):
            raise _forbidden()
        shown = [render(item) for item in items]
        return [element for element in shown if self._allowed(needs.get(element["type"], set()))]

    def kid(self, kid: Kid) -> dict[str, Any]:
        answer: dict[str, Any] = {"stateFacts": ["Identifiable"], "id": kid.id, "type": "KID"}
        for scope, names in _KID_FIELDS.items():
            if scope in self.scopes:
                answer.update({field: getattr(kid, attr) for field, attr in names})
        return answer

    def kid_docs(self, kid_id: str) -> tuple[str, list[dict[str, Any]]]:
        kid = next((k for k in self.person.kids if str(k.id) == kid_id), None)
        if not self._allowed(_KID_SCOPES):
            raise _forbidden()
        if kid is None:
            raise _Refused(404, "NOT_FOUND", "Ребёнок не найден")
        path = f"/rs/prns/{self.person.oid}/kids/{kid.id}/docs"
        return path, self._typed(kid.documents, _KID_DOC_SCOPES, Document.fields)

    def collection(self, collection: str, embed: bool) -> dict[str, Any]:
        path, elements = self.elements(collection)
        return self.listing(path, elements, embed)

    def listing(self, path: str, elements: list[dict[str, Any]], embed: bool) -> dict[str, Any]:
        tagged = [_tagged(element) for element in elements]
        shown: list[Any] = tagged if embed else [f"{self.base}{path}/{element['id']}" for element in tagged]
        return {"stateFacts": ["hasSize"], "size": len(tagged), "eTag": _etag(tagged), "elements": shown}


def _one(path_and_elements: tuple[str, list[dict[str, Any]]], item_id: str) -> dict[str, Any]:
    _, elements = path_and_elements
    for element in elements:
        if str(element["id"]) == item_id:
            return _tagged(element)
    raise _Refused(404, "NOT_FOUND", "Ресурс не найден")


def _verify_bearer(oauth: SandboxOAuth, authorization: str | None) -> VerifiedToken:
    """The access token of an ``Authorization: Bearer …`` header, checked with the sandbox's keys."""
    if not authorization or not authorization.startswith("Bearer "):
        raise TokenInvalid("нет маркера доступа (Authorization: Bearer)")
    token = authorization[len("Bearer "):].strip()
    client_id = _unverified_client_id(token)
    if client_id is None or oauth.client(client_id) is None:
        raise TokenInvalid("маркер выдан неизвестной системе")
    return verify_token(token, oauth.keys.certificates, issuer=oauth.issuer, client_id=client_id, kind="access")


def _unverified_client_id(token: str) -> str | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = decode_secret(parts[1])
    try:
        claims = json.loads(payload) if payload is not None else None
    except ValueError:
        return None
    value = claims.get("client_id") if isinstance(claims, dict) else None
    return value if isinstance(value, str) else None


def person_routes(oauth: SandboxOAuth) -> APIRouter:
    router = APIRouter()

    def view(request: Request, oid: str) -> _View:
        try:
            token = _verify_bearer(oauth, request.headers.get("authorization"))
        except TokenInvalid as exc:
            raise _Refused(401, "ESIA-007011", exc.reason) from None
        person = oauth.people.get(token.oid)
        if str(token.oid) != oid or person is None:
            raise _forbidden()
        scopes: set[str] = set()
        for item in token.scopes:
            name, _, suffix = item.partition("?")
            if not suffix or suffix == f"oid={oid}":
                scopes.add(name)
        return _View(person, scopes, str(request.base_url).rstrip("/"))

    def answer(make: Callable[[], dict[str, Any]]) -> JSONResponse:
        try:
            return JSONResponse(make())
        except _Refused as exc:
            headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if exc.status == 401 else None
            return JSONResponse({"code": exc.code, "message": exc.message}, status_code=exc.status, headers=headers)

    @router.get("/rs/prns/{oid}")
    def person(oid: str, request: Request, embed: str | None = None) -> JSONResponse:
        return answer(lambda: view(request, oid).main(_embed_names(embed)))

    @router.get("/rs/prns/{oid}/kids/{kid_id}/docs")
    def kid_docs(oid: str, kid_id: str, request: Request, embed: str | None = None) -> JSONResponse:
        def make() -> dict[str, Any]:
            me = view(request, oid)
            path, elements = me.kid_docs(kid_id)
            return me.listing(path, elements, "elements" in _embed_names(embed))

        return answer(make)

    @router.get("/rs/prns/{oid}/kids/{kid_id}/docs/{doc_id}")
    def kid_doc(oid: str, kid_id: str, doc_id: str, request: Request) -> JSONResponse:
        return answer(lambda: _one(view(request, oid).kid_docs(kid_id), doc_id))

    @router.get("/rs/prns/{oid}/{collection}")
    def collection(oid: str, collection: str, request: Request, embed: str | None = None) -> JSONResponse:
        return answer(lambda: view(request, oid).collection(collection, "elements" in _embed_names(embed)))

    @router.get("/rs/prns/{oid}/{collection}/{item_id}")
    def element(oid: str, collection: str, item_id: str, request: Request) -> JSONResponse:
        return answer(lambda: _one(view(request, oid).elements(collection), item_id))

    return router

