"""Kaplan–Meier curves in the survminer look (Kassambara et al., R package ``survminer``,
``ggsurvplot``): step curves with pointwise CI bands, censoring ticks, a numbers-at-risk table
aligned under the time axis, optional median lines and landmark marks, and the log-rank p and the
Cox hazard ratio (95 % CI) written in the panel.

Input is :class:`latc.stats.KMResult` (one curve per group), so the curves are exactly the
estimates that agree with R ``survfit``; the risk table is ``KMResult.risk_table(times)`` at the
x-axis ticks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from latc.stats._test_result import TestResult

from ._style import (COHORT_COLOURS, FONT_SIZE, MM, MONTH_STEPS, SMALL_SIZE, colour_map, format_ci,
                     format_p, legible, new_figure, nice_ticks, no_data_figure, pretty, styled, text_size_in)

__all__ = ["km_plot"]

KM_SIZE = (120 * MM, 100 * MM)   # 1.5 columns: room for the risk table


def _curves(km: Any, labels: Mapping[Any, str] | None) -> list[dict]:
    """Flatten one KMResult or a {name: KMResult} mapping into curves (key, label, table, result).

    Keys: the group code for one result; ``name`` for an ungrouped fit of a mapping, else
    ``"name: group"``. Labels: ``labels[key]`` or ``labels[group]``, else readable codes.
    """
    items = list(km.items()) if isinstance(km, Mapping) else [(None, km)]
    out = []
    labels = labels or {}
    for name, res in items:
        ungrouped = list(res.groups) == ["all"]
        for g in res.groups:
            tab = res.table[res.table["group"] == g]
            if name is None:
                key, default = g, ("All patients" if ungrouped else pretty(g))
            elif ungrouped:
                key, default = name, pretty(name)
            else:
                key, default = f"{name}: {g}", f"{pretty(name)}: {pretty(g)}"
            label = labels.get(key) or labels.get(g) or default
            out.append({"key": key, "group": g, "label": label, "table": tab, "result": res})
    return out


def _step(tab: pd.DataFrame, col: str, start: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    x = np.r_[0.0, tab["time"].to_numpy(dtype=float)]
    y = np.r_[start, tab[col].to_numpy(dtype=float)]
    return x, y


def _hr_text(cox: Any, term: str | None, groups: list) -> str | None:
    if cox is None:
        return None
    if isinstance(cox, (tuple, list)) and len(cox) == 3:
        est, lo, hi = (float(v) for v in cox)
        what = ""
    else:
        summ = cox.summary
        row = summ.iloc[0] if term is None else summ.loc[term]
        est, lo, hi = float(row["exp_coef"]), float(row["lower"]), float(row["upper"])
        name = str(row.name if term is None else term)
        # "cohort[upfront_surgery]" → "upfront surgery vs reference"
        what = ""
        if "[" in name and name.endswith("]"):
            level = name[name.index("[") + 1:-1]
            others = [g for g in groups if str(g) != level]
            ref = pretty(others[0]) if len(others) == 1 else "reference"
            what = f" ({pretty(level)} vs {ref.lower() if ref != 'reference' else ref})"
    return f"HR{what} {format_ci(est, lo, hi)}"


@styled
def km_plot(km: Any, *, logrank: TestResult | pd.DataFrame | None = None, cox: Any = None, hr_term: str | None = None,
            labels: Mapping[Any, str] | None = None, colours: Mapping[Any, str] | None = None,
            conf_int: bool = True, censor_marks: bool = True, median_lines: bool = False,
            landmarks: Sequence[float] | None = None, risk_table: bool = True,
            times: Sequence[float] | None = None, xmax: float | None = None,
            xlabel: str = "Months since treatment decision", ylabel: str = "Survival probability",
            time_unit: str = "months", title: str | None = None,
            size: tuple[float, float] = KM_SIZE) -> Figure:
    """Kaplan–Meier plot with a numbers-at-risk table.

    Parameters
    ----------
    km : a :class:`latc.stats.KMResult` (one curve per group) or a mapping ``{name: KMResult}``
        to overlay several fits (e.g. OS and EFS).
    logrank : optional :func:`latc.stats.logrank` result (or its ``to_frame()`` table, as the analysis
        writes it); its ``p`` is written in the panel.
    cox : optional :class:`latc.stats.CoxResult` (HR of ``hr_term``, default its first term) or a
        ``(hr, lower, upper)`` tuple; written as "HR … (95 % CI)".
    labels, colours : per group (code) display label / colour; cohorts get the study colours.
    conf_int, censor_marks, median_lines : draw CI bands (``KMResult.lower/upper``), "+"-style
        ticks at censoring times, and dashed lines at the median survival time(s).
    landmarks : times marked with a dotted line; the survival there per curve is listed in the panel.
    risk_table, times : draw the numbers at risk at ``times`` (default: the x-axis ticks) under
        the plot — values from ``KMResult.risk_table``.
    xmax : end of the time axis (default: the last follow-up time).

    Drawn artists carry ids for checking: curve lines ``gid="km:<key>"``, risk-table cells
    ``gid="risk:<key>:<time>"``.
    """
    if km is None:
        return no_data_figure("no survival estimate given", size=size, title=title)
    results = list(km.values()) if isinstance(km, Mapping) else [km]
    if not results or any(getattr(r, "table", None) is None or len(r.table) == 0 for r in results):
        return no_data_figure("the survival estimate has no patients", size=size, title=title)
    curves = _curves(km, labels)
    keys = [c["key"] for c in curves]
    cmap = colour_map(keys, {**COHORT_COLOURS, **{c["key"]: COHORT_COLOURS[c["group"]] for c in curves
                                                   if c["group"] in COHORT_COLOURS}}, colours)
    ticks, x_right = _time_axis(curves, times, xmax, time_unit)

    # ---- layout in inches; curves, CI bands, censoring ticks, medians -------------------------
    fig, ax, lay = _layout(size, curves, risk_table)
    any_event = _draw_curves(ax, curves, cmap, conf_int=conf_int, censor_marks=censor_marks)
    if median_lines:
        _draw_medians(ax, curves, cmap)
    _format_axes(ax, ticks, x_right, xlabel, ylabel)

    # ---- panel text: log-rank p, HR, landmarks, no-event note --------------------------------
    lines = _test_lines(logrank, cox, hr_term, curves)
    if landmarks:
        lines += _draw_landmarks(ax, landmarks, curves, cmap, time_unit)
    if not any_event:
        n = sum(int(r.medians["n"].sum()) for r in results)
        lines.append(f"No events: all {n} patients censored")
    extra = _place_panel_text(fig, ax, "\n".join(lines), curves) if lines else 0.0

    handles = [Line2D([], [], color=cmap[c["key"]], lw=1.5, label=c["label"]) for c in curves]
    if len(curves) > 1 or curves[0]["label"] != "All patients":
        ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0 + extra), ncol=min(len(handles), 3))
    if title:
        fig.suptitle(title, y=0.995, fontsize=FONT_SIZE + 1)

    # ---- numbers at risk ----------------------------------------------------------------------
    fig.risk = None  # type: ignore[attr-defined]
    if risk_table:
        fig.risk = _draw_risk_table(fig, ax, lay, curves, cmap, ticks)  # type: ignore[attr-defined]
    return fig


def _time_axis(curves: list[dict], times: Sequence[float] | None, xmax: float | None,
               time_unit: str) -> tuple[np.ndarray, float]:
    """The x-axis ticks (``times``, else nice steps up to ``xmax`` — default the last follow-up
    time) and the right end of the axis."""
    last = max(float(c["table"]["time"].max()) for c in curves)
    if xmax is None:
        xmax = last if last > 0 else 1.0
    steps = MONTH_STEPS if time_unit == "months" else (1, 2, 5, 7, 10, 14, 28, 30, 50, 91, 100, 182, 365, 500, 730, 1000)
    ticks = (np.asarray(times, dtype=float) if times is not None
             else nice_ticks(xmax, max_ticks=8, steps=steps))
    ticks = ticks[ticks <= max(xmax, ticks.min() if len(ticks) else 0) + 1e-9]
    x_right = max(float(xmax), float(ticks.max()) if len(ticks) else float(xmax))
    return ticks, x_right


_ROW_H = 0.17       # height of a risk-table row (inches)
_PAD_PT = 14.0      # room for half a risk count left of t = 0 (points)


@dataclass(frozen=True)
class _Layout:
    """Where the panel and the risk table sit, in inches (figure width and height, margins) and the
    risk table's number of rows."""

    W: float
    H: float
    left: float
    right: float
    n_rows: int


