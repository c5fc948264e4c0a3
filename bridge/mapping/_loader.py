"""Loading mapping files and directories of them.

:func:`load_mapping` and :meth:`MappingSet.load` raise the first problem;
:func:`collect_directory` returns every problem (for ``bridge check`` / ``bridge mappings test``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from bridge.mapping._errors import MappingLoadError
from bridge.mapping._model import Mapping
from bridge.mapping._validate import parse_mapping
from bridge.yamlfile import YamlDocument, YamlFileError, load_yaml

__all__ = ["MappingSet", "collect_directory", "load_mapping"]


def _load_file(path: Path) -> tuple[Mapping | None, list[MappingLoadError], YamlDocument | None]:
    try:
        doc = load_yaml(path)
    except YamlFileError as exc:
        return None, [MappingLoadError(path, exc.line, None, exc.message)], None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return None, [MappingLoadError(path, None, None, f"cannot read the file ({reason})")], None
    mapping, errors = parse_mapping(doc, path)
    return mapping, errors, doc


def load_mapping(path: Path) -> Mapping:
    """Load one mapping file.  :raises MappingLoadError: for the first problem in it."""
    mapping, errors, _ = _load_file(Path(path))
    if errors or mapping is None:
        raise errors[0]
    return mapping


class _Collected(NamedTuple):
    mappings: list[Mapping]
    errors: list[MappingLoadError]


def collect_directory(directory: Path) -> _Collected:
    """Load every ``*.yaml`` under ``directory`` (recursively, hidden paths skipped).

    Returns the mappings that loaded and every load error, including duplicate mapping names
    and ``*.yml`` files (which would otherwise be silently ignored).
    """
    directory = Path(directory)
    if not directory.is_dir():
        return _Collected([], [MappingLoadError(directory, None, None, "mapping directory not found")])
    files = sorted(
        (p for p in directory.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()),
        key=lambda p: p.relative_to(directory).as_posix(),
    )
    result = _Collected([], [])
    owner: dict[str, Path] = {}
    for path in files:
        if any(part.startswith(".") for part in path.relative_to(directory).parts):
            continue
        if path.suffix == ".yml":
            result.errors.append(
                MappingLoadError(path, None, None, "mapping files must end in .yaml, not .yml")
            )
            continue
        mapping, errors, doc = _load_file(path)
        result.errors.extend(errors)
        if mapping is None or doc is None:
            continue
        if mapping.name in owner:
            result.errors.append(
                MappingLoadError(
                    path,
                    doc.line_of(("mapping",)),
                    "mapping",
                    f"mapping name '{mapping.name}' is already used by {owner[mapping.name]}",
                )
            )
            continue
        owner[mapping.name] = path
        result.mappings.append(mapping)
    return result


class MappingSet:
    """All mappings of a directory, by name."""

    def __init__(self, mappings: Iterable[Mapping]) -> None:
        self._by_name: dict[str, Mapping] = {}
        for mapping in mappings:
            if mapping.name in self._by_name:
                raise ValueError(f"duplicate mapping name '{mapping.name}'")
            self._by_name[mapping.name] = mapping

    @classmethod
    def load(cls, directory: Path) -> MappingSet:
        """Load every ``*.yaml`` under ``directory``.  :raises MappingLoadError: the first problem."""
        collected = collect_directory(directory)
        if collected.errors:
            raise collected.errors[0]
        return cls(collected.mappings)

    def __getitem__(self, name: str) -> Mapping:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name)) or "none"
            raise KeyError(f"no mapping named '{name}' (loaded: {known})") from None

    def get(self, name: str) -> Mapping | None:
        return self._by_name.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Mapping]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    @property
    def names(self) -> list[str]:
        return sorted(self._by_name)

    def __repr__(self) -> str:
        return f"<MappingSet {', '.join(self.names)}>"
