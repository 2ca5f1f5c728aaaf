"""The import graph of trio_pipe/: no circle, and the bus imports nothing from the workers.

Read from the source with ``ast`` (nothing is imported). What counts as an import of
module B by module A:

* every ``import``/``from ... import`` in A, at module level or inside a function: a lazy
  import that exists to dodge a circle is still a circle, only one that fails later;
* imports under ``if TYPE_CHECKING:`` too: a type-only back-reference still means the two
  modules can only be read together. The few that cross layers on purpose are listed in
  ``TYPE_ONLY_ALLOWED`` with the reason;
* ``from pkg import name`` is an import of ``pkg.name`` when that is a module, else of
  ``pkg`` (its ``__init__``). Importing ``pkg.mod`` also runs ``pkg/__init__.py``, but that
  implicit edge is not counted: a package's ``__init__`` re-exporting its modules is the
  usual facade, and counting it would make every facade a circle.

Not counted: imports inside a module-level ``def __getattr__`` (PEP 562). Those are
re-exports of old names (``trio_pipe.bus.BusBridgeProcessor``), run only when such a name
is asked for, never by the module's own code.
"""

from __future__ import annotations

import ast
import pathlib
from collections.abc import Iterator

ROOT = pathlib.Path(__file__).resolve().parent.parent / "trio_pipe"

#: Type-only imports that point up a layer, on purpose.
TYPE_ONLY_ALLOWED = {
    # A processor's ``pipeline_worker`` / ``worker_runner`` properties (Pipecat's API) name
    # the types of the objects a PipelineWorker hands down to it; the import never runs.
    ("trio_pipe.processors", "trio_pipe.workers.pipeline_worker"),
    ("trio_pipe.processors", "trio_pipe.workers.runner"),
}


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(module: str, source: str, *, is_package: bool) -> Iterator[tuple[str, bool]]:
    """(imported trio_pipe module, type-only) for each import in ``source``."""
    package = module if is_package else module.rpartition(".")[0]

    def walk(node: ast.AST, type_only: bool) -> Iterator[tuple[str, bool]]:
        for child in ast.iter_child_nodes(node):
            if (
                isinstance(child, ast.FunctionDef)
                and child.name == "__getattr__"
                and (node is tree)
            ):
                continue  # a PEP 562 re-export of old names
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    yield from walk_one(stmt, True)
                for stmt in child.orelse:
                    yield from walk_one(stmt, type_only)
                continue
            yield from walk_one(child, type_only)

    def walk_one(node: ast.AST, type_only: bool) -> Iterator[tuple[str, bool]]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, type_only
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield (sub if sub in MODULES else base), type_only
        else:
            yield from walk(node, type_only)

    tree = ast.parse(source)
    yield from walk(tree, False)


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        edges = graph.setdefault(module, set())
        for target, type_only in imports_of(
            module, path.read_text(), is_package=path.name == "__init__.py"
        ):
            if target not in MODULES or target == module:
                continue
            if type_only and (module, target) in TYPE_ONLY_ALLOWED:
                continue
            edges.add(target)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_reader_sees_lazy_type_only_and_relative_imports() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import bus\n"
        "if TYPE_CHECKING:\n    from trio_pipe.workers.base import BaseWorker\n"
        "def f():\n    import trio_pipe.registry\n"
        "def __getattr__(name):\n    from trio_pipe.workers import runner\n"
    )
    found = set(imports_of("trio_pipe.x", source, is_package=False))
    assert found == {
        ("typing", False),
        ("trio_pipe.bus", False),
        ("trio_pipe.workers.base", True),
        ("trio_pipe.registry", False),
    }


def test_the_circle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_in_trio_pipe() -> None:
    graph = import_graph()
    assert len(graph) > 100  # the whole package was read
    assert circles(graph) == []


def test_the_bus_imports_nothing_from_the_workers() -> None:
    graph = import_graph()
    wrong = sorted(
        (module, target)
        for module, targets in graph.items()
        if module == "trio_pipe.bus" or module.startswith("trio_pipe.bus.")
        for target in targets
        if target.startswith("trio_pipe.workers")
    )
    assert wrong == []


def test_the_serializer_package_reads_in_one_direction() -> None:
    graph = import_graph()
    order = ["values", "codegen", "codec", "wire_names", "json_serializer"]
    names = [f"trio_pipe.serializers.{n}" for n in order]
    for i, module in enumerate(names):
        later = set(names[i + 1 :])
        assert not graph[module] & later, f"{module} imports {sorted(graph[module] & later)}"


def test_the_library_imports_no_application() -> None:
    # The programs (trio_pipe.apps), the command line that runs them (and `python -m`),
    # and the old paths that re-export them may import applications; no library module may.
    programs = (
        "trio_pipe.__main__",
        "trio_pipe.apps",
        "trio_pipe.cli",
        "trio_pipe.bots",
        "trio_pipe.demo",
    )

    def is_program(module: str) -> bool:
        return any(module == p or module.startswith(p + ".") for p in programs)

    graph = import_graph()
    wrong = sorted(
        (module, target)
        for module, targets in graph.items()
        if not is_program(module)
        for target in targets
        if is_program(target)
    )
    assert wrong == []
