"""The package's layers: no import cycle, every module importable alone, light modules stay light."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import surveyfuse

PACKAGE = Path(surveyfuse.__file__).resolve().parent


def module_names() -> dict[str, Path]:
    """``surveyfuse.x.y`` -> its file, for every module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports anywhere in its code (function-level imports included)."""
    modules = module_names()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base_name = ".".join(base + ([node.module] if node.module else []))
                else:
                    base_name = node.module or ""
                # `from .pkg import module` imports the module; `from .module import name` the module
                targets = [f"{base_name}.{a.name}" if f"{base_name}.{a.name}" in modules else base_name
                           for a in node.names]
            else:
                continue
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_sees_relative_and_function_level_imports():
    graph = import_graph()
    assert "surveyfuse.methods" in graph["surveyfuse.pipeline.spec"]  # from ..methods import ...
    assert "surveyfuse.imputer" in graph["surveyfuse.evaluate.crossval"]  # inside evaluate_methods
    assert "surveyfuse.rng" in graph["surveyfuse.imputer"]  # from . import rng


def test_the_package_import_graph_has_no_cycle():
    """Model selection depends on the estimators, the estimators never on it (nor anything on a layer above)."""
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_every_module_imports_alone():
    """Each module imported first, in a fresh package state: a cycle that only bites in some order shows here."""
    script = f"""
import importlib, json, sys
names = {sorted(module_names())!r}
failed = {{}}
for name in names:
    for loaded in [m for m in sys.modules if m == "surveyfuse" or m.startswith("surveyfuse.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("surveyfuse"):
            continue  # an optional dependency that is not installed
        failed[name] = repr(exc)
    except Exception as exc:
        failed[name] = repr(exc)
print(json.dumps(failed))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {}


def loaded_by(code: str) -> set[str]:
    script = code + "\nimport sys, json\nprint(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_validating_a_spec_loads_no_data_library():
    heavy = {"pandas", "scipy", "sklearn", "numpy", "pyarrow", "torch"}
    loaded = loaded_by("import surveyfuse.pipeline.spec as s\n"
                       "s.parse_spec({'spec_version': 1, 'donor': 'd.csv', 'recipient': 'r.csv', 'block': ['y'],"
                       " 'predictors': ['x'], 'method': {'name': 'hotdeck', 'params': {'k': 5}}})")
    assert "surveyfuse" in loaded and not loaded & heavy, loaded & heavy
    assert not loaded_by("import surveyfuse.methods, surveyfuse.cli") & heavy


#: old import paths (before the sub-packages) -> where the module lives now
MOVED = {
    "surveyfuse.harmonise": "surveyfuse.surveys.harmonise", "surveyfuse.raking": "surveyfuse.surveys.raking",
    "surveyfuse.calibrate": "surveyfuse.surveys.calibrate", "surveyfuse.diagnostics": "surveyfuse.surveys.diagnostics",
    "surveyfuse.spec": "surveyfuse.pipeline.spec", "surveyfuse.run": "surveyfuse.pipeline.run",
    "surveyfuse.stream": "surveyfuse.pipeline.stream", "surveyfuse.distributed": "surveyfuse.pipeline.distributed",
    "surveyfuse.bridge": "surveyfuse._bridge",
}
#: what the top level holds besides the sub-packages and those old paths: the core every layer shares
TOP_LEVEL = {"__init__", "_version", "errors", "methods", "api", "imputer", "cli", "rng", "datasets", "_bridge"}


def test_the_top_level_holds_the_core_and_the_old_paths_only():
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert top == TOP_LEVEL | {m.rpartition(".")[2] for m in MOVED}
    assert {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()} == {
        "backends", "constraints", "data", "evaluate", "notebook", "pipeline", "surveys"}


def test_old_import_paths_are_the_moved_modules():
    """A script written against the flat layout (``from surveyfuse.run import run_spec``) gets the same objects."""
    script = f"""
import importlib, json
moved = {MOVED!r}
same = {{old: importlib.import_module(old) is importlib.import_module(new) for old, new in moved.items()}}
from surveyfuse.run import run_spec
from surveyfuse.pipeline.run import run_spec as new_run_spec
from surveyfuse.harmonise import Harmoniser
import surveyfuse
same["names"] = run_spec is new_run_spec and Harmoniser is surveyfuse.Harmoniser
print(json.dumps(same))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {**{old: True for old in MOVED}, "names": True}


def test_the_default_method_is_written_once():
    """Every reader of the default reports the same method, the one surveyfuse.methods declares."""
    from surveyfuse import backends, methods
    from surveyfuse._bridge import methods as bridge_methods
    from surveyfuse.evaluate import auto, crossval
    from surveyfuse.cli import _parser

    assert backends.DEFAULT_METHOD == methods.DEFAULT_METHOD
    assert bridge_methods()["default"] == methods.DEFAULT_METHOD  # what the R package reads
    assert crossval.DEFAULT_METHODS == auto.DEFAULT_CANDIDATES == methods.DEFAULT_CANDIDATES
    assert methods.DEFAULT_CANDIDATES[0] == methods.DEFAULT_METHOD
    args = _parser().parse_args(["evaluate", "spec.json"])
    assert args.methods == ",".join(methods.DEFAULT_CANDIDATES)
