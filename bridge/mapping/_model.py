"""A loaded mapping: its fields, its examples, and the compiled converters for both directions.

Each field is compiled once, at load time, into one small closure per direction that it
applies to: *get* the source value by path, *convert* it with the transform or table, *set*
it at the target path.  Applying a mapping is then a loop over those closures; the loop turns
whatever a closure raises into a :class:`MappingValueError` of that closure's field.
"""

from __future__ import annotations

import collections.abc as cabc
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

from bridge.mapping._errors import MappingValueError, TransformError
from bridge.mapping._paths import find_conflict, make_getter, make_setter, split_path
from bridge.mapping._transforms import TRANSFORMS, Transform, table_transform
from bridge.metrics import MAPPING_ERRORS

__all__ = ["DIRECTIONS", "TO_MIS", "TO_UPSTREAM", "Direction", "Example", "FieldMapping", "Mapping"]

Direction = Literal["both", "to_upstream", "to_mis"]
TO_UPSTREAM: Final = "to_upstream"
TO_MIS: Final = "to_mis"
DIRECTIONS: tuple[Direction, ...] = ("both", TO_UPSTREAM, TO_MIS)

_Step = Callable[[cabc.Mapping[str, Any], dict[str, Any]], None]
_MISSING = "required value is missing or empty"


@dataclass(frozen=True)
class FieldMapping:
    """One ``fields:`` entry of a mapping file.

    ``mis``/``upstream`` are dotted paths; ``transform`` is a name from ``TRANSFORMS`` and
    ``table`` a ``{mis value: upstream value}`` dict – at most one of the two is set (neither
    means the value is copied as is).  ``line`` is where the entry starts in its file.
    """

    mis: str
    upstream: str
    label: str
    compare: bool = False
    required: bool = False
    direction: Direction = "both"
    transform: str | None = None
    table: cabc.Mapping[str, str] | None = field(default=None, hash=False)
    line: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.table is not None and not isinstance(self.table, MappingProxyType):
            object.__setattr__(self, "table", MappingProxyType(dict(self.table)))
        if self.transform is not None and self.table is not None:
            raise ValueError(f"field {self.mis}: either a transform or a table, not both")
        if self.transform is not None and self.transform not in TRANSFORMS:
            raise ValueError(f"field {self.mis}: unknown transform {self.transform!r}")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"field {self.mis}: direction must be one of {', '.join(DIRECTIONS)}")

    def applies_to(self, direction: str) -> bool:
        """Whether the field is converted ``to_upstream`` / ``to_mis``."""
        return self.direction in ("both", direction)

    def converter(self) -> Transform | None:
        """The field's transform (a table is returned as a transform too); ``None`` = identity."""
        if self.table is not None:
            return table_transform(self.table)
        return TRANSFORMS[self.transform] if self.transform is not None else None


@dataclass(frozen=True)
class Example:
    """One ``examples:`` entry: a МИС-side record and the upstream record it corresponds to."""

    name: str
    mis: cabc.Mapping[str, Any]
    upstream: cabc.Mapping[str, Any]
    line: int | None = field(default=None, compare=False)


def _compile(fm: FieldMapping, direction: str) -> _Step:
    """The field's step in ``direction``: get the source value, convert it, set it at the target.

    A top-level key (most paths) is read or written in the step itself, a nested path through a
    getter or setter from ``_paths``.  The step raises :class:`TransformError` for a missing
    required value, a path through a non-object or a value its transform refuses (and a buggy
    transform may raise anything); :meth:`Mapping._apply` reports it as the field's error.
    """
    transform = fm.converter()
    if direction == TO_UPSTREAM:
        source, target = split_path(fm.mis), split_path(fm.upstream)
        convert = transform.to_upstream if transform else None
    else:
        source, target = split_path(fm.upstream), split_path(fm.mis)
        convert = transform.to_mis if transform else None
    key, target_key = source[0], target[0]
    get = make_getter(source) if len(source) > 1 else None
    put = make_setter(target) if len(target) > 1 else None
    required = fm.required

    def step(src: cabc.Mapping[str, Any], out: dict[str, Any]) -> None:
        value = src.get(key) if get is None else get(src)
        if value is None or value == "":
            if required:
                raise TransformError(_MISSING)
            return
        if convert is not None:
            value = convert(value)
            if value is None:
                if required:
                    raise TransformError(_MISSING)
                return
        if put is None:
            out[target_key] = value
        else:
            put(out, value)

    return step


