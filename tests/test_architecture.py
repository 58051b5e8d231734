"""The package's shape: the import graph of ``invert/`` (read with ``ast``, nothing imported) has no circle and no
arrow from a lower layer up to a higher one, and no module or function is too big to read."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "invert"
#: Layers that measure, load and encode: they must not reach up into what drives them.
LOWER = ("io", "analysis", "objectives", "priors", "encoders")
HIGHER = ("inversion", "decoder", "methods", "experiments", "cli", "commands", "sweep")
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name → file, for every module of the package (a package is its ``__init__``)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _owner(name: str, known: dict[str, Path]) -> str | None:
    """The module ``name`` lives in: itself, or its closest enclosing package that is a module of ours."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules ``path`` imports at run time, anywhere in it (deferred imports in functions count:
    they run too), skipping ``if TYPE_CHECKING:`` blocks. ``from pkg import name`` is an arrow to ``pkg.name``
    when that is a module, else to ``pkg``."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if _type_checking(child):
                continue
            if isinstance(child, ast.Import):
                found.update(_owner(a.name, known) or "" for a in child.names if a.name.startswith("invert"))
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and (child.module or "").startswith("invert"):
                for a in child.names:
                    sub = f"{child.module}.{a.name}"
                    found.add(sub if sub in known else _owner(child.module or "", known) or "")
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    found.discard("")
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    known = modules(root)
    return {name: imports(path, known) - {name} for name, path in known.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    edges = graph
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return groups


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def upward_arrows(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{v} -> {w}" for v, ws in graph.items() if _layer(v) in LOWER for w in ws if _layer(w) in HIGHER)


def test_the_graph_reader_sees_arrows_and_circles(tmp_path: Path) -> None:
    pkg = tmp_path / "invert"
    (pkg / "io").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "io" / "__init__.py").write_text("from invert.io.files import x\n")
    (pkg / "io" / "files.py").write_text("def f():\n    from invert.inversion import run\n")
    (pkg / "inversion.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import invert.cli\nfrom invert.io import y\n"
    )
    (pkg / "cli.py").write_text("import invert.inversion\n")
    graph = import_graph(pkg)
    assert graph["invert.io.files"] == {"invert.inversion"}
    assert graph["invert.inversion"] == {"invert.io"}  # the TYPE_CHECKING import is not an arrow
    assert upward_arrows(graph) == ["invert.io.files -> invert.inversion"]
    assert circles(graph) == [["invert.inversion", "invert.io", "invert.io.files"]]


def test_no_import_circle() -> None:
    assert circles(import_graph()) == []


def test_m_s_defaults_are_the_configs() -> None:
    """analysis.metrics keeps m_s's defaults itself (no arrow up to the inversion's config); they must agree."""
    from invert.analysis.metrics import MS_DRAWS, MS_SIGMA
    from invert.inversion.config import InversionConfig

    assert (InversionConfig().ms_sigma, InversionConfig().ms_draws) == (MS_SIGMA, MS_DRAWS)


def test_no_arrow_from_a_lower_layer_up() -> None:
    assert upward_arrows(import_graph()) == []


def too_big(root: Path = ROOT) -> list[str]:
    """Modules over MAX_MODULE_LINES lines and functions over MAX_FUNCTION_LINES, as ``path[:function] (lines)``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(root.parent).as_posix()
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            found.append(f"{rel} ({lines})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                span = (node.end_lineno or node.lineno) - node.lineno + 1
                if span > MAX_FUNCTION_LINES:
                    found.append(f"{rel}:{node.name} ({span})")
    return found


def test_the_size_reader_counts(tmp_path: Path) -> None:
    (tmp_path / "invert").mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "invert" / "big.py").write_text(f"def long():\n{body}\n")
    (tmp_path / "invert" / "long.py").write_text("x = 1\n" * (MAX_MODULE_LINES + 1))
    assert too_big(tmp_path / "invert") == [
        f"invert/big.py:long ({MAX_FUNCTION_LINES + 1})",
        f"invert/long.py ({MAX_MODULE_LINES + 1})",
    ]


def test_no_module_or_function_too_big() -> None:
    assert too_big() == [], "over the size limits (split them into well-named helpers)"
