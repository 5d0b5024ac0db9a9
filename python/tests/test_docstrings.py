"""Every public name documents itself with an example that runs.

The API reference is generated from these docstrings (docs/_ext), so a name
without an example would be a reference page a user cannot copy from. The
examples run here as doctests, so they stay true.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import surveyfuse
from surveyfuse.backends import REGISTRY, backend_class

#: public subpackages documented as a whole on the API pages
PUBLIC_MODULES = ("surveyfuse.datasets",)
DATA = {"ERROR_CODES"}  # constants: their page is a generated table


def public_objects() -> dict[str, object]:
    out = {f"surveyfuse.{n}": getattr(surveyfuse, n) for n in surveyfuse.__all__ if n != "__version__" and n not in DATA}
    for mod in PUBLIC_MODULES:
        module = importlib.import_module(mod)
        out.update({f"{mod}.{n}": getattr(module, n) for n in module.__all__})
    for name, obj in list(out.items()):
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_"):
                    continue
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                if inspect.isfunction(member):
                    out[f"{name}.{attr}"] = member
    return out


PUBLIC = public_objects()


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_name_has_a_docstring_with_an_example(name):
    doc = inspect.getdoc(PUBLIC[name]) or ""
    assert doc.strip(), f"{name} has no docstring"
    assert "Examples\n--------" in doc and ">>>" in doc.split("Examples\n--------", 1)[1], \
        f"{name}: the docstring needs an 'Examples' section (numpydoc) with a runnable '>>>' example"


@pytest.mark.parametrize("method", sorted(REGISTRY))
def test_every_method_parameter_is_documented(method):
    cls = backend_class(method)
    doc = "\n".join(inspect.getdoc(c) or "" for c in cls.__mro__ if c.__module__.startswith("surveyfuse"))
    assert "Parameters\n----------" in doc, f"{method}: no Parameters section"
    missing = [p for p in cls.default_params if f"\n{p} :" not in "\n" + doc and f", {p} :" not in doc
               and f"\n{p}," not in "\n" + doc]
    assert not missing, f"method '{method}' does not document its parameters {missing}"


def _is_old_path(info: pkgutil.ModuleInfo) -> bool:
    """An old import path of the flat layout (``surveyfuse.run``) is the moved module: its examples run there."""
    spec = info.module_finder.find_spec(info.name)
    return not info.ispkg and "sys.modules[__name__] = _moved" in Path(spec.origin).read_text(encoding="utf-8")


def _modules() -> list[str]:
    names = ["surveyfuse"]
    for info in pkgutil.walk_packages(surveyfuse.__path__, "surveyfuse."):
        if not _is_old_path(info):
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("module", _modules())
def test_docstring_examples_run(module):
    mod = importlib.import_module(module)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(mod, module) if t.examples]
    for t in tests:
        runner.run(t)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples in {module} failed (see above)"
