"""СМЭВ message ids: RFC 4122 UUIDs of version 1 (time-based), made from the bridge's clock.

types-1.1.xsd: MessageID "Генерируется в соответствии с RFC-4122, по варианту 1 (на основании MAC-адреса и
текущего времени)". СМЭВ refuses another version (InvalidMessageIdFormat) and an old time
(StaleMessageId). The time comes from the bridge's ``Clock`` (so the test clock moves it too); the
node is a random 48-bit number with the multicast bit set (RFC 4122 §4.5: no MAC address is leaked),
the clock sequence random per process. Within a process an id never repeats: faster than the
clock, the time moves on by 100 ns; when the clock goes back (by a second or more), the clock
sequence changes and the id keeps the clock's time (so a wrong clock shows, as StaleMessageId).
"""

from __future__ import annotations

import secrets
import threading
import uuid
from datetime import UTC, datetime, timedelta

__all__ = ["message_id_time", "new_message_id"]

# 100-ns intervals between the Gregorian epoch (1582-10-15) and the Unix epoch.
_GREGORIAN_OFFSET = 0x01B21DD213814000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NODE = secrets.randbits(48) | (1 << 40)
_clock_seq = secrets.randbits(14)
_lock = threading.Lock()
_last_ticks = 0
_ONE_SECOND = 10_000_000  # in 100-ns ticks


def new_message_id(now: datetime) -> str:
    """A version-1 UUID for ``now`` (timezone-aware), lowercase, as the schema's pattern wants."""
    global _last_ticks, _clock_seq
    ticks = (now - _EPOCH) // timedelta(microseconds=1) * 10 + _GREGORIAN_OFFSET
    with _lock:  # RFC 4122 §4.2.1: never the same (time, clock sequence) twice from one generator
        if ticks <= _last_ticks:
            if _last_ticks - ticks < _ONE_SECOND:
                ticks = _last_ticks + 1  # faster than the clock: move on by 100 ns
            else:
                _clock_seq = (_clock_seq + 1) & 0x3FFF  # the clock went back: a new clock sequence
        _last_ticks = ticks
        clock_seq = _clock_seq
    time_low = ticks & 0xFFFFFFFF
    time_mid = (ticks >> 32) & 0xFFFF
    time_hi_version = ((ticks >> 48) & 0x0FFF) | (1 << 12)
    value = uuid.UUID(fields=(time_low, time_mid, time_hi_version, 0x80 | (clock_seq >> 8), clock_seq & 0xFF, _NODE))
    return str(value)


def message_id_time(message_id: str) -> datetime | None:
    """The time inside a version-1 RFC 4122 UUID, or None when the text is not one."""
    try:
        value = uuid.UUID(message_id)
    except ValueError:
        return None
    if value.version != 1 or value.variant != uuid.RFC_4122 or str(value) != message_id:
        return None
    return _EPOCH + timedelta(microseconds=(value.time - _GREGORIAN_OFFSET) // 10)
