"""Logging a person in through ЕСИА, for the МИС (SOAP) and for a browser (HTTP).

    start     → an authorization URL and a state (single use, expiring, in the store so any
                instance can finish the login; bound to the browser when there is one)
    complete  → the state consumed, the code exchanged once, the token verified, the person
                and their children fetched and mapped to the МИС model
    tickets   → after a browser login, the person waits under a one-time ticket (encrypted,
                two minutes) that the portal redeems over SOAP or HTTP
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.esia.oauth._client import EsiaOAuthClient, OAuthError
from adapters.esia.oauth._person import PersonApi, granted, profile
from adapters.esia.oauth._protocol import ERRORS, PLAIN, error_code
from bridge.delivery import UpstreamRejected
from bridge.errors import InvalidField, ServiceUnavailable, UpstreamRefused
from bridge.mapping import Mapping, MappingValueError
from bridge.store import OneTimeTokens, TokenRejected

STATE, TICKET = "esia_state", "esia_ticket"
_STATE_REASONS = {
    "unknown": "неизвестный или подделанный state",
    "expired": "срок действия state истёк; начните вход заново",
    "used": "этот state уже использован; начните вход заново",
    "mismatch": "state выдан другому браузеру или запросу",
}
_TICKET_REASONS = {
    "unknown": "неизвестный билет",
    "expired": "срок действия билета истёк",
    "used": "билет уже использован",
    "mismatch": "билет выдан другому получателю",
}


@dataclass(frozen=True, slots=True)
class LoginStart:
    url: str
    state: str
    expires_at: datetime


class EsiaLogin:
    def __init__(
        self,
        oauth: EsiaOAuthClient,
        people: PersonApi,
        person_mapping: Mapping,
        child_mapping: Mapping,
        tokens: OneTimeTokens,
        allowed_return_urls: tuple[str, ...],
        state_ttl: timedelta = timedelta(minutes=10),
        ticket_ttl: timedelta = timedelta(minutes=2),
    ) -> None:
        self._oauth = oauth
        self._people = people
        self._person = person_mapping
        self._child = child_mapping
        self._tokens = tokens
        self._allowed = allowed_return_urls
        self._state_ttl = state_ttl
        self._ticket_ttl = ticket_ttl

    def start(self, return_url: str, purpose: str | None = None, binding: str | None = None,
              field: str = "ReturnUrl") -> LoginStart:
        if return_url not in self._allowed:
            raise InvalidField(field, "адрес возврата не входит в список разрешённых для ИС в ЕСИА "
                                      "(настройка adapter_settings.esia.login.return_urls)")
        state = self._tokens.issue(STATE, {"redirect_uri": return_url, "purpose": purpose or ""},
                                   self._state_ttl, binding, token=str(uuid.uuid4()))
        return LoginStart(self._oauth.authorization_url(state, return_url), state,
                          datetime.now(UTC) + self._state_ttl)

    def complete(self, code: str, state: str, binding: str | None = None) -> dict[str, Any]:
        return self.complete_for(code, state, binding)[1]

    def complete_for(self, code: str, state: str, binding: str | None = None) -> tuple[str, dict[str, Any]]:
        """Like ``complete``, with the purpose the login was started for (it travels in the state)."""
        login = self._consume_state(state, binding)
        if not code.strip():
            raise InvalidField("Code", "обязательное поле не заполнено")
        try:
            tokens = self._oauth.exchange_code(code.strip(), login["redirect_uri"])
            person = self._people.fetch(tokens.token.oid, tokens.access_token, tokens.token.scopes)
        except OAuthError as exc:
            raise UpstreamRefused("ЕСИА", exc.code, exc.message) from None
        except UpstreamRejected as exc:
            raise UpstreamRefused(
                "ЕСИА", f"HTTP {exc.status_code}", "ЕСИА отказала в выдаче данных пользователя") from None
        token = tokens.token
        return str(login.get("purpose") or ""), {
            "Person": self._to_mis(profile({**person, "oid": token.oid})),
            "Token": {"Subject": str(token.oid), "Algorithm": token.algorithm, "Issuer": token.issuer,
                      "ExpiresAt": datetime.fromtimestamp(token.expires_at, UTC).isoformat(),
                      "Scopes": sorted(granted(token.scopes))},
        }

    def refuse(self, state: str, error: str, description: str | None, binding: str | None = None) -> UpstreamRefused:
        """ЕСИА came back with ``error=`` instead of a code: burn the state, explain the refusal."""
        return self.refuse_for(state, error, description, binding)[1]

    def refuse_for(self, state: str, error: str, description: str | None,
                   binding: str | None = None) -> tuple[str, UpstreamRefused]:
        login = self._consume_state(state, binding)
        code = error_code(description) or error
        return str(login.get("purpose") or ""), UpstreamRefused(
            "ЕСИА", code, PLAIN.get(code, ERRORS.get(code, "вход через ЕСИА не выполнен")))

    def logout_url(self, return_url: str) -> str:
        if return_url not in self._allowed:
            raise InvalidField("ReturnUrl", "адрес возврата не входит в список разрешённых для ИС в ЕСИА")
        return self._oauth.logout_url(return_url)

    def issue_ticket(self, login: dict[str, Any]) -> str:
        return self._tokens.issue(TICKET, login, self._ticket_ttl)

    def redeem_ticket(self, ticket: str) -> dict[str, Any]:
        try:
            return self._tokens.consume(TICKET, ticket.strip())
        except TokenRejected as exc:
            raise InvalidField("Ticket", _TICKET_REASONS[exc.reason]) from None

    def _consume_state(self, state: str, binding: str | None) -> dict[str, Any]:
        try:
            return self._tokens.consume(STATE, state.strip(), binding)
        except TokenRejected as exc:
            raise InvalidField("State", _STATE_REASONS[exc.reason]) from None

    def _to_mis(self, person: dict[str, Any]) -> dict[str, Any]:
        try:
            mis = self._person.to_mis(person)
            mis["Children"] = [self._child.to_mis(kid) for kid in person.get("kids", [])]
        except MappingValueError as exc:
            raise ServiceUnavailable(
                f"ЕСИА вернула данные, которые шлюз не может разобрать (поле {exc.field})") from None
        return mis
