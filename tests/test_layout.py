"""The Python packages import each other without a cycle, read from the source with `ast`:
module by module across modelformat, train, infer and bench, and sub-package by
sub-package inside train (its stages: data, labels, model, onnx, ...).

Imports inside functions count too: a lazy import hides a cycle from Python at
import time, not from a reader who has to hold both modules in mind.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "train"
# Every Python package of the project; tests/ and scripts/ import them, never the reverse.
PACKAGES = ("modelformat", "train", "infer", "bench")


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set[str]) -> set[str]:
    """The `modules` that `path` imports (`from train.x import y` is train.x.y when that
    is a module, else train.x; `import train.x` is train.x)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"{path}:{node.lineno}: relative import; use absolute ones")
            base = node.module or ""
            for a in node.names:
                if f"{base}.{a.name}" in modules:
                    found.add(f"{base}.{a.name}")
                elif base in modules:
                    found.add(base)
    return found


def import_graph(*packages: Path) -> dict[str, set[str]]:
    """Module → the modules of `packages` it imports (the packages share one parent)."""
    files = {module_name(p, pkg.parent): p for pkg in packages for p in sorted(pkg.rglob("*.py"))}
    modules = set(files)
    # A package's own __init__ is not an edge worth a cycle: importing train.x.y runs
    # train/x/__init__.py, which is a docstring here (asserted below).
    return {m: imports(p, modules) - {m} for m, p in files.items()}


def sub_package_graph(graph: dict[str, set[str]], package: str) -> dict[str, set[str]]:
    """`package`'s module graph with each sub-package as one node (train.model.fit and
    train.model.search are train.model; a top-level module such as train.cli stays itself)."""

    def node(m: str) -> str:
        return ".".join(m.split(".")[:2])

    out: dict[str, set[str]] = {}
    for m, targets in graph.items():
        if m == package or not m.startswith(package + "."):
            continue
        inside = {node(t) for t in targets if t.startswith(package + ".")}
        out.setdefault(node(m), set()).update(inside - {node(m)})
    return out


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


def test_the_packages_have_no_import_cycle() -> None:
    graph = import_graph(*(ROOT / p for p in PACKAGES))
    for seen in ("train.cli", "train.data.records", "infer.server", "bench.proc", "modelformat"):
        assert seen in graph  # the walk saw the tree
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle between modules: " + " -> ".join(cycle or [])


def test_train_sub_packages_have_no_import_cycle() -> None:
    """The stages depend one way: a sub-package never needs one that needs it back."""
    graph = sub_package_graph(import_graph(PACKAGE), "train")
    assert {"train.data", "train.model", "train.onnx", "train.publish", "train.fit"} <= set(graph)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle between train's sub-packages: " + " -> ".join(cycle or [])


def test_the_sidecar_imports_no_training_or_bench_code() -> None:
    """infer is the minimal process the bot spawns: the model contract, nothing else."""
    graph = import_graph(*(ROOT / p for p in PACKAGES))
    leaks = {
        (m, t)
        for m, targets in graph.items()
        if m.startswith("infer")
        for t in targets
        if t.split(".")[0] in ("train", "bench")
    }
    assert not leaks, f"infer imports {sorted(leaks)}"


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


def test_sub_package_graph_joins_modules_and_keeps_top_level_ones() -> None:
    graph = {
        "train.cli": {"train.model.fit"},
        "train.model.fit": {"train.onnx.export", "train.model.search"},
        "train.model.search": set(),
        "train.onnx.export": {"train.model.families"},
        "train.model.families": set(),
        "modelformat.manifest": set(),
    }
    sub = sub_package_graph(graph, "train")
    assert sub == {"train.cli": {"train.model"}, "train.model": {"train.onnx"},
                   "train.onnx": {"train.model"}}  # fmt: skip
    assert find_cycle(sub) == ["train.model", "train.onnx", "train.model"]


def test_graph_sees_a_lazy_import_cycle(tmp_path: Path) -> None:
    """The check reads imports inside functions too (how the old cli <-> backtest_cli hid)."""
    pkg = tmp_path / "train"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('"""x"""\n')
    (pkg / "a.py").write_text("from train.b import f\n")
    (pkg / "b.py").write_text("def f():\n    from train import a\n")
    assert find_cycle(import_graph(pkg)) == ["train.a", "train.b", "train.a"]
