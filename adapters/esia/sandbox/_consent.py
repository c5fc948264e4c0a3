"""A browser at the sandbox ЕСИА's consent page: what the login demos and tests do in place of a person."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx

from bridge.russian import quantity

_USERS = ("тестовый пользователь", "тестовых пользователя", "тестовых пользователей")


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def consent(browser: httpx.Client, authorization_url: str, say: Callable[[str], None]) -> str:
    """Open ЕСИА's page, choose a person with children, allow; return where ЕСИА sends the browser."""
    answer = browser.get(authorization_url)
    if answer.status_code != 302:
        raise RuntimeError(f"ЕСИА did not accept the authorization request: {answer.status_code} {answer.text[:200]}")
    login_page = answer.headers["location"]
    page = browser.get(login_page)
    if page.status_code != 200:
        raise RuntimeError(f"ЕСИА's login page did not open: {page.status_code}")
    request_id = _query(login_page)["request"]
    base = f"{urlsplit(login_page).scheme}://{urlsplit(login_page).netloc}"
    listed = browser.get(f"{base}/_sandbox/esia/people").json()
    chosen = max(listed, key=lambda p: int(p.get("kids", 0)))
    say(f"   Страница ЕСИА: {quantity(len(listed), *_USERS)}; вход как "
        f"{chosen.get('lastName', '')} {chosen.get('firstName', '')} (oid {chosen['oid']}), «Предоставить»")
    answer = browser.post(f"{base}/_sandbox/esia/login",
                          data={"request": request_id, "person": str(chosen["oid"]), "decision": "allow"})
    return str(answer.headers["location"])
