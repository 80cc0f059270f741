"""Waterfall plot: best % change of the target-lesion sum per patient, coloured by best response.

RECIST 1.1 §4.3.1 thresholds drawn as reference lines: +20 % (PD, vs nadir) and −30 % (PR, vs
baseline). Bars are sorted from the largest increase (left) to the deepest shrinkage (right), the
usual layout in oncology trial reports.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ._style import (RASTER_ABOVE, DOUBLE_COLUMN, RESPONSE_COLOURS, RESPONSE_ORDER, SMALL_SIZE, TOL_MUTED,
                     check_columns, colour_map, new_figure, no_data_figure, pretty, styled)

__all__ = ["waterfall_plot"]

PD_LINE = 20.0
PR_LINE = -30.0


def _bars(x: np.ndarray, heights: np.ndarray, width: float, colours: list[str]) -> PolyCollection:
    """All bars as one collection (one artist: fast and a small SVG at 10,000 patients)."""
    x0, x1 = x - width / 2, x + width / 2
    zero = np.zeros_like(heights)
    verts = np.stack([np.c_[x0, zero], np.c_[x0, heights], np.c_[x1, heights], np.c_[x1, zero]], axis=1)
    pc = PolyCollection(verts, facecolors=colours, edgecolors="none", linewidths=0, antialiased=len(x) < 2000)
    pc.set_rasterized(len(x) > RASTER_ABOVE)
    return pc


@styled
def waterfall_plot(endpoints: pd.DataFrame, *, change: str = "best_percent_change_from_baseline",
                   response: str = "best_overall_response", annotate: str | None = None,
                   annotate_label: str | None = None, colours: Mapping[str, str] | None = None,
                   title: str | None = None, size: tuple[float, float] = DOUBLE_COLUMN) -> Figure:
    """Waterfall plot of best % change in the sum of target lesions.

    Parameters
    ----------
    endpoints : one row per patient, e.g. :func:`latc.derive.response_endpoints` output
        (optionally merged with the subject table for ``annotate``). Columns ``patient_id``,
        ``change`` (best % change from baseline; rows with a missing value — no post-baseline
        sum — are left out and counted in a note) and ``response`` (BOR: CR/PR/SD/NON-CR/NON-PD/PD/
        NE/MISSING, fixed colours of :data:`latc.plot._style.RESPONSE_COLOURS`).
    annotate : optional categorical column shown as a colour strip under the bars (e.g. histology).
    annotate_label : the strip's legend title (default: the column name, readable).

    Returns a Figure; ``fig.axes[0]`` holds the bars as one ``PolyCollection`` (``gid
    "waterfall:bars"``, one rectangle per patient, left to right from the largest increase to the
    deepest decrease); ``fig.plotted`` is the table in that order.
    """
    need = ["patient_id", change, response] + ([annotate] if annotate else [])
    reason = check_columns(endpoints, need, "the response table")
    if reason:
        return no_data_figure(reason, size=size, title="Waterfall plot")
    df = endpoints[need].copy()
    df[change] = pd.to_numeric(df[change], errors="coerce")
    n_missing = int(df[change].isna().sum())
    df = df[df[change].notna()]
    if df.empty:
        return no_data_figure(f"none of {n_missing} patients has a post-baseline target-lesion sum",
                              size=size, title="Waterfall plot")
    df[response] = df[response].astype("object").where(df[response].notna(), "MISSING").astype(str)
    # sort: largest increase first; ties by patient id for a deterministic order
    df = df.sort_values([change, "patient_id"], ascending=[False, True], kind="mergesort").reset_index(drop=True)
    n = len(df)
    levels = [r for r in RESPONSE_ORDER if r in set(df[response])] + sorted(set(df[response]) - set(RESPONSE_ORDER))
    cmap = colour_map(levels, RESPONSE_COLOURS, colours)

    fig = new_figure(size)
    strip_h = 0.06 if annotate else 0.0
    bottom = 0.14 + (strip_h + 0.02 if annotate else 0.0)
    lf = 0.85 / size[0]                     # left margin: tick labels + two-line axis label
    ax = fig.add_axes((lf, bottom, 0.95 - lf, 0.78 - bottom))
    x = np.arange(n)
    width = 0.8
    bars = _bars(x, df[change].to_numpy(dtype=float), width, [cmap[r] for r in df[response]])
    bars.set_gid("waterfall:bars")
    ax.add_collection(bars)
    ax.axhline(PD_LINE, color="#444444", lw=0.8, ls="--", zorder=0)
    ax.axhline(PR_LINE, color="#444444", lw=0.8, ls="--", zorder=0)
    ax.axhline(0, color="#222222", lw=0.6, zorder=3)
    lo = min(-100.0, float(df[change].min()) - 5)
    hi = max(40.0, float(df[change].max()) + 5)
    ax.set_ylim(lo, hi)
    pad = max(0.6, (12 - n) / 2)          # few patients: keep bars a readable width, centred
    ax.set_xlim(-pad, n - 1 + pad)
    ax.set_xticks([])
    ax.spines["bottom"].set_visible(False)
    ax.text(1.0, PD_LINE, "+20%", transform=ax.get_yaxis_transform(), ha="left", va="center",
            fontsize=SMALL_SIZE - 1, color="#444444", clip_on=False)
    ax.text(1.0, PR_LINE, "−30%", transform=ax.get_yaxis_transform(), ha="left", va="center",
            fontsize=SMALL_SIZE - 1, color="#444444", clip_on=False)
    ax.set_ylabel("Best change in sum of\ntarget lesions from baseline (%)")
    xlabel = f"Patients (n = {n})"
    if n_missing:
        xlabel += f"; {n_missing} without a post-baseline measurement not shown"
    handles = [Patch(color=cmap[r], label=f"{pretty(r)} ({int((df[response] == r).sum())})") for r in levels]
    leg = ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.01), ncol=min(len(handles), 6),
                    title="Best overall response (RECIST 1.1)", title_fontsize=SMALL_SIZE)
    leg.set_in_layout(True)
    if title:
        fig.suptitle(title, y=0.99)

    if annotate:
        sax = fig.add_axes((lf, 0.14, 0.95 - lf, strip_h), sharex=ax)
        cats = df[annotate].astype("object").where(df[annotate].notna(), "Missing").astype(str)
        clevels = list(pd.unique(cats.sort_values()))
        ccols = {c: TOL_MUTED[i % len(TOL_MUTED)] for i, c in enumerate(clevels)}
        sax.add_collection(_bars(x, np.ones(n), 1.0, [ccols[c] for c in cats]))
        sax.set_ylim(0, 1)
        sax.set_yticks([])
        sax.set_xticks([])
        for s in sax.spines.values():
            s.set_visible(False)
        sax.set_ylabel(annotate_label or pretty(annotate), rotation=0, ha="right", va="center",
                       fontsize=SMALL_SIZE)
        sax.set_xlabel(xlabel)
        sax.legend(handles=[Patch(color=ccols[c], label=pretty(c)) for c in clevels],
                   loc="upper center", bbox_to_anchor=(0.5, -0.9), ncol=min(len(clevels), 6),
                   fontsize=SMALL_SIZE)
    else:
        ax.set_xlabel(xlabel)
    fig.plotted = df  # type: ignore[attr-defined]  # the data in plotted order (for tests / reports)
    return fig
