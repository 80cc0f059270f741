"""Small figure helpers shared by the omics pipelines (bulk, flow): SVG + 300-dpi PNG, Okabe–Ito colours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from latc.plot import save_and_close

OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"]


def save(fig, path_stem: Path) -> list[Path]:
    """Write ``<stem>.svg`` and ``<stem>.png`` (300 dpi, deterministic) and close the figure."""
    return save_and_close(fig, path_stem)


def volcano(res: pd.DataFrame, title: str, *, alpha: float = 0.05, label_top: int = 10):
    """Volcano plot of a DE table (``log2_fold_change[_shrunk]``, ``pvalue``, ``padj``, ``gene``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lfc_col = "log2_fold_change_shrunk" if res.get("log2_fold_change_shrunk") is not None and \
        res["log2_fold_change_shrunk"].notna().any() else "log2_fold_change"
    r = res.dropna(subset=["pvalue", lfc_col])
    y = -np.log10(r["pvalue"].clip(lower=1e-300))
    sig = (r["padj"] < alpha).fillna(False).to_numpy()
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter(r[lfc_col][~sig], y[~sig], s=4, c="#999999", alpha=0.6, linewidths=0, label="not significant")
    ax.scatter(r[lfc_col][sig], y[sig], s=6, c=OKABE_ITO[5], alpha=0.8, linewidths=0, label=f"padj < {alpha}")
    for _, row in r[sig].nsmallest(label_top, "pvalue").iterrows():
        ax.annotate(row["gene"], (row[lfc_col], -np.log10(max(row["pvalue"], 1e-300))), fontsize=6)
    ax.axvline(0, color="#444444", lw=0.5)
    ax.set_xlabel("log2 fold change" + (" (apeGLM-shrunken)" if lfc_col.endswith("shrunk") else ""))
    ax.set_ylabel("−log10 p-value")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    return fig


def distributions(table: pd.DataFrame, columns: list[str], group: str, title: str, *, order: list[str] | None = None):
    """One panel per column: box plot + jittered points by ``group``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [c for c in columns if c in table]
    groups = order or sorted(table[group].dropna().astype(str).unique())
    n = max(1, len(columns))
    ncol = min(3, n)
    nrow = int(np.ceil(n / ncol))
    width = max(2.2, 0.45 * len(groups) + 1.0)
    fig, axes = plt.subplots(nrow, ncol, figsize=(width * ncol + 0.5, 3.6 * nrow), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    rng = np.random.default_rng(0)
    for ax, col in zip(axes.ravel(), columns):
        data = [table.loc[table[group].astype(str) == g, col].dropna().to_numpy() for g in groups]
        ax.boxplot(data, showfliers=False, widths=0.6)
        for i, d in enumerate(data, start=1):
            ax.scatter(i + rng.uniform(-0.15, 0.15, len(d)), d, s=8, color=OKABE_ITO[i % len(OKABE_ITO)], alpha=0.8, linewidths=0)
        rot = {"rotation": 40, "ha": "right"} if len(groups) > 3 else {}
        sep = " " if rot else "\n"
        ax.set_xticks(range(1, len(groups) + 1), [f"{g}{sep}(n={len(d)})" for g, d in zip(groups, data)], fontsize=7, **rot)
        ax.set_title(col, fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
