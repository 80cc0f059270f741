"""Cumulative incidence curves by cause and group (Aalen–Johansen, from
:class:`latc.stats.CIFResult`), with pointwise CI bands and Gray's test p per cause in the panel —
e.g. recurrence with death without recurrence as the competing risk.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ._style import (COHORT_COLOURS, MM, MONTH_STEPS, SMALL_SIZE, colour_map, format_p, new_figure,
                     nice_ticks, no_data_figure, pretty, styled)

__all__ = ["cif_plot"]

_LINESTYLES = ["-", "--", ":", "-."]


@styled
def cif_plot(cif, *, causes: list | None = None, cause_labels: Mapping = None, labels: Mapping = None,
             colours: Mapping = None, conf_int: bool = True, xmax: float | None = None,
             xlabel: str = "Months since surgery", ylabel: str = "Cumulative incidence",
             title: str | None = None, size: tuple[float, float] = (120 * MM, 85 * MM)) -> Figure:
    """Cumulative incidence plot.

    Parameters
    ----------
    cif : :class:`latc.stats.CIFResult` (``table``: group, cause, time, cif, lower, upper;
        ``tests``: Gray's test per cause when there are ≥ 2 groups; ``last_time`` per group).
    causes : which causes to draw (default all), e.g. ``[1]`` for recurrence only.
    cause_labels : names per cause code (e.g. ``{1: "Recurrence", 2: "Death without recurrence"}``).
    labels, colours : per group.

    Colour = group, line style = cause. Each curve starts at 0 at time 0 and is held flat to the
    group's last follow-up time. Lines carry ``gid="cif:<group>:<cause>"``.
    """
    if cif is None or getattr(cif, "table", None) is None:
        return no_data_figure("no cumulative incidence estimate given", size=size, title=title)
    tab = cif.table
    causes = list(cif.causes if causes is None else causes)
    cause_labels = dict(cause_labels or {})
    labels = dict(labels or {})
    groups = list(cif.groups)
    if len(tab) == 0 or not causes:
        return no_data_figure("no events of any cause", size=size, title=title)
    cmap = colour_map(groups, COHORT_COLOURS, colours)
    last = max(float(v) for v in cif.last_time.values())
    xmax = xmax or (last if last > 0 else 1.0)
    fig = new_figure(size)
    ax = fig.add_axes((0.12, 0.15, 0.84, 0.68))
    ymax = 0.0
    for ci, cause in enumerate(causes):
        for g in groups:
            part = tab[(tab["group"] == g) & (tab["cause"] == cause)]
            end = float(cif.last_time[g])
            x = np.r_[0.0, part["time"].to_numpy(dtype=float), end]
            y = np.r_[0.0, part["cif"].to_numpy(dtype=float),
                      part["cif"].iloc[-1] if len(part) else 0.0]
            ln, = ax.plot(x, y, drawstyle="steps-post", color=cmap[g], ls=_LINESTYLES[ci % 4], lw=1.3, zorder=3)
            ln.set_gid(f"cif:{g}:{cause}")
            ymax = max(ymax, float(np.nanmax(y)))
            if conf_int and len(part):
                lo = np.r_[0.0, part["lower"].to_numpy(dtype=float), part["lower"].iloc[-1]]
                hi = np.r_[0.0, part["upper"].to_numpy(dtype=float), part["upper"].iloc[-1]]
                ok = np.isfinite(lo) & np.isfinite(hi)
                ax.fill_between(x[ok], lo[ok], hi[ok], step="post", color=cmap[g], alpha=0.12, lw=0, zorder=1)
                ymax = max(ymax, float(np.nanmax(hi[ok])) if ok.any() else 0.0)
    ticks = nice_ticks(xmax, 8, steps=MONTH_STEPS) if "month" in xlabel.lower() else nice_ticks(xmax, 8)
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.set_xlim(0, max(xmax, ticks[-1]) * 1.02)
    top = min(1.0, max(0.1, ymax * 1.35))
    ax.set_ylim(0, top)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    handles = [Line2D([], [], color=cmap[g], lw=1.5, label=labels.get(g, pretty(g))) for g in groups]
    if len(causes) > 1:
        handles += [Line2D([], [], color="#444444", ls=_LINESTYLES[i % 4], lw=1.2,
                           label=cause_labels.get(c, pretty(c))) for i, c in enumerate(causes)]
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0),
              ncol=len(handles) if len(handles) <= 3 else 2)
    lines = []
    if getattr(cif, "tests", None) is not None and len(cif.tests):
        for c in causes:
            row = cif.tests[cif.tests["cause"].astype(str) == str(c)]
            if len(row):
                lines.append(f"Gray's test, {cause_labels.get(c, pretty(c)).lower()}: {format_p(float(row['p'].iloc[0]))}")
    if lines:
        ax.text(0.02, 0.97, "\n".join(lines), transform=ax.transAxes, ha="left", va="top", fontsize=SMALL_SIZE,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1.5}, zorder=6)
    if title:
        fig.suptitle(title, y=0.995)
    return fig
