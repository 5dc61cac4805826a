"""The import graph of the project's own modules, read from the source with `ast`: no import cycles, services
never import each other, the shared package imports no service and not the CLI, and no service imports the CLI."""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = "authorium_shared"
CLI = "authorium"
SERVICES = frozenset({"authz", "resource_server", "client_demo"})


def source_roots(root: Path = ROOT) -> list[Path]:
    """The folders that hold the project's top-level packages: shared/, each services/*/, cli/."""
    services = sorted(p for p in (root / "services").iterdir() if p.is_dir())
    return [root / "shared", *services, root / "cli"]


def find_modules(roots: Iterable[Path]) -> dict[str, Path]:
    """Module name -> source file, for every .py file in every package (a folder with `__init__.py`) of `roots`."""
    modules: dict[str, Path] = {}
    for root in roots:
        for init in sorted(root.glob("*/__init__.py")):
            for path in sorted(init.parent.rglob("*.py")):
                parts = path.relative_to(root).with_suffix("").parts
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                modules[".".join(parts)] = path
    return modules


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int


def _project_module(name: str, modules: Mapping[str, Path]) -> str | None:
    """The longest prefix of the dotted `name` that is a project module (None for anything else)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module name a (possibly relative) `from ... import` names."""
    if not node.level:
        return node.module or ""
    package = module if is_package else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def imports_of(module: str, path: Path, modules: Mapping[str, Path]) -> list[Import]:
    """Every import of a project module in `module`'s source, self-imports left out.

    Every import statement counts wherever it is: at module level, in a function, and under `if TYPE_CHECKING:`
    (a cycle that only type checking sees is still a cycle in the design). `from pkg import x` depends on the
    module `pkg.x` when there is one, else on `pkg`. Importing `a.b.c` depends on `a.b.c` alone, not on the
    packages above it, so a package whose `__init__` imports its own submodules (`authz.grants`) is an ordinary
    node. Modules looked up by name at run time (`importlib.resources.files("authz.migrations")`) are not
    imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: list[Import] = []
    for node in ast.walk(tree):  # every statement, in functions and under `if TYPE_CHECKING:` alike
        targets: list[str | None]
        if isinstance(node, ast.Import):
            targets = [_project_module(alias.name, modules) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, is_package)
            submodules = (f"{base}.{alias.name}" for alias in node.names)
            targets = [s if s in modules else _project_module(base, modules) for s in submodules]
        else:
            continue
        found += [Import(module, t, node.lineno) for t in targets if t is not None and t != module]
    return found


def import_graph(modules: Mapping[str, Path]) -> dict[str, dict[str, int]]:
    """module -> {imported project module: line of its first import}."""
    graph: dict[str, dict[str, int]] = {name: {} for name in modules}
    for name, path in modules.items():
        for imp in imports_of(name, path, modules):
            first = graph[name].get(imp.target)
            graph[name][imp.target] = imp.line if first is None else min(first, imp.line)
    return graph


def strongly_connected_components(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit to meet): every SCC, each sorted."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = lowlink[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = lowlink[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    lowlink[node] = min(lowlink[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    lowlink[parent] = min(lowlink[parent], lowlink[node])
                if lowlink[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return components


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The import cycles: every strongly connected component of more than one module, sorted."""
    return sorted(c for c in strongly_connected_components(graph) if len(c) > 1)


def shortest_cycle(graph: Mapping[str, Mapping[str, int]], component: list[str]) -> list[str]:
    """One shortest cycle through the component's first module, as a path that ends where it starts."""
    start, members = component[0], set(component)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for successor in sorted(graph[node]):
            if successor == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if successor in members and successor not in came_from:
                came_from[successor] = node
                queue.append(successor)
    raise AssertionError(f"{component} is not a cycle")


def describe_cycles(graph: Mapping[str, Mapping[str, int]], found: list[list[str]]) -> str:
    lines = []
    for component in found:
        path = shortest_cycle(graph, component)
        steps = " -> ".join(f"{a} (line {graph[a][b]})" for a, b in pairwise(path))
        lines.append(f"- {len(component)} modules: {', '.join(component)}\n  e.g. {steps} -> {path[-1]}")
    return "\n".join(lines)


def top(module: str) -> str:
    return module.partition(".")[0]


@pytest.fixture(scope="module")
def modules() -> dict[str, Path]:
    return find_modules(source_roots())


@pytest.fixture(scope="module")
def graph(modules: dict[str, Path]) -> dict[str, dict[str, int]]:
    return import_graph(modules)


def edges(graph: Mapping[str, Mapping[str, int]]) -> list[Import]:
    return [Import(a, b, line) for a, targets in sorted(graph.items()) for b, line in sorted(targets.items())]


def listed(imports: Iterable[Import]) -> str:
    return "\n".join(f"- {i.source} (line {i.line}) imports {i.target}" for i in imports)


# --- the rules --------------------------------------------------------------------------------------------------


