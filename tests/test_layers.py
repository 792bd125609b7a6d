"""The package is layered: core beneath build and the lessons, the course helpers above them, the tools on top.

Every import in ftlab is read from the source (module level and inside functions, absolute and relative), so a
cycle or an upward import fails here before anyone runs into it at import time.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ftlab"
# A module may import from its own layer and any layer below; lessons may not import each other.
RANK = {"core": 0, "build": 1, "lessons": 1, "course": 2, "tools": 3}
NO_SIBLINGS = ("lessons",)


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, package: Path = PACKAGE) -> list[tuple[str, int]]:
    """(module, line) for every ftlab module `path` imports anywhere in the file."""
    here = module_name(path, package)
    own_package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    # packages' __init__ files hold only a docstring (test_package_inits_define_nothing), so importing from a
    # package is importing its modules
    modules = {module_name(p, package) for p in package.rglob("*.py") if p.name != "__init__.py"}
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = own_package.split(".")[:len(own_package.split(".")) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            found.append((origin, node.lineno))
            found += [(f"{origin}.{a.name}", node.lineno) for a in node.names]
    return [(m, line) for m, line in found if m in modules and m != here and m != package.name]


def graph(package: Path = PACKAGE) -> dict[str, list[tuple[str, int]]]:
    return {module_name(p, package): imports_of(p, package) for p in sorted(package.rglob("*.py"))}


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in RANK else None


def upward_imports(edges: dict[str, list[tuple[str, int]]]) -> list[str]:
    """'a (line n) -> b' for every import that points to a higher layer or between two lessons."""
    bad = []
    for module, targets in edges.items():
        mine = layer(module)
        for target, line in targets:
            theirs = layer(target)
            if mine is None or theirs is None:  # ftlab.__main__ runs the command line
                continue
            if RANK[theirs] > RANK[mine] or (theirs == mine in NO_SIBLINGS) or (
                    RANK[theirs] == RANK[mine] and theirs != mine):
                bad.append(f"{module} (line {line}) -> {target}")
    return bad


def cycles(edges: dict[str, list[tuple[str, int]]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), or a module importing itself."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w, _ in edges.get(v, []):
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

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_every_module_sits_in_a_layer():
    stray = [m for m in graph() if layer(m) is None and m not in ("ftlab", "ftlab.__main__")
             and m.split(".")[1] not in RANK]
    assert not stray, f"modules outside core/build/lessons/course/tools: {stray}"


def test_package_inits_define_nothing():
    """A subpackage's __init__ is a docstring, so importing one module never drags in its neighbours."""
    for init in PACKAGE.glob("*/**/__init__.py"):
        body = ast.parse(init.read_text()).body
        assert len(body) == 1 and isinstance(body[0], ast.Expr), init


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_no_import_points_up_or_between_lessons():
    assert upward_imports(graph()) == []


def test_every_lesson_imports_core_only():
    edges = graph()
    lessons = [m for m in edges if layer(m) == "lessons" and not m.endswith("lessons")]
    notebooks = sorted((PACKAGE.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert len(lessons) == len(notebooks), (lessons, [n.name for n in notebooks])  # one per notebook
    for lesson in lessons:
        assert {layer(t) for t, _ in edges[lesson]} <= {"core"}, (lesson, edges[lesson])


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "ftlab" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "ftlab"


def test_the_checks_find_a_cycle_an_upward_import_and_a_lesson_importing_a_lesson(tmp_path):
    package = _write(tmp_path, {
        "__init__.py": "",
        "core/__init__.py": "",
        "core/a.py": "def f():\n    from ftlab.tools import t  # hidden in a function\n",
        "core/b.py": "from .c import x\n",
        "core/c.py": "from ftlab.core import b\nx = 1\n",
        "lessons/__init__.py": "",
        "lessons/one.py": "from ftlab.core.b import x\n",
        "lessons/two.py": "from ..lessons import one\n",
        "tools/__init__.py": "",
        "tools/t.py": "import ftlab.core.a\n",
    })
    edges = graph(package)
    assert sorted(cycles(edges)) == [["ftlab.core.a", "ftlab.tools.t"], ["ftlab.core.b", "ftlab.core.c"]]
    assert upward_imports(edges) == ["ftlab.core.a (line 2) -> ftlab.tools.t",
                                     "ftlab.lessons.two (line 1) -> ftlab.lessons.one"]


@pytest.mark.parametrize("source, expected", [
    ("from . import b\n", "ftlab.core.b"),
    ("from .b import y\n", "ftlab.core.b"),
    ("from ..lessons.one import z\n", "ftlab.lessons.one"),
    ("import ftlab.core.b as b\n", "ftlab.core.b"),
])
def test_relative_and_aliased_imports_are_resolved(tmp_path, source, expected):
    package = _write(tmp_path, {"__init__.py": "", "core/__init__.py": "", "core/b.py": "", "core/a.py": source,
                                "lessons/__init__.py": "", "lessons/one.py": ""})
    assert [m for m, _ in imports_of(package / "core" / "a.py", package)] == [expected]
