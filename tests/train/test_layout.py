"""train/'s modules import each other without a cycle, read from the source with `ast`.

Imports inside functions count too: a lazy import hides a cycle from Python at
import time, not from a reader who has to hold both modules in mind.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "train"


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def train_imports(path: Path, modules: set[str]) -> set[str]:
    """The train modules `path` imports (`from train.x import y` is train.x.y when that
    is a module, else train.x; `import train.x` is train.x)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"{path}:{node.lineno}: relative import; train uses absolute")
            base = node.module or ""
            for a in node.names:
                if f"{base}.{a.name}" in modules:
                    found.add(f"{base}.{a.name}")
                elif base in modules:
                    found.add(base)
    return found


def import_graph(package: Path) -> dict[str, set[str]]:
    files = {module_name(p, package.parent): p for p in sorted(package.rglob("*.py"))}
    modules = set(files)
    # A package's own __init__ is not an edge worth a cycle: importing train.x.y runs
    # train/x/__init__.py, which is a docstring here (asserted below).
    return {m: train_imports(p, modules) - {m} for m, p in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return [*path[path.index(n) :], n]
            if n not in state and (c := visit(n)):
                return c
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (c := visit(m)):
            return c
    return None


def test_train_has_no_import_cycle() -> None:
    graph = import_graph(PACKAGE)
    assert "train.cli" in graph and "train.data.records" in graph  # the walk saw the tree
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle between train modules: " + " -> ".join(cycle or [])


def test_sub_package_inits_import_nothing() -> None:
    """Importing one module of a sub-package must not drag in its siblings."""
    for init in sorted(PACKAGE.rglob("__init__.py")):
        tree = ast.parse(init.read_text(encoding="utf-8"))
        body = [n for n in tree.body if not (isinstance(n, ast.Expr) and n == tree.body[0])]
        assert not body, f"{init.relative_to(ROOT)}: holds more than a docstring"


def test_onnx_sub_package_does_not_shadow_the_onnx_library() -> None:
    import onnx

    from train.onnx import export

    assert Path(onnx.__file__).resolve().parent != PACKAGE / "onnx"
    assert export.onnx is onnx


def test_the_command_line_parser_loads_no_heavy_library() -> None:
    """`train --help` and argument errors answer at once: building the parser must
    not import the model, ONNX or data libraries, which take seconds to load."""
    heavy = ("sklearn", "scipy", "onnx", "onnxruntime", "pandas", "pyarrow", "matplotlib",
             "lightgbm", "xgboost", "dask")  # fmt: skip
    code = (
        "import sys, train.cli\n"
        "train.cli.build_parser()\n"
        f"print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    )
    # A fresh interpreter: this test process has imported them all already.
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [], f"building the parser imported {r.stdout.strip()}"


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b", "c"}, "b": {"c"}, "c": {"b"}}, ["b", "c", "b"]),
    ],
)
def test_find_cycle_names_the_cycle(graph: dict[str, set[str]], cycle: list[str] | None) -> None:
    assert find_cycle(graph) == cycle


def test_graph_sees_a_lazy_import_cycle(tmp_path: Path) -> None:
    """The check reads imports inside functions too (how the old cli <-> backtest_cli hid)."""
    pkg = tmp_path / "train"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('"""x"""\n')
    (pkg / "a.py").write_text("from train.b import f\n")
    (pkg / "b.py").write_text("def f():\n    from train import a\n")
    assert find_cycle(import_graph(pkg)) == ["train.a", "train.b", "train.a"]
