"""The package's shape (issue 31): its imports form a tree (no cycle, imports inside functions
included), its layers point one way, its modules and classes stay small.

The graph is read from the source with :mod:`ast`, so an import hidden inside a function counts
like one at the top; importing ``a.b.c`` from outside package ``a.b`` also runs ``a.b``'s
``__init__``, so that edge counts too.
"""

from __future__ import annotations

import ast
import inspect
import pkgutil
from importlib import import_module
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "e2sad"

#: the layers, bottom first: a module may import its own layer's modules and the layers below
LAYERS = [
    ("vocabulary", ("__init__", "errors", "provenance", "serialization", "render", "runtime", "schedules")),
    ("declarations", ("declare", "config")),
    ("compute", ("attacks", "defenses", "models", "flops", "data", "surface", "modelfile", "released")),
    ("checks", ("config.relations", "config.sections", "config.checked")),
    ("train, evaluate", ("train", "trainlog", "evaluate", "tables", "costs", "plots")),
    ("plan and science", ("plan", "science")),
    ("cli", ("cli", "__main__")),
]
#: modules that may never import these (the checker and the science are leaves of their own)
NEVER = {
    "config": ("science", "train", "plan", "evaluate", "cli"),
    "science": ("config", "plan", "train", "evaluate", "cli"),
}
MAX_MODULE_LINES = 450
MAX_CLASS_METHODS = 30


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST):
    """Every import node, at any depth, except under ``if TYPE_CHECKING:`` (never run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph(root: Path) -> dict[str, set[str]]:
    """module -> the package's modules it imports (anywhere in its source)."""
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            for t in targets:
                while t and t not in files:  # an attribute of a module: the module
                    t = t.rpartition(".")[0]
                if not t or t == mod:
                    continue
                graph[mod].add(t)
                parent = t.rpartition(".")[0]
                while parent in files and not (mod == parent or mod.startswith(parent + ".")):
                    graph[mod].add(parent)  # importing pkg.sub from outside runs pkg/__init__
                    parent = parent.rpartition(".")[0]
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return path[path.index(n) :] + [n]
            if n not in state and (found := visit(n)):
                return found
        state[m] = 2
        path.pop()
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def layer_of(mod: str) -> int:
    rel = mod.partition(".")[2] or "__init__"
    best = None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (rel == p or rel.startswith(p + ".")) and (best is None or len(p) > best[1]):
                best = (i, len(p))
    assert best is not None, f"{mod}: not in any layer of tests/test_imports.py; place it"
    return best[0]


def test_the_package_imports_form_no_cycle():
    cycle = find_cycle(import_graph(PACKAGE))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_a_planted_cycle_is_found(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..a import g  # hidden inside a function\n")
    cycle = find_cycle(import_graph(pkg))
    assert cycle is not None and set(cycle) == {"pkg.a", "pkg.sub.b"}
    (pkg / "sub" / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..a import g\n")
    assert find_cycle(import_graph(pkg)) is None


def test_layers_point_one_way():
    graph = import_graph(PACKAGE)
    upward = [
        f"{m} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})"
        for m, targets in graph.items()
        for t in targets
        if layer_of(t) > layer_of(m) and not t.startswith(m + ".")
    ]
    assert not upward, "imports pointing up:\n" + "\n".join(sorted(upward))


def test_the_checker_and_the_science_are_leaves():
    graph = import_graph(PACKAGE)
    bad = [
        f"{m} imports {t}"
        for m, targets in graph.items()
        for owner, never in NEVER.items()
        if m == f"e2sad.{owner}" or m.startswith(f"e2sad.{owner}.")
        for t in targets
        if any(t == f"e2sad.{n}" or t.startswith(f"e2sad.{n}.") for n in never)
    ]
    assert not bad, "\n".join(sorted(bad))


def test_modules_stay_small():
    long = {
        str(p.relative_to(REPO)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_class_has_more_than_30_methods():
    big = {}
    for info in pkgutil.walk_packages([str(PACKAGE)], "e2sad."):
        if info.name.endswith("__main__"):
            continue
        module = import_module(info.name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            own = [c for c in cls.__mro__ if c.__module__.startswith("e2sad")]
            methods = {n for c in own for n, v in vars(c).items() if inspect.isfunction(v) or isinstance(v, property)}
            if len(methods) > MAX_CLASS_METHODS:
                big[f"{info.name}.{name}"] = len(methods)
    assert not big, f"classes over {MAX_CLASS_METHODS} methods (inherited ones included): {big}"
