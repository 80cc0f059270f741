"""Report figures (matplotlib, return Figures): UMAP by cell type, composition bars per patient and
timepoint, paired pre/post lines, marker dot plot. :func:`save_figure` writes SVG + 300-dpi PNG.

Palette: Okabe & Ito (2008) 8 colour-blind-safe colours followed by Paul Tol's "muted" scheme
(Tol, SRON technical note 2021) — 17 distinguishable colours; more categories cycle with hatching
left to the reader (the tables carry the numbers).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from anndata import AnnData  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from latc.plot import save  # noqa: E402

__all__ = ["PALETTE", "umap_by_cell_type", "umap_panels", "composition_bars", "paired_plot", "marker_dotplot", "save_figure"]

PALETTE = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000",
           "#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255", "#AA4499",
           "#DDDDDD"]


#: cells the annotation left ``unassigned`` (no modelled type fits): mid grey, drawn underneath
UNASSIGNED_COLOUR = "#B0B0B0"


def _colours(categories) -> dict:
    """Palette colours in category order; ``unassigned`` is always grey and takes no palette slot
    (so a type keeps its colour whether or not some cells are unassigned)."""
    from latc.omics.sc._annotate import UNASSIGNED

    cats = [c for c in categories if c != UNASSIGNED]
    col = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(cats)}
    if UNASSIGNED in list(categories):
        col[UNASSIGNED] = UNASSIGNED_COLOUR
    return col


def save_figure(fig: Figure, path_stem: str | Path) -> list[Path]:
    """Write ``<stem>.svg`` and ``<stem>.png`` (300 dpi, deterministic); returns the paths."""
    stem = Path(path_stem)
    return save(fig, stem.with_suffix("") if stem.suffix.lower() in (".svg", ".png") else stem)


def umap_by_cell_type(adata: AnnData, *, key: str = "cell_type", basis: str = "X_umap", max_points: int = 200_000,
                      seed: int = 0) -> Figure:
    """Scatter of the embedding coloured by ``key`` (a seeded subsample beyond ``max_points``)."""
    if basis not in adata.obsm:
        basis = "X_pca_corrected" if "X_pca_corrected" in adata.obsm else "X_pca"
    xy = np.asarray(adata.obsm[basis])[:, :2]
    lab = adata.obs[key].astype(str).to_numpy()
    idx = np.arange(len(lab))
    if len(idx) > max_points:
        idx = np.sort(np.random.default_rng(seed).choice(idx, max_points, replace=False))
    from latc.omics.sc._annotate import UNASSIGNED

    cats = [c for c in (adata.obs[key].cat.categories if hasattr(adata.obs[key], "cat") else np.unique(lab)) if c in set(lab)]
    col = _colours(cats)
    fig, ax = plt.subplots(figsize=(7, 5.5))
    # unassigned cells first, so the typed cells are drawn over them
    for c in sorted(cats, key=lambda c: c != UNASSIGNED):
        m = idx[lab[idx] == c]
        ax.scatter(xy[m, 0], xy[m, 1], s=2 if len(idx) > 5000 else 6, c=col[c], label=f"{c} ({(lab == c).sum():,})",
                   linewidths=0, rasterized=True)
    ax.set_xlabel(f"{basis.replace('X_', '').upper()} 1")
    ax.set_ylabel(f"{basis.replace('X_', '').upper()} 2")
    ax.set_xticks([]), ax.set_yticks([])
    ax.legend(loc="center left", bbox_to_anchor=(1, 0.5), fontsize=7, markerscale=3, frameon=False)
    n_un = int((lab == UNASSIGNED).sum())
    note = f"; {n_un:,} unassigned ({n_un / max(len(lab), 1):.0%}, grey)" if n_un else ""
    ax.set_title(f"Cells by {key.replace('_', ' ')} (n = {len(lab):,}{note})")
    return fig


#: fixed colours of the outcome panels (Okabe & Ito), so a figure reads the same in every run
OUTCOME_COLOURS = {"responder": "#0072B2", "non_responder": "#D55E00", "neoadjuvant": "#009E73",
                   "upfront_surgery": "#CC79A7", "baseline": "#56B4E9", "on_treatment": "#E69F00",
                   "surgery": "#000000", "follow_up": "#999999", "unknown": "#DDDDDD"}


def umap_panels(adata: AnnData, keys: list[str] | None = None, *, basis: str = "X_umap", max_points: int = 200_000,
                seed: int = 0, unit: str = "cells") -> Figure:
    """The embedding in one panel per ``obs`` column (default: ``cell_type``, ``timepoint``,
    ``tissue``, ``cohort``, ``response`` — those present), cells without a value in light grey
    ("unknown", e.g. the response of upfront-surgery patients). A seeded subsample beyond
    ``max_points``; drawn in a seeded random order so no group hides another."""
    keys = [k for k in (keys or ["cell_type", "timepoint", "tissue", "cohort", "response"]) if k in adata.obs]
    if basis not in adata.obsm:
        basis = "X_pca_corrected" if "X_pca_corrected" in adata.obsm else "X_pca"
    xy = np.asarray(adata.obsm[basis])[:, :2]
    rng = np.random.default_rng(seed)
    idx = rng.permutation(adata.n_obs)
    if len(idx) > max_points:
        idx = idx[:max_points]
    ncol = min(3, max(1, len(keys)))
    nrow = int(np.ceil(len(keys) / ncol)) or 1
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.9 * ncol, 3.3 * nrow), squeeze=False)
    size = 2 if len(idx) > 5000 else 5
    for ax, key in zip(axes.ravel(), keys):
        v = adata.obs[key]
        lab = v.astype("object").where(v.notna(), "unknown").astype(str).to_numpy()
        cats = [c for c in (list(v.cat.categories) if hasattr(v, "cat") else sorted(set(lab))) if c in set(lab)]
        if "unknown" in set(lab) and "unknown" not in cats:
            cats.append("unknown")
        auto = _colours([c for c in cats if c not in OUTCOME_COLOURS])
        col = {c: OUTCOME_COLOURS.get(c, auto.get(c, "#DDDDDD")) for c in cats}
        if key == "cell_type":
            col = {**_colours(cats), "unknown": "#DDDDDD"}
        colours = np.array([col[c] for c in lab[idx]])
        ax.scatter(xy[idx, 0], xy[idx, 1], s=size, c=colours, linewidths=0, rasterized=True)
        for c in cats:
            ax.scatter([], [], s=20, c=col[c], label=f"{c} ({(lab == c).sum():,})")
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_title(key.replace("_", " "), fontsize=10)
        ax.legend(loc="upper left", bbox_to_anchor=(1, 1), fontsize=6, frameon=False, markerscale=1)
    for ax in axes.ravel()[len(keys):]:
        ax.set_axis_off()
    fig.suptitle(f"{basis.replace('X_', '').upper()} of {adata.n_obs:,} {unit}", fontsize=11)
    fig.tight_layout()
    return fig


def composition_bars(comp: pd.DataFrame, *, tissue: str = "tumour", max_patients: int = 40) -> Figure:
    """Stacked shares per sample, grouped by patient, one bar per timepoint. With the
    ``n_unassigned`` column of :func:`latc.omics.sc.composition` the bars are shares of *all* the
    sample's cells and the unassigned cells are a grey segment on top (the tables and tests use
    shares of the assigned cells); without it, the proportions as given."""
    from latc.omics.sc._annotate import UNASSIGNED

    c = comp[comp["tissue"] == tissue]
    if "n_unassigned" in c.columns:
        total = (c["n_sample"] + c["n_unassigned"]).where(lambda t: t > 0)
        c = c.assign(proportion=c["n_cells"] / total)
        if (c["n_unassigned"] > 0).any():
            un = c.drop_duplicates("sample_id").assign(cell_type=UNASSIGNED)
            un = un.assign(proportion=un["n_unassigned"] / (un["n_sample"] + un["n_unassigned"]))
            c = pd.concat([c, un], ignore_index=True)
    wide = c.pivot_table(index=["patient_id", "timepoint"], columns="cell_type", values="proportion", fill_value=0)
    # the annotation's type order (as in the UMAP legend), the grey unassigned segment on top
    order = [t for t in dict.fromkeys(c["cell_type"].astype(str)) if t in wide.columns and t != UNASSIGNED]
    wide = wide[order + ([UNASSIGNED] if UNASSIGNED in wide.columns else [])]
    pts = list(dict.fromkeys(wide.index.get_level_values(0)))[:max_patients]
    wide = wide.loc[wide.index.get_level_values(0).isin(pts)]
    order = {"baseline": 0, "on_treatment": 1, "surgery": 2, "follow_up": 3}
    wide = wide.iloc[sorted(range(len(wide)), key=lambda i: (wide.index[i][0], order.get(wide.index[i][1], 9)))]
    col = _colours(list(wide.columns))
    fig, ax = plt.subplots(figsize=(max(6, 0.28 * len(wide) + 2), 4.5))
    bottom = np.zeros(len(wide))
    x = np.arange(len(wide))
    for t in wide.columns:
        ax.bar(x, wide[t].to_numpy(), bottom=bottom, color=col[t], label=t, width=0.85)
        bottom += wide[t].to_numpy()
    ax.set_xticks(x, [f"{p} {tp[:2].upper()}" for p, tp in wide.index], rotation=90, fontsize=6)
    ax.set_ylabel("share of the sample's cells" + (" (grey: unassigned)" if UNASSIGNED in wide.columns else ""))
    ax.set_ylim(0, 1)
    ax.set_title(f"Cell-type composition per patient and timepoint ({tissue})")
    handles, labels = ax.get_legend_handles_labels()   # legend top to bottom = bar top to bottom
    ax.legend(handles[::-1], labels[::-1], loc="center left", bbox_to_anchor=(1, 0.5), fontsize=7, frameon=False)
    return fig


def paired_plot(values: pd.DataFrame, *, value: str, pre: str = "baseline", post: str = "surgery",
                group: pd.Series | None = None, ylabel: str | None = None) -> Figure:
    """Pre vs post per patient (one line per patient) from a table with ``patient_id, timepoint,
    <value>``; lines coloured by ``group`` (Series by patient_id, e.g. responder)."""
    v = values[values["timepoint"].isin([pre, post])].pivot_table(index="patient_id", columns="timepoint", values=value)
    v = v.dropna(subset=[c for c in (pre, post) if c in v.columns])
    fig, ax = plt.subplots(figsize=(4, 4.5))
    if pre not in v.columns or post not in v.columns or v.empty:
        ax.text(0.5, 0.5, "no paired samples", ha="center", va="center", transform=ax.transAxes)
        return fig
    g = group.reindex(v.index) if group is not None else pd.Series("all", index=v.index)
    labels = {True: "responder", False: "non-responder"}
    cols = {"responder": PALETTE[4], "non-responder": PALETTE[5], "all": PALETTE[7], "unknown": "#999999"}
    seen = set()
    for pid, row in v.iterrows():
        k = labels.get(g.get(pid), "all" if group is None else "unknown")
        ax.plot([0, 1], [row[pre], row[post]], "-o", color=cols[k], alpha=0.7, ms=4, label=None if k in seen else k)
        seen.add(k)
    ax.set_xticks([0, 1], [pre.replace("_", " "), post.replace("_", " ")])
    ax.set_xlim(-0.3, 1.3)
    ax.set_ylabel(ylabel or value)
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(f"{value} ({len(v)} patients)", fontsize=9)
    return fig


def marker_dotplot(adata: AnnData, markers: pd.DataFrame | None = None, *, key: str = "cell_type",
                   n_per_type: int = 3) -> Figure:
    """Dot plot: fraction of cells expressing (size) and mean log-expression scaled per gene (colour)
    of the top positive markers of each annotated type."""
    from latc.omics.sc._annotate import load_markers

    m = load_markers() if markers is None else markers
    m = m[(m["weight"] > 0) & m["gene"].isin(adata.var_names)]
    types = [t for t in adata.obs[key].cat.categories if (adata.obs[key] == t).any()] if hasattr(adata.obs[key], "cat") \
        else sorted(adata.obs[key].astype(str).unique())
    genes = list(dict.fromkeys(g for t in types for g in m[m["cell_type"] == t]["gene"].head(n_per_type)))
    if not genes:
        fig, ax = plt.subplots()
        ax.text(0.5, 0.5, "no marker genes in the data", ha="center")
        return fig
    X = adata[:, genes].X
    X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
    lab = adata.obs[key].astype(str).to_numpy()
    mean = np.array([X[lab == t].mean(axis=0) for t in types])
    frac = np.array([(X[lab == t] > 0).mean(axis=0) for t in types])
    scaled = (mean - mean.min(axis=0)) / np.where(np.ptp(mean, axis=0) > 0, np.ptp(mean, axis=0), 1)
    fig, ax = plt.subplots(figsize=(0.32 * len(genes) + 3, 0.32 * len(types) + 1.8))
    yy, xx = np.meshgrid(np.arange(len(types)), np.arange(len(genes)), indexing="ij")
    sc_ = ax.scatter(xx.ravel(), yy.ravel(), s=(frac.ravel() * 120) + 1, c=scaled.ravel(), cmap="viridis",
                     vmin=0, vmax=1, edgecolors="none")
    ax.set_xticks(range(len(genes)), genes, rotation=90, fontsize=7)
    ax.set_yticks(range(len(types)), types, fontsize=7)
    ax.invert_yaxis()
    fig.colorbar(sc_, ax=ax, label="mean expression (scaled per gene)", shrink=0.6)
    for f in (0.25, 0.5, 1.0):
        ax.scatter([], [], s=f * 120 + 1, c="grey", label=f"{int(f * 100)} %")
    ax.legend(title="cells expressing", loc="upper left", bbox_to_anchor=(1.15, 1), fontsize=7, frameon=False)
    return fig
