"""The copy-number heatmap of the malignant-cell call (:func:`latc.omics.sc.call_malignant`).

The figure inferCNV and infercnvpy made standard (Tirosh et al., *Science* 2016, Fig. 1;
``infercnvpy.pl.chromosome_heatmap``): one row per cell, windows along the genome in chromosome
order, blue = loss, red = gain, rows grouped by the call. Drawn here with matplotlib on a seeded,
stratified subsample so that a study of a million cells gives a readable figure of fixed size.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData

__all__ = ["cnv_heatmap"]

#: row groups, top to bottom: the calls of epithelial cells, then the immune/stromal reference
GROUPS = ("malignant", "undetermined", "normal", "reference")


def _rows(adata: AnnData, max_per_group: int, seed: int) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """Row indices of the subsample, in group order, and (group, n) for the labels."""
    lab = adata.obs["malignant"].astype(str).to_numpy()
    profiled = np.asarray(adata.obsm["X_cnv"].getnnz(axis=1) > 0) if hasattr(adata.obsm["X_cnv"], "getnnz") \
        else np.any(np.asarray(adata.obsm["X_cnv"]) != 0, axis=1)
    group = np.where(lab == "not_epithelial", "reference", lab)
    rng = np.random.default_rng(seed)
    rows, sizes = [], []
    for g in GROUPS:
        idx = np.flatnonzero((group == g) & profiled)
        if not len(idx):
            continue
        if len(idx) > max_per_group:
            idx = np.sort(rng.choice(idx, max_per_group, replace=False))
        # within a group, cells of one sample together (a sample's clone reads as a block)
        order = np.argsort(adata.obs["sample_id"].astype(str).to_numpy()[idx], kind="stable")
        rows.append(idx[order])
        sizes.append((g, len(idx)))
    return (np.concatenate(rows) if rows else np.array([], dtype=int)), sizes


def cnv_heatmap(adata: AnnData, *, max_per_group: int = 400, seed: int = 0, vmax: float | None = None):
    """Heatmap of ``obsm["X_cnv"]`` (epithelial profiles minus the normal baseline; reference
    cells' own profiles) for at most ``max_per_group`` cells of each call (seeded), grouped
    malignant / undetermined / normal / reference, with chromosome boundaries from
    ``uns["cnv"]["chr_pos"]``. ``vmax``: colour limit (default the 99th percentile of |value|).
    Returns a matplotlib Figure."""
    import matplotlib.pyplot as plt

    rows, sizes = _rows(adata, max_per_group, seed)
    X = adata.obsm["X_cnv"][rows]
    X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
    chr_pos = pd.Series(adata.uns.get("cnv", {}).get("chr_pos", {}), dtype=float).sort_values()
    if vmax is None:
        vmax = float(np.quantile(np.abs(X), 0.99)) if X.size else 1.0
        vmax = vmax if vmax > 0 else 1.0
    fig, ax = plt.subplots(figsize=(9, 4.8))
    im = ax.imshow(X, aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
    for pos in chr_pos.to_numpy()[1:]:
        ax.axvline(pos - 0.5, color="0.2", lw=0.4)
    edges = list(chr_pos.to_numpy()) + [X.shape[1]]
    mids = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
    # a label only where the chromosome is wide enough to hold it (the small ones would overlap)
    wide = [(m, str(c).removeprefix("chr")) for m, c, a, b in zip(mids, chr_pos.index, edges[:-1], edges[1:])
            if b - a >= 0.012 * max(X.shape[1], 1)]
    ax.set_xticks([m for m, _ in wide])
    ax.set_xticklabels([c for _, c in wide], fontsize=6)
    y, ticks, labels = 0, [], []
    for g, n in sizes:
        ticks.append(y + n / 2)
        labels.append(f"{g}\n(n={n})")
        y += n
        if y < X.shape[0]:
            ax.axhline(y - 0.5, color="black", lw=0.8)
    ax.set_yticks(ticks)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("genome (windows of genes, chromosome order)")
    ax.set_title("Inferred copy number: epithelial cells by call, immune/stromal reference", fontsize=10)
    cb = fig.colorbar(im, ax=ax, fraction=0.03, pad=0.01)
    cb.set_label("relative expression (log)\nloss ← → gain", fontsize=8)
    fig.tight_layout()
    return fig
