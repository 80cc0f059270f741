"""Spatial figures: maps of spot classes / cell-type fractions / TLS, neighbourhood-enrichment heatmap.

Colour-blind-safe: categorical colours from the Okabe–Ito palette (Okabe & Ito 2008), continuous
values with ``cividis``, z-scores with the diverging ``PuOr`` map. :func:`save_figure` writes SVG
(vector) and a 300-dpi PNG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from latc.plot import save_and_close

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

#: Okabe–Ito colours per spot class
CLASS_COLOURS = {"tumour": "#E69F00", "cd8_t_rich": "#0072B2", "b_cell_rich": "#009E73", "stroma": "#DDDDDD"}


def save_figure(fig: Figure, path: str | Path) -> list[Path]:
    """Write ``path`` as ``.svg`` and ``.png`` (300 dpi, deterministic); returns the files."""
    return save_and_close(fig, path)


def _marker_size(xy: np.ndarray) -> float:
    n = max(len(xy), 1)
    return float(np.clip(9000 / n, 1, 40))


def plot_spatial_map(ax, adata, *, color: str = "spot_class", title: str | None = None, show_tls: bool = True) -> None:
    """Draw one slide on ``ax``: ``color`` is an ``obs`` column (categorical → Okabe–Ito, numeric →
    cividis) or a cell type of ``obsm["celltype_proportions"]``; TLS outlined in black."""
    xy = np.asarray(adata.obsm["spatial"], dtype=float)
    s = _marker_size(xy)
    props = adata.obsm.get("celltype_proportions")
    if color in adata.obs and not pd.api.types.is_numeric_dtype(adata.obs[color]):
        lab = adata.obs[color].astype(str).to_numpy()
        cols = np.array([CLASS_COLOURS.get(v, "#999999") for v in lab])
        ax.scatter(xy[:, 0], xy[:, 1], c=cols, s=s, linewidths=0)
    else:
        v = adata.obs[color].to_numpy(float) if color in adata.obs else props[color].to_numpy(float)
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=v, s=s, cmap="cividis", linewidths=0)
        plt.colorbar(sc, ax=ax, fraction=0.046, pad=0.02)
    if show_tls and "tls_id" in adata.obs:
        m = adata.obs["tls_id"].to_numpy() > 0
        ax.scatter(xy[m, 0], xy[m, 1], facecolors="none", edgecolors="black", s=s, linewidths=0.6)
    ax.set_aspect("equal")
    ax.invert_yaxis()
    ax.set_xticks([])
    ax.set_yticks([])
    if title is None and "sample_id" in adata.obs:
        title = str(adata.obs["sample_id"].iloc[0])
    ax.set_title(title or "", fontsize=7)


def plot_spatial_maps(samples: Mapping[str, object], *, color: str = "spot_class", max_samples: int = 12,
                      ncols: int = 4) -> Figure:
    """A grid of slide maps (the first ``max_samples`` samples, sorted by id)."""
    ids = sorted(samples)[:max_samples]
    nrows = max(1, int(np.ceil(len(ids) / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.4 * ncols, 2.4 * nrows), squeeze=False)
    for ax in axes.ravel()[len(ids):]:
        ax.axis("off")
    for ax, sid in zip(axes.ravel(), ids):
        a = samples[sid]
        plot_spatial_map(ax, getattr(a, "adata", a), color=color, title=sid)
    if color == "spot_class":
        handles = [Line2D([], [], marker="o", ls="", color=c, label=k) for k, c in CLASS_COLOURS.items()]
        handles.append(Line2D([], [], marker="o", ls="", markerfacecolor="none", markeredgecolor="black", label="TLS"))
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def plot_nhood_heatmap(nhood: pd.DataFrame, *, title: str = "Neighbourhood enrichment (mean z over samples)",
                       order: Sequence[str] | None = None) -> Figure:
    """Heatmap of the mean neighbourhood-enrichment z-score over samples (tidy ``a, b, z``)."""
    m = nhood.groupby(["a", "b"], observed=True)["z"].mean().unstack("b")
    order = [c for c in (order or CLASS_COLOURS) if c in m.index] + [c for c in m.index if c not in (order or CLASS_COLOURS)]
    m = m.reindex(index=order, columns=order)
    lim = float(np.nanmax(np.abs(m.to_numpy()))) if m.notna().any().any() else 1.0
    fig, ax = plt.subplots(figsize=(3.6, 3.0))
    im = ax.imshow(m.to_numpy(dtype=float), cmap="PuOr_r", vmin=-lim, vmax=lim)
    ax.set_xticks(range(len(order)), order, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(order)), order, fontsize=7)
    for i in range(len(order)):
        for j in range(len(order)):
            v = m.iat[i, j]
            if np.isfinite(v):
                ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=6)
    plt.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="z")
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


def plot_feature_by_group(features: pd.DataFrame, feature: str, group: pd.Series, *, title: str | None = None) -> Figure:
    """Strip + box plot of one feature per group (e.g. responder yes/no), by timepoint."""
    d = features.assign(_g=group.to_numpy()).dropna(subset=["_g", feature])
    tps = sorted(d["timepoint"].unique())
    groups = sorted(d["_g"].astype(str).unique())
    fig, axes = plt.subplots(1, max(len(tps), 1), figsize=(2.4 * max(len(tps), 1), 2.6), squeeze=False, sharey=True)
    pal = ["#56B4E9", "#D55E00", "#009E73", "#CC79A7"]
    rng = np.random.default_rng(0)
    for ax, tp in zip(axes.ravel(), tps):
        dd = d[d["timepoint"] == tp]
        vals = [dd.loc[dd["_g"].astype(str) == g, feature].to_numpy(float) for g in groups]
        ax.boxplot(vals, showfliers=False)
        for k, v in enumerate(vals):
            ax.scatter(k + 1 + rng.uniform(-0.12, 0.12, len(v)), v, s=8, color=pal[k % len(pal)], zorder=3)
        ax.set_xticks(range(1, len(groups) + 1), groups, fontsize=7)
        ax.set_title(tp, fontsize=8)
    axes[0, 0].set_ylabel(feature, fontsize=7)
    fig.suptitle(title or feature, fontsize=8)
    fig.tight_layout()
    return fig


__all__ = ["CLASS_COLOURS", "plot_feature_by_group", "plot_nhood_heatmap", "plot_spatial_map", "plot_spatial_maps",
           "save_figure"]
