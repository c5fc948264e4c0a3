"""Seed 001/004's login «через Госуслуги», told through the bridge against the sandbox ЕСИА.

The demo plays the browser: it follows ЕСИА's redirects, reads the consent page and presses
«Предоставить» for a person with children, then asks the bridge over SOAP.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import zeep
from zeep.exceptions import Fault

from adapters.esia._demo import yes_no
from adapters.esia.sandbox import DEMO_PORTAL, consent
from bridge.russian import quantity

_SCOPES = ("область", "области", "областей")
_CHARACTERS = ("символ", "символа", "символов")


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _show(result: Any, say: Callable[[str], None]) -> None:
    token, person = result.Token, result.Person
    say(f"   Маркер проверен: {token.Algorithm}, издатель {token.Issuer}, oid {token.Subject}, "
        f"действует до {token.ExpiresAt:%H:%M:%S}, scope: {quantity(len(token.Scopes.string), *_SCOPES)}")
    say(f"   {person.LastName} {person.FirstName} {person.MiddleName or ''}, д.р. {person.BirthDate}, "
        f"СНИЛС {person.Snils}, тел. {person.MobilePhone}, "
        f"учётная запись подтверждена: {yes_no(person.AccountConfirmed)}")
    if person.Passport:
        say(f"   Паспорт {person.Passport.Series} {person.Passport.Number}, выдан {person.Passport.IssueDate}")
    if person.OmsPolicy:
        say(f"   Полис ОМС {person.OmsPolicy.Number}")
    for child in (person.Children.EsiaChild if person.Children else []):
        certificate = child.BirthCertificate
        say(f"   • ребёнок: {child.LastName} {child.FirstName}, д.р. {child.BirthDate}, "
            f"св-во {certificate.Series if certificate else '—'} {certificate.Number if certificate else ''}, "
            f"полис {child.OmsPolicy.Number if child.OmsPolicy else '—'}")


def run_login_demo(bridge_url: str, say: Callable[[str], None]) -> None:
    service = zeep.Client(f"{bridge_url}/soap/esia-login?wsdl").service  # type: ignore[no-untyped-call]
    return_url = f"{bridge_url}{DEMO_PORTAL}/return"
    with httpx.Client(timeout=20, follow_redirects=False) as browser:
        say("")
        say("── 8. Вход через Госуслуги для МИС (SOAP): GetEsiaLoginUrl")
        start = service.GetEsiaLoginUrl(ReturnUrl=return_url, Purpose="запись на ТМК")
        query = _query(start.Url)
        say(f"   {start.Url.split('?')[0]}  client_id={query['client_id']}  timestamp={query['timestamp']}")
        say(f"   client_certificate_hash={query['client_certificate_hash'][:16]}…  "
            f"client_secret: {quantity(len(query['client_secret']), *_CHARACTERS)} base64url "
            "(ГОСТ Р 34.10-2012)")
        back = consent(browser, start.Url, say)
        code = _query(back)["code"]
        say(f"   ЕСИА вернула браузер на {back.split('?')[0]} с code и state")
        say("── 9. CompleteEsiaLogin: обмен кода на /aas/oauth2/v3/te, проверка маркера, /rs/prns")
        _show(service.CompleteEsiaLogin(Code=code, State=start.State), say)
        say("── 10. Повтор того же кода и state")
        try:
            service.CompleteEsiaLogin(Code=code, State=start.State)
        except Fault as fault:
            say(f"   Отказ ({fault.code.split(':')[-1]}): {fault.message}")

        say("── 11. Вход из браузера: /esia/login → ЕСИА → /esia/callback → портал с билетом")
        answer = browser.get(f"{bridge_url}/esia/login", params={"purpose": "ТМК"})
        back = consent(browser, answer.headers["location"], say)
        portal = browser.get(back).headers["location"]
        ticket = _query(portal)["ticket"]
        say(f"   Портал получил билет ({quantity(len(ticket), *_CHARACTERS)}); RedeemEsiaTicket:")
        _show(service.RedeemEsiaTicket(Ticket=ticket), say)
