"""Normalisation, highly variable genes, PCA, batch-aware neighbours, Leiden and UMAP.

Method (the standard scanpy recipe: Wolf et al., *Genome Biol* 2018;19:15; Luecken & Theis 2019):

1. **Normalise**: raw counts are kept in ``layers["counts"]`` (pseudobulk needs them), then
   ``normalize_total`` to 10,000 per cell and ``log1p``. Data that arrive already log-normalised
   (e.g. scanpy's ``pbmc68k_reduced``) are used as they are and no ``counts`` layer exists.
2. **HVG**: ``seurat`` dispersion flavour on the log data, computed per batch and merged
   (``batch_key``) so a gene variable only because of a center's chemistry is not preferred.
3. **PCA** on the HVG, sparse with implicit centring (no dense scaled copy: it keeps the working set
   sparse, which the 1.5 M-cell path needs; see docs/omics/single_cell.md).
4. **Batch correction** (``correction``), batch = ``center_id`` by default (the technical batch;
   correcting per *sample* would erase the biology compared between pre and post samples):

   * ``"harmony"`` (default): Harmony (Korsunsky et al., *Nat Methods* 2019;16:1289) on the PCs
     with ``harmonypy`` 2.1 (C++ backend; called directly — scanpy 1.12's
     ``sc.external.pp.harmony_integrate`` transposes harmonypy 2's result and fails). Soft k-means
     clusters (K = min(N/30, 100), σ = 0.1) with a diversity penalty (θ = 2) and a per-cluster
     linear correction (ridge λ estimated, α = 0.2), at most 10 rounds, ``random_state = seed``;
     parameters and convergence in ``uns["latc_sc"]["harmony"]``. Because the correction is per
     cluster, centers may send different cell-type mixes (tumour from one center, blood from
     another).
   * ``"pc_centering"``: subtract each batch's mean from the principal components (the location
     part of ComBat, Johnson et al., *Biostatistics* 2007;8:118, applied in PC space — Harmony with
     a single cluster). It assumes batches have similar cell-type mixes: a center's mean is then
     its batch shift; with unequal mixes the mean is mostly composition and subtracting it moves
     same-type cells of different centers apart. Cheapest at any size.
   * ``"combat"``: ``sc.pp.combat`` on the log-expression of the HVG (location and scale per gene,
     empirical Bayes), then PCA. Dense: use below ~300k cells. Same equal-mix assumption.
   * ``"none"``.

   Why Harmony is the default (measured with ``benchmarks/bench_omics_sc.py --mode integration``;
   table in docs/omics/single_cell.md): on synthetic data with a center effect and centers sending
   different tissues (so different cell-type mixes), the within-type batch mixing was 0.70–0.86
   with Harmony against 0.35–0.46 with ``pc_centering`` and 0.39–0.48 with ``combat`` (≤ 0.03
   uncorrected), and Leiden clusters matched the true types (ARI 1.00 against 0.77–0.90). With
   equal mixes the three tie at a moderate effect (0.89) and Harmony corrects less of a very strong
   one (0.76–0.78 against 0.88–0.89). No correction is applied (recorded as ``"none"``) when
   ``batch_key`` is absent, has one level or a level with < 30 cells — for every method alike, with
   a ``UserWarning`` (unless ``batch_key=None`` was asked for) and the reason in ``uns["latc_sc"]["correction_skipped"]``; cells without a
   batch label are an :class:`OmicsInputError`.
5. **Neighbours** (k = 15; exact up to 50,000 cells, pynndescent above) on the corrected PCs,
   **Leiden** (igraph), **UMAP**.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import scanpy as sc
from anndata import AnnData
from scipy import sparse

from latc.omics._manifest import OmicsInputError
from latc.omics.sc._qc import _is_counts

__all__ = ["CORRECTIONS", "DEFAULT_CORRECTION", "normalise", "embed", "harmony"]

CORRECTIONS = ("harmony", "pc_centering", "combat", "none")
DEFAULT_CORRECTION = "harmony"


def normalise(adata: AnnData, *, target_sum: float = 1e4) -> AnnData:
    """Log-normalise in place (returns ``adata``); raw counts move to ``layers["counts"]``.

    Already-normalised input (non-integer, non-negative values) is left as is and
    ``uns["latc_sc"]["has_counts"]`` is False. Negative values (a scaled matrix) are refused:
    pass the log-normalised matrix (e.g. ``adata.raw.to_adata()``).
    """
    info = adata.uns.setdefault("latc_sc", {})
    X = adata.X
    data = X.data if sparse.issparse(X) else np.asarray(X)
    if data.size and np.nanmin(data) < 0:
        raise OmicsInputError("expression matrix has negative values (scaled data?); pass counts or "
                              "log-normalised values (e.g. adata.raw.to_adata())")
    if _is_counts(X):
        adata.layers["counts"] = X.copy()
        sc.pp.normalize_total(adata, target_sum=target_sum)
        sc.pp.log1p(adata)
        info["has_counts"] = True
    else:
        info["has_counts"] = "counts" in adata.layers
    info["normalisation"] = f"normalize_total({target_sum:g}) + log1p" if info["has_counts"] else "as given (log-normalised)"
    return adata


def _batches_usable(adata: AnnData, batch_key: str | None, min_cells: int = 30) -> tuple[bool, str]:
    """Whether ``batch_key`` can drive a batch correction, and why not (empty when it can)."""
    if not batch_key:
        return False, "no batch_key given"
    if batch_key not in adata.obs:
        return False, (f"batch_key {batch_key!r} is not an obs column (columns: "
                       f"{', '.join(map(str, adata.obs.columns[:20]))})")
    n = adata.obs[batch_key].value_counts()
    if len(n) < 2:
        return False, f"batch_key {batch_key!r} has {len(n)} level(s): nothing to correct"
    if n.min() < min_cells:
        small = ", ".join(f"{k} ({v} cells)" for k, v in n[n < min_cells].items())
        return False, f"batch_key {batch_key!r} has level(s) with fewer than {min_cells} cells: {small}"
    if adata.obs[batch_key].isna().any():
        raise OmicsInputError(f"batch_key {batch_key!r}: {int(adata.obs[batch_key].isna().sum()):,} cells have no "
                              "value; label them or remove them before batch correction")
    return True, ""


def harmony(pcs: np.ndarray, batches, *, seed: int = 0, theta: float = 2.0, sigma: float = 0.1,
            max_iter: int = 10) -> tuple[np.ndarray, dict]:
    """Harmony (Korsunsky et al. 2019) on principal components with ``harmonypy`` (C++ backend).

    ``pcs``: cells × PCs; ``batches``: one label per cell (two or more levels, no missing values).
    Returns the corrected PCs (float64, cells × PCs) and the parameters and convergence record
    stored in ``uns["latc_sc"]["harmony"]``. Defaults are harmonypy's (which follow R harmony):
    diversity penalty θ = 2, soft-cluster width σ = 0.1, K = min(N/30, 100) clusters, ridge
    penalty λ estimated per cluster (α = 0.2), at most 10 rounds. Seeded (``random_state``); the
    result does not depend on the number of threads.
    """
    import harmonypy

    labels = np.asarray(batches, dtype=object)
    if pd.isna(labels).any():
        raise OmicsInputError(f"Harmony: {int(pd.isna(labels).sum()):,} cells have no batch label")
    levels = np.unique(labels.astype(str))
    if len(levels) < 2:
        raise OmicsInputError(f"Harmony needs two or more batches; found {len(levels)} ({', '.join(levels)})")
    eps = 1e-2                       # harmonypy's epsilon_harmony: relative change of the objective
    meta = {"batch": labels.astype(str)}
    h = harmonypy.run_harmony(np.asarray(pcs, dtype=np.float64), meta, "batch", theta=theta, sigma=sigma,
                              max_iter_harmony=max_iter, epsilon_harmony=eps, random_state=int(seed), verbose=False)
    z = np.asarray(h.Z_corr, dtype=np.float64)          # cells × PCs in harmonypy 2.x
    obj = np.asarray(h.objective_harmony, dtype=float)
    rounds = len(h.kmeans_rounds)
    converged = bool(len(obj) >= 2 and (obj[-2] - obj[-1]) / abs(obj[-2]) < eps)
    params = {"method": "harmonypy.run_harmony", "version": harmonypy.__version__, "theta": float(theta),
              "sigma": float(sigma), "n_clusters": int(h.K), "lambda": "estimated per cluster (alpha=0.2)",
              "max_iter": int(max_iter), "iterations": int(rounds), "converged": converged,
              "random_state": int(seed), "n_batches": int(len(levels))}
    return z, params


def embed(adata: AnnData, *, n_hvg: int = 2000, n_pcs: int = 30, batch_key: str | None = "center_id",
          correction: str = DEFAULT_CORRECTION, n_neighbors: int = 15, resolution: float = 1.0,
          umap: bool = True, seed: int = 0, neighbors_method: str = "umap") -> AnnData:
    """HVG → PCA → batch correction → neighbours → Leiden → UMAP, in place (returns ``adata``).

    Adds ``var["highly_variable"]``, ``obsm["X_pca"]`` (uncorrected), ``obsm["X_pca_corrected"]``,
    the neighbour graph (``obsp``), ``obs["leiden"]`` and ``obsm["X_umap"]``; records the choices in
    ``uns["latc_sc"]``. Up to 50,000 cells the k nearest neighbours are exact (scikit-learn), above
    that approximate (pynndescent). ``neighbors_method``: connectivity kernel, ``"umap"`` (scanpy's
    default) or ``"gauss"`` (no numba compilation; used by the fast unit tests).
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {CORRECTIONS}, not {correction!r}")
    info = adata.uns.setdefault("latc_sc", {})
    info.pop("harmony", None)
    use_batch, why_not = _batches_usable(adata, batch_key)
    info.pop("correction_skipped", None)
    if correction != "none" and batch_key and not use_batch:
        # the analysis goes on uncorrected; say so rather than silently (a mistyped key, a tiny center)
        info["correction_skipped"] = f"{correction} not applied: {why_not}"
        warnings.warn(f"batch correction {info['correction_skipped']}", UserWarning, stacklevel=2)
    n_hvg = min(n_hvg, adata.n_vars)
    sc.pp.highly_variable_genes(adata, n_top_genes=n_hvg, flavor="seurat",
                                batch_key=batch_key if use_batch else None)
    n_pcs = int(min(n_pcs, adata.var["highly_variable"].sum() - 1, adata.n_obs - 1))
    if correction == "combat" and use_batch:
        hv = adata[:, adata.var["highly_variable"].to_numpy()].copy()
        hv.X = hv.X.toarray() if sparse.issparse(hv.X) else np.asarray(hv.X, dtype=float)
        sc.pp.combat(hv, key=batch_key)
        sc.pp.pca(hv, n_comps=n_pcs, random_state=seed)
        adata.obsm["X_pca"] = hv.obsm["X_pca"]
        adata.obsm["X_pca_corrected"] = hv.obsm["X_pca"]
    else:
        sc.pp.pca(adata, n_comps=n_pcs, mask_var="highly_variable", random_state=seed)
        pcs = np.asarray(adata.obsm["X_pca"], dtype=np.float64)
        if correction == "pc_centering" and use_batch:
            codes = adata.obs[batch_key].astype("category").cat.codes.to_numpy()
            sums = np.zeros((codes.max() + 1, pcs.shape[1]))
            np.add.at(sums, codes, pcs)
            means = sums / np.bincount(codes)[:, None]
            pcs = pcs - means[codes] + pcs.mean(axis=0)
        elif correction == "harmony" and use_batch:
            pcs, info["harmony"] = harmony(pcs, adata.obs[batch_key].to_numpy(), seed=seed)
        adata.obsm["X_pca_corrected"] = pcs.astype(np.float32)
    sc.pp.neighbors(adata, n_neighbors=n_neighbors, use_rep="X_pca_corrected", random_state=seed,
                    method=neighbors_method, transformer="sklearn" if adata.n_obs <= 50_000 else None)
    sc.tl.leiden(adata, resolution=resolution, flavor="igraph", n_iterations=2, directed=False,
                 random_state=seed, key_added="leiden")
    if umap:
        sc.tl.umap(adata, random_state=seed)
    info.update({"n_hvg": int(adata.var["highly_variable"].sum()), "n_pcs": n_pcs,
                 "batch_key": batch_key if use_batch else None,
                 "correction": correction if use_batch else "none", "leiden_resolution": resolution})
    return adata