def test_the_scan_sees_every_package(modules: dict[str, Path], graph: dict[str, dict[str, int]]) -> None:
    # Guards against a scan that finds nothing (moved folders) and so passes vacuously.
    assert {top(m) for m in modules} == SERVICES | {SHARED, CLI}
    for name in ("authorium_shared.jwks_cache", "authz.app", "resource_server.app", "client_demo.app", "authorium.cli"):
        assert name in modules, name
    assert "authorium_shared.migrations" in graph["authorium.cli"]
    assert sum(len(targets) for targets in graph.values()) > 200


def test_no_import_cycles(graph: dict[str, dict[str, int]]) -> None:
    found = cycles(graph)
    assert not found, "import cycles among project modules:\n" + describe_cycles(graph, found)


def test_services_never_import_each_other(graph: dict[str, dict[str, int]]) -> None:
    bad = [i for i in edges(graph) if top(i.source) in SERVICES and top(i.target) in SERVICES - {top(i.source)}]
    assert not bad, "a service imports another service (share through authorium_shared):\n" + listed(bad)


def test_the_shared_package_imports_no_service_and_not_the_cli(graph: dict[str, dict[str, int]]) -> None:
    bad = [i for i in edges(graph) if top(i.source) == SHARED and top(i.target) in SERVICES | {CLI}]
    assert not bad, "authorium_shared imports a service or the CLI:\n" + listed(bad)


def test_no_service_imports_the_cli(graph: dict[str, dict[str, int]]) -> None:
    bad = [i for i in edges(graph) if top(i.source) in SERVICES and top(i.target) == CLI]
    assert not bad, "a service imports the CLI (the CLI composes services, not the other way):\n" + listed(bad)


# --- the scanner itself, on a project made up for the purpose ----------------------------------------------------


def write(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_every_kind_of_import_is_seen(tmp_path: Path) -> None:
    write(
        tmp_path / "shared",
        {
            "common/__init__.py": "",
            "common/a.py": "import os\nimport common.b\n",
            "common/b.py": "def f():\n    from common import c\n",
            "common/c.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from common.d import Thing\nfrom . import e\n"
            ),
            "common/d.py": "from .e import name\n",
            "common/e.py": "from common import name_in_init\nname = 1\n",
            "common/pkg/__init__.py": "from common.pkg import sub\nfrom .. import a\n",
            "common/pkg/sub.py": "from common.pkg import helper\nimport common.pkg.sub\n",
            "common/pkg/helper.py": "from ..pkg.sub import thing\n",
        },
    )
    modules = find_modules([tmp_path / "shared"])
    graph = import_graph(modules)
    assert {m: set(t) for m, t in graph.items()} == {
        "common": set(),
        "common.a": {"common.b"},
        "common.b": {"common.c"},  # function level, `from pkg import submodule`
        "common.c": {"common.d", "common.e"},  # under TYPE_CHECKING; relative `from . import e`
        "common.d": {"common.e"},
        "common.e": {"common"},  # a name from the package's __init__
        "common.pkg": {"common.pkg.sub", "common.a"},
        "common.pkg.sub": {"common.pkg.helper"},  # importing itself is not a dependency
        "common.pkg.helper": {"common.pkg.sub"},
    }
    assert graph["common.c"]["common.d"] == 3
    assert cycles(graph) == [["common.pkg.helper", "common.pkg.sub"]]
    assert shortest_cycle(graph, ["common.pkg.helper", "common.pkg.sub"]) == [
        "common.pkg.helper",
        "common.pkg.sub",
        "common.pkg.helper",
    ]


def test_the_cycle_finder_reports_each_cycle_once_with_a_path() -> None:
    graph = {
        "a": {"b": 1},
        "b": {"c": 2},
        "c": {"a": 3, "d": 4},
        "d": {},
        "x": {"y": 5},
        "y": {"x": 6, "a": 7},
        "z": {"z": 8},  # a self-import is not a cycle between modules
    }
    assert cycles(graph) == [["a", "b", "c"], ["x", "y"]]
    message = describe_cycles(graph, cycles(graph))
    assert "- 3 modules: a, b, c\n  e.g. a (line 1) -> b (line 2) -> c (line 3) -> a" in message
    assert "- 2 modules: x, y\n  e.g. x (line 5) -> y (line 6) -> x" in message


def test_the_rules_catch_what_they_forbid(tmp_path: Path) -> None:
    write(tmp_path / "shared", {f"{SHARED}/__init__.py": "", f"{SHARED}/x.py": "from authz import app\n"})
    write(tmp_path / "services" / "authz", {"authz/__init__.py": "", "authz/app.py": "import client_demo.app\n"})
    write(tmp_path / "services" / "client-demo", {"client_demo/__init__.py": "", "client_demo/app.py": ""})
    write(tmp_path / "services" / "resource", {"resource_server/__init__.py": "from authorium import cli\n"})
    write(tmp_path / "cli", {"authorium/__init__.py": "", "authorium/cli.py": "from authz import app\n"})
    graph = import_graph(find_modules(source_roots(tmp_path)))
    for rule in (
        test_services_never_import_each_other,
        test_the_shared_package_imports_no_service_and_not_the_cli,
        test_no_service_imports_the_cli,
    ):
        with pytest.raises(AssertionError):
            rule(graph)
    assert graph["authorium.cli"] == {"authz.app": 1}, "the CLI may import services"
