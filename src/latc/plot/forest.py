"""Subgroup forest plot: per level n, events, the effect estimate with its CI on a log axis, the
estimate as text, and the treatment × subgroup interaction p-value; an overall row on top.

Input is the table of :func:`latc.stats.subgroups` (already in forest-plot order). Layout after
the CONSORT / ICMJE convention for subgroup analyses (Wang et al., *N Engl J Med* 2007;357:2189):
point estimate with CI per level, the interaction test per variable, not a p-value per level.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Polygon
from matplotlib.ticker import NullLocator
from matplotlib.transforms import blended_transform_factory

from ._style import (DOUBLE_COLUMN, OKABE_ITO, SMALL_SIZE, check_columns, format_ci, format_p,
                     new_figure, no_data_figure, pretty, styled, wrap)

__all__ = ["forest_plot"]

_MEASURES = {"HR": "Hazard ratio", "OR": "Odds ratio", "RR": "Risk ratio"}
_NEEDED = ["subgroup", "level", "n", "events", "estimate", "lower", "upper"]


def _log_ticks(lo: float, hi: float) -> list[float]:
    cands = [0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 4, 5, 10, 20, 50, 100]
    t = [c for c in cands if lo <= c <= hi]
    # at most 7 ticks: drop the in-between values first
    for drop in ([0.25, 4], [0.02, 0.2, 5, 50], [0.05, 20]):
        if len(t) <= 7:
            break
        t = [c for c in t if c not in drop or c == 1]
    return t


@styled
def forest_plot(table: pd.DataFrame, *, labels: Mapping[str, str] | None = None,
                favours: Sequence[str] | None = None, xlim: tuple[float, float] | None = None,
                title: str | None = None, width: float = DOUBLE_COLUMN[0]) -> Figure:
    """Forest plot of subgroup effects.

    Parameters
    ----------
    table : :func:`latc.stats.subgroups` output — ``subgroup, level, n, events, estimate, lower,
        upper`` and optionally ``measure`` (HR/OR: axis label), ``p_interaction`` (shown once per
        subgroup, on its header row), ``note`` (why a level is not estimable). A row with subgroup
        ``"Overall"`` is drawn first as a diamond.
    labels : display names for subgroup variables and levels (codes are made readable otherwise).
    favours : ``(label for estimate < 1, label for estimate > 1)``, e.g.
        ``("neoadjuvant", "upfront surgery")`` — written under the axis.
    xlim : log-axis limits (default: from the CIs, within 0.05–20; CIs beyond get an arrow).

    The height grows with the number of rows (0.2 in per row). Level rows carry markers with
    ``gid="forest:<subgroup>:<level>"``; ``fig.rows`` is the table in drawing order with ``y``.
    """
    reason = check_columns(table, _NEEDED, "the subgroup table")
    if reason:
        return no_data_figure(reason, size=(width, 1.6), title="Forest plot")
    labels = dict(labels or {})
    df = table.reset_index(drop=True).copy()
    for c in ("estimate", "lower", "upper"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    measure = str(df["measure"].dropna().iloc[0]) if "measure" in df and df["measure"].notna().any() else "HR"

    # ---- rows: overall, then per subgroup a header and its levels ----------------------------
    rows: list[dict] = []
    is_overall = df["subgroup"].astype(str).str.lower().eq("overall")
    for _, r in df[is_overall].iterrows():
        rows.append({"kind": "overall", "text": labels.get("Overall", "All patients"), **r.to_dict()})
    for sg, part in df[~is_overall].groupby("subgroup", sort=False):
        p_int = part["p_interaction"].dropna() if "p_interaction" in part else pd.Series(dtype=float)
        rows.append({"kind": "header", "text": labels.get(sg, pretty(sg)), "subgroup": sg,
                     "p_interaction": float(p_int.iloc[0]) if len(p_int) else np.nan})
        for _, r in part.iterrows():
            lvl = r["level"]
            rows.append({"kind": "level", "text": "  " + labels.get(str(lvl), pretty(lvl)), **r.to_dict()})
    # wrapped labels take more than one line
    for r in rows:
        r["text"] = wrap(r["text"], 34, max_lines=2)
        r["lines"] = r["text"].count("\n") + 1
    line_h = 0.2
    heights = np.array([line_h * (1 + 0.6 * (r["lines"] - 1)) for r in rows])
    y_bottom = np.cumsum(heights[::-1])[::-1]           # inches from the bottom of the table
    ys = y_bottom - heights / 2

    top_pad, bottom_pad = 0.45, 0.75 if favours else 0.55
    table_h = float(heights.sum())
    H = table_h + top_pad + bottom_pad
    fig = new_figure((width, H))
    ax_x0, ax_x1 = 2.95, 5.05                  # inches: the forest panel
    ax = fig.add_axes((ax_x0 / width, bottom_pad / H, (ax_x1 - ax_x0) / width, table_h / H))
    ax.set_ylim(0, table_h)
    ax.set_xscale("log")

    est = np.array([r.get("estimate", np.nan) if r["kind"] != "header" else np.nan for r in rows], dtype=float)
    lo = np.array([r.get("lower", np.nan) if r["kind"] != "header" else np.nan for r in rows], dtype=float)
    hi = np.array([r.get("upper", np.nan) if r["kind"] != "header" else np.nan for r in rows], dtype=float)
    ok = np.isfinite(est) & np.isfinite(lo) & np.isfinite(hi) & (est > 0) & (lo > 0)
    if xlim is None:
        if ok.any():
            xmin = max(0.05, min(float(lo[ok].min()), 0.5) / 1.15)
            xmax = min(20.0, max(float(hi[ok].max()), 2.0) * 1.15)
        else:
            xmin, xmax = 0.25, 4.0
    else:
        xmin, xmax = xlim
    ax.set_xlim(xmin, xmax)
    ticks = _log_ticks(xmin, xmax)
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_yticks([])
    ax.spines["left"].set_visible(False)
    ax.axvline(1.0, color="#333333", lw=0.8, zorder=0)
    ax.set_xlabel(f"{_MEASURES.get(measure, measure)} (95% CI), log scale")

    n_max = max(float(pd.to_numeric(pd.Series([r.get("n") for r in rows if r["kind"] != "header"]),
                                    errors="coerce").max() or 1), 1.0)
    overall_est = None
    colour = OKABE_ITO["blue"]
    for r, y, e, l, h, good in zip(rows, ys, est, lo, hi, ok):
        if r["kind"] == "header" or not good:
            continue
        lc, hc = max(l, xmin), min(h, xmax)
        if r["kind"] == "overall":
            overall_est = e
            dh = 0.07
            poly = Polygon([[lc, y], [e, y + dh], [hc, y], [e, y - dh]], closed=True, color="#222222",
                           zorder=3, gid=f"forest:{r['subgroup']}:{r['level']}")
            ax.add_patch(poly)
        else:
            ax.plot([lc, hc], [y, y], color=colour, lw=1.0, zorder=2, solid_capstyle="butt")
            size = 2.5 + 4.0 * np.sqrt(float(r.get("n") or 0) / n_max)
            ax.plot([min(max(e, xmin), xmax)], [y], marker="s", ms=size, color=colour, zorder=3,
                    gid=f"forest:{r['subgroup']}:{r['level']}", ls="none")
            if l < xmin:
                ax.annotate("", xy=(xmin, y), xytext=(xmin * 1.25, y),
                            arrowprops={"arrowstyle": "->", "color": colour, "lw": 0.8})
            if h > xmax:
                ax.annotate("", xy=(xmax, y), xytext=(xmax / 1.25, y),
                            arrowprops={"arrowstyle": "->", "color": colour, "lw": 0.8})
    if overall_est is not None:
        ax.axvline(overall_est, color="#777777", lw=0.6, ls="--", zorder=0)

    # ---- text columns (figure inches → figure fraction; y in the panel's data coordinates) ----
    tr = blended_transform_factory(fig.transFigure, ax.transData)
    cols = {"label": 0.05, "n": 2.05, "events": 2.7, "est": 5.2, "p": width - 0.08}

    def put(xin, y, s, ha="left", bold=False):
        fig.text(xin / width, y, s, transform=tr, ha=ha, va="center", fontsize=SMALL_SIZE,
                 fontweight="bold" if bold else "normal")

    head_y = table_h + 0.22
    put(cols["label"], head_y, "Subgroup", bold=True)
    put(cols["n"], head_y, "n", ha="right", bold=True)
    put(cols["events"], head_y, "Events", ha="right", bold=True)
    put(cols["est"], head_y, f"{measure} (95% CI)", bold=True)
    if "p_interaction" in df:
        put(cols["p"], head_y, "p interaction", ha="right", bold=True)
    for r, y, good in zip(rows, ys, ok):
        bold = r["kind"] in ("overall", "header")
        put(cols["label"], y, r["text"], bold=bold)
        if r["kind"] == "header":
            if np.isfinite(r.get("p_interaction", np.nan)):
                put(cols["p"], y, format_p(r["p_interaction"], prefix="").replace("= ", "").strip(), ha="right")
            elif "p_interaction" in df:
                put(cols["p"], y, "NA", ha="right")
            continue
        put(cols["n"], y, f"{int(r['n'])}" if pd.notna(r.get("n")) else "", ha="right", bold=bold)
        put(cols["events"], y, f"{int(r['events'])}" if pd.notna(r.get("events")) else "", ha="right", bold=bold)
        put(cols["est"], y, format_ci(r["estimate"], r["lower"], r["upper"]) if good else "not estimable",
            bold=bold)
    if favours:
        a, b = favours
        one = ax_x0 + (ax_x1 - ax_x0) * np.log(1.0 / xmin) / np.log(xmax / xmin)   # inches
        fig.text((one - 0.06) / width, 0.06 / H, f"← Favours {a}", ha="right", va="bottom", fontsize=SMALL_SIZE - 0.5)
        fig.text((one + 0.06) / width, 0.06 / H, f"Favours {b} →", ha="left", va="bottom", fontsize=SMALL_SIZE - 0.5)
    if title:
        fig.suptitle(title, y=1 - 0.02 / H, va="top")
    fig.rows = pd.DataFrame([{k: v for k, v in r.items()} for r in rows]).assign(y=ys)  # type: ignore[attr-defined]
    return fig
