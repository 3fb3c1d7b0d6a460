"""Imports flow one way: server -> (schema, seed) -> resolvers -> (policies, federation) -> migrations -> core.

Every import counts, including those inside functions and ``if TYPE_CHECKING:`` blocks: a lazy or
type-only import upward is still a layer that leans on the one above it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Higher imports lower, never the reverse; packages of the same rank do not import each other.
RANKS = {
    "core": 0,
    "migrations": 1,
    "policies": 2,
    "federation": 2,
    "resolvers": 3,
    "schema": 4,
    "seed": 4,
    "server": 5,
    "benchmarks": 6,
}


def python_files(top: Path) -> list[Path]:
    """Our modules under ``top`` (npm packages the benchmark installs under benchmarks/ are not ours)."""
    return sorted(p for p in top.rglob("*.py") if "node_modules" not in p.parts) if top.is_dir() else []


def imported_modules(path: Path, root: Path, submodules: bool = True) -> Iterator[tuple[int, str]]:
    """(line, absolute dotted name) of every import in the file, relative imports resolved; with
    ``submodules``, also each ``from X import name`` as ``X.name`` (it may be a module).
    ``govshare.core.errors`` is read as ``core.errors``: the installed name of the folder core/."""
    for line, name in _imports(path, root, submodules):
        yield line, name.removeprefix("govshare.")


def _imports(path: Path, root: Path, submodules: bool) -> Iterator[tuple[int, str]]:
    package = list(path.relative_to(root).parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            yield node.lineno, name
            for alias in node.names if submodules else []:
                yield node.lineno, f"{name}.{alias.name}"


def upward_imports(root: Path) -> list[str]:
    found = []
    for top, rank in RANKS.items():
        for path in python_files(root / top):
            for line, name in imported_modules(path, root, submodules=False):
                target = name.split(".")[0]
                if target == top or target not in RANKS:
                    continue
                if RANKS[target] >= rank:
                    found.append(f"{path.relative_to(root)}:{line} imports {name} ({top} may not import {target})")
    return sorted(set(found))


def module_cycles(root: Path) -> list[list[str]]:
    """Cycles among our modules (each reported once, by its smallest member)."""
    modules: dict[str, Path] = {}
    for top in RANKS:
        for path in python_files(root / top):
            parts = list(path.relative_to(root).with_suffix("").parts)
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    edges = {
        # a module's own parent packages do not count: `from . import x` names the package it lives in
        name: sorted({target for _, target in imported_modules(path, root)
                      if target in modules and not (name == target or name.startswith(target + "."))})
        for name, path in modules.items()
    }
    cycles: list[list[str]] = []
    for start in sorted(modules):
        stack = [(start, [start])]
        while stack:
            current, trail = stack.pop()
            for nxt in edges[current]:
                if nxt == start:
                    if start == min(trail):
                        cycles.append(trail)
                elif nxt not in trail and nxt > start:
                    stack.append((nxt, [*trail, nxt]))
    return cycles


def test_no_import_runs_upward() -> None:
    assert upward_imports(ROOT) == []


# GraphQL types are mutually recursive (a department lists resources, a resource names its provider
# department); strawberry resolves them lazily, and the builders that fill them are imported lazily too.
RECURSIVE_TYPE_FAMILIES = {"schema.builders", "schema.departments", "schema.resources"}


def test_no_import_cycles_between_modules() -> None:
    assert [c for c in module_cycles(ROOT) if not set(c) <= RECURSIVE_TYPE_FAMILIES] == []


def test_core_imports_nothing_of_ours() -> None:
    for path in (ROOT / "core").rglob("*.py"):
        for _, name in imported_modules(path, ROOT):
            assert name.split(".")[0] not in set(RANKS) - {"core"}, f"{path}: {name}"


def test_the_checks_catch_an_upward_import_and_a_cycle(tmp_path: Path) -> None:
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "__init__.py").write_text("")
    (tmp_path / "core" / "errors.py").write_text("if True:\n    from server.context import Context\n")
    (tmp_path / "resolvers").mkdir()
    (tmp_path / "resolvers" / "__init__.py").write_text("")
    (tmp_path / "resolvers" / "a.py").write_text("from . import b\n")
    (tmp_path / "resolvers" / "b.py").write_text("from typing import TYPE_CHECKING\n"
                                                   "if TYPE_CHECKING:\n    from resolvers.a import X\n")
    (tmp_path / "resolvers" / "c.py").write_text("from core.errors import E\n")
    assert upward_imports(tmp_path) == [
        "core/errors.py:2 imports server.context (core may not import server)",
    ]
    assert module_cycles(tmp_path) == [["resolvers.a", "resolvers.b"]]


def bare_imports(root: Path) -> list[str]:
    """Absolute imports of our packages without ``govshare.``: in one process they would load a
    second copy of the module (two ``GovshareError`` classes, two settings modules, ...)."""
    ours = set(RANKS) - {"benchmarks"}  # benchmarks/ is not installed: it stays a top-level folder
    found = []
    for top in [*RANKS, "tests"]:
        for path in python_files(root / top):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module or ""]
                else:
                    continue
                found += [f"{path.relative_to(root)}:{node.lineno} imports {name}" for name in names
                          if name.split(".")[0] in ours]
    return sorted(found)


def test_our_packages_are_imported_as_govshare(tmp_path: Path) -> None:
    assert bare_imports(ROOT) == []
    (tmp_path / "server").mkdir()
    (tmp_path / "server" / "x.py").write_text(
        "from core.errors import A\nfrom govshare.core.errors import B\nfrom . import y\nimport core\n")
    assert bare_imports(tmp_path) == ["server/x.py:1 imports core.errors", "server/x.py:4 imports core"]
