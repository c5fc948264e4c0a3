"""Running the ``examples:`` of mapping files, both ways, with readable diffs.

Example data is synthetic (written by the integrator), so unlike run-time errors the diffs
here do show values.
"""

from __future__ import annotations

import collections.abc as cabc
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.mapping._errors import MappingLoadError, MappingValueError
from bridge.mapping._loader import collect_directory
from bridge.mapping._model import TO_MIS, TO_UPSTREAM, Example, Mapping

__all__ = ["ExampleFailure", "ExampleResult", "check_directory", "run_example", "run_examples"]


@dataclass(frozen=True)
class ExampleResult:
    """The outcome of one example in one direction; ``diff`` explains a failure line by line."""

    mapping: str
    example: str
    direction: str
    passed: bool
    diff: tuple[str, ...] = ()
    file: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class ExampleFailure:
    """A failing example, as reported by :func:`check_directory` next to load errors."""

    file: str | None
    line: int | None
    mapping: str
    example: str
    direction: str
    diff: tuple[str, ...]

    @classmethod
    def from_result(cls, result: ExampleResult) -> ExampleFailure:
        return cls(result.file, result.line, result.mapping, result.example, result.direction, result.diff)

    def __str__(self) -> str:
        where = self.file or self.mapping
        if self.line is not None:
            where += f":{self.line}"
        head = f"{where}: example '{self.example}' of {self.mapping} fails {self.direction}"
        return "\n".join([head, *(f"    {line}" for line in self.diff)])


def _flatten(data: cabc.Mapping[Any, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, cabc.Mapping) and value:
            out.update(_flatten(value, path + "."))
        else:
            out[path] = value
    return out


def _under(path: str, roots: set[str]) -> bool:
    return any(path == root or path.startswith(root + ".") for root in roots)


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and bool(a == b)


def _diff(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    lines = []
    for path, want in expected.items():
        if path not in actual:
            lines.append(f"{path}: expected {want!r}, but the result has no value")
        elif not _same(want, actual[path]):
            lines.append(f"{path}: expected {want!r}, got {actual[path]!r}")
    lines.extend(
        f"{path}: not in the example, but the result has {got!r}"
        for path, got in actual.items()
        if path not in expected
    )
    return lines


def run_example(mapping: Mapping, example: Example, direction: str) -> ExampleResult:
    """Convert one side of ``example`` in ``direction`` and compare with the other side.

    Target paths written only by fields that do not apply in ``direction`` (one-way fields)
    are left out of the comparison.
    """
    source, target = (
        (example.mis, example.upstream) if direction == TO_UPSTREAM else (example.upstream, example.mis)
    )
    file = str(mapping.file) if mapping.file is not None else None

    def result(diff: list[str]) -> ExampleResult:
        return ExampleResult(mapping.name, example.name, direction, not diff, tuple(diff), file, example.line)

    try:
        actual = mapping.convert(source, direction)
    except MappingValueError as exc:
        return result([f"error: {exc}"])
    side = "upstream" if direction == TO_UPSTREAM else "mis"
    skipped = {getattr(fm, side) for fm in mapping.fields if not fm.applies_to(direction)}
    skipped -= set(mapping.target_paths(direction))
    expected = {path: value for path, value in _flatten(target).items() if not _under(path, skipped)}
    return result(_diff(expected, _flatten(actual)))


def run_examples(mapping_set: Iterable[Mapping]) -> list[ExampleResult]:
    """Every example of every mapping, checked ``to_upstream`` and then ``to_mis``."""
    return [
        run_example(mapping, example, direction)
        for mapping in mapping_set
        for example in mapping.examples
        for direction in (TO_UPSTREAM, TO_MIS)
    ]


def check_directory(directory: Path) -> list[MappingLoadError | ExampleFailure]:
    """Every problem with the mappings under ``directory``: load errors, then failing examples.

    Unlike :meth:`MappingSet.load` this does not stop at the first problem; an empty list
    means all files load and all examples pass.
    """
    collected = collect_directory(directory)
    problems: list[MappingLoadError | ExampleFailure] = list(collected.errors)
    problems.extend(
        ExampleFailure.from_result(result) for result in run_examples(collected.mappings) if not result.passed
    )
    return problems
