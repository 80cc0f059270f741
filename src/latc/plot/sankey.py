"""Downstaging: cT at baseline → ypT after neoadjuvant therapy as an alluvial (Sankey) diagram drawn
with matplotlib polygons, and the same information as a shift table.

T categories follow AJCC 8th edition order (T0 < T1a < T1b < T2 < T3a < T3b < T4a < T4b; TX
last). A ribbon is coloured by the direction of the change: downstaged, unchanged, upstaged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Polygon, Rectangle

from ._style import (DOUBLE_COLUMN, OKABE_ITO, SMALL_SIZE, check_columns, new_figure, no_data_figure,
                     styled, text_size_in)

__all__ = ["T_ORDER", "sankey_plot", "shift_table"]

#: AJCC 8th edition primary-tumour categories, least to most advanced.
T_ORDER: tuple[str, ...] = ("T0", "Tis", "T1", "T1a", "T1b", "T2", "T3", "T3a", "T3b", "T4", "T4a", "T4b", "TX")
_DIRECTION_COLOURS = {"downstaged": OKABE_ITO["blue"], "unchanged": "#BBBBBB", "upstaged": OKABE_ITO["vermillion"]}


def _order(values: Sequence, order: Sequence | None) -> list[str]:
    present = sorted({str(v) for v in values})
    base = [str(v) for v in (order or T_ORDER)]
    return [v for v in base if v in present] + [v for v in present if v not in base]


def _rank(cats: Sequence[str]) -> dict[str, float]:
    """Rank for the direction of change (TX and unknown categories: NaN)."""
    pos = {t: i for i, t in enumerate(T_ORDER) if t != "TX"}
    return {c: float(pos[c]) if c in pos else np.nan for c in cats}


def shift_table(df: pd.DataFrame, before: str = "ct", after: str = "ypt", *, order: Sequence | None = None,
                totals: bool = True) -> pd.DataFrame:
    """Cross-table of ``before`` (rows) × ``after`` (columns) counts in T order, with totals.

    Patients missing either value are left out; ``attrs["n_missing"]`` counts them and
    ``attrs["downstaged"/"unchanged"/"upstaged"]`` count the patients by direction.
    """
    d = df[[before, after]]
    ok = d.notna().all(axis=1)
    d = d[ok].astype(str)
    rows, cols = _order(d[before], order), _order(d[after], order)
    tab = pd.crosstab(d[before], d[after]).reindex(index=rows, columns=cols, fill_value=0)
    tab.index.name, tab.columns.name = before, after
    rb, ra = _rank(rows), _rank(cols)
    direction = {"downstaged": 0, "unchanged": 0, "upstaged": 0}
    for r in rows:
        for c in cols:
            n = int(tab.loc[r, c])
            if n and np.isfinite(rb[r]) and np.isfinite(ra[c]):
                direction["downstaged" if ra[c] < rb[r] else "upstaged" if ra[c] > rb[r] else "unchanged"] += n
    if totals:
        tab["Total"] = tab.sum(axis=1)
        tab.loc["Total"] = tab.sum(axis=0)
    tab.attrs.update({"n_missing": int((~ok).sum()), **direction})
    return tab


@styled
def sankey_plot(df: pd.DataFrame, before: str = "ct", after: str = "ypt", *, order: Sequence | None = None,
                before_label: str = "Clinical T (baseline)", after_label: str = "Pathological ypT (surgery)",
                prefixes: tuple[str, str] = ("c", "yp"), title: str | None = None,
                size: tuple[float, float] = (DOUBLE_COLUMN[0] * 0.7, DOUBLE_COLUMN[1] * 0.9)) -> Figure:
    """Alluvial diagram of T category before → after (one row per patient).

    Node heights and ribbon widths are proportional to patients; nodes are separated by a gap at
    least one text line high so labels never collide. Ribbons carry
    ``gid="flow:<before>:<after>"`` and ``fig.flows`` lists (before, after, n, direction).
    """
    reason = check_columns(df, [before, after], "the staging table")
    if reason:
        return no_data_figure(reason, size=size, title=title)
    tab = shift_table(df, before, after, order=order, totals=False)
    total = int(tab.to_numpy().sum())
    if total == 0:
        return no_data_figure(f"no patient has both {before} and {after}", size=size, title=title)
    fig = new_figure(size)
    W, H = size
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, W)
    ax.set_ylim(0, H)
    ax.set_axis_off()
    text_h = text_size_in(fig, "T4b (n = 999)", SMALL_SIZE)[1]
    gap = text_h * 1.3
    top, bottom = H - 0.45, 0.42
    rows, cols = list(tab.index), list(tab.columns)
    avail = (top - bottom) - gap * (max(len(rows), len(cols)) - 1)
    scale = avail / total
    node_w = 0.12
    lw = max(text_size_in(fig, f"{prefixes[0]}{r} (n = {int(tab.loc[r].sum())})", SMALL_SIZE)[0] for r in rows)
    rw = max(text_size_in(fig, f"{prefixes[1]}{c} (n = {int(tab[c].sum())})", SMALL_SIZE)[0] for c in cols)
    xl, xr = lw + 0.15, W - rw - 0.15 - node_w

    def stack(counts: pd.Series) -> dict[str, float]:
        used = float(counts.sum()) * scale + gap * (len(counts) - 1)
        y, out = top - ((top - bottom) - used) / 2, {}        # centred vertically
        for k, v in counts.items():
            out[k] = y
            y -= v * scale + gap
        return out

    ltop, rtop = stack(tab.sum(axis=1)), stack(tab.sum(axis=0))
    lcur, rcur = dict(ltop), dict(rtop)
    rb, ra = _rank(rows), _rank(cols)
    t = np.linspace(0, 1, 40)
    s = (1 - np.cos(np.pi * t)) / 2
    flows = []
    # ribbons: left nodes top→bottom, their targets top→bottom; right slots filled in left order
    for r in rows:
        for c in cols:
            n = int(tab.loc[r, c])
            if not n:
                continue
            h = n * scale
            y0l, y0r = lcur[r], rcur[c]
            lcur[r] -= h
            rcur[c] -= h
            x = xl + node_w + (xr - xl - node_w) * t
            upper = y0l + (y0r - y0l) * s
            lower = upper - h
            d = ("downstaged" if ra[c] < rb[r] else "upstaged" if ra[c] > rb[r] else "unchanged") \
                if np.isfinite(rb[r]) and np.isfinite(ra[c]) else "unchanged"
            poly = Polygon(np.c_[np.r_[x, x[::-1]], np.r_[upper, lower[::-1]]], closed=True,
                           color=_DIRECTION_COLOURS[d], alpha=0.55, lw=0, gid=f"flow:{r}:{c}")
            ax.add_patch(poly)
            flows.append({"before": r, "after": c, "n": n, "direction": d})
    for side, tops, counts, x, prefix in (("l", ltop, tab.sum(axis=1), xl, prefixes[0]),
                                          ("r", rtop, tab.sum(axis=0), xr, prefixes[1])):
        for k, y in tops.items():
            h = counts[k] * scale
            ax.add_patch(Rectangle((x, y - h), node_w, h, color="#333333", lw=0))
            if side == "l":
                ax.text(x - 0.06, y - h / 2, f"{prefix}{k} (n = {int(counts[k])})", ha="right", va="center",
                        fontsize=SMALL_SIZE)
            else:
                ax.text(x + node_w + 0.06, y - h / 2, f"{prefix}{k} (n = {int(counts[k])})", ha="left",
                        va="center", fontsize=SMALL_SIZE)
    ax.text(0.05, H - 0.12, before_label, ha="left", va="top", fontsize=SMALL_SIZE + 1, fontweight="bold")
    ax.text(W - 0.05, H - 0.12, after_label, ha="right", va="top", fontsize=SMALL_SIZE + 1, fontweight="bold")
    fl = pd.DataFrame(flows)
    present = [k for k in _DIRECTION_COLOURS if (fl["direction"] == k).any()]
    handles = [Patch(color=_DIRECTION_COLOURS[k], alpha=0.55,
                     label=f"{k.capitalize()} ({int(fl.loc[fl['direction'] == k, 'n'].sum())})") for k in present]
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.0), ncol=len(handles),
              bbox_transform=fig.transFigure)
    if title:
        fig.suptitle(title, y=0.995)
    fig.flows = fl  # type: ignore[attr-defined]
    fig.shift = tab  # type: ignore[attr-defined]
    return fig
