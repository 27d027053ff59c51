"""Holds the whole package to its structural contracts (in the spirit of scanpy's test_package_structure).

* Layering: a sub-package never imports a higher one; ``cli`` and ``service`` are the top.
* ``pl`` takes plain results (DataFrames, explanation objects) and imports nothing above ``network`` (``identify``
  and ``bench`` reports draw with it).
* Every public function and class of the library layers, and every public method of those classes, has a docstring
  and annotated parameters/returns.
* Every ``pl`` function takes a keyword-only ``ax`` (default None) and returns matplotlib Axes.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import twincell

SRC = Path(twincell.__file__).parent
# rank of each sub-package; an import must go to an equal or lower rank (pl: above network, below context)
RANK = {"errors": 0, "_progress": 0, "_cache": 0, "data": 1, "network": 2, "pl": 2.5, "context": 3, "model": 4,
        "identify": 5, "bench": 6, "service": 7, "cli": 8}
LIBRARY = ("data", "network", "context", "model", "identify", "bench", "pl")


def _modules():
    for f in SRC.rglob("*.py"):
        rel = f.relative_to(SRC)
        yield rel.parts[0].removesuffix(".py"), f


def _imported_subpackages(f: Path):
    tree = ast.parse(f.read_text())
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for n in names:
            parts = n.split(".")
            if parts[0] == "twincell" and len(parts) > 1 and parts[1] in RANK:
                yield parts[1], node.lineno


def test_lower_layers_never_import_higher_ones():
    bad = []
    for pkg, f in _modules():
        if pkg not in RANK:
            continue
        for target, line in _imported_subpackages(f):
            if RANK[target] > RANK[pkg]:
                bad.append(f"{f.relative_to(SRC)}:{line} imports twincell.{target}")
    assert not bad, "layering violations:\n" + "\n".join(bad)


def _public_callables():
    for sub in LIBRARY:
        pkg = importlib.import_module(f"twincell.{sub}")
        mods = [pkg] + [importlib.import_module(m.name) for m in pkgutil.walk_packages(pkg.__path__, f"twincell.{sub}.")
                        if not m.name.rsplit(".", 1)[-1].startswith("_")]
        for mod in mods:
            for name, obj in vars(mod).items():
                if name.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
                    continue
                if inspect.isfunction(obj) or inspect.isclass(obj):
                    yield f"{mod.__name__}.{name}", obj


def _methods(qual, cls):
    """``(qualified name, function, takes self / cls)`` of the public methods that ``cls`` itself defines."""
    for name, attr in vars(cls).items():
        fn = attr.__func__ if isinstance(attr, (classmethod, staticmethod)) else attr
        if not name.startswith("_") and inspect.isfunction(fn):
            yield f"{qual}.{name}", fn, not isinstance(attr, staticmethod)


def _public_methods():
    for qual, obj in _public_callables():
        if inspect.isclass(obj):
            yield from _methods(qual, obj)


def _contract_gaps(qual, fn, bound=False):
    """What ``fn`` lacks of the contract: a docstring, a return annotation, annotated parameters (but self / cls)."""
    gaps = [] if inspect.getdoc(fn) else [f"{qual}: no docstring"]
    sig = inspect.signature(fn)
    if sig.return_annotation is inspect.Signature.empty:
        gaps.append(f"{qual}: no return annotation")
    for p in list(sig.parameters.values())[1 if bound else 0:]:
        if p.annotation is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            gaps.append(f"{qual}: parameter {p.name} not annotated")
    return gaps


def test_public_api_is_documented_and_annotated():
    missing = []
    for qual, obj in _public_callables():
        missing += _contract_gaps(qual, obj) if inspect.isfunction(obj) else \
            ([] if inspect.getdoc(obj) else [f"{qual}: no docstring"])
    for qual, fn, bound in _public_methods():
        missing += _contract_gaps(qual, fn, bound)
    assert not missing, "\n".join(missing)


def test_method_contract_sees_unannotated_methods():
    """The method check flags what it should (a guard against a check that silently checks nothing)."""

    class Example:
        def fit(self, data, *, epochs: int = 1) -> None:
            """Fit."""

        @staticmethod
        def build(x: int):
            """Build."""

    gaps = [g for method in _methods("Example", Example) for g in _contract_gaps(*method)]
    assert gaps == ["Example.fit: parameter data not annotated", "Example.build: no return annotation"]
    assert "twincell.model.twincell.TwinCell.fit" in {q for q, _, _ in _public_methods()}


def test_plotting_functions_share_one_api():
    pl = importlib.import_module("twincell.pl")
    funcs = [getattr(pl, n) for n in getattr(pl, "__all__", []) if inspect.isfunction(getattr(pl, n))]
    if not funcs:
        pytest.skip("no plotting functions exported yet")
    for fn in funcs:
        sig = inspect.signature(fn)
        assert "ax" in sig.parameters and sig.parameters["ax"].default is None, fn.__name__
        assert sig.parameters["ax"].kind is inspect.Parameter.KEYWORD_ONLY, f"{fn.__name__}: ax is not keyword-only"
        assert "Axes" in str(sig.return_annotation), fn.__name__
