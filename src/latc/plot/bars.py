"""Bar charts for categorical outcomes by cohort: stacked percentages (e.g. Clavien–Dindo grade,
R0/R1/R2 resection) and grouped bars (e.g. response rates by histology).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ._style import (COHORT_COLOURS, PALETTE, SINGLE_COLUMN, SMALL_SIZE, check_columns, colour_map,
                     new_figure, no_data_figure, pretty, styled, wrap)

__all__ = ["stacked_bar", "grouped_bar"]

#: Sequential blues→reds for ordered grades (colour-blind safe; light = mild).
_ORDERED = ["#C6DBEF", "#6BAED6", "#2171B5", "#F4A582", "#D6604D", "#B2182B", "#67001F"]


@styled
def stacked_bar(df: pd.DataFrame, category: str, group: str = "cohort", *, order: Sequence | None = None,
                ordered: bool = True, percent: bool = True, labels: Mapping | None = None,
                ylabel: str | None = None, legend_title: str | None = None, title: str | None = None,
                size: tuple[float, float] = (SINGLE_COLUMN[0] * 1.25, SINGLE_COLUMN[1] * 1.15)) -> Figure:
    """Stacked bars: distribution of ``category`` within each ``group`` (one row per patient or event).

    Parameters
    ----------
    order : category order bottom → top (default: sorted; Clavien–Dindo codes sort correctly).
    ordered : graded categories get a light→dark sequential palette, else Okabe–Ito colours.
    percent : heights as % of the group (the group's n under each bar); else counts.
    Segment labels (%) are written only where the segment is tall enough to hold them.
    Bars carry ``gid="bar:<group>:<category>"``; ``fig.table`` is the plotted crosstab.
    """
    reason = check_columns(df, [category, group], "the outcome table")
    if reason:
        return no_data_figure(reason, size=size, title=title)
    d = df[[category, group]].dropna()
    if d.empty:
        return no_data_figure(f"no recorded {pretty(category).lower()}", size=size, title=title)
    cats = list(order) if order is not None else sorted(d[category].astype(str).unique())
    d = d[d[category].astype(str).isin([str(c) for c in cats])]
    groups = sorted(d[group].astype(str).unique())
    tab = pd.crosstab(d[group].astype(str), d[category].astype(str)).reindex(index=groups, columns=[str(c) for c in cats],
                                                                             fill_value=0)
    n = tab.sum(axis=1)
    vals = tab.div(n.replace(0, np.nan), axis=0).fillna(0) * 100 if percent else tab.astype(float)
    colours = (_ORDERED[: len(cats)] if ordered and len(cats) <= len(_ORDERED) else
               [PALETTE[i % len(PALETTE)] for i in range(len(cats))])
    fig = new_figure(size)
    ax = fig.add_axes((0.16, 0.2, 0.5, 0.72))
    x = np.arange(len(groups))
    bottom = np.zeros(len(groups))
    labels = dict(labels or {})
    for ci, c in enumerate(tab.columns):
        h = vals[c].to_numpy(dtype=float)
        for xi, g in enumerate(groups):
            ax.bar(x[xi], h[xi], bottom=bottom[xi], width=0.6, color=colours[ci], edgecolor="white", lw=0.5,
                   gid=f"bar:{g}:{c}")
            if percent and h[xi] >= 7:
                dark = ci >= 2 if ordered else ci in (0, 4, 6)
                ax.text(x[xi], bottom[xi] + h[xi] / 2, f"{h[xi]:.0f}%", ha="center", va="center",
                        fontsize=SMALL_SIZE - 1, color="white" if dark else "#222222")
        bottom += h
    ax.set_xticks(x)
    ax.set_xticklabels([f"{wrap(labels.get(g, pretty(g)), 16, 2)}\n(n = {int(n[g])})" for g in groups])
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_ylim(0, 100 if percent else max(float(bottom.max()), 1) * 1.05)
    ax.set_ylabel(ylabel or ("Patients (%)" if percent else "Patients (n)"))
    handles = [Patch(color=colours[i], label=labels.get(c, pretty(c))) for i, c in enumerate(tab.columns)][::-1]
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.02, 0.5),
              title=legend_title or pretty(category), title_fontsize=SMALL_SIZE)
    if title:
        fig.suptitle(title, y=0.995)
    fig.table = tab  # type: ignore[attr-defined]
    return fig


@styled
def grouped_bar(df: pd.DataFrame, x: str, group: str, value: str, *, lower: str | None = None,
                upper: str | None = None, labels: Mapping | None = None, ylabel: str = "Patients (%)",
                xlabel: str | None = None, colours: Mapping | None = None, title: str | None = None,
                size: tuple[float, float] = (SINGLE_COLUMN[0] * 1.6, SINGLE_COLUMN[1])) -> Figure:
    """Grouped bars of a summary ``value`` (e.g. a rate in %) per ``x`` category and ``group``, with
    optional error bars ``lower``/``upper`` (e.g. exact 95 % CI). One row per x × group.

    Bars carry ``gid="bar:<x>:<group>"``.
    """
    need = [x, group, value] + [c for c in (lower, upper) if c]
    reason = check_columns(df, need, "the summary table")
    if reason:
        return no_data_figure(reason, size=size, title=title)
    d = df[need].copy()
    xs = list(pd.unique(d[x].astype(str)))
    gs = list(pd.unique(d[group].astype(str)))
    cmap = colour_map(gs, COHORT_COLOURS, colours)
    labels = dict(labels or {})
    fig = new_figure(size)
    ax = fig.add_axes((0.12, 0.22, 0.85, 0.62))
    w = 0.8 / max(len(gs), 1)
    for gi, g in enumerate(gs):
        part = d[d[group].astype(str) == g].set_index(d[d[group].astype(str) == g][x].astype(str)).reindex(xs)
        pos = np.arange(len(xs)) - 0.4 + w * (gi + 0.5)
        v = pd.to_numeric(part[value], errors="coerce").to_numpy(dtype=float)
        for p, vv, xv in zip(pos, v, xs):
            if np.isfinite(vv):
                ax.bar(p, vv, width=w * 0.92, color=cmap[g], gid=f"bar:{xv}:{g}")
        if lower and upper:
            lo = pd.to_numeric(part[lower], errors="coerce").to_numpy(dtype=float)
            hi = pd.to_numeric(part[upper], errors="coerce").to_numpy(dtype=float)
            ok = np.isfinite(v) & np.isfinite(lo) & np.isfinite(hi)
            ax.errorbar(pos[ok], v[ok], yerr=[v[ok] - lo[ok], hi[ok] - v[ok]], fmt="none", ecolor="#222222",
                        elinewidth=0.7, capsize=1.5)
    ax.set_xticks(np.arange(len(xs)))
    rot = 30 if len(xs) > 5 else 0
    ax.set_xticklabels([wrap(labels.get(v, pretty(v)), 14, 2) for v in xs], rotation=rot,
                       ha="right" if rot else "center")
    ax.set_ylabel(ylabel)
    if xlabel:
        ax.set_xlabel(xlabel)
    ax.legend(handles=[Patch(color=cmap[g], label=labels.get(g, pretty(g))) for g in gs], loc="lower center",
              bbox_to_anchor=(0.5, 1.0), ncol=min(len(gs), 4))
    if title:
        fig.suptitle(title, y=0.995)
    return fig
