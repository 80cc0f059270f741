"""Per-sample cell quality control: library size, detected genes, mitochondrial share, doublet score.

Rules (Luecken & Theis, *Mol Syst Biol* 2019;15:e8746, "Current best practices in single-cell
RNA-seq analysis"; Heumos et al., *Nat Rev Genet* 2023;24:550):

* fixed floors: at least ``min_genes`` detected genes and ``min_counts`` UMIs per cell;
* per-sample outliers: ``log1p(total_counts)`` or ``log1p(n_genes)`` more than ``n_mads`` median
  absolute deviations from the sample's median (thresholds adapt to each library's depth);
* mitochondrial share above ``max_pct_mt`` (damaged / dying cells);
* doublets: Scrublet (Wolock et al., *Cell Syst* 2019;8:281) run per sample
  (``sc.pp.scrublet(batch_key="sample_id")``); ``predicted_doublet`` cells are removed.

All thresholds are parameters; the flags stay in ``obs`` so a reviewer can see why a cell went.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scanpy as sc
from anndata import AnnData
from scipy import sparse

__all__ = ["QC_COLUMNS", "qc_metrics", "qc_filter", "qc_summary"]

#: ``obs`` columns added by :func:`qc_metrics` / :func:`qc_filter`.
QC_COLUMNS = ["total_counts", "n_genes_by_counts", "pct_counts_mt", "doublet_score", "predicted_doublet",
              "qc_low_quality", "qc_pass"]


def _is_counts(X) -> bool:
    data = X.data if sparse.issparse(X) else np.asarray(X).ravel()
    data = data[: 100_000]
    return bool(len(data)) and bool(np.all(data >= 0)) and bool(np.allclose(data, np.round(data)))


def qc_metrics(adata: AnnData, *, doublets: bool = True, batch_key: str = "sample_id", seed: int = 0) -> AnnData:
    """Add per-cell QC metrics to ``adata.obs`` (in place; returns ``adata``).

    Adds ``total_counts, n_genes_by_counts, pct_counts_mt`` (genes whose symbol starts with ``MT-``)
    and, when ``doublets`` and ``X`` holds raw counts, Scrublet's ``doublet_score`` and
    ``predicted_doublet`` per ``batch_key``. On already-normalised data the doublet columns are
    NaN / False (Scrublet needs counts).
    """
    adata.var["mt"] = adata.var_names.str.upper().str.startswith("MT-")
    sc.pp.calculate_qc_metrics(adata, qc_vars=["mt"], percent_top=None, log1p=False, inplace=True)
    adata.obs["doublet_score"] = np.nan
    adata.obs["predicted_doublet"] = False
    if doublets and _is_counts(adata.X):
        sizes = adata.obs[batch_key].value_counts()
        ok = adata.obs[batch_key].isin(sizes.index[sizes >= 50]).to_numpy()  # Scrublet needs a library
        if ok.any():
            sub = adata[ok].copy()
            sc.pp.scrublet(sub, batch_key=batch_key, random_state=seed, verbose=False,
                           n_prin_comps=min(30, sub.n_vars - 1, int(sizes.min()) - 1))
            adata.obs.loc[sub.obs_names, "doublet_score"] = sub.obs["doublet_score"].to_numpy()
            adata.obs.loc[sub.obs_names, "predicted_doublet"] = sub.obs["predicted_doublet"].astype(bool).to_numpy()
    adata.obs["predicted_doublet"] = adata.obs["predicted_doublet"].astype(bool)
    return adata


def _mad_outlier(x: pd.Series, groups: pd.Series, n_mads: float) -> np.ndarray:
    med = x.groupby(groups, observed=True).transform("median")
    mad = (x - med).abs().groupby(groups, observed=True).transform("median")
    return ((x - med).abs() > n_mads * mad.clip(lower=1e-9) * 1.4826).to_numpy()


def qc_filter(adata: AnnData, *, min_genes: int = 200, min_counts: int = 400, max_pct_mt: float = 20.0,
              n_mads: float = 5.0, remove_doublets: bool = True, batch_key: str = "sample_id") -> AnnData:
    """Flag cells failing QC (``qc_low_quality``, ``qc_pass``) and return the passing cells (a copy).

    Needs :func:`qc_metrics` first. On log-normalised input (no counts) only ``max_pct_mt`` and
    ``min_genes`` apply.
    """
    o = adata.obs
    g = o[batch_key]
    low = (o["n_genes_by_counts"] < min_genes).to_numpy() | (o["pct_counts_mt"] > max_pct_mt).to_numpy()
    if _is_counts(adata.X):
        low = (low | (o["total_counts"] < min_counts).to_numpy()
               | _mad_outlier(np.log1p(o["total_counts"].astype(float)), g, n_mads)
               | _mad_outlier(np.log1p(o["n_genes_by_counts"].astype(float)), g, n_mads))
    o["qc_low_quality"] = low
    o["qc_pass"] = ~low & ~(o["predicted_doublet"].to_numpy() if remove_doublets else False)
    return adata[o["qc_pass"].to_numpy()].copy()


def qc_summary(adata: AnnData, batch_key: str = "sample_id") -> pd.DataFrame:
    """One row per sample: cells before/after QC, removed as low quality / doublets, medians."""
    o = adata.obs
    grp = o.groupby(batch_key, observed=True)
    out = pd.DataFrame({
        "n_cells": grp.size(),
        "n_low_quality": grp["qc_low_quality"].sum() if "qc_low_quality" in o else 0,
        "n_doublets": grp["predicted_doublet"].sum(),
        "n_pass": grp["qc_pass"].sum() if "qc_pass" in o else grp.size(),
        "median_counts": grp["total_counts"].median(),
        "median_genes": grp["n_genes_by_counts"].median(),
        "median_pct_mt": grp["pct_counts_mt"].median(),
    })
    return out.reset_index()
