"""What time it is for the bridge: the system clock, or a test clock shifted through a file.

Everything that schedules (the outbox, the scheduler, reminders) asks one ``Clock``. In
production it is ``system_clock``. For tests that must move time forward across real processes
(reminders 24 hours ahead, a bridge killed and restarted in between), ``FileClock`` adds an
offset read from a file: every process pointed at the same file (``test_clock_file``) sees the
same shifted time. It is refused unless the bridge runs with ``sandbox: true``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class FileClock:
    """System time plus the offset (seconds, a float) written in ``path``; a missing file is 0."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._offset = 0.0

    def offset(self) -> float:
        try:
            stat = os.stat(self._path)
        except FileNotFoundError:
            return 0.0
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp != self._stamp:
                text = self._path.read_text(encoding="ascii").strip()
                self._offset = float(text) if text else 0.0
                self._stamp = stamp
            return self._offset

    def __call__(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset())

    @staticmethod
    def shift_to(path: Path, moment: datetime) -> None:
        """Make every FileClock on ``path`` read ``moment`` now (and run on from there)."""
        offset = (moment - datetime.now(UTC)).total_seconds()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(f"{offset:.3f}\n", encoding="ascii")
        os.replace(tmp, path)
