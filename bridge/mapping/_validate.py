"""Validation of a parsed mapping file, with ``file:line: location`` errors.

Validation collects every problem of a file (so ``bridge check`` can show them all at once);
the loader raises the first one.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from bridge.mapping._errors import MappingLoadError
from bridge.mapping._model import DIRECTIONS, TO_MIS, TO_UPSTREAM, Direction, Example, FieldMapping, Mapping
from bridge.mapping._paths import find_conflict, split_path
from bridge.mapping._transforms import TRANSFORMS
from bridge.yamlfile import YamlDocument, YamlPath

__all__ = ["parse_mapping"]

_TOP_KEYS = ("mapping", "description", "fields", "examples")
_FIELD_KEYS = ("mis", "upstream", "label", "compare", "required", "direction", "transform", "table")
_EXAMPLE_KEYS = ("name", "mis", "upstream")
_NAME = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*")


def _suggest(word: str, options: Iterable[str]) -> str:
    """``; did you mean 'x'?`` for a likely typo, preferring candidates with the same first letter."""
    close = difflib.get_close_matches(word, list(options), n=3, cutoff=0.6)
    if not close:
        return ""
    best = next((c for c in close if c[:1] == word[:1]), close[0])
    return f"; did you mean '{best}'?"


def _dotted(path: YamlPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class _Checker:
    """Validates one parsed file, collecting errors located by YAML path."""

    def __init__(self, doc: YamlDocument, file: Path) -> None:
        self.doc = doc
        self.file = file
        self.errors: list[MappingLoadError] = []

    def error(self, path: YamlPath, message: str) -> None:
        line = self.doc.nearest_line(path)
        self.errors.append(MappingLoadError(self.file, line, _dotted(path) or None, message))

    def keys(self, data: dict[Any, Any], path: YamlPath, allowed: tuple[str, ...]) -> None:
        for key in data:
            if key not in allowed:
                also = _suggest(str(key), allowed)
                self.error((*path, key), f"unknown key '{key}' (allowed: {', '.join(allowed)}){also}")

    def text(self, data: dict[Any, Any], path: YamlPath, key: str, *, required: bool) -> str | None:
        value = data.get(key)
        if value is None:
            if required:
                self.error(path if key not in data else (*path, key), f"'{key}' is required")
            return None
        if not isinstance(value, str) or not value.strip():
            self.error((*path, key), f"'{key}' must be a non-empty string")
            return None
        return value

    def flag(self, data: dict[Any, Any], path: YamlPath, key: str) -> bool:
        value = data.get(key, False)
        if not isinstance(value, bool):
            self.error((*path, key), f"'{key}' must be true or false")
            return False
        return value

    def path(self, data: dict[Any, Any], path: YamlPath, key: str) -> str | None:
        value = self.text(data, path, key, required=True)
        if value is None:
            return None
        try:
            split_path(value)
        except ValueError as exc:
            self.error((*path, key), str(exc))
            return None
        return value


def _check_field(ck: _Checker, item: Any, path: YamlPath) -> FieldMapping | None:
    if not isinstance(item, dict):
        ck.error(path, "a field must be a mapping with keys mis, upstream, label, ...")
        return None
    before = len(ck.errors)
    ck.keys(item, path, _FIELD_KEYS)
    mis = ck.path(item, path, "mis")
    upstream = ck.path(item, path, "upstream")
    label = ck.text(item, path, "label", required=True)
    compare = ck.flag(item, path, "compare")
    required = ck.flag(item, path, "required")
    direction = item.get("direction", "both")
    if direction not in DIRECTIONS:
        ck.error((*path, "direction"), f"direction must be one of {', '.join(DIRECTIONS)}")
    transform = item.get("transform")
    if transform is not None and not isinstance(transform, str):
        ck.error((*path, "transform"), "'transform' must be the name of a transform")
        transform = None
    elif transform is not None and transform not in TRANSFORMS:
        also = _suggest(transform, TRANSFORMS)
        known = ", ".join(sorted(TRANSFORMS))
        ck.error((*path, "transform"), f"unknown transform '{transform}' (known: {known}){also}")
    table = item.get("table")
    if table is not None:
        table = _check_table(ck, table, (*path, "table"))
    if "transform" in item and "table" in item:
        ck.error((*path, "table"), "a field has either 'transform' or 'table', not both")
    if len(ck.errors) > before or mis is None or upstream is None or label is None:
        return None
    return FieldMapping(
        mis=mis,
        upstream=upstream,
        label=label,
        compare=compare,
        required=required,
        direction=cast(Direction, direction),
        transform=transform,
        table=table,
        line=ck.doc.line_of(path),
    )


def _check_table(ck: _Checker, table: Any, path: YamlPath) -> dict[str, str] | None:
    if not isinstance(table, dict) or not table:
        ck.error(path, 'a table must be a non-empty mapping of values, e.g. {"1": M, "2": F}')
        return None
    before = len(ck.errors)
    first_key: dict[str, Any] = {}
    for key, value in table.items():
        if not isinstance(key, str) or not isinstance(value, str):
            ck.error((*path, key), 'table keys and values must be strings; quote them, e.g. "1": "M"')
        elif value in first_key:
            ck.error(
                (*path, key),
                f"the table is not one-to-one: '{first_key[value]}' and '{key}' both map to '{value}', "
                "so it cannot be inverted for the other direction",
            )
        else:
            first_key[value] = key
    return dict(table) if len(ck.errors) == before else None


def _check_conflicts(ck: _Checker, fields: list[tuple[int, FieldMapping]]) -> None:
    for direction, side in ((TO_UPSTREAM, "upstream"), (TO_MIS, "mis")):
        active = [(i, fm) for i, fm in fields if fm.applies_to(direction)]
        conflict = find_conflict((i, split_path(getattr(fm, side))) for i, fm in active)
        if conflict is not None:
            first, second, problem = conflict
            other = f"fields[{first}] (line {ck.doc.line_of(('fields', first))})"
            what = (
                f"{problem} as {other}" if problem.startswith("the same") else f"overlaps {other}: {problem}"
            )
            ck.error(("fields", second, side), f"{what}; in {direction} one would overwrite the other")


def _check_example(ck: _Checker, item: Any, path: YamlPath, names: set[str]) -> Example | None:
    if not isinstance(item, dict):
        ck.error(path, "an example must be a mapping with keys name, mis, upstream")
        return None
    before = len(ck.errors)
    ck.keys(item, path, _EXAMPLE_KEYS)
    name = ck.text(item, path, "name", required=True)
    if name is not None:
        if name in names:
            ck.error((*path, "name"), f"duplicate example name '{name}'")
        names.add(name)
    for side in ("mis", "upstream"):
        if side not in item:
            ck.error(path, f"'{side}' is required")
        elif not isinstance(item[side], dict):
            ck.error((*path, side), f"'{side}' must be a mapping of field values")
        else:
            _check_example_values(ck, item[side], (*path, side))
    if len(ck.errors) > before or name is None:
        return None
    return Example(name=name, mis=item["mis"], upstream=item["upstream"], line=ck.doc.line_of(path))


def _check_example_values(ck: _Checker, value: Any, path: YamlPath) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _check_example_values(ck, child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            _check_example_values(ck, child, (*path, index))
    elif isinstance(value, dt.date):
        ck.error(path, "YAML reads this unquoted value as a date object, not text; put it in quotes")


def parse_mapping(doc: YamlDocument, file: Path) -> tuple[Mapping | None, list[MappingLoadError]]:
    """Validate a parsed mapping file: the mapping, or ``None`` and every problem found."""
    ck = _Checker(doc, file)
    data = doc.data
    if not isinstance(data, dict):
        what = "empty" if data is None else "not a YAML mapping"
        ck.error((), f"the file is {what}; expected keys {', '.join(_TOP_KEYS)}")
        return None, ck.errors
    ck.keys(data, (), _TOP_KEYS)
    name = ck.text(data, (), "mapping", required=True)
    if name is not None and not _NAME.fullmatch(name):
        ck.error(("mapping",), "the mapping name must be '<peer>.<name>' in lower case, e.g. esia.account")
    description = ck.text(data, (), "description", required=False) or ""
    fields: list[tuple[int, FieldMapping]] = []
    raw_fields = data.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        ck.error(("fields",) if "fields" in data else (), "'fields' must be a non-empty list")
    else:
        for index, item in enumerate(raw_fields):
            fm = _check_field(ck, item, ("fields", index))
            if fm is not None:
                fields.append((index, fm))
        _check_conflicts(ck, fields)
    examples: list[Example] = []
    raw_examples = data.get("examples", [])
    if not isinstance(raw_examples, list):
        ck.error(("examples",), "'examples' must be a list")
    else:
        names: set[str] = set()
        for index, item in enumerate(raw_examples):
            example = _check_example(ck, item, ("examples", index), names)
            if example is not None:
                examples.append(example)
    if ck.errors or name is None:
        return None, ck.errors
    mapping = Mapping(name, (fm for _, fm in fields), description=description, examples=examples, file=file)
    return mapping, []
