"""Linking a MAX user to an ЕСИА-verified person (seed 004 §5, §7).

1. The user shares their phone with MAX's contact button.
2. The bot sends a one-time link (``/max/link?t=…``, 15 minutes, this user only); it starts an
   ЕСИА login whose state carries ``max-link:<user id>`` and is bound to the browser by cookie.
3. ЕСИА returns to the bridge's one registered callback; the ЕСИА adapter hands the verified person
   to ``complete`` here. The link holds only when the account is confirmed and ЕСИА's verified
   mobile number is the number the user shared in MAX.

Why both: an ЕСИА login alone can be started from a link someone else forwarded (the classic
login CSRF: a stranger's MAX account would get your identity); a shared phone alone is not
proof of identity (the contact's hash algorithm is not published). Together, the person behind
MAX holds the phone that ЕСИА has verified for the person who logged in.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from adapters.tmk._people import Account, Person, normalise_phone
from adapters.tmk._records import Records
from bridge.errors import UpstreamRefused
from bridge.store import OneTimeTokens, TokenRejected

LINK_TOKEN = "tmk.link"
PURPOSE = "max-link"


@dataclass(frozen=True)
class LinkOutcome:
    user_id: int | None
    account: Account | None
    problem: str | None       # for the user, in plain words


class Identity:
    def __init__(self, records: Records, tokens: OneTimeTokens, public_url: str, ttl: timedelta) -> None:
        self._records = records
        self._tokens = tokens
        self._public_url = public_url
        self.ttl = ttl

    def link_url(self, user_id: int) -> str:
        token = self._tokens.issue(LINK_TOKEN, {"user_id": user_id}, self.ttl)
        return f"{self._public_url}/max/link?t={token}"

    def redeem(self, token: str) -> int:
        """The MAX user a link was made for; raises TokenRejected (unknown, expired, used)."""
        return int(self._tokens.consume(LINK_TOKEN, token.strip())["user_id"])

    @staticmethod
    def purpose(user_id: int) -> str:
        return f"{PURPOSE}:{user_id}"

    def complete(self, purpose: str, login: dict[str, Any] | None, refusal: UpstreamRefused | None) -> LinkOutcome:
        try:
            user_id = int(purpose.split(":", 1)[1])
        except (IndexError, ValueError):
            return LinkOutcome(None, None, "Ссылка для входа повреждена. Запросите новую в боте.")
        if refusal is not None or login is None:
            reason = refusal.message if refusal is not None else "вход не выполнен"
            return LinkOutcome(user_id, None, f"Вход через Госуслуги не выполнен: {reason}.")
        person = login.get("Person") or {}
        if str(person.get("AccountConfirmed", "")).lower() != "true":
            return LinkOutcome(user_id, None, "Для записи на ТМК нужна подтверждённая учётная запись Госуслуг.")
        try:
            user = Person.from_esia(person)
        except ValueError:
            return LinkOutcome(user_id, None,
                               "Госуслуги не передали ФИО, дату рождения или СНИЛС: записаться нельзя.")
        linked = self._records.user(user_id)
        shared = linked.phone if linked else None
        verified = normalise_phone(person.get("MobilePhone"))
        if shared is None:
            return LinkOutcome(user_id, None, "Сначала поделитесь номером телефона в боте, затем войдите снова.")
        if verified is None or verified != shared:
            return LinkOutcome(user_id, None, "Номер телефона в MAX не совпадает с подтверждённым номером "
                                              "в Госуслугах. Поделитесь в боте номером, указанным в Госуслугах.")
        children = []
        for child in person.get("Children") or []:
            try:
                children.append(Person.from_esia(child))
            except ValueError:
                continue   # a child without SNILS cannot be identified in the МИС
        account = Account(user, tuple(children), shared)
        self._records.link(user_id, account)
        return LinkOutcome(user_id, account, None)


def page(title: str, text: str) -> str:
    return ("<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>"
            f"<title>{html.escape(title)}</title><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>")


def token_problem(exc: TokenRejected) -> str:
    return {"expired": "Ссылка устарела.", "used": "Ссылка уже использована."}.get(
        exc.reason, "Ссылка не найдена.") + " Запросите новую в боте: кнопка «Получить новую ссылку»."


LinkDone = Callable[[LinkOutcome], None]
