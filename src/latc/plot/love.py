"""Love plot: absolute standardized mean differences per covariate before and after adjustment,
with the 0.1 balance threshold (Austin, *Stat Med* 2009;28:3083; cobalt ``love.plot`` look).

Input is :func:`latc.stats.love_data` (long: variable, sample, abs_smd, …) or a
:func:`latc.stats.balance` table (converted with ``love_data``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ._style import (MM, OKABE_ITO, SMALL_SIZE, check_columns, new_figure, no_data_figure, pretty,
                     styled, text_size_in, wrap)

__all__ = ["love_plot"]

_SAMPLES = {"Unadjusted": ("o", "white", OKABE_ITO["vermillion"]),
            "Adjusted": ("o", OKABE_ITO["blue"], OKABE_ITO["blue"])}


@styled
def love_plot(data: pd.DataFrame, *, threshold: float | None = None, labels: Mapping[str, str] | None = None,
              sample_labels: Mapping[str, str] | None = None, title: str | None = None,
              width: float = 120 * MM) -> Figure:
    """Love plot of |SMD| per covariate, unadjusted (open) and adjusted (filled) samples.

    Parameters
    ----------
    data : :func:`latc.stats.love_data` output (``variable, sample, abs_smd`` [, ``threshold``]),
        or a :func:`latc.stats.balance` table (index = variable, ``diff_un`` [, ``diff_adj``]).
    threshold : balance threshold line (default: the table's ``threshold`` column, else 0.1).
    labels : display names per variable (e.g. ``{"age_at_diagnosis": "Age at diagnosis"}``).
    sample_labels : legend names, e.g. ``{"Adjusted": "After IPTW"}``.

    Covariates are sorted by unadjusted |SMD| (largest at the top). Points carry
    ``gid="love:<sample>"``; ``fig.plotted`` is the long table with each row's ``y``.
    """
    if isinstance(data, pd.DataFrame) and "diff_un" in data.columns and "variable" not in data.columns:
        from latc.stats import love_data

        data = love_data(data)
    reason = check_columns(data, ["variable", "sample", "abs_smd"], "the balance table")
    if reason:
        return no_data_figure(reason, size=(width, 1.6), title="Love plot")
    df = data.copy()
    df["abs_smd"] = pd.to_numeric(df["abs_smd"], errors="coerce")
    if threshold is None:
        threshold = float(df["threshold"].iloc[0]) if "threshold" in df else 0.1
    labels = dict(labels or {})
    sample_labels = dict(sample_labels or {})
    unadj = df[df["sample"] == "Unadjusted"].set_index("variable")["abs_smd"]
    variables = list(pd.unique(df["variable"]))
    order = sorted(variables, key=lambda v: (-(unadj.get(v, -1.0) if np.isfinite(unadj.get(v, np.nan)) else -1.0), str(v)))
    ypos = {v: i for i, v in enumerate(order[::-1])}       # largest at the top
    names = [wrap(labels.get(v, pretty(v)), 32, max_lines=2) for v in order[::-1]]
    row_h = 0.2
    H = len(order) * row_h + 1.1
    fig = new_figure((width, H))
    label_w = max(text_size_in(fig, s, SMALL_SIZE)[0] for s in names) + 0.15
    left = min(max(0.8, label_w), width * 0.55)
    ax = fig.add_axes((left / width, 0.6 / H, (width - left - 0.15) / width, (H - 0.95) / H))
    ax.set_ylim(-0.6, len(order) - 0.4)
    ax.set_yticks(range(len(order)))
    ax.set_yticklabels(names)
    ax.grid(axis="y", color="#EEEEEE", lw=0.6, zorder=0)
    xmax = max(float(np.nanmax(df["abs_smd"].to_numpy())) if df["abs_smd"].notna().any() else 0.0,
               threshold) * 1.1 + 0.02
    ax.set_xlim(0, xmax)
    ax.axvline(threshold, color="#444444", lw=0.8, ls="--", zorder=1)
    df["y"] = df["variable"].map(ypos)
    handles = []
    for s in pd.unique(df["sample"]):
        part = df[df["sample"] == s]
        marker, face, edge = _SAMPLES.get(s, ("s", OKABE_ITO["bluish_green"], OKABE_ITO["bluish_green"]))
        ax.plot(part["abs_smd"], part["y"], ls="none", marker=marker, ms=4.5, mfc=face, mec=edge, mew=1.0,
                zorder=3, gid=f"love:{s}")
        handles.append(Line2D([], [], ls="none", marker=marker, ms=4.5, mfc=face, mec=edge, mew=1.0,
                              label=sample_labels.get(s, s)))
    measure = "Absolute standardized mean difference"
    if "measure" in df and (df["measure"].astype(str).str.contains("raw|diff", case=False)).any():
        measure += "\n(binary: difference in proportions)"
    ax.set_xlabel(measure)
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(handles))
    if title:
        fig.suptitle(title, y=1 - 0.02 / H, va="top")
    fig.plotted = df  # type: ignore[attr-defined]
    return fig
