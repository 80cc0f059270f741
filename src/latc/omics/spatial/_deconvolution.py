"""Cell-type proportions per spot: reference-based deconvolution and marker-based estimates.

What is implemented (and what is not)
-------------------------------------
**Reference profiles** (:func:`reference_profiles`): from an annotated single-cell AnnData (raw
counts), the profile of cell type *k* is the mean over its cells of each cell's counts divided by
its total (a distribution over genes, summing to 1); the **RNA content** of *k* is its mean total
count relative to the mean over types. This is the reference of SPOTlight / RCTD simplified:
no platform-effect term, no per-gene over-dispersion.

**Poisson deconvolution** (``method="poisson"``, default; the likelihood of RCTD, Cable 2022 Nat
Biotechnol 40:517, without its platform-effect and over-dispersion terms): spot counts
``y_s ~ Poisson(Σ_k W_gk H_ks)`` with ``W`` the reference profiles over the informative genes
(renormalised) and ``H ≥ 0`` fitted by the Lee–Seung multiplicative updates for the KL divergence
(NMF with ``W`` fixed; Lee & Seung 2001 NIPS), vectorised over all spots.
**NNLS** (``method="nnls"``): per spot, non-negative least squares (``scipy.optimize.nnls``) of the
spot's relative expression on the profiles, each gene's equation divided by the square root of
its mean over types (approximate Poisson weights, so highly expressed genes do not dominate;
scaling by the mean itself over-weights noisy low genes and was much worse on synthetic spots) —
SPOTlight's NNLS step (Elosua-Bayes 2021 NAR 49:e50) without its NMF topic step. Either way ``H`` is the share of the spot's **RNA** from each
type; dividing by the type's RNA content and renormalising gives **cell fractions**
(``cell_fractions=True``, default).

Informative genes: genes present in both data and reference whose highest type exceeds
``min_specificity`` × their mean over types (default 2; housekeeping genes carry no information
about the mixture and, with reference noise, bias it).

Limitations: cell types missing from the reference are absorbed by the closest ones; proportions
are relative (no absolute cell counts per spot); no spatial smoothing; batch/platform differences
between the single-cell reference and the spatial assay are not modelled (RCTD's γ term); similar
types (CD4 vs CD8 T cells) are separated only through their few specific genes.

**Marker-based proportions** (:func:`marker_proportions`) need no reference: the abundance of
type *k* is the mean over its markers of ``x_g / q_g`` (``x`` = counts per 10,000, ``q_g`` a
"pure-spot" level, default the 99th percentile over the spots given), renormalised to sum 1 —
semi-quantitative; pass the same ``q`` for every sample (e.g. computed on all spots pooled) to keep
samples comparable. :func:`marker_scores` gives Seurat/scanpy-style module scores (mean log1p CP10k
of the markers minus the mean over all genes of the spot).
"""

from __future__ import annotations

from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import nnls

from latc.omics._manifest import OmicsInputError
from latc.omics.spatial._resources import marker_sets


@dataclass(frozen=True)
class Reference:
    """Cell-type reference: ``profiles`` (genes × types, columns sum to 1) and ``rna_content``
    (types; mean total counts per cell relative to the mean over types)."""

    profiles: pd.DataFrame
    rna_content: pd.Series


def _dense(x) -> np.ndarray:
    return np.asarray(x.toarray() if sp.issparse(x) else x, dtype=float)


def counts_matrix(adata: ad.AnnData, layer: str | None = None) -> np.ndarray:
    """Dense spots × genes counts (``layers[layer]`` or ``X``)."""
    return _dense(adata.layers[layer] if layer else adata.X)


