"""Functional signature scores per cell: cytotoxicity, exhaustion, IFN-γ (Ayers 2017), TLS, TDS.

Gene sets ship in ``resources/sc_signatures.csv`` (sources in ``resources/README.md``). Each cell's
score is scanpy's :func:`scanpy.tl.score_genes` (Tirosh et al., *Science* 2016;352:189 — the method
behind Seurat's ``AddModuleScore``): the mean log-expression of the set minus the mean of an
expression-matched random control set, seeded. Sets with fewer than ``min_genes`` genes present
are skipped and listed in ``uns["latc_sc"]["signatures_skipped"]``.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import pandas as pd
import scanpy as sc
from anndata import AnnData

__all__ = ["load_signatures", "score_signatures"]


@lru_cache(maxsize=1)
def _shipped() -> pd.DataFrame:
    with resources.files("latc.omics.resources").joinpath("sc_signatures.csv").open("r", encoding="utf-8") as f:
        return pd.read_csv(f)


def load_signatures() -> dict[str, list[str]]:
    """The shipped gene sets: signature name → genes."""
    s = _shipped()
    return {k: g["gene"].tolist() for k, g in s.groupby("signature", sort=False)}


def score_signatures(adata: AnnData, signatures: dict[str, list[str]] | None = None, *, min_genes: int = 2,
                     seed: int = 0) -> AnnData:
    """Add ``obs["sig_<name>"]`` for every signature (in place; returns ``adata``).

    ``adata.X`` must be log-normalised (after :func:`latc.omics.sc.normalise`).
    """
    sets = load_signatures() if signatures is None else signatures
    skipped = []
    for name, genes in sets.items():
        present = [g for g in genes if g in adata.var_names]
        if len(present) < min_genes:
            skipped.append(name)
            continue
        sc.tl.score_genes(adata, present, score_name=f"sig_{name}", random_state=seed,
                          ctrl_size=min(50, max(10, adata.n_vars // 20)), use_raw=False)
    adata.uns.setdefault("latc_sc", {})["signatures_skipped"] = skipped
    return adata
