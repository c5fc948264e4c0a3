"""The adapter boundary to ЕСИА's account operations, and its REST transport.

``AccountOperations`` is what the rest of the adapter needs: find, register, update,
recover. ``RestAccountOperations`` speaks our REST model of the СМЭВ "reg_service" VS
(docs/esia-accounts.md). A СМЭВ 3 transport would implement the same protocol: the
request bodies already use the VS element names, and the idempotency key plays the role
of the СМЭВ MessageID.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bridge.delivery import Upstream, UpstreamRejected, new_idempotency_key

_TERMINAL = frozenset({"SUCCEEDED", "VALIDATION_FAILED", "CONFIRMATION_FAILED", "FAULT"})
_SUBMIT = "/reg-service/v1/requests/{operation}"
_STATUS = "/reg-service/v1/requests/{request_id}"


@dataclass(frozen=True, slots=True)
class EsiaAccount:
    oid: int
    trusted: bool
    person: dict[str, Any]  # upstream-shaped: snils, lastName, ..., mobile


@dataclass(frozen=True, slots=True)
class IssuedPassword:
    oid: int
    login: str
    temporary_password: str = field(repr=False)


class AccountOperationFailed(Exception):
    """ЕСИА finished the operation with a failure status (VALIDATION_FAILED, ...)."""

    def __init__(self, status: str, errors: list[tuple[str, str]]) -> None:
        codes = ", ".join(code for code, _ in errors) or "no code"
        super().__init__(f"{status} ({codes})")
        self.status = status
        self.errors = errors

    @property
    def code(self) -> str:
        return self.errors[0][0] if self.errors else self.status

    @property
    def text(self) -> str:
        return self.errors[0][1] if self.errors else self.status


class AccountRequestInvalid(Exception):
    """ЕСИА refused the request outright (HTTP 400 with an error code)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.text = message


class OperationStillRunning(Exception):
    """ЕСИА has not finished the operation within the polling budget; ask again later."""


class AccountOperations(Protocol):
    def find(self, person: dict[str, Any]) -> EsiaAccount | None: ...

    def register(self, person: dict[str, Any], idempotency_key: str) -> IssuedPassword: ...

    def update(self, oid: int, person: dict[str, Any], idempotency_key: str) -> None: ...

    def recover(self, oid: int, snils: str, idempotency_key: str) -> IssuedPassword: ...


@dataclass(frozen=True, slots=True)
class Routing:
    """The ЦО (service centre) context every request carries."""

    routing_code: str
    operator_snils: str = field(repr=False)
    ra: int


@dataclass(frozen=True, slots=True)
class PollPolicy:
    first_interval: float = 0.05
    max_interval: float = 1.0
    budget_seconds: float = 20.0


class RestAccountOperations:
    def __init__(
        self,
        upstream: Upstream,
        routing: Routing,
        poll: PollPolicy = PollPolicy(),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._upstream = upstream
        self._routing = routing
        self._poll = poll
        self._sleep = sleep

    def find(self, person: dict[str, Any]) -> EsiaAccount | None:
        query: dict[str, Any] = {k: person[k] for k in ("snils", "lastName", "firstName", "middleName") if k in person}
        result = self._run("find_account", query, new_idempotency_key())
        account = result.get("account")
        if not account:
            return None
        data = {k: v for k, v in account.items() if k not in ("oid", "trusted")}
        return EsiaAccount(oid=int(account["oid"]), trusted=bool(account.get("trusted")), person=data)

    def register(self, person: dict[str, Any], idempotency_key: str) -> IssuedPassword:
        result = self._run("register", {**person, "citizenship": "RUS", "mode": "mobile"}, idempotency_key)
        return _issued(result)

    def update(self, oid: int, person: dict[str, Any], idempotency_key: str) -> None:
        self._run("update_account", {**person, "oid": oid}, idempotency_key)

    def recover(self, oid: int, snils: str, idempotency_key: str) -> IssuedPassword:
        return _issued(self._run("recover", {"oid": oid, "snils": snils}, idempotency_key))

    def _run(self, operation: str, body: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        envelope = {
            "RoutingCode": self._routing.routing_code,
            "SnilsOperator": self._routing.operator_snils,
            "ra": self._routing.ra,
            **body,
        }
        try:
            response = self._upstream.request(
                "POST", _SUBMIT, path_params={"operation": operation}, json=envelope,
                idempotency_key=idempotency_key,
            )
        except UpstreamRejected as exc:
            raise _invalid(exc) from None
        state: dict[str, Any] = response.json()
        deadline = time.monotonic() + self._poll.budget_seconds
        interval = self._poll.first_interval
        while state.get("status") not in _TERMINAL:
            if time.monotonic() + interval > deadline:
                raise OperationStillRunning(operation)
            self._sleep(interval)
            interval = min(interval * 2, self._poll.max_interval)
            try:
                response = self._upstream.request(
                    "GET", _STATUS, path_params={"request_id": str(state["requestId"])}
                )
            except UpstreamRejected as exc:
                raise _invalid(exc) from None
            state = response.json()
        if state["status"] != "SUCCEEDED":
            errors = [(str(e.get("Code", "")), str(e.get("Message", ""))) for e in state.get("errorStatusInfo", [])]
            raise AccountOperationFailed(state["status"], errors)
        result: dict[str, Any] = state.get("result") or {}
        return result


def _issued(result: dict[str, Any]) -> IssuedPassword:
    return IssuedPassword(
        oid=int(result["oid"]), login=str(result["login"]), temporary_password=str(result["temporaryPassword"])
    )


def _invalid(exc: UpstreamRejected) -> AccountRequestInvalid:
    try:
        body = json.loads(exc.body)
        return AccountRequestInvalid(str(body.get("code", exc.status_code)), str(body.get("message", "")))
    except (ValueError, AttributeError):
        return AccountRequestInvalid(f"HTTP {exc.status_code}", "ЕСИА отклонила запрос")