def reference_profiles(reference: ad.AnnData, label_key: str = "cell_type", *, layer: str | None = None,
                       min_cells: int = 5) -> Reference:
    """Mean normalised expression per cell type of an annotated single-cell AnnData (raw counts).

    Types with fewer than ``min_cells`` cells are dropped (their profile would be noise)."""
    if label_key not in reference.obs:
        raise OmicsInputError(f"single-cell reference has no obs[{label_key!r}] cell-type labels")
    x = reference.layers[layer] if layer else reference.X
    x = x.tocsr() if sp.issparse(x) else np.asarray(x, dtype=float)
    tot = np.asarray(x.sum(axis=1)).ravel()
    keep = tot > 0
    labels = reference.obs[label_key].astype(str).to_numpy()
    lab = pd.Series(labels[keep])
    counts = lab.value_counts()
    types = [t for t in pd.unique(lab) if counts[t] >= min_cells]
    if len(types) < 2:
        raise OmicsInputError(f"single-cell reference: fewer than 2 cell types with ≥ {min_cells} cells")
    codes = pd.Categorical(labels[keep], categories=types).codes
    ok = codes >= 0
    xk = x[np.flatnonzero(keep)[ok]]
    rel = sp.diags(1.0 / tot[keep][ok]) @ xk if sp.issparse(xk) else xk / tot[keep][ok, None]
    onehot = sp.csr_matrix((np.ones(ok.sum()), (codes[ok], np.arange(ok.sum()))), shape=(len(types), ok.sum()))
    n = np.asarray(onehot.sum(axis=1)).ravel()
    prof = _dense(onehot @ rel) / n[:, None]
    size = np.asarray(onehot @ tot[keep][ok]).ravel() / n
    profiles = pd.DataFrame(prof.T, index=reference.var_names.astype(str), columns=types)
    return Reference(profiles / profiles.sum(axis=0), pd.Series(size / size.mean(), index=types, name="rna_content"))


def informative_genes(profiles: pd.DataFrame, genes: pd.Index, min_specificity: float = 2.0) -> pd.Index:
    """Genes of ``genes`` in the reference whose top type is ≥ ``min_specificity`` × their mean."""
    p = profiles.loc[profiles.index.intersection(genes)]
    mean = p.mean(axis=1)
    spec = p.max(axis=1) / mean.where(mean > 0)
    return p.index[(spec >= min_specificity).to_numpy()]


def _poisson_h(v: np.ndarray, w: np.ndarray, max_iter: int, tol: float) -> np.ndarray:
    """KL-NMF multiplicative updates for H (K × spots) with W (genes × K, columns sum to 1) fixed."""
    k = w.shape[1]
    h = np.tile(np.maximum(v.sum(axis=0), 1e-9) / k, (k, 1))
    for _ in range(max_iter):
        ratio = v / np.maximum(w @ h, 1e-12)
        h_new = h * (w.T @ ratio)  # Wᵀ1 = 1 because W's columns sum to 1
        delta = np.max(np.abs(h_new - h) / np.maximum(h_new.sum(axis=0), 1e-12))
        h = h_new
        if delta < tol:
            break
    return h


def deconvolve(adata: ad.AnnData, reference: Reference, *, method: str = "poisson", layer: str | None = None,
               min_specificity: float = 2.0, cell_fractions: bool = True, max_iter: int = 1000,
               tol: float = 1e-5) -> pd.DataFrame:
    """Cell-type proportions per spot (rows sum to 1; spots × reference types).

    ``method="poisson"`` (KL / Poisson likelihood, vectorised) or ``"nnls"`` (per-spot least
    squares on gene-scaled relative expression); see the module docstring. The Poisson updates
    stop when no spot's fitted total moves by more than ``tol`` (relative) in one iteration, or
    after ``max_iter``. Spots without counts on the informative genes get NaN rows."""
    if method not in ("poisson", "nnls"):
        raise ValueError(f"method must be 'poisson' or 'nnls', not {method!r}")
    genes = informative_genes(reference.profiles, pd.Index(adata.var_names.astype(str)), min_specificity)
    if len(genes) < reference.profiles.shape[1]:
        raise OmicsInputError(f"deconvolution: only {len(genes)} informative genes shared with the reference "
                              f"for {reference.profiles.shape[1]} cell types")
    w = reference.profiles.loc[genes].to_numpy()
    w = w / w.sum(axis=0, keepdims=True)
    idx = pd.Index(adata.var_names.astype(str)).get_indexer(genes)
    x = counts_matrix(adata, layer)[:, idx]
    tot = x.sum(axis=1)
    if method == "poisson":
        h = _poisson_h(x.T, w, max_iter, tol).T
    else:
        scale = np.sqrt(w.mean(axis=1))
        a = w / scale[:, None]
        b = (x / np.maximum(tot, 1e-12)[:, None]) / scale[None, :]
        h = np.vstack([nnls(a, bi)[0] for bi in b])  # one small solve per spot
    if cell_fractions:
        h = h / reference.rna_content.to_numpy()[None, :]
    s = h.sum(axis=1, keepdims=True)
    out = np.where((s > 0) & (tot[:, None] > 0), h / np.where(s > 0, s, 1), np.nan)
    return pd.DataFrame(out, index=adata.obs_names, columns=reference.profiles.columns)