def _layout(size: tuple[float, float], curves: list[dict], risk_table: bool) -> tuple[Figure, Any, _Layout]:
    """The figure (taller with more than two risk-table rows) and the panel's axes, with room under
    it for the risk table and left of it for the table's row labels."""
    W, H = size
    n_rows = len(curves) if risk_table else 0
    row_h = _ROW_H
    risk_h = (0.3 + n_rows * row_h) if risk_table else 0.0
    fig = new_figure((W, H + (max(0, n_rows - 2) * row_h if risk_table else 0)))
    W, H = fig.get_size_inches()
    label_w = (max(text_size_in(fig, c["label"], SMALL_SIZE)[0] for c in curves) + (_PAD_PT + 4) / 72
               if risk_table else 0.0)
    left = max(0.62, label_w + 0.05)
    right = 0.25
    bottom_main = risk_h + 0.42
    top = 0.45
    ax = fig.add_axes((left / W, bottom_main / H, (W - left - right) / W, (H - bottom_main - top) / H))
    return fig, ax, _Layout(W=W, H=H, left=left, right=right, n_rows=n_rows)


def _draw_curves(ax, curves: list[dict], cmap: Mapping[Any, str], *, conf_int: bool, censor_marks: bool) -> bool:
    """The step curves (``gid="km:<key>"``), their CI bands and censoring ticks; True when any
    curve has an event."""
    any_event = False
    for c in curves:
        tab, col = c["table"], cmap[c["key"]]
        x, y = _step(tab, "survival")
        ln, = ax.plot(x, y, drawstyle="steps-post", color=col, lw=1.3, label=c["label"], zorder=3)
        ln.set_gid(f"km:{c['key']}")
        if tab["n_event"].sum() > 0:
            any_event = True
        if conf_int:
            xl, lo = _step(tab, "lower")
            _, hi = _step(tab, "upper")
            ok = np.isfinite(lo) & np.isfinite(hi)
            ax.fill_between(xl[ok], lo[ok], hi[ok], step="post", color=col, alpha=0.15, lw=0, zorder=1)
        if censor_marks:
            cz = tab[(tab["n_censor"] > 0)]
            ax.plot(cz["time"], cz["survival"], ls="none", marker="|", ms=4, mew=0.8, color=col, zorder=4)
    return any_event


