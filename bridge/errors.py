"""Errors that adapters raise and every face (SOAP, HTTP) turns into an answer.

    BridgeError
    ├── CallerError          the caller's request is wrong: SOAP faultcode Client.*, HTTP 4xx
    │   ├── InvalidField     one field is missing or malformed (names the field)
    │   ├── RuleViolation    the request breaks a business rule (names the rule)
    │   └── UpstreamRefused  the upstream refused the data as invalid (carries its code)
    └── ServiceUnavailable   an upstream cannot answer now: SOAP Server.*, HTTP 503

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
