"""Checking requests against MAX's OpenAPI schema (a copy of the dev.max.ru snapshot, v0.0.32).

OpenAPI 3.0 schemas are turned into JSON Schema for ``jsonschema``: ``nullable`` becomes a
``null`` alternative, a ``discriminator`` becomes an if/then dispatch on the mapped schemas
(with the base schema's own copy, ``X__base``, used inside them so the dispatch does not
recurse), and two defects of the published schema are repaired: ``UserIdsList.user_ids``
holds a *parameter* object instead of a schema, and some numeric limits are strings. Where the
schema is stricter than MAX (fields it requires that clients omit and MAX accepts, or that MAX's
own answers lack), the corrections of _corrections.py are applied first, each with its evidence.
Answers can be checked too (``check_answer``): the sandbox's tests hold its answers to the
corrected schema, as MAX's recorded answers are held.

The schema's ``securitySchemes`` still says the token goes in the query: a TamTam
leftover; the real API wants the ``Authorization`` header, and so does the sandbox.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from adapters.max.sandbox._corrections import CORRECTIONS, Correction, apply

SCHEMA_PATH = Path(__file__).with_name("bot-api.openapi.yaml")
_REF = "#/components/schemas/"
_NUMERIC = ("maxLength", "minLength", "maxItems", "minItems", "maximum", "minimum")


class RequestInvalid(Exception):
    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where


@dataclass(frozen=True)
class _Operation:
    parameters: tuple[dict[str, Any], ...]
    body_schema: dict[str, Any] | None
    body_required: bool
    answer_schema: dict[str, Any] | None


class OpenApiChecker:
    def __init__(self, path: Path = SCHEMA_PATH, corrections: tuple[Correction, ...] = CORRECTIONS) -> None:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        schemas: dict[str, Any] = spec["components"]["schemas"]
        apply(schemas, corrections)
        discriminated = {name for name, s in schemas.items() if isinstance(s, dict) and "discriminator" in s}
        converted: dict[str, Any] = {}
        for name, schema in schemas.items():
            plain = _convert(schema, discriminated)
            if name in discriminated:
                converted[f"{name}__base"] = plain
                converted[name] = _dispatch(plain, schema["discriminator"])
            else:
                converted[name] = plain
        self._definitions = converted
        self._operations: dict[tuple[str, str], _Operation] = {}
        for template, item in spec["paths"].items():
            for method, op in item.items():
                if not isinstance(op, dict) or method.startswith("x-"):
                    continue
                body = _json_schema(op.get("requestBody"))
                answer = _json_schema((op.get("responses") or {}).get("200"), spec["components"].get("responses"))
                self._operations[(method.upper(), template)] = _Operation(
                    parameters=tuple(op.get("parameters") or ()),
                    body_schema=_convert(body, discriminated) if body else None,
                    body_required=bool((op.get("requestBody") or {}).get("required")),
                    answer_schema=_convert(answer, discriminated) if answer else None,
                )

    def knows(self, method: str, template: str) -> bool:
        return (method.upper(), template) in self._operations

    def check(self, method: str, template: str, path_params: Mapping[str, str], query: Mapping[str, str],
              body: Any, has_body: bool) -> None:
        """Raise RequestInvalid naming the parameter or body field that breaks the schema."""
        op = self._operations[(method.upper(), template)]
        for param in op.parameters:
            source = path_params if param["in"] == "path" else query if param["in"] == "query" else None
            if source is None:
                continue
            name = param["name"]
            if name not in source:
                if param.get("required"):
                    raise RequestInvalid(name, "required parameter is missing")
                continue
            schema = _convert(param.get("schema") or {}, set())
            ref = schema.get("$ref", "")
            target = self._definitions.get(ref.rsplit("/", 1)[-1], {}) if ref else schema
            value = _coerce(source[name], target, name)
            self._validate(value, schema, name)
        if op.body_schema is not None:
            if not has_body:
                if op.body_required:
                    raise RequestInvalid("body", "request body is required")
                return
            self._validate(body, op.body_schema, "body")

    def check_answer(self, method: str, template: str, answer: Any) -> None:
        """Raise RequestInvalid naming the field of a 200 answer that breaks the (corrected) schema."""
        schema = self._operations[(method.upper(), template)].answer_schema
        if schema is not None:
            self._validate(answer, schema, "answer")

    def check_object(self, name: str, value: Any) -> None:
        """Raise RequestInvalid when ``value`` is not a valid ``components.schemas[name]``."""
        self._validate(value, {"$ref": f"#/definitions/{name}"}, name)

    def _validate(self, value: Any, schema: dict[str, Any], where: str) -> None:
        root = {**schema, "definitions": self._definitions}
        validator = jsonschema.Draft7Validator(root)
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        if error is not None:
            path = ".".join(str(p) for p in error.absolute_path)
            # Name the rule, not the value: values may be personal data.
            raise RequestInvalid(f"{where}.{path}" if path else where,
                                 f"fails {error.validator} {error.validator_value!r}"[:200])


@lru_cache(maxsize=1)
def default_checker() -> OpenApiChecker:
    return OpenApiChecker()


def _json_schema(holder: Any, shared: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The application/json schema of a request body or response object (None when it has none)."""
    if isinstance(holder, dict) and str(holder.get("$ref", "")).startswith("#/components/responses/"):
        holder = (shared or {}).get(holder["$ref"].rsplit("/", 1)[-1])
    if not isinstance(holder, dict):
        return None
    schema = holder.get("content", {}).get("application/json", {}).get("schema")
    return schema if isinstance(schema, dict) else None