def _draw_medians(ax, curves: list[dict], cmap: Mapping[Any, str]) -> None:
    """Dashed lines at the median survival time of each curve that reaches 0.5."""
    for c in curves:
        med = c["result"].medians
        m = med.loc[med["group"] == c["group"], "median"]
        if len(m) and np.isfinite(m.iloc[0]):
            mv = float(m.iloc[0])
            ax.plot([0, mv], [0.5, 0.5], ls="--", lw=0.7, color="#555555", zorder=2)
            ax.plot([mv, mv], [0, 0.5], ls="--", lw=0.7, color=cmap[c["key"]], zorder=2)


def _format_axes(ax, ticks: np.ndarray, x_right: float, xlabel: str, ylabel: str) -> None:
    """Limits, ticks and labels of the panel."""
    ax.set_xlim(0, x_right * 1.02)
    ax.set_ylim(0, 1.04)
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_yticklabels(["0", "0.25", "0.50", "0.75", "1.00"])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def _test_lines(logrank: TestResult | pd.DataFrame | None, cox: Any, hr_term: str | None,
                curves: list[dict]) -> list[str]:
    """The panel's lines for the log-rank p and the hazard ratio (when given)."""
    lines = []
    if isinstance(logrank, TestResult):
        lines.append("Log-rank " + format_p(logrank.p))
    elif logrank is not None and len(logrank):  # the table analysis writes (logrank.csv rows)
        lines.append("Log-rank " + format_p(float(logrank["p"].iloc[0])))
    hr = _hr_text(cox, hr_term, [c["group"] for c in curves])
    if hr:
        lines.append(hr)
    return lines


def _draw_landmarks(ax, landmarks: Sequence[float], curves: list[dict], cmap: Mapping[Any, str],
                    time_unit: str) -> list[str]:
    """A dotted line at each landmark time with a marker on each curve; returns the panel's lines
    listing the survival there (none with more than three curves: markers only)."""
    lines = []
    for t in landmarks:
        ax.axvline(t, color="#777777", lw=0.7, ls=":", zorder=0)
        vals = []
        for c in curves:
            at = c["result"].at([t])
            s = at.loc[at["group"] == c["group"], "survival"]
            v = float(s.iloc[0]) if len(s) else np.nan
            if np.isfinite(v):
                ax.plot([t], [v], marker="o", ms=3, color=cmap[c["key"]], zorder=5)
            vals.append("NA" if not np.isfinite(v) else f"{100 * v:.0f}%")
        if len(curves) <= 3:        # more values in one line are unreadable: markers only
            lines.append(f"At {t:g} {time_unit}: " + " vs ".join(vals))
    return lines


