"""The house rules that hold by structure (docs/architecture.md "Layout"): read from the source with
``ast``, so a change that breaks one fails here, not in a review.

- no import loop among the modules of ``bridge`` and ``adapters``, counting imports inside functions;
- an import inside a function says on its line (or the line above) why it is not at the top;
- no adapter imports another package's private module (``adapters.<other>._x``);
- the core names no adapter package; client packages do not import their sandboxes;
- a configuration that still names ``max`` as an adapter is told what to write instead;
- a store migrated when the bot's tables lived in ``adapters/max`` upgrades as it is.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from adapters.tmk import adapter as tmk_adapter
from bridge.adapters import load_adapter, migration_paths
from bridge.cli import app
from bridge.config import ConfigError, Settings
from bridge.store import Store

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bridge", "adapters")


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            if "migrations" not in parts:   # alembic scripts are loaded by file, not imported
                found[".".join(parts)] = path
    return found


def _imports(tree: ast.AST) -> Iterator[tuple[ast.Import | ast.ImportFrom, list[str]]]:
    """Each import with the module names it reaches (``from p import m`` reaches ``p.m`` if a module)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield node, [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node, [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]


def _graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node, targets in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            submodules = [t for t in targets[1:] if t in modules]
            reached = submodules if isinstance(node, ast.ImportFrom) and len(submodules) == len(node.names) \
                else [t for t in targets if t in modules]
            edges[name].update(t for t in reached if t != name)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_loop_hidden_in_a_function() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(edges) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_loops_even_through_imports_inside_functions() -> None:
    assert _cycles(_graph(_modules())) == []


def test_an_import_inside_a_function_says_why() -> None:
    unexplained = []
    for path in _modules().values():
        relative = path.relative_to(ROOT).as_posix()
        lines = path.read_text(encoding="utf-8").splitlines()
        for function in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    line, above = lines[node.lineno - 1], lines[node.lineno - 2].strip()
                    if "#" not in line and not above.startswith("#"):
                        unexplained.append(f"{relative}:{node.lineno}: {line.strip()}")
    assert unexplained == []


def test_no_adapter_imports_another_packages_private_module() -> None:
    trespasses = []
    for name, path in _modules().items():
        if not name.startswith("adapters."):
            continue
        own = name.split(".")[1]
        for _node, targets in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            for target in targets[:1] + [t for t in targets[1:] if t in _modules()]:
                parts = target.split(".")
                if parts[0] == "adapters" and len(parts) > 2 and parts[1] != own \
                        and any(p.startswith("_") for p in parts[2:]):
                    trespasses.append(f"{name} → {target}")
    assert trespasses == []


def test_the_core_imports_no_adapter() -> None:
    imported = {t for name, path in _modules().items() if name.startswith("bridge")
                for _node, targets in _imports(ast.parse(path.read_text(encoding="utf-8"))) for t in targets}
    assert {t for t in imported if t.startswith("adapters")} == set()


def test_client_packages_do_not_import_their_sandboxes() -> None:
    code = ("import sys, adapters.hubservice, adapters.sferum, adapters.max; "
            "print(sorted(m for m in sys.modules if m.startswith('adapters') and 'sandbox' in m))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


@pytest.mark.parametrize("sandbox", ["true", "false"])
def test_a_config_naming_max_is_told_to_write_tmk(tmp_path: Path, sandbox: str) -> None:
    config = tmp_path / "bridge.yaml"
    config.write_text(f"sandbox: {sandbox}\nadapters: [esia, max]\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["check", "--config", str(config)])
    assert result.exit_code == 1, result.exception
    assert "adapters: 'max' is not an adapter" in result.output
    assert "write 'tmk' instead of 'max' in adapters" in result.output
    assert "rename adapter_settings.max to adapter_settings.tmk" in result.output
    try:
        load_adapter("hubservice")
    except ConfigError as exc:   # a client package that never was an adapter says just that
        assert exc.problems == ["adapters: package adapters.hubservice has no 'adapter' object"]
    else:
        raise AssertionError("hubservice is not an adapter")


def test_the_default_adapters_are_the_ones_the_adapters_package_declares() -> None:
    import adapters

    assert Settings().adapters == list(adapters.DEFAULT) == ["esia", "egisz", "tmk"]
    assert all(load_adapter(name).name == name for name in adapters.DEFAULT)


def test_a_store_migrated_before_the_bot_moved_upgrades_as_it_is(tmp_path: Path) -> None:
    # The layout before the move: the MAX branch (m001, then the bot's m002) in one directory.
    before = tmp_path / "max-migrations"
    before.mkdir()
    for location in tmk_adapter.migrations:
        for script in location.glob("m*.py"):
            shutil.copy(script, before / script.name)
    assert sorted(p.name for p in before.iterdir()) == ["m001_rate_slot.py", "m002_tmk.py"]
    store = Store(f"sqlite:///{tmp_path / 'bridge.db'}")
    store.upgrade([before])
    with store.engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO tmk_seen_update (key, seen_at) VALUES ('u1', CURRENT_TIMESTAMP)"))
        recorded = {row[0] for row in connection.execute(sa.text("SELECT version_num FROM alembic_version"))}
    assert "m002" in recorded
    store.upgrade(migration_paths([tmk_adapter]))   # the new layout finds the revision the store records
    with store.engine.connect() as connection:
        assert {row[0] for row in connection.execute(sa.text("SELECT version_num FROM alembic_version"))} == recorded
        assert connection.execute(sa.text("SELECT count(*) FROM tmk_seen_update")).scalar() == 1
    store.dispose()
