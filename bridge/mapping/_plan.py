"""Applying a mapping in one direction: its fields compiled into a flat plan, and the loop that runs it.

A *plan* is a tuple of groups, in the order of the fields in the file.  A group is a run of
consecutive fields whose source paths start with the same parent key (``patient.snils``,
``patient.sex``, ``patient.policy.number``, …), or a run of consecutive top-level source keys
(no parent).  The loop looks the parent up and checks that it is an object **once per record** for
the whole group (a missing parent makes every field of the group absent), then reads each field's
key from it.  A field is a plain tuple, not a closure: getting the value, skipping an absent one,
enforcing ``required``, converting and storing it all happen inline in the loop, and a function is
called only for a transform or for a path more than two levels deep.

Because fields keep their order and a group's parent is checked just where its first field would
have checked it, the result is the same as looking every field up from the record root: the same
output (keys in the same order), and for a bad record the same first failing field and reason.
"""

from __future__ import annotations

import collections.abc as cabc
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from bridge.mapping._errors import TransformError
from bridge.mapping._paths import Getter, Setter, make_getter, make_setter
from bridge.mapping._transforms import Converter

__all__ = ["MISSING", "Plan", "Rule", "Runner", "compile_plan", "make_runner"]

MISSING: Final = "required value is missing or empty"

Runner = Callable[[cabc.Mapping[str, Any]], dict[str, Any]]
#: ``fail(field, reason)``: the exception to raise for a field whose value cannot be converted.
Fail = Callable[[str, str], Exception]

# One field: (source key in the group's node, getter for a deeper source path or None,
#   converter or None, required, target parent key or None for a top-level target,
#   target key, setter for a target more than two levels deep or None, the field's МИС path).
_Field = tuple[str, Getter | None, Converter | None, bool, str | None, str, Setter | None, str]
# One group: (parent key or None, the reason if the parent is not an object,
#   the МИС path of its first field, its fields).
_Group = tuple[str | None, str, str, tuple[_Field, ...]]
Plan = tuple[_Group, ...]

_ABSENT: Final[cabc.Mapping[str, Any]] = MappingProxyType({})


@dataclass(frozen=True)
class Rule:
    """One field in one direction: ``field`` (its МИС path) names it in errors."""

    field: str
    source: tuple[str, ...]
    target: tuple[str, ...]
    convert: Converter | None
    required: bool


def _compile_field(rule: Rule, parent: str | None) -> _Field:
    rest = rule.source if parent is None else rule.source[1:]
    get = make_getter(rest, (parent,)) if parent is not None and len(rest) > 1 else None
    target = rule.target
    if len(target) == 1:
        target_parent, put = None, None
    elif len(target) == 2:
        target_parent, put = target[0], None
    else:
        target_parent, put = target[0], make_setter(target)
    return (rest[0], get, rule.convert, rule.required, target_parent, target[-1], put, rule.field)


def compile_plan(rules: Iterable[Rule]) -> Plan:
    """The plan for ``rules`` (the fields of one direction, in file order)."""
    groups: list[tuple[str | None, str, str, list[_Field]]] = []
    for rule in rules:
        parent = rule.source[0] if len(rule.source) > 1 else None
        if not groups or groups[-1][0] != parent:
            groups.append((parent, f"expected an object at '{parent}'", rule.field, []))
        groups[-1][3].append(_compile_field(rule, parent))
    return tuple((parent, reason, first, tuple(fields)) for parent, reason, first, fields in groups)


def make_runner(plan: Plan, fail: Fail) -> Runner:
    """The function converting a record by ``plan``.

    A :class:`TransformError` (a missing required value, a path through a non-object, a value a
    transform refuses) becomes ``fail(field, reason)``; anything else a transform raises (a bug)
    becomes ``fail(field, "transform failed (<type>)")`` – never with the exception's text, which
    might quote the value.
    """

    def run(src: cabc.Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        name = ""
        node: cabc.Mapping[str, Any]
        try:
            for parent, reason, name, fields in plan:
                if parent is None:
                    node = src
                else:
                    found = src.get(parent)
                    if found is None:
                        node = _ABSENT
                    elif type(found) is dict or isinstance(found, cabc.Mapping):
                        node = found
                    else:
                        raise TransformError(reason)
                # ``name`` (the field being converted) is what the except clauses report.
                for key, get, convert, required, target_parent, target_key, put, name in fields:  # noqa: B007
                    value = node.get(key) if get is None else get(node)
                    if value is None or value == "":
                        if required:
                            raise TransformError(MISSING)
                        continue
                    if convert is not None:
                        value = convert(value)
                        if value is None:
                            if required:
                                raise TransformError(MISSING)
                            continue
                    if target_parent is None:
                        out[target_key] = value
                    elif put is None:
                        child = out.get(target_parent)
                        if child is None:
                            out[target_parent] = {target_key: value}
                        else:
                            child[target_key] = value
                    else:
                        put(out, value)
        except TransformError as exc:
            raise fail(name, exc.reason) from None
        except Exception as exc:
            # A bug in a transform: its message might quote the value, so it is not kept.
            raise fail(name, f"transform failed ({type(exc).__name__})") from None
        return out

    return run
