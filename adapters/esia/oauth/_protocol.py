"""ЕСИА OAuth 2.0 / OIDC, as the methodology and the public clients implement it (reference/esia.md §1).

v2/v3 (current): ``GET /aas/oauth2/v2/ac``, ``POST /aas/oauth2/v3/te``; ``client_secret`` is a raw
GOST R 34.10-2012-256 signature, base64url, over:
  /v2/ac                      client_id + scope + scope_org + timestamp + state + redirect_uri
  /v3/te authorization_code   the same + code
  /v3/te refresh_token        client_id + scope + scope_org + timestamp + state + redirect_uri
                              (sources disagree here; we follow ilimurzin/esia, see docs/esia.md)
v1 (legacy): ``/aas/oauth2/ac`` and ``/aas/oauth2/te``; ``client_secret`` is a detached CMS over
  scope + timestamp + client_id + state.
``timestamp`` is ``yyyy.MM.dd HH:mm:ss Z`` (e.g. ``2025.09.02 13:00:29 +0300``).
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote, urlencode

AC_V2 = "/aas/oauth2/v2/ac"
TE_V3 = "/aas/oauth2/v3/te"
AC_V1 = "/aas/oauth2/ac"
TE_V1 = "/aas/oauth2/te"
LOGOUT = "/idp/ext/Logout"
TIMESTAMP_FORMAT = "%Y.%m.%d %H:%M:%S %z"

ERRORS = {
    "ESIA-007002": "Несоответствие сертификата и мнемоники ИС или отсутствие сертификата для данной системы в ЕСИА",
    "ESIA-007003": "В запросе отсутствует обязательный параметр, запрос включает неверное значение параметра "
    "или включает параметр несколько раз",
    "ESIA-007004": "Владелец ресурса или сервис авторизации отклонил запрос",
    "ESIA-007005": "Система-клиент не имеет права запрашивать получение маркера доступа таким методом",
    "ESIA-007006": "Запрошенная область доступа (scope) указана неверно, неизвестно или сформирована некорректно",
    "ESIA-007007": "Неожиданная ошибка в работе сервиса авторизации",
    "ESIA-007008": "Сервис авторизации не может выполнить запрос из-за большой нагрузки или технических работ",
    "ESIA-007009": "Сервис авторизации не поддерживает получение маркера доступа этим методом",
    "ESIA-007011": "Авторизационный код или маркер обновления недействителен, просрочен, отозван, не соответствует "
    "адресу ресурса или выдан другой системе-клиенту",
    "ESIA-007012": "Тип авторизационного кода не поддерживается",
    "ESIA-007013": "Запрос не содержит указания на область доступа (scope)",
    "ESIA-007014": "Запрос не содержит обязательного параметра",
    "ESIA-007015": "Неверное время запроса",
    "ESIA-007019": "Отсутствует разрешение на доступ",
    "ESIA-007023": "Указанный в запросе <redirect_uri> отсутствует среди разрешенных для ИС",
    "ESIA-007053": "client_secret сформирован некорректно (не соответствует строке-сертификату, ИС, "
    "или сертификат не активен)",
    "ESIA-007055": "Вход в систему осуществляется с неподтвержденной учетной записью",
    "ESIA-008010": "Не удалось произвести аутентификацию системы-клиента",
}

# What a МИС operator or a patient should read for each code (the bridge's own words).
PLAIN = {
    "ESIA-007004": "пользователь отказал в доступе к своим данным на Госуслугах",
    "ESIA-007055": "вход возможен только с подтверждённой учётной записью Госуслуг",
    "ESIA-007011": "код авторизации недействителен или уже использован; начните вход заново",
    "ESIA-007015": "время запроса не совпадает со временем ЕСИА; проверьте часы сервера шлюза",
    "ESIA-007053": "ЕСИА не приняла подпись запроса (client_secret); проверьте ключ и сертификат ИС",
    "ESIA-007002": "сертификат не зарегистрирован для этой ИС на технологическом портале ЕСИА",
    "ESIA-007023": "адрес возврата не зарегистрирован для ИС в ЕСИА",
    "ESIA-007014": "в запросе к ЕСИА не хватает обязательного параметра",
    "ESIA-007006": "запрошенные области доступа (scope) не разрешены для ИС",
    "ESIA-007008": "ЕСИА перегружена или на техническом обслуживании; повторите позже",
}


def timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("timestamp needs an aware datetime")
    return moment.strftime(TIMESTAMP_FORMAT)


def parse_timestamp(value: str) -> datetime:
    return datetime.strptime(value, TIMESTAMP_FORMAT)


def ac_string(client_id: str, scope: str, scope_org: str, stamp: str, state: str, redirect_uri: str) -> str:
    return client_id + scope + scope_org + stamp + state + redirect_uri


def te_code_string(
    client_id: str, scope: str, scope_org: str, stamp: str, state: str, redirect_uri: str, code: str
) -> str:
    return ac_string(client_id, scope, scope_org, stamp, state, redirect_uri) + code


def te_refresh_string(client_id: str, scope: str, scope_org: str, stamp: str, state: str, redirect_uri: str) -> str:
    return ac_string(client_id, scope, scope_org, stamp, state, redirect_uri)


def v1_string(scope: str, stamp: str, client_id: str, state: str) -> str:
    return scope + stamp + client_id + state


def error_code(description: str | None) -> str | None:
    """``ESIA-007014`` from ``ESIA-007014: …`` (ЕСИА's error_description)."""
    if not description:
        return None
    head = description.split(":", 1)[0].strip()
    return head if head.startswith("ESIA-") else None


def query(params: dict[str, str]) -> str:
    """Query string with spaces as %20 and '+' escaped (the timestamp carries one)."""
    return urlencode(params, quote_via=quote)
