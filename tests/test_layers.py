"""The project's import layering, read from the source with ``ast`` (nothing is imported).

Each package imports only its own layer and those below it, and no module imports another in a
cycle (bottom to top; docs/development.md draws the same picture)::

    core  <-  data  <-  models  <-  parts  <-  config  <-  train  <-  jobs  <-  cli

``python tests/test_layers.py`` prints the import graph, one ``module -> imports`` line each.

``import_graph`` maps every module of the project's packages to the project modules it imports,
imports inside functions included (the project imports heavy modules lazily, so those are most of
its edges). The rules are tests over that graph; a new rule is one more test using it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("distill", "students", "augment")

# The command lines: argv parsing and printing only. Nothing else may import them, so the library
# (and the pipeline, which runs the library's functions) never depends on a parser.
CLI_MODULES = frozenset({"distill.cli", "distill.compress.cli", "augment.cli"})

# Bottom to top. A module belongs to the layer of the longest prefix that names it or its package.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "core",
        ("distill.core",),
    ),  # errors, registry, schema, atomic writes, output folders, signals, word vectors
    ("data", ("distill.data",)),  # datasets and splits, the data: block, label checks, batching
    ("models", ("distill.models",)),  # architecture code: feature capture, score recording, layer maps
    (
        "parts",
        ("distill.objectives", "students", "augment"),
    ),  # registered parts: objectives, student families, augmenters
    ("config", ("distill.config",)),  # teacher.yaml / student.yaml, built from the parts' schemas
    (
        "train",
        ("distill.train",),
    ),  # the one loop, batch sources, checkpoints, distributed, evaluation, the teacher
    (
        "jobs",
        ("distill.distillation", "distill.compress", "distill.pipeline"),
    ),  # run, general, compress, export, bench, pipeline
    ("api", ("distill.api",)),  # distill.run / distill.validate: the jobs as Python functions
    ("cli", tuple(sorted(CLI_MODULES))),
]
# The top package's __init__: a version string and the API's names, imported from distill.api on first use
PACKAGE_ROOT = "distill"


def module_name(path: Path, root: Path = ROOT) -> str:
    """``distill/compress/cli.py`` -> ``distill.compress.cli``; a package's ``__init__.py`` -> the package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Module name -> source file, for every ``.py`` under the packages."""
    return {module_name(p, root): p for pkg in packages for p in sorted((root / pkg).rglob("*.py"))}


def _base(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` names (relative levels resolved)."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    package = package[: len(package) - node.level + 1]
    return ".".join([*package, node.module] if node.module else package)


def _owner(name: str, modules: dict[str, Path]) -> str | None:
    """The longest project module that ``name`` is or lies in (``distill.cli.main`` -> ``distill.cli``)."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in modules:
            return candidate
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``module`` imports anywhere in its file (top level, functions, TYPE_CHECKING).

    ``from pkg import name`` counts as an import of ``pkg.name`` when that is a module, else of ``pkg``.
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _base(module, path, node)
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        found.update(o for o in (_owner(n, modules) for n in names) if o is not None and o != module)
    return found


def import_graph(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    """{module: set of the project modules it imports}, for every module of ``packages``."""
    modules = project_modules(root, packages)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_the_graph_sees_lazy_relative_and_from_imports(tmp_path):
    """The walker itself: imports inside functions, relative imports and ``from pkg import module``."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "cli.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .leaf import x\n")
    (pkg / "sub" / "leaf.py").write_text("x = 1\n")
    (pkg / "lib.py").write_text(
        "import os\nfrom pkg.sub import leaf\n\ndef f():\n    from . import cli\n    return cli\n"
    )
    (pkg / "other.py").write_text("from pkg.sub import x\nimport pkg.cli as c\n")
    assert import_graph(tmp_path, ("pkg",)) == {
        "pkg": set(),
        "pkg.cli": set(),
        "pkg.lib": {"pkg.sub.leaf", "pkg.cli"},
        "pkg.other": {"pkg.sub", "pkg.cli"},
        "pkg.sub": {"pkg.sub.leaf"},
        "pkg.sub.leaf": set(),
    }


def test_every_cli_module_exists(graph):
    assert set(graph) >= CLI_MODULES


def test_no_library_module_imports_a_cli_module(graph):
    offenders = {
        m: sorted(deps & CLI_MODULES)
        for m, deps in graph.items()
        if m not in CLI_MODULES and deps & CLI_MODULES
    }
    assert offenders == {}, f"library modules importing a command-line module: {offenders}"


def layer_of(module: str) -> int | None:
    """Index into :data:`LAYERS` of the layer ``module`` belongs to, or None."""
    best, found = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, found = len(p), i
    return found


def test_every_module_has_a_layer(graph):
    assert [m for m in graph if layer_of(m) is None and m != PACKAGE_ROOT] == []
    assert graph[PACKAGE_ROOT] <= {"distill.api"}


def test_no_module_imports_a_layer_above_its_own(graph):
    upward = sorted(
        f"{m} ({LAYERS[layer_of(m)][0]}) -> {t} ({LAYERS[layer_of(t)][0]})"
        for m, targets in graph.items()
        for t in targets
        if m != PACKAGE_ROOT and t != PACKAGE_ROOT and layer_of(t) > layer_of(m)
    )
    assert upward == []


def test_students_and_augment_need_only_core_and_models(graph):
    """The parts a user adds to most often stand on the foundations alone (a student family needs a
    teacher's sizes from models, nothing of the training loop or the jobs)."""
    allowed = ("distill.core", "distill.models", "students", "augment")
    reach = {
        f"{m} -> {t}"
        for m, targets in graph.items()
        if m.split(".")[0] in ("students", "augment") and m not in CLI_MODULES
        for t in targets
        if not any(t == a or t.startswith(a + ".") for a in allowed)
    }
    assert reach == set()


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
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


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": {"d"}}) == [
        ["a", "b", "c"],
        ["d", "e"],
    ]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles(graph):
    assert cycles(graph) == []


def test_the_layers_are_the_docs_picture():
    page = (ROOT / "docs/development.md").read_text(encoding="utf-8")
    assert "  <-  ".join(name for name, _ in LAYERS) in page


if __name__ == "__main__":
    for name, deps in sorted(import_graph().items()):
        print(name, "->", ", ".join(sorted(deps)))
