"""Figures of the biomarker layer: ROC curves with bootstrap bands, volcano plot of a screen,
score distributions by outcome, MOFA factor scatter and variance-explained heatmap, and the
stability of feature selection across outer folds.

Colours: Okabe–Ito (colour-blind-safe; Okabe & Ito 2008); heatmaps use ``cividis``. Every
``plot_*`` returns the matplotlib Figure; :func:`save_figure` writes SVG + 300-dpi PNG.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from latc.plot import save_and_close

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
GREY = "#999999"


def save_figure(fig, stem: str | Path) -> list[Path]:
    """Write ``<stem>.svg`` and ``<stem>.png`` (300 dpi, deterministic) and close the figure."""
    return save_and_close(fig, stem)


def plot_roc(curves: Mapping[str, pd.DataFrame], aucs: Mapping[str, dict] | None = None, title: str = "ROC (outer folds)"):
    """ROC curves (``roc_curve_ci`` tables) with their pointwise bootstrap bands, one per model."""
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    for i, (name, c) in enumerate(curves.items()):
        col = OKABE_ITO[i % len(OKABE_ITO)]
        label = name
        if aucs and name in aucs:
            a = aucs[name]
            label = f"{name}: AUC {a['estimate']:.2f} ({a['lower']:.2f}–{a['upper']:.2f})"
        ax.fill_between(c["fpr"], c["tpr_lower"], c["tpr_upper"], color=col, alpha=0.18, lw=0)
        ax.plot(c["fpr"], c["tpr"], color=col, lw=1.8, label=label)
    ax.plot([0, 1], [0, 1], ls="--", color=GREY, lw=1)
    ax.set(xlabel="1 − specificity", ylabel="Sensitivity", xlim=(0, 1), ylim=(0, 1.01), title=title)
    ax.legend(loc="lower right", fontsize=7, frameon=False)
    return fig


def plot_volcano(screen: pd.DataFrame, *, fdr: float = 0.05, label_top: int = 10, effect_label: str | None = None):
    """Volcano plot of a screen: ``effect`` (log2 OR or HR per SD) vs −log10 p; FDR hits coloured."""
    d = screen.dropna(subset=["effect", "p_value"])
    hit = d["q_value"] <= fdr
    fig, ax = plt.subplots(figsize=(5, 4.2))
    ax.scatter(d.loc[~hit, "effect"], -np.log10(d.loc[~hit, "p_value"]), s=8, color=GREY, alpha=0.6, lw=0,
               label="not significant")
    up = hit & (d["effect"] > 0)
    ax.scatter(d.loc[up, "effect"], -np.log10(d.loc[up, "p_value"]), s=14, color=OKABE_ITO[5], lw=0,
               label=f"q ≤ {fdr:g}, higher")
    dn = hit & (d["effect"] <= 0)
    ax.scatter(d.loc[dn, "effect"], -np.log10(d.loc[dn, "p_value"]), s=14, color=OKABE_ITO[0], lw=0,
               label=f"q ≤ {fdr:g}, lower")
    for _, r in d[hit].nsmallest(label_top, "p_value").iterrows():
        ax.annotate(str(r["feature"]), (r["effect"], -np.log10(r["p_value"])), fontsize=6,
                    xytext=(3, 2), textcoords="offset points")
    ax.axvline(0, color=GREY, lw=0.8)
    ax.set(xlabel=effect_label or "log2 effect per SD", ylabel="−log10 p")
    ax.legend(fontsize=7, frameon=False)
    return fig


def plot_score_distribution(patient_predictions: pd.DataFrame, *, column: str = "probability",
                            labels: tuple[str, str] = ("non-responder", "responder")):
    """Box + jittered points of the out-of-fold score by observed outcome."""
    fig, ax = plt.subplots(figsize=(3.6, 4))
    rng = np.random.default_rng(0)
    data = [patient_predictions.loc[patient_predictions["y"] == k, column].to_numpy() for k in (0, 1)]
    ax.boxplot(data, positions=[0, 1], widths=0.5, showfliers=False, medianprops={"color": "black"})
    for k, vals in enumerate(data):
        ax.scatter(k + rng.uniform(-0.15, 0.15, len(vals)), vals, s=10, color=OKABE_ITO[k], alpha=0.7, lw=0)
    ax.set_xticks([0, 1], [f"{labels[0]}\n(n={len(data[0])})", f"{labels[1]}\n(n={len(data[1])})"])
    ax.set_ylabel("cross-validated " + column)
    return fig


def plot_factors(factors: pd.DataFrame, outcome: pd.Series | None = None, x: str = "Factor1", y: str = "Factor2",
                 labels: tuple[str, str] = ("non-responder", "responder")):
    """MOFA factor scatter (``x`` vs ``y``), coloured by a 0/1 outcome when given."""
    fig, ax = plt.subplots(figsize=(4.4, 4))
    if outcome is None:
        ax.scatter(factors[x], factors[y], s=12, color=OKABE_ITO[0], lw=0)
    else:
        o = outcome.reindex(factors.index)
        for k, lab in enumerate(labels):
            m = (o == k).to_numpy()
            ax.scatter(factors.loc[m, x], factors.loc[m, y], s=12, color=OKABE_ITO[k], lw=0, label=lab)
        m = o.isna().to_numpy()
        if m.any():
            ax.scatter(factors.loc[m, x], factors.loc[m, y], s=10, color=GREY, lw=0, label="unknown")
        ax.legend(fontsize=7, frameon=False)
    ax.set(xlabel=x, ylabel=y)
    return fig


def plot_variance_explained(variance_explained: pd.DataFrame):
    """Heatmap of MOFA variance explained (%) per modality × factor."""
    v = variance_explained
    fig, ax = plt.subplots(figsize=(0.6 * v.shape[1] + 2, 0.45 * v.shape[0] + 1.2))
    im = ax.imshow(v.to_numpy(), cmap="cividis", aspect="auto", vmin=0)
    ax.set_xticks(range(v.shape[1]), v.columns, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(v.shape[0]), v.index, fontsize=7)
    for (i, j), val in np.ndenumerate(v.to_numpy()):
        ax.text(j, i, f"{val:.0f}", ha="center", va="center", fontsize=6,
                color="black" if val > 0.6 * np.nanmax(v.to_numpy()) else "white")
    fig.colorbar(im, ax=ax, label="variance explained (%)")
    return fig


def plot_selection_stability(stability: pd.DataFrame, top: int = 20):
    """Horizontal bars: fraction of outer folds selecting each feature (sign of mean coefficient
    as colour)."""
    s = stability[stability["selected_fraction"] > 0].head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(4.8, 0.22 * max(len(s), 3) + 1))
    colours = [OKABE_ITO[5] if c > 0 else OKABE_ITO[0] for c in s["mean_coefficient"]]
    ax.barh(range(len(s)), s["selected_fraction"], color=colours)
    ax.set_yticks(range(len(s)), s.index, fontsize=6)
    ax.set(xlim=(0, 1), xlabel="fraction of outer folds selecting the feature")
    return fig
