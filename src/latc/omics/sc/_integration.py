"""How well a batch correction mixed the batches and kept the cell types apart.

``integration_metrics`` scores an embedding (default the corrected PCs) with the usual pair of
measures (Luecken et al., *Nat Methods* 2022;19:41, "Benchmarking atlas-level data integration"):

* **batch mixing within cell type** — for every cell, the Shannon entropy of the batch labels among
  its ``k`` nearest neighbours *of the same cell type*, divided by the entropy of that type's batch
  distribution (1 = as mixed as the type's cells allow, 0 = every neighbour from the cell's own
  batch); averaged over the cells of each type and then over types weighted by their cell counts.
  Types present in one batch only, or with no more than ``k`` cells, are left out. Working within
  types keeps a real difference of composition between batches from counting as poor mixing.
* **kNN label purity** — the share of each cell's ``k`` nearest neighbours (all cells) with the
  same label: what a correction must not destroy.

``label_key`` is a reference labelling: the true types of simulated data, or an annotation made
independently of the embedding being judged.
"""

from __future__ import annotations

import numpy as np
from anndata import AnnData
from sklearn.neighbors import NearestNeighbors

from latc.omics._manifest import OmicsInputError

__all__ = ["integration_metrics"]


def _neighbours(Z: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` nearest neighbours of every row, the row itself excluded."""
    return NearestNeighbors(n_neighbors=k + 1).fit(Z).kneighbors(Z, return_distance=False)[:, 1:]


def integration_metrics(adata: AnnData, batch_key: str, label_key: str, *, rep: str = "X_pca_corrected",
                        k: int = 15) -> dict[str, float]:
    """``{"batch_mixing_within_type", "knn_label_purity", "types_scored"}`` for ``obsm[rep]``.

    Raises :class:`OmicsInputError` (one line) when a column or the embedding is absent, a label is
    missing, or no cell type is present in two batches with more than ``k`` cells.
    """
    for key in (batch_key, label_key):
        if key not in adata.obs:
            raise OmicsInputError(f"integration metrics: obs has no column {key!r}")
    if rep not in adata.obsm:
        raise OmicsInputError(f"integration metrics: obsm has no {rep!r} (run embed first)")
    if adata.obs[[batch_key, label_key]].isna().any().any():
        raise OmicsInputError(f"integration metrics: missing values in {batch_key!r} or {label_key!r}")
    Z = np.asarray(adata.obsm[rep], dtype=np.float64)
    batch = adata.obs[batch_key].astype(str).to_numpy()
    label = adata.obs[label_key].astype(str).to_numpy()
    scores, weights = [], []
    for t in np.unique(label):
        m = label == t
        levels, counts = np.unique(batch[m], return_counts=True)
        if len(levels) < 2 or m.sum() <= k:
            continue
        codes = np.searchsorted(levels, batch[m])[_neighbours(Z[m], k)]
        frac = np.stack([(codes == j).mean(axis=1) for j in range(len(levels))], axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            h = -np.where(frac > 0, frac * np.log(frac), 0.0).sum(axis=1)
        q = counts / counts.sum()
        scores.append(h.mean() / -(q * np.log(q)).sum())
        weights.append(int(m.sum()))
    if not scores:
        raise OmicsInputError(f"integration metrics: no {label_key!r} level has cells from two {batch_key!r} levels "
                              f"and more than k = {k} cells")
    purity = float((label[_neighbours(Z, k)] == label[:, None]).mean())
    return {"batch_mixing_within_type": float(np.average(scores, weights=weights)), "knn_label_purity": purity,
            "types_scored": len(scores)}
