"""Dotted paths (``Address.City``): parsing, and compiled getters/setters for them.

A path is a dot-separated list of dict keys; list indexes are not supported (SOAP repeated
elements are mapped in code, not in YAML).  Getters treat a missing key or ``None`` anywhere
on the way as "absent"; meeting a non-object where an object is expected is an error (with
the path, never the value).  Setters create the intermediate dicts.
"""

from __future__ import annotations

import collections.abc as cabc
import re
from collections.abc import Callable, Iterable
from typing import Any

from bridge.mapping._errors import TransformError

__all__ = ["Getter", "Setter", "find_conflict", "make_getter", "make_setter", "split_path"]

Getter = Callable[[cabc.Mapping[str, Any]], Any]
Setter = Callable[[dict[str, Any], Any], None]

_SEGMENT = re.compile(r"[^.\s]+")


def split_path(text: str) -> tuple[str, ...]:
    """``"Address.City"`` → ``("Address", "City")``.

    :raises ValueError: (with a reason fit for a load error) if ``text`` is not a valid path.
    """
    parts = tuple(text.split("."))
    if not text or not all(_SEGMENT.fullmatch(part) for part in parts):
        raise ValueError("a path is one or more names separated by dots, without spaces (e.g. Address.City)")
    return parts


def make_getter(parts: tuple[str, ...], prefix: tuple[str, ...] = ()) -> Getter:
    """A function returning the value at ``parts`` in a dict, ``None`` when it is absent.

    ``prefix`` is the path of that dict in the record (when the caller has already walked it),
    so that an error names the whole path: ``expected an object at 'patient.policy'``. (The plan,
    bridge/mapping/_plan.py, reads one- and two-level source paths itself and calls this only for
    deeper ones.)
    """

    *parents, last = parts
    full = prefix + parts
    steps = [
        (key, f"expected an object at '{'.'.join(full[: len(prefix) + i + 1])}'") for i, key in enumerate(parents)
    ]
    if len(steps) == 1:
        ((parent, reason),) = steps

        def get_two(src: cabc.Mapping[str, Any]) -> Any:
            node = src.get(parent)
            if node is None:
                return None
            if type(node) is not dict and not isinstance(node, cabc.Mapping):
                raise TransformError(reason)
            return node.get(last)

        return get_two

    def get_nested(src: cabc.Mapping[str, Any]) -> Any:
        node: Any = src
        for key, reason in steps:
            node = node.get(key)
            if node is None:
                return None
            if type(node) is not dict and not isinstance(node, cabc.Mapping):
                raise TransformError(reason)
        return node.get(last)

    return get_nested


def make_setter(parts: tuple[str, ...]) -> Setter:
    """A function storing a value at ``parts`` in a dict, creating intermediate dicts (the plan
    stores one- and two-level targets itself and calls this only for deeper ones).

    The loader guarantees no two target paths in one direction are equal or prefixes of one
    another, so an intermediate node, once created, is always a dict.
    """
    *parents, last = parts

    def set_nested(out: dict[str, Any], value: Any) -> None:
        node = out
        for key in parents:
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            node = child
        node[last] = value

    return set_nested


def find_conflict(paths: Iterable[tuple[int, tuple[str, ...]]]) -> tuple[int, int, str] | None:
    """First pair of target paths that would overwrite each other.

    ``paths`` are ``(index, parts)``; the result is ``(earlier_index, later_index, problem)``,
    for equal paths (problem ``"the same target path"``) or a path that is a prefix of another
    (``Address`` vs ``Address.City``: problem ``"'Address' contains 'Address.City'"``).
    """
    seen: list[tuple[int, tuple[str, ...]]] = []
    for index, parts in paths:
        for other_index, other in seen:
            if other == parts:
                return other_index, index, "the same target path"
            shorter, longer = (other, parts) if len(other) < len(parts) else (parts, other)
            if longer[: len(shorter)] == shorter:
                return other_index, index, f"'{'.'.join(shorter)}' contains '{'.'.join(longer)}'"
        seen.append((index, parts))
    return None
