"""Errors that adapters raise and every face (SOAP, HTTP) turns into an answer.

    BridgeError
    ├── CallerError          the caller's request is wrong: SOAP faultcode Client.*, HTTP 4xx
    │   ├── InvalidField     one field is missing or malformed (names the field)
    │   ├── RuleViolation    the request breaks a business rule (names the rule)
    │   └── UpstreamRefused  the upstream refused the data as invalid (carries its code)
    ├── ServiceUnavailable   an upstream cannot answer now: SOAP Server.*, HTTP 503
    └── SmevFault            СМЭВ 3 answered a message-exchange call with a fault (``fault`` names it)
        ├── SmevMessageAlreadySent   our earlier send with this MessageID went through: not an error
        ├── SmevAckTargetNotFound    nothing unacknowledged with that id: acknowledged already
        ├── SmevStaleMessageId       the MessageID's time is too old: the clock, or a retry days late
        ├── SmevTemporaryFailure     SMEVFailure, DestinationOverflow…: retry later (also ServiceUnavailable)
        └── SmevOpsProblem           our configuration, certificate or content is wrong: alert ops

Messages are shown to the caller and logged, so they never carry personal data: they
name fields and rules, not values.
"""

from __future__ import annotations


class BridgeError(Exception):
    faultcode = "Server"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CallerError(BridgeError):
    faultcode = "Client"


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


class UpstreamRefused(CallerError):
    faultcode = "Client.UpstreamRefused"

    def __init__(self, upstream: str, code: str, message: str) -> None:
        super().__init__(f"{upstream} refused the request ({code}): {message}")
        self.upstream = upstream
        self.code = code


class ServiceUnavailable(BridgeError):
    faultcode = "Server.UpstreamUnavailable"


class SmevFault(BridgeError):
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
