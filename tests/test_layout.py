"""Package layout rules that a reviewer would otherwise check by hand (CONTRIBUTING.md, "The
``_private`` rule").

Omics: a subpackage (``latc.omics.sc``, ``.spatial``, ``.bulk``, ``.flow``, ``.imaging``,
``.integrate``, ``.models``) never imports another subpackage's private module
(``latc.omics.sc._run``) or private name (``from latc.omics.sc import _x``). What several
subpackages share lives in the shared omics layer (``latc.omics._outcomes``,
``latc.omics._associate``, ``latc.omics._manifest``, ``latc.omics._output``); what one subpackage
offers the others goes through its public ``__init__``. The source is parsed with ``ast``, so
imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
OMICS = SRC / "latc" / "omics"


def _module_of(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _subpackage(module: str) -> str | None:
    """``latc.omics.<sub>`` for a module inside an omics subpackage, else None."""
    parts = module.split(".")
    if len(parts) >= 3 and parts[:2] == ["latc", "omics"] and not parts[2].startswith("_"):
        return ".".join(parts[:3])
    return None


def _imports(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str, list[str]]]:
    """(line, absolute module, imported names) for every import statement, relative ones resolved."""
    out: list[tuple[int, str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name, []) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                name = ".".join([*base, name]) if name else ".".join(base)
            out.append((node.lineno, name, [a.name for a in node.names]))
    return out


def cross_private_imports(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """The imports in ``source`` (the text of ``module``) that reach into another omics
    subpackage's private module or private name, as ``"line: what"`` strings."""
    own = _subpackage(module)
    bad = []
    for line, target, names in _imports(ast.parse(source), module, is_package):
        sub = _subpackage(target)
        if sub is None or sub == own:
            continue
        rest = target[len(sub):].lstrip(".").split(".") if target != sub else []
        if any(p.startswith("_") for p in rest if p):
            bad.append(f"{line}: {target}")
        elif target == sub and any(n.startswith("_") for n in names):
            bad.append(f"{line}: {target} import {', '.join(n for n in names if n.startswith('_'))}")
    return bad


def test_checker_finds_each_kind_of_cross_private_import():
    # the rule itself, on sources written to break it (so the layout test below can fail)
    spatial = "latc.omics.spatial._run"
    assert cross_private_imports("from latc.omics.sc._run import annotate_outcomes\n", spatial) == [
        "1: latc.omics.sc._run"]
    assert cross_private_imports("def f():\n    from latc.omics.sc._plots import umap_panels\n", spatial) == [
        "2: latc.omics.sc._plots"]
    assert cross_private_imports("import latc.omics.integrate._mofa\n", "latc.omics.models._biomarkers") == [
        "1: latc.omics.integrate._mofa"]
    assert cross_private_imports("from latc.omics.sc import _cohort_from_study\n", spatial) == [
        "1: latc.omics.sc import _cohort_from_study"]
    assert cross_private_imports("from ..sc._run import x\n", spatial) == ["1: latc.omics.sc._run"]
    # the shared layer reaching into a subpackage's private module breaks the rule too
    assert cross_private_imports("from latc.omics.spatial._features import associate\n", "latc.omics._outcomes") == [
        "1: latc.omics.spatial._features"]
    # allowed: own private modules, the shared layer, another subpackage's public API
    ok = ("from latc.omics.spatial._features import associate\n"
          "from ._io import read_spatial\n"
          "from latc.omics._outcomes import annotate_outcomes\n"
          "from latc.omics._associate import associate\n"
          "from latc.omics.sc import umap_panels\n"
          "from latc.stats._logrank import logrank_result\n")
    assert cross_private_imports(ok, spatial) == []


def _omics_files() -> list[Path]:
    files = sorted(OMICS.rglob("*.py"))
    assert len(files) > 40, f"expected the omics sources under {OMICS}"
    return files


@pytest.mark.parametrize("path", _omics_files(), ids=lambda p: str(p.relative_to(OMICS)))
def test_no_omics_subpackage_imports_another_subpackages_private_module(path):
    module = _module_of(path)
    bad = cross_private_imports(path.read_text(encoding="utf-8"), module, is_package=path.name == "__init__.py")
    assert not bad, (f"{path.relative_to(SRC)} imports another omics subpackage's private module/name: {bad}; "
                     "move the shared piece into the shared omics layer (latc/omics/_*.py) or import it through "
                     "the owning package's public __init__")


def test_moved_names_stay_importable_from_their_old_places():
    # the association moved from spatial._features to the shared layer; spatial keeps its public
    # associate (defaulting to the spatial features) and the helpers under their old names
    from latc.omics import _associate, _outcomes
    from latc.omics.spatial import _features as spatial_features

    assert spatial_features.as_binary is _associate.as_binary
    assert spatial_features.ASSOCIATION_COLUMNS is _associate.ASSOCIATION_COLUMNS
    assert spatial_features.associate is not _associate.associate  # spatial's wrapper
    # annotate_outcomes and the patients-form cohort moved from sc._run to the shared outcome layer
    from latc.omics.sc import _run as sc_run

    assert sc_run.annotate_outcomes is _outcomes.annotate_outcomes
    assert sc_run._cohort_from_study is _outcomes.cohort_from_study