def _cp10k(adata: ad.AnnData, layer: str | None = None) -> tuple[np.ndarray, pd.Index]:
    x = counts_matrix(adata, layer)
    tot = x.sum(axis=1, keepdims=True)
    return x / np.where(tot > 0, tot, 1) * 1e4, pd.Index(adata.var_names.astype(str))


def _present(sets: dict[str, list[str]], genes: pd.Index, what: str) -> dict[str, np.ndarray]:
    out = {}
    for k, g in sets.items():
        i = genes.get_indexer(g)
        i = i[i >= 0]
        if len(i) == 0:
            raise OmicsInputError(f"{what}: none of the markers of {k!r} ({', '.join(g[:4])}, …) is among the data's genes")
        out[k] = i
    return out


def marker_scores(adata: ad.AnnData, markers: dict[str, list[str]] | None = None, *, layer: str | None = None) -> pd.DataFrame:
    """Module score per spot and type: mean log1p(CP10k) of the type's markers minus the mean
    log1p(CP10k) of all genes of the spot (Seurat AddModuleScore / ``sc.tl.score_genes`` idea,
    with the whole panel as control set)."""
    x, genes = _cp10k(adata, layer)
    lx = np.log1p(x)
    ctrl = lx.mean(axis=1)
    sets = _present(markers or marker_sets(), genes, "marker scores")
    return pd.DataFrame({k: lx[:, i].mean(axis=1) - ctrl for k, i in sets.items()}, index=adata.obs_names)


def marker_levels(adata: ad.AnnData, markers: dict[str, list[str]] | None = None, *, layer: str | None = None,
                  quantile: float = 0.99) -> pd.Series:
    """The "pure-spot" level ``q_g`` of every marker: its ``quantile`` of CP10k over the spots given."""
    x, genes = _cp10k(adata, layer)
    sets = _present(markers or marker_sets(), genes, "marker levels")
    idx = np.unique(np.concatenate(list(sets.values())))
    return pd.Series(np.quantile(x[:, idx], quantile, axis=0), index=genes[idx])


def marker_proportions(adata: ad.AnnData, markers: dict[str, list[str]] | None = None, *, layer: str | None = None,
                       levels: pd.Series | None = None) -> pd.DataFrame:
    """Semi-quantitative proportions from markers only: mean over markers of CP10k / level,
    renormalised per spot (module docstring). ``levels`` from :func:`marker_levels` (default: on
    this AnnData)."""
    sets = markers or marker_sets()
    x, genes = _cp10k(adata, layer)
    q = marker_levels(adata, sets, layer=layer) if levels is None else levels
    ab = {}
    for k, i in _present(sets, genes, "marker proportions").items():
        qk = q.reindex(genes[i]).to_numpy(dtype=float)
        ok = np.isfinite(qk) & (qk > 0)
        ab[k] = (x[:, i[ok]] / qk[ok]).mean(axis=1) if ok.any() else np.zeros(len(x))
    a = pd.DataFrame(ab, index=adata.obs_names).clip(lower=0)
    s = a.sum(axis=1)
    return a.div(s.where(s > 0), axis=0)
