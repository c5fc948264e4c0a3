"""The mapping engine's exceptions.

Two families, on purpose kept apart:

* :class:`MappingLoadError` – a problem in a mapping *file* (found while loading it).  Its text
  points at ``file:line`` and the YAML location (``fields[3].transform``).
* :class:`MappingValueError` – a *value* that a loaded mapping could not convert at run time.
  Its text names the mapping, the field and the reason, **never the value**: values are a
  patient's personal data (152-ФЗ) and error texts end up in logs and SOAP faults.

Transforms signal a bad value with :class:`TransformError` carrying only a reason; the engine
wraps it into a :class:`MappingValueError` (raised ``from None`` so that no chained exception
can drag the value along either).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["MappingLoadError", "MappingValueError", "TransformError"]


class MappingLoadError(ValueError):
    """A mapping file (or directory of them) that cannot be loaded.

    ``str()`` looks like
    ``mappings/esia/account.yaml:14: fields[3].transform: unknown transform 'snlis' (known: ...)``;
    ``line`` and ``field`` are ``None`` when they do not apply.
    """

    def __init__(self, file: str | Path, line: int | None, field: str | None, message: str) -> None:
        self.file = str(file)
        self.line = line
        self.field = field
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.file, self.line, self.field, self.message))


class MappingValueError(ValueError):
    """A value that could not be converted; the message never contains the value.

    :param mapping: mapping name, e.g. ``esia.account``
    :param field: the МИС-side path of the field, e.g. ``MobilePhone`` (in both directions)
    :param direction: ``to_upstream`` or ``to_mis``
    :param reason: what was expected, e.g. ``expected 11 digits starting with 8 (8XXXXXXXXXX)``
    """

    def __init__(self, mapping: str, field: str, direction: str, reason: str) -> None:
        self.mapping = mapping
        self.field = field
        self.direction = direction
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"mapping {self.mapping}, field {self.field} ({self.direction}): {self.reason}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.mapping, self.field, self.direction, self.reason))


class TransformError(ValueError):
    """Raised by a transform function: ``reason`` says what was expected, without the value."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)
