"""bridge/soap/_faults.py `sanitize()`: a Server fault the tree of bridge/errors.py defines keeps its
text (it is said on purpose and free of personal data); any other Server fault says the request id only."""

from __future__ import annotations

import pytest
from spyne import Fault

from bridge.errors import (
    BridgeError,
    SmevOpsProblem,
    SmevStaleMessageId,
    UpstreamTimeout,
    answer,
    tree_faultcodes,
)
from bridge.smev import SmevAnswerPending
from bridge.soap._faults import sanitize


def _sent(exc: BridgeError) -> Fault:
    """What the SOAP face sends for ``exc``: the tree's answer, then the sanitizer."""
    said = answer(exc, "req-1")
    return sanitize(Fault(faultcode=said.faultcode, faultstring=said.text))


@pytest.mark.parametrize("exc", [
    SmevAnswerPending("ЕСИА", 7),
    SmevOpsProblem("InvalidContent", "register: СМЭВ отклонила содержимое запроса [InvalidContent]"),
    SmevStaleMessageId("SenderMessageIdStale", "send: MessageID устарел: проверьте часы шлюза (NTP)"),
    UpstreamTimeout("smev", "/smev/v1.2/ws", "no answer in 10 s"),
], ids=lambda exc: type(exc).__name__)
def test_a_server_fault_of_the_tree_reaches_the_mis_with_its_text(exc: BridgeError) -> None:
    fault = _sent(exc)
    assert fault.faultcode == exc.faultcode and fault.faultcode.startswith("Server.")
    assert fault.faultstring == exc.message
    assert "Внутренняя ошибка шлюза" not in fault.faultstring


def test_the_repeat_press_is_told_when_to_come_back() -> None:
    fault = _sent(SmevAnswerPending("ЕСИА", 7))
    assert fault.faultcode == "Server.AnswerPending"
    assert fault.faultstring.startswith("Ответ ЕСИА ещё не пришёл")
    assert "Повторите через 7 с" in fault.faultstring


def test_the_tree_names_its_codes_and_not_the_bare_server() -> None:
    codes = tree_faultcodes()
    assert {"Server.AnswerPending", "Server.SmevRefused", "Server.SmevStaleMessageId",
            "Server.UpstreamUnavailable", "Client.InvalidField"} <= codes
    assert "Server" not in codes


@pytest.mark.parametrize(("code", "text"), [
    ("Server", "Traceback (most recent call last): KeyError 'Snils'"),
    ("Server.Whatever", "spyne internals: <lxml.etree._Element at 0x7f>"),
    ("Server.AnswerPendingX", "looks like ours, is not"),
])
def test_any_other_server_fault_says_the_request_id_only(code: str, text: str) -> None:
    fault = sanitize(Fault(faultcode=code, faultstring=text))
    assert fault.faultstring.startswith("Внутренняя ошибка шлюза (request id ")
    assert text not in fault.faultstring


def test_a_bug_stays_a_bare_server_fault_with_the_request_id() -> None:
    fault = _sent(BridgeError("internal detail with 054-623-673 60"))
    assert fault.faultcode == "Server"
    assert fault.faultstring == "Внутренняя ошибка шлюза (request id req-1)"


def test_kept_texts_are_still_masked_and_bounded() -> None:
    fault = sanitize(Fault(faultcode="Server.SmevRefused", faultstring="СНИЛС 054-623-673 60 " + "x" * 900))
    assert "054-623-673 60" not in fault.faultstring
    assert len(fault.faultstring) <= 500
