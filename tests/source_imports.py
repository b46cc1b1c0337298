"""Imports read from the source, without running it.

`imports_of`: every import statement of a file, at module level or inside a function (the layer
rules of test_layers). `reachable_imports`: the third-party modules that running a file can import,
following the package's own functions and classes from where they are used (the conda
environments of test_envs)."""

from __future__ import annotations

import ast
import re
import sys
from collections import deque
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "sign2gpt"
LAUNCH_TARGET = re.compile(r"(sign2gpt(?:\.\w+)+):(\w+)")  # training.launch.launch("module:function", ...)
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def module_name(path: Path) -> str:
    """`sign2gpt.x.y` for a file under src/ (`sign2gpt.x.__init__` for a package); else the file's stem."""
    return ".".join(path.relative_to(SRC).with_suffix("").parts) if path.is_relative_to(SRC) else path.stem


def bindings(node: ast.Import | ast.ImportFrom, module: str) -> list[tuple[str, str]]:
    """(local name, dotted name imported) for each name an import statement binds, relative
    imports resolved against `module`."""
    if isinstance(node, ast.Import):
        return [(alias.asname or alias.name.partition(".")[0], alias.name) for alias in node.names]
    base = node.module or ""
    if node.level:
        parent = module.split(".")[: -node.level]
        base = ".".join(parent + ([base] if base else []))
    return [(alias.asname or alias.name, f"{base}.{alias.name}") for alias in node.names]


def imports_of(path: Path) -> set[str]:
    """Every module an import statement in `path` names (relative imports resolved); for
    `from m import x`, both `m` and `m.x`."""
    module = module_name(path)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [name for _, name in bindings(node, module)]
            found |= set(names)
            if isinstance(node, ast.ImportFrom):
                found.add(names[0].rpartition(".")[0])
    return found


def module_file(name: str) -> Path | None:
    """The source file of the package module `name`, or None if `name` is no module of it."""
    path = SRC.joinpath(*name.split("."))
    return next((p for p in (path / "__init__.py", path.with_suffix(".py")) if p.is_file()), None)


def _import_time(tree: ast.Module) -> Iterator[ast.AST]:
    """The nodes that run when a module is imported: all but function bodies (a class body runs,
    its methods' bodies do not; a function's decorators and defaults run) and `if TYPE_CHECKING:`
    blocks."""
    todo = list(ast.iter_child_nodes(tree))
    while todo:
        node = todo.pop()
        if _type_checking_only(node):  # `if TYPE_CHECKING:` runs for type checkers, never at import
            todo += node.orelse
            continue
        yield node
        if isinstance(node, FUNCTIONS):
            todo += node.decorator_list + node.args.defaults + [d for d in node.args.kw_defaults if d]
        else:
            todo += ast.iter_child_nodes(node)


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def _body(node: ast.AST, skip: set[str]) -> Iterator[ast.AST]:
    """The nodes of a function or class (every method of it), less the methods named in `skip`."""
    todo = [node]
    while todo:
        node = todo.pop()
        yield node
        todo += [c for c in ast.iter_child_nodes(node) if not (isinstance(c, FUNCTIONS) and c.name in skip)]


@dataclass(frozen=True)
class Module:
    name: str
    tree: ast.Module
    defs: dict[str, ast.AST]  # top-level functions and classes
    bound: dict[str, str]  # name -> dotted name, of the module-level imports of the package

    @staticmethod
    @cache
    def parse(path: Path) -> Module:
        name, tree = module_name(path), ast.parse(path.read_text(), str(path))
        defs = {n.name: n for n in tree.body if isinstance(n, (*FUNCTIONS, ast.ClassDef))}
        bound = {local: target for node in _import_time(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                 for local, target in bindings(node, name) if target.partition(".")[0] == "sign2gpt"}
        return Module(name, tree, defs, bound)


def reachable_imports(script: Path, not_run: Collection[str] = ()) -> dict[str, list[str]]:
    """{third-party name imported: how running `script` gets to that import statement}.

    A unit is a module's import-time code (`module`) or one of its top-level functions or classes
    (`module:name`; a class with all its methods). Importing a module runs its import-time code
    (and its packages'); a unit reaches the functions and classes it names, the modules its
    import statements import, and what a function-level import binds. So an import inside a
    function counts when something that can run uses that function. `not_run` names functions
    and methods to leave out (`module:function`, `module:Class.method`). Conservative otherwise:
    a class brings all its methods, a module object all its units."""
    script_module = Module.parse(script)
    units: dict[tuple[str, str], tuple[str, str] | None] = {(script_module.name, ""): None}  # unit -> who reached it
    todo = deque(units)
    found: dict[str, list[str]] = {}

    def module(name: str) -> Module:
        return script_module if name == script_module.name else Module.parse(module_file(name))

    def add(unit: tuple[str, str], by: tuple[str, str]) -> None:
        if unit not in units and f"{unit[0]}:{unit[1]}" not in not_run:
            units[unit] = by
            todo.append(unit)

    def imported(name: str, by: tuple[str, str]) -> None:
        """`import name` runs the import-time code of every module along its dotted path."""
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            if module_file(".".join(parts[:i])):
                add((".".join(parts[:i]), ""), by)

    def used(name: str, by: tuple[str, str]) -> None:
        """A dotted name is used: a module object (all of it), or a function or class of one."""
        if module_file(name):
            imported(name, by)
            for d in module(name).defs:
                add((name, d), by)
            return
        owner, _, attr = name.rpartition(".")
        if not module_file(owner):
            return
        target = module(owner)
        if attr == "*":
            used(owner, by)
        elif attr in target.defs:
            add((owner, attr), by)
        elif attr in target.bound:  # re-exported
            used(target.bound[attr], by)

    def chain(unit: tuple[str, str] | None) -> list[str]:
        steps = []
        while unit:
            steps.append(f"{unit[0]}:{unit[1]}" if unit[1] else unit[0])
            unit = units[unit]
        return steps[::-1]

    while todo:
        unit = todo.popleft()
        here, name = unit
        mod = module(here)
        if name:
            skip = {q.rpartition(".")[2] for q in not_run if q.startswith(f"{here}:{name}.")}
            nodes = _body(mod.defs[name], skip)
        else:
            nodes = _import_time(mod.tree)
        for node in nodes:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for _, target in bindings(node, mod.name):
                    top = target.partition(".")[0]
                    if top == "sign2gpt":
                        imported(target, unit)
                        if name:  # a function-level import: what it binds is for use right there
                            used(target, unit)
                    elif top not in sys.stdlib_module_names:
                        found.setdefault(target, chain(unit))
            elif isinstance(node, ast.Name):
                if node.id in mod.defs:
                    add((here, node.id), unit)
                elif node.id in mod.bound:
                    used(mod.bound[node.id], unit)
            elif isinstance(node, ast.Constant) and (target := LAUNCH_TARGET.fullmatch(str(node.value))):
                imported(target[1], unit)
                used(f"{target[1]}.{target[2]}", unit)
    return found
