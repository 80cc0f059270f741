"""Propensity-score distributions by cohort: mirrored histograms (treated above, control below
the axis), before and — when weights are given — after weighting or matching, to judge overlap
(common support) and what the adjustment did (Austin, *Multivariate Behav Res* 2011;46:399).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from ._style import (COHORT_COLOURS, DOUBLE_COLUMN, SINGLE_COLUMN, SMALL_SIZE, check_columns,
                     colour_map, new_figure, no_data_figure, pretty, styled)

__all__ = ["ps_plot"]


@styled
def ps_plot(df: pd.DataFrame, *, ps: str = "propensity_score", treatment: str = "cohort",
            treated: object = "neoadjuvant", weights: str | None = None, weights_label: str = "After weighting",
            bins: int = 30, colours: Mapping[str, str] | None = None, title: str | None = None) -> Figure:
    """Mirrored histograms of the propensity score by treatment group.

    Parameters
    ----------
    df : one row per patient with the ``ps`` column (probability, 0–1) and ``treatment``.
    treated : the value of ``treatment`` drawn above the axis (the other level(s) below).
    weights : optional weight column (IPTW / overlap weights, or matching weights with 0 for
        unmatched patients): a second panel shows the weighted distribution.
    bins : number of equal-width bins on 0–1.

    The y axis is the number of patients (weighted: sum of weights). Bars carry
    ``gid="ps:<panel>:<treated|control>"``; ``fig.counts`` holds the bin heights per panel.
    """
    need = [ps, treatment] + ([weights] if weights else [])
    reason = check_columns(df, need, "the propensity-score table")
    size = DOUBLE_COLUMN if weights else (SINGLE_COLUMN[0] * 1.3, SINGLE_COLUMN[1])
    if reason:
        return no_data_figure(reason, size=size, title="Propensity scores")
    d = df[need].copy()
    d[ps] = pd.to_numeric(d[ps], errors="coerce")
    d = d[d[ps].notna() & d[treatment].notna()]
    if d.empty:
        return no_data_figure("no patient has a propensity score", size=size, title="Propensity scores")
    is_t = (d[treatment] == treated).to_numpy()
    levels = [treated] + sorted({str(v) for v in d.loc[~is_t, treatment]})
    control_label = " / ".join(pretty(v) for v in levels[1:]) or "Control"
    cmap = colour_map([str(treated), "control"], {**COHORT_COLOURS,
                                                 "control": COHORT_COLOURS.get(levels[1] if len(levels) > 1 else "", "#D55E00")},
                      colours)
    edges = np.linspace(0, 1, bins + 1)
    panels = [("Before adjustment", np.ones(len(d)))]
    if weights:
        panels.append((weights_label, pd.to_numeric(d[weights], errors="coerce").fillna(0).to_numpy(dtype=float)))
    fig = new_figure(size)
    counts = {}
    axes = []
    n_p = len(panels)
    for i, (name, w) in enumerate(panels):
        ax = fig.add_axes((0.09 + i * (0.9 / n_p), 0.14, 0.9 / n_p - 0.07, 0.7), sharey=axes[0] if axes else None)
        axes.append(ax)
        x = d[ps].to_numpy(dtype=float)
        ht, _ = np.histogram(x[is_t], bins=edges, weights=w[is_t])
        hc, _ = np.histogram(x[~is_t], bins=edges, weights=w[~is_t])
        counts[name] = pd.DataFrame({"left": edges[:-1], "right": edges[1:], "treated": ht, "control": hc})
        ax.bar(edges[:-1], ht, width=np.diff(edges), align="edge", color=cmap[str(treated)], lw=0.3,
               edgecolor="white", gid=f"ps:{name}:treated")
        ax.bar(edges[:-1], -hc, width=np.diff(edges), align="edge", color=cmap["control"], lw=0.3,
               edgecolor="white", gid=f"ps:{name}:control")
        ax.axhline(0, color="#222222", lw=0.6)
        ax.set_xlim(0, 1)
        ax.set_title(name, fontsize=SMALL_SIZE + 1)
        ax.set_xlabel("Propensity score (probability of neoadjuvant therapy)" if str(treated) == "neoadjuvant"
                      else f"Propensity score (probability of {pretty(treated)})")
        if i == 0:
            ax.set_ylabel("Number of patients")
        else:
            ax.set_ylabel("Sum of weights")
    m = max(max(float(c[["treated", "control"]].to_numpy().max()) for c in counts.values()), 1.0)
    for ax in axes:
        ax.set_ylim(-m * 1.1, m * 1.1)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{abs(v):g}"))   # mirrored: no minus
    axes[0].legend(handles=[Patch(color=cmap[str(treated)], label=f"{pretty(treated)} (n = {int(is_t.sum())})"),
                            Patch(color=cmap["control"], label=f"{control_label} (n = {int((~is_t).sum())})")],
                   loc="lower left", bbox_to_anchor=(0.0, 1.08), ncol=2)
    if title:
        fig.suptitle(title, y=0.995)
    fig.counts = counts  # type: ignore[attr-defined]
    return fig
