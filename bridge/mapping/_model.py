"""A loaded mapping: its fields, its examples, and the compiled converters for both directions.

Each direction is compiled once, at load time, into a plan (``_plan``): the fields that apply
to it, in file order, with fields read from the same parent object grouped so that the parent
is looked up once per record.  Applying a mapping runs that plan – *get* each source value by
path, *convert* it with the transform or table, *set* it at the target path – and turns
whatever fails into a :class:`MappingValueError` of the field that failed.
"""

from __future__ import annotations

import collections.abc as cabc
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

from bridge.mapping._errors import MappingValueError
from bridge.mapping._paths import find_conflict, split_path
from bridge.mapping._plan import Rule, Runner, compile_plan, make_runner
from bridge.mapping._transforms import TRANSFORMS, Transform, table_transform
from bridge.metrics import MAPPING_ERRORS

__all__ = ["DIRECTIONS", "TO_MIS", "TO_UPSTREAM", "Direction", "Example", "FieldMapping", "Mapping"]

Direction = Literal["both", "to_upstream", "to_mis"]
TO_UPSTREAM: Final = "to_upstream"
TO_MIS: Final = "to_mis"
DIRECTIONS: tuple[Direction, ...] = ("both", TO_UPSTREAM, TO_MIS)



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


def _rule(fm: FieldMapping, direction: str) -> Rule:
    """The field in ``direction``: from which path, to which, through which converter."""
    transform = fm.converter()
    if direction == TO_UPSTREAM:
        convert = transform.to_upstream if transform else None
        return Rule(fm.mis, split_path(fm.mis), split_path(fm.upstream), convert, fm.required)
    convert = transform.to_mis if transform else None
    return Rule(fm.mis, split_path(fm.upstream), split_path(fm.mis), convert, fm.required)


def _failure(mapping: str, direction: str) -> Callable[[str, str], MappingValueError]:
    """The error for a field of ``mapping`` that failed in ``direction`` (counted in
    ``bridge_mapping_errors_total``)."""

    def fail(field_name: str, reason: str) -> MappingValueError:
        MAPPING_ERRORS.labels(mapping=mapping, field=field_name, direction=direction).inc()
        return MappingValueError(mapping, field_name, direction, reason)

    return fail


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
        self._run_to_upstream = self._runner(TO_UPSTREAM)
        self._run_to_mis = self._runner(TO_MIS)

    def _runner(self, direction: str) -> Runner:
        """The compiled converter of ``direction`` (see ``_plan``)."""
        plan = compile_plan(_rule(fm, direction) for fm in self.fields if fm.applies_to(direction))
        return make_runner(plan, _failure(self.name, direction))

    def to_upstream(self, mis: cabc.Mapping[str, Any]) -> dict[str, Any]:
        """Convert a МИС-side record to the upstream shape.

        :raises MappingValueError: for a value that cannot be converted (message without value).
        """
        if type(mis) is not dict and not isinstance(mis, cabc.Mapping):
            raise TypeError(f"{self.name}.to_upstream expects a mapping, not {type(mis).__name__}")
        return self._run_to_upstream(mis)

    def to_mis(self, upstream: cabc.Mapping[str, Any]) -> dict[str, Any]:
        """Convert an upstream record to the МИС-side shape (see :meth:`to_upstream`)."""
        if type(upstream) is not dict and not isinstance(upstream, cabc.Mapping):
            raise TypeError(f"{self.name}.to_mis expects a mapping, not {type(upstream).__name__}")
        return self._run_to_mis(upstream)

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