class Mapping:
    """A named, compiled field mapping between a МИС-side dict and an upstream dict."""

    def __init__(
        self,
        name: str,
        fields: Iterable[FieldMapping],
        *,
        description: str = "",
        examples: Iterable[Example] = (),
        file: Path | None = None,
    ) -> None:
        self.name = name
        self.description = description
        self.fields: tuple[FieldMapping, ...] = tuple(fields)
        self.examples: tuple[Example, ...] = tuple(examples)
        self.file = file
        by_mis: dict[str, FieldMapping] = {}
        for fm in self.fields:
            by_mis.setdefault(fm.mis, fm)
        self._by_mis = MappingProxyType(by_mis)
        for direction in (TO_UPSTREAM, TO_MIS):
            targets = self.target_paths(direction)
            conflict = find_conflict(enumerate(split_path(path) for path in targets))
            if conflict is not None:
                raise ValueError(f"mapping {name}: {direction} targets conflict: {conflict[2]}")
        self._steps: dict[str, tuple[_Step, ...]] = {}
        self._field_of: dict[_Step, str] = {}   # a step → the МИС path of its field, for errors
        for direction in (TO_UPSTREAM, TO_MIS):
            steps = []
            for fm in self.fields:
                if fm.applies_to(direction):
                    step = _compile(fm, direction)
                    steps.append(step)
                    self._field_of[step] = fm.mis
            self._steps[direction] = tuple(steps)

    def to_upstream(self, mis: cabc.Mapping[str, Any]) -> dict[str, Any]:
        """Convert a МИС-side record to the upstream shape.

        :raises MappingValueError: for a value that cannot be converted (message without value).
        """
        if type(mis) is not dict and not isinstance(mis, cabc.Mapping):
            raise TypeError(f"{self.name}.to_upstream expects a mapping, not {type(mis).__name__}")
        return self._apply(mis, TO_UPSTREAM)

    def to_mis(self, upstream: cabc.Mapping[str, Any]) -> dict[str, Any]:
        """Convert an upstream record to the МИС-side shape (see :meth:`to_upstream`)."""
        if type(upstream) is not dict and not isinstance(upstream, cabc.Mapping):
            raise TypeError(f"{self.name}.to_mis expects a mapping, not {type(upstream).__name__}")
        return self._apply(upstream, TO_MIS)

    def _apply(self, src: cabc.Mapping[str, Any], direction: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        steps = self._steps[direction]
        step: _Step | None = None
        try:
            for step in steps:
                step(src, out)
        except TransformError as exc:
            raise self._error(step, direction, exc.reason) from None
        except Exception as exc:
            # A bug in a transform: its message might quote the value, so it is not kept.
            raise self._error(step, direction, f"transform failed ({type(exc).__name__})") from None
        return out

    def _error(self, step: _Step | None, direction: str, reason: str) -> MappingValueError:
        """The error for the field whose ``step`` raised (counted in ``bridge_mapping_errors_total``)."""
        field_name = self._field_of[step] if step is not None else ""
        MAPPING_ERRORS.labels(mapping=self.name, field=field_name, direction=direction).inc()
        return MappingValueError(self.name, field_name, direction, reason)

    def convert(self, record: cabc.Mapping[str, Any], direction: str) -> dict[str, Any]:
        """``to_upstream`` or ``to_mis`` by name."""
        if direction == TO_UPSTREAM:
            return self.to_upstream(record)
        if direction == TO_MIS:
            return self.to_mis(record)
        raise ValueError(f"direction must be {TO_UPSTREAM} or {TO_MIS}, not {direction!r}")

    def field(self, mis: str) -> FieldMapping:
        """The field whose МИС-side path is ``mis``.  :raises KeyError: if there is none."""
        return self._by_mis[mis]

    @property
    def compare_fields(self) -> tuple[FieldMapping, ...]:
        """Fields marked ``compare: true`` (compared against upstream data in CheckPatient)."""
        return tuple(fm for fm in self.fields if fm.compare)

    def target_paths(self, direction: str) -> list[str]:
        """Target paths written in ``direction`` (upstream paths for ``to_upstream``)."""
        return [
            fm.upstream if direction == TO_UPSTREAM else fm.mis
            for fm in self.fields
            if fm.applies_to(direction)
        ]

    def __repr__(self) -> str:
        return f"<Mapping {self.name} ({len(self.fields)} fields)>"