def _convert(node: Any, discriminated: set[str], in_all_of: bool = False) -> Any:
    if isinstance(node, list):
        return [_convert(item, discriminated, in_all_of) for item in node]
    if not isinstance(node, dict):
        return node
    node = copy.copy(node)
    if "name" in node and "schema" in node and "in" not in node:  # a parameter object where a schema belongs
        node = dict(node["schema"])
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(_REF):
        name = ref[len(_REF):]
        target = f"{name}__base" if in_all_of and name in discriminated else name
        return {"$ref": f"#/definitions/{target}"}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("discriminator", "description", "example", "readOnly", "writeOnly", "xml", "nullable", "format"):
            continue
        if key in _NUMERIC and isinstance(value, str) and value.lstrip("-").isdigit():
            value = int(value)
        if key == "required" and not isinstance(value, list):
            continue
        if key == "allOf":
            out[key] = [_convert(item, discriminated, True) for item in value]
        elif key == "properties":
            out[key] = {k: _convert(v, discriminated) for k, v in value.items()}
        else:
            out[key] = _convert(value, discriminated)
    if node.get("nullable"):
        return {"anyOf": [{"type": "null"}, out]}
    return out


def _dispatch(base: dict[str, Any], discriminator: Mapping[str, Any]) -> dict[str, Any]:
    prop = discriminator["propertyName"]
    mapping: Mapping[str, Any] = discriminator.get("mapping") or {}
    branches: list[dict[str, Any]] = []
    for key, target in mapping.items():
        ref = target["$ref"] if isinstance(target, dict) else target  # some mappings are {$ref: …} objects
        branches.append({"if": {"properties": {prop: {"const": key}}, "required": [prop]},
                         "then": {"$ref": "#/definitions/" + str(ref)[len(_REF):]}})
    enum_check = {"properties": {prop: {"enum": list(mapping)}}}
    return {"allOf": [base, enum_check, *branches]}


def _coerce(raw: str, schema: Mapping[str, Any], name: str) -> Any:
    schema = next((a for a in schema.get("anyOf", ()) if a.get("type") != "null"), schema)  # nullable
    kind = _type_of(schema)
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise RequestInvalid(name, "must be an integer") from None
    if kind == "boolean":
        if raw.lower() not in ("true", "false"):
            raise RequestInvalid(name, "must be true or false")
        return raw.lower() == "true"
    if kind == "array":
        items = schema.get("items") or {}
        return [_coerce(part, items, name) for part in raw.split(",") if part != ""]
    return raw


def _type_of(schema: Mapping[str, Any]) -> str | None:
    if "type" in schema:
        return str(schema["type"])
    for alternative in schema.get("anyOf", ()):
        if alternative.get("type") != "null":
            return _type_of(alternative)
    return None
