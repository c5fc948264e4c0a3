from __future__ import annotations

import io
import json

import pytest

from bridge.observability import configure_logging, get_logger, mask_personal_data, mask_text


@pytest.mark.parametrize(
    "text",
    [
        "snils 054-623-673 60 here", "05462367360", "054 623 673 60", "call +7(916)1234567",
        "8-916-123-45-67", "89161234567", "+7 916 123 45 67", "born 17.08.1979", "born 1979-08-17",
        "Authorization: Bearer abcdefghijklmnop", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
    ],
)
def test_shapes_of_personal_data_are_masked(text: str) -> None:
    masked = mask_text(text)
    assert "***" in masked
    for token in ("054", "916", "1979", "abcdefghijklmnop", "eyJ"):
        assert token not in masked


def test_timestamps_and_ordinary_numbers_survive() -> None:
    assert mask_text("took 12.5 ms, attempt 3, HTTP 503") == "took 12.5 ms, attempt 3, HTTP 503"
    assert mask_text("2026-11-22T02:39:48Z") == "2026-11-22T02:39:48Z"


def test_sensitive_keys_are_masked_whatever_their_value() -> None:
    event = mask_personal_data(None, "info", {
        "event": "x", "last_name": "Иванова", "password": "12345678", "snils": "anything",
        "nested": {"FirstName": "Мария", "count": 3}, "upstream": "esia",
    })
    assert event["last_name"] == event["password"] == event["snils"] == "***"
    assert event["nested"] == {"FirstName": "***", "count": 3}
    assert event["upstream"] == "esia"


def test_exceptions_are_rendered_masked() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    try:
        raise ValueError("patient 054-623-673 60 phone 89161234567")
    except ValueError:
        get_logger("t").exception("boom")
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert "054-623-673" not in line["exception"] and "89161234567" not in line["exception"]
    assert "ValueError" in line["exception"]


def test_configuring_again_applies_to_loggers_already_in_use() -> None:
    log = get_logger("bridge.test.reconfigure")
    first, second = io.StringIO(), io.StringIO()
    try:
        configure_logging("INFO", stream=first)
        log.debug("hidden.at_info")        # the logger is assembled (and cached) at INFO here
        configure_logging("DEBUG", stream=second)
        log.debug("shown.at_debug", snils="112-233-445 95")
    finally:
        configure_logging("INFO", stream=io.StringIO())
    assert first.getvalue() == ""
    [line] = [json.loads(text) for text in second.getvalue().splitlines() if text.startswith("{")]
    assert line["event"] == "shown.at_debug" and "445" not in json.dumps(line, ensure_ascii=False)