def _draw_risk_table(fig: Figure, ax, lay: _Layout, curves: list[dict], cmap: Mapping[Any, str],
                     ticks: np.ndarray) -> pd.DataFrame:
    """The numbers at risk at ``ticks`` under the panel (cells ``gid="risk:<key>:<time>"``), from
    ``KMResult.risk_table``; returns them (group, time, n_risk, …, key)."""
    W, H, left, right, n_rows = lay.W, lay.H, lay.left, lay.right, lay.n_rows
    rax = fig.add_axes((left / W, 0.12 / H, (W - left - right) / W, (n_rows * _ROW_H) / H), sharex=ax)
    rax.set_ylim(n_rows - 0.5, -0.5)
    rax.set_yticks(range(n_rows))
    rax.set_yticklabels([c["label"] for c in curves])
    for lab, c in zip(rax.get_yticklabels(), curves):
        lab.set_color(legible(cmap[c["key"]]))
    rax.tick_params(axis="both", length=0)
    rax.tick_params(axis="y", pad=_PAD_PT)
    rax.tick_params(axis="x", labelbottom=False)
    for s in rax.spines.values():
        s.set_visible(False)
    tables = []
    for i, c in enumerate(curves):
        rt = c["result"].risk_table(ticks)
        rt = rt[rt["group"] == c["group"]]
        tables.append(rt.assign(key=c["key"]))
        for t, nr in zip(rt["time"], rt["n_risk"]):
            tx = rax.text(t, i, f"{nr:.0f}", ha="center", va="center", fontsize=SMALL_SIZE,
                          color=legible(cmap[c["key"]]))
            tx.set_gid(f"risk:{c['key']}:{t:g}")
    rax.set_title("Number at risk", loc="left", fontsize=SMALL_SIZE, fontweight="bold", pad=3,
                  x=-(left - 0.05) / ((W - left - right)))
    return pd.concat(tables, ignore_index=True)


def _place_panel_text(fig: Figure, ax, text: str, curves: list[dict]) -> float:
    """Write ``text`` in the first panel corner that no curve passes through; when every corner
    is crossed, above the panel (the panel shrinks to make room). Returns the height taken above
    the panel in axes fraction (0 when the text is inside)."""
    renderer = fig.canvas.get_renderer()
    x0, x1 = ax.get_xlim()
    candidates = [("left", "bottom", 0.03, 0.04), ("right", "top", 0.98, 0.98),
                  ("right", "bottom", 0.98, 0.04), ("center", "bottom", 0.5, 0.04), ("left", "top", 0.03, 0.98)]
    grid_t = []
    for c in curves:
        x, y = _step(c["table"], "survival")
        grid_t.append((x, y))
    for ha, va, fx, fy in candidates:
        t = ax.text(fx, fy, text, transform=ax.transAxes, ha=ha, va=va, fontsize=SMALL_SIZE, zorder=6,
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1.5})
        bb = t.get_window_extent(renderer).transformed(ax.transData.inverted())
        bx0, bx1 = max(bb.x0, x0), min(bb.x1, x1)
        free = True
        for x, y in grid_t:
            xs = np.linspace(bx0, bx1, 50)
            i = np.searchsorted(x, xs, side="right") - 1
            inside = (i >= 0) & (xs <= x[-1])
            ys = y[np.maximum(i, 0)][inside]
            if np.any((ys >= bb.y0 - 0.02) & (ys <= bb.y1 + 0.02)):
                free = False
                break
        if free:
            return 0.0
        t.remove()
    H = fig.get_size_inches()[1]
    h_in = text_size_in(fig, text, SMALL_SIZE)[1] + 0.08
    pos = ax.get_position()
    new_h = pos.height - h_in / H
    ax.set_position([pos.x0, pos.y0, pos.width, new_h])
    ax.text(0.0, 1.0 + 0.04 / (new_h * H), text, transform=ax.transAxes, ha="left", va="bottom",
            fontsize=SMALL_SIZE)
    return h_in / (new_h * H)
