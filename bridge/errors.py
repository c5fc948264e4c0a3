"""The bridge's exceptions: one tree, and what each branch becomes on every face (SOAP, HTTP).

    BridgeError                     our own fault: SOAP Server, HTTP 500; the caller sees the request id only
    ├── CallerError                 the caller's request is wrong: SOAP Client.*, HTTP 4xx
    │   ├── InvalidField            a field is missing or malformed (names the field)    Client.InvalidField   400
    │   ├── RuleViolation           the request breaks a business rule (names the rule)  Client.RuleViolation  400
    │   │   └── Conflict            the rule is "not while this is going on"            Client.RuleViolation  409
    │   ├── UpstreamRefused         the upstream refused the data as invalid (its code)  Client.UpstreamRefused 422
    │   └── AccessDenied            the МИС client is not let in (bridge.soap checks it)  Client.Authentication 401,
    │                               Client.Forbidden 403, Client.RateLimited 429
    ├── StoreUnavailable            the bridge's own store did not answer in time (PostgreSQL down, SQLite's
    │                               write lock busy past its timeout): Server.StoreUnavailable 503; the
    │                               database driver's errors of that kind are read as this (``answer``)
    └── UpstreamError               an upstream gave no usable answer: SOAP Server.Upstream*, HTTP 502–504
        ├── ServiceUnavailable      it cannot answer now, in the adapter's own words    Server.UpstreamUnavailable 503
        ├── DeliveryError           raised by bridge.delivery.Upstream; names the upstream and the endpoint
        │   ├── UpstreamUnavailable the call got no answer; trying later may succeed    Server.UpstreamUnavailable 503
        │   │   ├── UpstreamTimeout      no answer within the timeout (it may have been processed)      504
        │   │   ├── UpstreamConnectError the connection could not be made (the request was not sent)     502
        │   │   │   └── UpstreamTlsError TLS failed: the server's chain untrusted, or a client cert wanted 502
        │   │   ├── UpstreamServerError  5xx after the retry budget                                      502
        │   │   │   └── UpstreamBusy     a 2xx answer that said "not now" (``retry_answer``), budget spent 503
        │   │   └── CircuitOpen          the circuit breaker refuses calls for a while                   503
        │   └── UpstreamRejected    a 4xx: the upstream calls our request wrong — a bug of ours or of a
        │                           mapping, not the caller's: SOAP Server with the request id, HTTP 502
        └── SmevFault               СМЭВ 3 answered a message-exchange call with a fault (``fault`` names it)
            ├── SmevMessageAlreadySent   our earlier send with this MessageID went through: not an error
            ├── SmevAckTargetNotFound    nothing unacknowledged with that id: acknowledged already
            ├── SmevStaleMessageId       the MessageID's time is too old: the clock, or a retry days late
            ├── SmevTemporaryFailure     SMEVFailure, DestinationOverflow…: retry later (also ServiceUnavailable)
            └── SmevOpsProblem           our configuration, certificate or content is wrong: alert ops

Anything else raised (a ``KeyError``…) is our bug too: SOAP Server / HTTP 500 with the request id,
logged with its traceback. ``answer()`` is the one reading of this tree; the SOAP face
(``bridge.soap.BridgeServiceBase``) and the HTTP face (the handler in ``bridge.app``) both use it.

Outside the tree, on purpose: exceptions of a peer's own protocol (``OAuthError``, ``MaxApiError``,
``SferumApiError``, ``ScheduleRefused``, ``AccountRequestInvalid``…) stay inside their adapter, which
turns each into one of the above where it reaches a face (``AccountRequestInvalid`` → ``UpstreamRefused``);
the core's working signals (``JobAlreadyRunning``, ``TokenRejected``, ``MappingValueError``, ``Interrupted``)
are caught by the code that asked; configuration and key errors (``ConfigError``, ``YamlFileError``,
``MappingLoadError``, ``SigningError``, the delivery path's ``TlsSetupError``) are ours: ``bridge check``
or the start finds them, and one that still shows in a call is a Server fault like any other bug.

``message`` is shown to the caller and logged, so it never carries personal data: it names
fields and rules, not values. ``str()`` of a ``DeliveryError`` is the line for the logs (upstream,
endpoint template, what happened), never a body or a full URL.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exc as sa


class BridgeError(Exception):
    faultcode = "Server"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CallerError(BridgeError):
    faultcode = "Client"
    http_status = 400


class InvalidField(CallerError):
    faultcode = "Client.InvalidField"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class RuleViolation(CallerError):
    faultcode = "Client.RuleViolation"

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule


class Conflict(RuleViolation):
    """The request is right but may not run now: the same work is already under way."""

    http_status = 409


class UpstreamRefused(CallerError):
    """The upstream looked at the caller's data and refused it (ЕСИА's ESIA-… codes)."""

    faultcode = "Client.UpstreamRefused"
    http_status = 422

    def __init__(self, upstream: str, code: str, message: str) -> None:
        super().__init__(f"{upstream} refused the request ({code}): {message}")
        self.upstream = upstream
        self.code = code


_ACCESS_STATUS = {"Client.Authentication": 401, "Client.Forbidden": 403, "Client.RateLimited": 429}


class AccessDenied(CallerError):
    """The МИС client is not let in: not authenticated, not from its addresses, over its rate."""

    def __init__(self, faultcode: str, message: str) -> None:
        super().__init__(message)
        self.faultcode = faultcode
        self.http_status = _ACCESS_STATUS.get(faultcode, 403)


class StoreUnavailable(BridgeError):
    """The bridge's store could not be reached or stayed locked past its timeout: nothing is wrong with the
    call, and repeating it later may succeed (what was written before the failure is in the store)."""

    faultcode = "Server.StoreUnavailable"
    http_status = 503

    def __init__(self, message: str = "хранилище шлюза сейчас недоступно; повторите вызов позже") -> None:
        super().__init__(message)


def store_unavailable(exc: BaseException) -> StoreUnavailable | None:
    """The database driver's "cannot answer now" (connection refused or lost, a lock or pool timeout) as a
    ``StoreUnavailable``; None for anything else (a constraint or an SQL error is a bug of ours: those are
    the driver's other error classes, never subclasses of these)."""
    if isinstance(exc, sa.OperationalError | sa.InterfaceError | sa.DisconnectionError | sa.TimeoutError):
        return StoreUnavailable()
    return None


class UpstreamError(BridgeError):
    faultcode = "Server.UpstreamUnavailable"
    http_status = 502


class ServiceUnavailable(UpstreamError):
    http_status = 503


class DeliveryError(UpstreamError):
    """What ``bridge.delivery.Upstream`` raises: ``upstream`` and ``endpoint`` (the template) name the call."""

    faultcode = "Server"

    def __init__(self, upstream: str, endpoint: str, detail: str) -> None:
        Exception.__init__(self, f"{upstream} {endpoint}: {detail}")
        self.upstream = upstream
        self.endpoint = endpoint
        self.message = self._caller_text()

    def _caller_text(self) -> str:
        return str(self)


class UpstreamUnavailable(DeliveryError):
    """The call did not get a usable answer; trying later may succeed."""

    faultcode = "Server.UpstreamUnavailable"
    http_status = 503
    _why = "обрыв соединения"

    def _caller_text(self) -> str:
        return f"Внешняя система {self.upstream} сейчас недоступна ({self._reason()}); повторите запрос позже"

    def _reason(self) -> str:
        return self._why


class UpstreamTimeout(UpstreamUnavailable):
    http_status = 504
    _why = "нет ответа вовремя"


class UpstreamConnectError(UpstreamUnavailable):
    http_status = 502
    _why = "нет соединения"


class UpstreamTlsError(UpstreamConnectError):
    """TLS failed (not retried: the next attempt meets the same certificate); ``problem`` says what, for ops."""

    _why = ("не установлено TLS-соединение: доверие TLS (сертификат сервера не проверен "
            "или нужен сертификат клиента)")

    def __init__(self, upstream: str, endpoint: str, problem: str) -> None:
        super().__init__(upstream, endpoint, problem)
        self.problem = problem


class UpstreamServerError(UpstreamUnavailable):
    http_status = 502

    def __init__(self, upstream: str, endpoint: str, status_code: int) -> None:
        self.status_code = status_code
        super().__init__(upstream, endpoint, f"HTTP {status_code} after retries")

    def _reason(self) -> str:
        return f"ошибка HTTP {self.status_code}"


class UpstreamBusy(UpstreamServerError):
    """An answer read by the caller's ``retry_answer`` as a transient refusal, until the budget ran out.

    ``status_code`` is the HTTP status it was counted as (429, 503…), ``reason`` the caller's
    words for it (``VK error 6``); the answer itself came with a 2xx status.
    """

    http_status = 503

    def __init__(self, upstream: str, endpoint: str, status_code: int, reason: str) -> None:
        self.status_code = status_code
        self.reason = reason
        DeliveryError.__init__(self, upstream, endpoint,
                               f"refused ({reason}, counted as HTTP {status_code}) after retries")


class CircuitOpen(UpstreamUnavailable):
    _why = "вызовы приостановлены после серии ошибок"

    def __init__(self, upstream: str, endpoint: str) -> None:
        super().__init__(upstream, endpoint, "circuit open, upstream is failing; not called")


class UpstreamRejected(DeliveryError):
    """A 4xx answer (other than 429): retrying the same request will not help."""

    def __init__(self, upstream: str, endpoint: str, status_code: int, body: bytes) -> None:
        super().__init__(upstream, endpoint, f"HTTP {status_code}")
        self.status_code = status_code
        self.body = body


class SmevFault(UpstreamError):
    """СМЭВ 3 refused a message-exchange call with one of the faults of its schema.

    ``fault`` is the fault element's name in the message-exchange faults namespace
    (``SMEVFailure``, ``InvalidContent``…), or ``SOAP-Server`` for a fault without a detail;
    ``code`` is СМЭВ's own code (``tsmev3:…``), ``reason`` a closed-set detail where the schema has
    one (``CertificateIsExpired``). СМЭВ's description is not kept in the message: a validation error
    can quote content, which carries personal data.
    """

    faultcode = "Server.SmevFault"
    reaction = "alert"

    def __init__(self, fault: str, message: str, *, code: str | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.fault = fault
        self.code = code
        self.reason = reason


class SmevMessageAlreadySent(SmevFault):
    """A repeated SendRequest/SendResponse: the first one reached СМЭВ; stop sending, wait for the answer."""

    reaction = "already-sent"


class SmevAckTargetNotFound(SmevFault):
    """Ack of a message that is not waiting for one (acknowledged before, or gone): nothing to do."""

    reaction = "already-acknowledged"


class SmevStaleMessageId(SmevFault):
    """The MessageID carries an old time. Never re-sent under a new id on its own: the first may have
    reached the recipient. Ops fix the clock (NTP) or decide about a request days late."""

    faultcode = "Server.SmevStaleMessageId"
    reaction = "alert"


class SmevTemporaryFailure(SmevFault, ServiceUnavailable):
    """СМЭВ cannot take the call now (SMEVFailure, DestinationOverflow, a fault without detail): retried
    with back-off by the delivery path; what is left after the budget reaches the caller as this."""

    faultcode = "Server.UpstreamUnavailable"
    reaction = "retry"


class SmevOpsProblem(SmevFault):
    """Something only ops can fix: the signature or certificate (SignatureVerificationFault), the
    registration (SenderIsNotRegistered, AccessDenied), the content or kind of information
    (InvalidContent, UnknownMessageType…). Counted and alerted on; retrying does not help."""

    faultcode = "Server.SmevRefused"
    reaction = "alert"


@dataclass(frozen=True)
class Answer:
    """What a face tells the caller about an exception: the SOAP faultcode, the HTTP status, the text."""

    faultcode: str
    http_status: int
    text: str
    bug: bool
    """Our own fault: the text is the request id only, and the face logs the traceback."""


def tree_faultcodes() -> frozenset[str]:
    """Every faultcode a class of the tree names, but the bare ``Server`` of a bug: what they say is
    said on purpose and free of personal data, so a face passes their text on as it is. Read each time:
    a package may add a branch (``bridge.smev``'s ``Server.AnswerPending``) after this module is loaded."""
    codes: set[str] = set()
    pending: list[type[BridgeError]] = [BridgeError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        code = cls.__dict__.get("faultcode")
        if isinstance(code, str) and code != "Server":
            codes.add(code)
    return frozenset(codes)


def answer(exc: BaseException, request_id: str | None) -> Answer:
    """The one reading of the tree above, for every face."""
    exc = store_unavailable(exc) or exc
    if isinstance(exc, BridgeError) and exc.faultcode != "Server":
        return Answer(exc.faultcode, exc.http_status, exc.message, bug=False)
    status = exc.http_status if isinstance(exc, BridgeError) else 500
    return Answer("Server", status, f"Внутренняя ошибка шлюза (request id {request_id})", bug=True)
