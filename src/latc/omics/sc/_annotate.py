"""Marker-based cell-type annotation with per-cell scores and a cluster-level majority label.

Score of cell *c* for type *t* (the shipped table ``resources/immune_markers.csv``; sources in
``resources/README.md``)::

    score[c, t] = Σ_g w[g, t] · z[c, g] / Σ_g |w[g, t]|,    z[c, g] = (x[c, g] − mean_g) / sd_g

over the markers *g* of *t* present in the data, with ``x`` the log-normalised expression and
``w = +1`` (marker) or ``−1`` (a gene whose absence separates *t* from a close type). This is the
scaled-expression average behind Seurat's ``AddModuleScore`` / scanpy's ``score_genes`` without the
random control set (deterministic, and computed on the sparse matrix without densifying it).

* ``cell_type_cell``: the per-cell argmax (types with fewer than ``min_markers`` positive markers in
  the data are not candidates; they are listed in ``uns["latc_sc"]["types_unscorable"]``);
* ``cell_type_cluster``: the majority ``cell_type_cell`` of the cell's Leiden cluster — the usual
  practice of annotating clusters, which smooths single-cell dropout noise (Luecken & Theis 2019);
* ``cell_type``: the label used downstream, ``cell_type_cluster`` unless ``level="cell"``;
* ``lineage`` from the table; ``annotation_margin`` = best − second-best score.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

__all__ = ["load_markers", "score_cell_types", "annotate"]


@lru_cache(maxsize=1)
def _shipped_markers() -> pd.DataFrame:
    with resources.files("latc.omics.resources").joinpath("immune_markers.csv").open("r", encoding="utf-8") as f:
        return pd.read_csv(f)


def load_markers() -> pd.DataFrame:
    """The shipped marker table (``cell_type, lineage, gene, weight, source``)."""
    return _shipped_markers().copy()


def _gene_stats(X) -> tuple[np.ndarray, np.ndarray]:
    n = X.shape[0]
    if sparse.issparse(X):
        mean = np.asarray(X.mean(axis=0)).ravel()
        sq = np.asarray(X.multiply(X).mean(axis=0)).ravel()
    else:
        X = np.asarray(X, dtype=np.float64)
        mean, sq = X.mean(axis=0), (X * X).mean(axis=0)
    var = np.maximum(sq - mean**2, 0) * n / max(n - 1, 1)
    return mean, np.sqrt(var)


def score_cell_types(adata: AnnData, markers: pd.DataFrame | None = None, *, layer: str | None = None,
                     min_markers: int = 2) -> pd.DataFrame:
    """Per-cell marker scores: a cells × cell types DataFrame (index = ``obs_names``).

    Types with fewer than ``min_markers`` positive markers present in ``adata`` get NaN.
    """
    m = load_markers() if markers is None else markers
    m = m[m["gene"].isin(adata.var_names)]
    types = list(dict.fromkeys((load_markers() if markers is None else markers)["cell_type"]))
    genes = list(dict.fromkeys(m["gene"]))
    X = adata[:, genes].layers[layer] if layer else adata[:, genes].X
    X = X.tocsr().astype(np.float64) if sparse.issparse(X) else np.asarray(X, dtype=np.float64)
    mean, sd = _gene_stats(X)
    sd[sd == 0] = np.inf  # a constant gene carries no information
    W = m.pivot_table(index="gene", columns="cell_type", values="weight", aggfunc="sum", fill_value=0)
    W = W.reindex(index=genes, columns=types, fill_value=0).to_numpy(dtype=np.float64)
    norm = np.abs(W).sum(axis=0)
    npos = (W > 0).sum(axis=0)
    Wn = np.divide(W, norm, out=np.zeros_like(W), where=norm > 0)
    Ws = Wn / sd[:, None]
    scores = np.asarray(X @ Ws) - (mean @ Ws)[None, :]
    scores[:, npos < min_markers] = np.nan
    return pd.DataFrame(scores, index=adata.obs_names, columns=types)


def annotate(adata: AnnData, markers: pd.DataFrame | None = None, *, cluster_key: str = "leiden",
             level: str = "cluster", min_markers: int = 2) -> AnnData:
    """Annotate in place (returns ``adata``): adds ``obsm["cell_type_scores"]`` (DataFrame) and ``obs``
    columns ``cell_type_cell, cell_type_cluster, cell_type, lineage, annotation_margin``.
    """
    if level not in ("cluster", "cell"):
        raise ValueError("level must be 'cluster' or 'cell'")
    m = load_markers() if markers is None else markers
    s = score_cell_types(adata, m, min_markers=min_markers)
    ok = s.columns[s.notna().any(axis=0).to_numpy()]
    if len(ok) == 0:
        from latc.omics._manifest import OmicsInputError
        raise OmicsInputError("no marker gene of the annotation table is present in the data")
    v = s[ok].to_numpy()
    order = np.argsort(-v, axis=1)
    best = ok.to_numpy()[order[:, 0]]
    top = np.take_along_axis(v, order[:, :2], axis=1)
    types = list(dict.fromkeys(m["cell_type"]))
    adata.obsm["cell_type_scores"] = s
    adata.obs["cell_type_cell"] = pd.Categorical(best, categories=types)
    adata.obs["annotation_margin"] = top[:, 0] - top[:, 1] if top.shape[1] > 1 else np.nan
    if cluster_key in adata.obs:
        tab = pd.crosstab(adata.obs[cluster_key], adata.obs["cell_type_cell"])
        # a plain dict: pandas 3.1 maps a categorical column through a categorical Series *by position*
        # when both have as many categories (one cluster per cell type), scrambling the labels
        major = {str(k): str(v) for k, v in tab.idxmax(axis=1).items()}
        adata.obs["cell_type_cluster"] = pd.Categorical(adata.obs[cluster_key].astype(str).map(major), categories=types)
        adata.uns.setdefault("latc_sc", {})["cluster_purity"] = float((tab.max(axis=1).sum()) / tab.to_numpy().sum())
    else:
        adata.obs["cell_type_cluster"] = adata.obs["cell_type_cell"]
    adata.obs["cell_type"] = adata.obs["cell_type_cluster" if level == "cluster" else "cell_type_cell"]
    lineage = m.drop_duplicates("cell_type").set_index("cell_type")["lineage"]
    adata.obs["lineage"] = adata.obs["cell_type"].astype(str).map(lineage).astype("category")
    info = adata.uns.setdefault("latc_sc", {})
    info["types_unscorable"] = [t for t in s.columns if t not in ok]
    info["annotation_level"] = level
    return adata
