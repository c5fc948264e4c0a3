"""YAML loading that remembers where every key and item came from.

``load_yaml`` reads a file with PyYAML's *safe* rules (no custom tags, no Python objects) and
returns a :class:`YamlDocument`: the plain data plus the 1-based line of every mapping key and
sequence item, so that whoever validates the data (the mapping loader, the config loader) can
point at ``file:line`` in its own error messages.

Syntax errors and duplicate keys raise :class:`YamlFileError` with the file and line.  PyYAML
itself silently keeps the last of two equal keys; here that is an error, because in a
hand-edited file it is nearly always a copy-paste slip.

Error messages carry PyYAML's *problem* text only, never the source snippet PyYAML can attach,
so that a broken file's content does not end up in logs.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["YamlDocument", "YamlFileError", "YamlPath", "load_yaml", "parse_yaml"]

YamlPath = tuple[str | int, ...]
"""A location in the data: mapping keys and sequence indexes, e.g. ``("fields", 3, "table")``."""

_MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlFileError(ValueError):
    """A YAML file that cannot be read as data: syntax error, duplicate key, several documents."""

    def __init__(self, file: str | Path, line: int | None, message: str) -> None:
        self.file = str(file)
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.file, self.line, self.message))


@dataclass(frozen=True)
class YamlDocument:
    """Parsed YAML: ``data`` as plain Python values and the line of every key and item."""

    file: str
    data: Any
    _lines: dict[YamlPath, int] = field(repr=False, compare=False)

    def line_of(self, path: YamlPath) -> int | None:
        """1-based line of the key (for a mapping entry) or item (for a sequence entry) at ``path``.

        ``()`` is the document itself.  ``None`` when the path does not exist in the file (or
        only exists through a ``<<`` merge key).
        """
        return self._lines.get(tuple(path))

    def nearest_line(self, path: YamlPath) -> int | None:
        """Line of ``path``, or of its closest existing ancestor: for "missing key" messages."""
        for end in range(len(path), -1, -1):
            line = self._lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None


def load_yaml(path: Path) -> YamlDocument:
    """Read and parse one YAML file (a single document).

    :raises YamlFileError: on syntax errors, duplicate keys, more than one document or text that
        is not UTF-8/UTF-16.
    :raises OSError: when the file cannot be read.
    """
    return parse_yaml(Path(path).read_bytes(), file=str(path))


def parse_yaml(text: str | bytes, file: str = "<string>") -> YamlDocument:
    """Parse YAML text; ``file`` is only used in error messages.  See :func:`load_yaml`."""
    lines: dict[YamlPath, int] = {}
    try:
        loader = yaml.SafeLoader(text)
        try:
            root = loader.get_single_node()
            data = None
            if root is not None:
                _Indexer(file, lines).walk(root, ())
                data = loader.construct_document(root)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        raise _from_marked(file, exc) from None
    except yaml.reader.ReaderError as exc:
        raise _from_reader(file, text, exc) from None
    except yaml.YAMLError as exc:  # pragma: no cover - PyYAML errors are marked in practice
        raise YamlFileError(file, None, type(exc).__name__) from None
    return YamlDocument(file=file, data=data, _lines=lines)


def _from_reader(file: str, text: str | bytes, exc: yaml.reader.ReaderError) -> YamlFileError:
    if exc.encoding != "unicode":
        return YamlFileError(file, None, f"not UTF-8 or UTF-16 text ({exc.reason})")
    decoded = text if isinstance(text, str) else text.decode("utf-8", errors="replace")
    line = decoded.count("\n", 0, exc.position) + 1
    return YamlFileError(file, line, f"control character U+{exc.character:04X} is not allowed in YAML")


def _from_marked(file: str, exc: yaml.MarkedYAMLError) -> YamlFileError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    parts = [p for p in (exc.context, exc.problem) if p]
    if (
        exc.context
        and exc.context_mark is not None
        and exc.problem_mark is not None
        and exc.context_mark.line != exc.problem_mark.line
    ):
        parts[0] = f"{exc.context} (line {exc.context_mark.line + 1})"
    return YamlFileError(file, line, ", ".join(parts) or "invalid YAML")


class _Indexer:
    """Walks the node graph once: records lines per path and rejects duplicate keys."""

    def __init__(self, file: str, lines: dict[YamlPath, int]) -> None:
        self._file = file
        self._lines = lines
        self._seen: set[int] = set()
        self._keys = SafeConstructor()

    def walk(self, node: Node, path: YamlPath) -> None:
        self._lines.setdefault(path, node.start_mark.line + 1)
        # An alias points at the very same node object; walking it once is enough (and keeps
        # "billion laughs" style documents and recursive anchors from blowing up).
        if id(node) in self._seen:
            return
        self._seen.add(id(node))
        if isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                self.walk(item, (*path, index))
        elif isinstance(node, MappingNode):
            self._walk_mapping(node, path)

    def _walk_mapping(self, node: MappingNode, path: YamlPath) -> None:
        first_line: dict[Hashable, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                self.walk(value_node, (*path, "<<"))
                continue
            key = self._key(key_node)
            line = key_node.start_mark.line + 1
            if key in first_line:
                raise YamlFileError(
                    self._file, line, f"duplicate key {key!r} (first defined on line {first_line[key]})"
                )
            first_line[key] = line
            child: YamlPath = (*path, key) if isinstance(key, str | int) else (*path, str(key))
            self._lines[child] = line
            self.walk(value_node, child)

    def _key(self, key_node: Node) -> Hashable:
        if not isinstance(key_node, ScalarNode):
            raise YamlFileError(
                self._file, key_node.start_mark.line + 1, "mapping keys must be plain scalars"
            )
        key = self._keys.construct_object(key_node)
        if not isinstance(key, Hashable):  # pragma: no cover - scalars are hashable
            raise YamlFileError(self._file, key_node.start_mark.line + 1, "unhashable key")
        return key
