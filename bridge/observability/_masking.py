"""Masking of personal data (152-ФЗ) before anything is written to a log.

Two nets, because either alone leaks:
- by key: values under keys that name personal data (snils, phone, names, birth dates,
  passwords, tokens, keys) are replaced whatever they look like;
- by shape: in every other string, anything shaped like a SNILS, a Russian phone number,
  a date, a bearer token or a JWT is replaced, which catches personal data inside
  exception texts and free-form messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "***"

_SENSITIVE_KEY = re.compile(
    r"(snils|phone|mobile|surname|last_?name|first_?name|middle_?name|patronymic|full_?name|fio"
    r"|birth|password|passwd|secret|token|authorization|api_?key|private|cookie|\bname\b|^name$)",
    re.IGNORECASE,
)

# Order matters: longer shapes first.
_SHAPES: tuple[re.Pattern[str], ...] = (
    # JWT (three base64url parts) and bearer tokens
    re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    # SNILS: 054-623-673 60, 054 623 673 60, 05462367360
    re.compile(r"(?<!\d)\d{3}[- ]?\d{3}[- ]?\d{3}[- ]?\d{2}(?!\d)"),
    # phones: +7(916)1234567, +7 916 123-45-67, 8-916-123-45-67, 79161234567
    re.compile(r"(?<![\w])(?:\+7|8|7)[\s(-]*\d{3}[\s)-]*\d{3}[\s-]*\d{2}[\s-]*\d{2}(?!\d)"),
    # dates: 17.08.1979, 1979-08-17 (ISO timestamps of log records are added after masking)
    re.compile(r"(?<!\d)\d{2}\.\d{2}\.\d{4}(?!\d)"),
    re.compile(r"(?<![\d-])\d{4}-\d{2}-\d{2}(?![\d:T])"),
)


def _keep_prefix(match: re.Match[str]) -> str:
    return match.group(1) + MASK


def mask_text(text: str) -> str:
    """Replace every personal-data-shaped run in ``text`` with the mask."""
    for shape in _SHAPES:
        text = shape.sub(_keep_prefix, text) if shape.groups else shape.sub(MASK, text)
    return text


def _mask_value(key: str | None, value: Any) -> Any:
    if key is not None and _SENSITIVE_KEY.search(key) and value not in (None, "", [], {}):
        return MASK
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {k: _mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mask_value(None, v) for v in value]
    if isinstance(value, BaseException):
        return mask_text(repr(value))
    return value


_STRUCTURAL_KEYS = frozenset({"event", "level", "logger", "timestamp", "request_id"})


def mask_personal_data(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: mask personal data in every value of the event."""
    for key, value in list(event_dict.items()):
        if key in _STRUCTURAL_KEYS:
            if key == "event" and isinstance(value, str):
                event_dict[key] = mask_text(value)
            continue
        event_dict[key] = _mask_value(key, value)
    return event_dict
